from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pytest

from contracts.exceptions import JobSpecError
from contracts.jobspec import JobSpec, vector_layout
from contracts.schema import DatasetSchema
from node.exceptions import LocalComputeError
from node.local_compute import build_query, local_vector
from node.sampledata import generate, profile_schema

SCHEMA = DatasetSchema.model_validate(
    {
        "name": "plant",
        "fields": [
            {"name": "ts", "type": "timestamp"},
            {"name": "shift", "type": "category", "categories": ["A", "B", "A' OR 1=1 --"]},
            {"name": "temp", "type": "number", "min": 1400, "max": 1800},
            {"name": "cycle", "type": "integer", "min": 10, "max": 120},
            {"name": "operator", "type": "text", "personal": True},
        ],
    }
)

ROWS = """\
ts,shift,temp,cycle,operator
2024-01-01 06:00:00,A,1500,30,王伟
2024-01-01 07:00:00,A,2000,40,李娜
2024-01-01 08:00:00,B,,50,张敏
2024-01-01 09:00:00,B,oops,60,刘洋
2024-01-01 10:00:00,D,1600,70,陈静
2024-01-01 11:00:00,,1650,80,杨磊
2024-01-01T12:00:00,A' OR 1=1 --,1300,12.5,黄杰
not a time,B,nan,500,周涛
"""


def job(kind: str, **kwargs: Any) -> JobSpec:
    return JobSpec.model_validate({"kind": kind, "dataset": "plant", **kwargs})


@pytest.fixture
def plant_csv(tmp_path: Path) -> Path:
    path = tmp_path / "plant.csv"
    path.write_text(ROWS, encoding="utf-8")
    return path


def test_count_reads_no_column(plant_csv: Path) -> None:
    assert local_vector(job("count"), SCHEMA, [plant_csv], "csv").tolist() == [8.0]


def test_nulls_and_unparseable_cells_exclude_rows_and_values_are_clipped(plant_csv: Path) -> None:
    # Usable temperatures: 1500, 2000 -> 1800, 1600, 1650, 1300 -> 1400; '', 'oops' and 'nan' are missing.
    vector = local_vector(job("sum", field="temp"), SCHEMA, [plant_csv], "csv")
    assert vector.tolist() == [5.0, (1500 + 1800 + 1600 + 1650 + 1400) - 5 * 1600]


def test_undeclared_and_missing_categories_are_excluded_when_used(plant_csv: Path) -> None:
    by_shift = local_vector(job("mean", field="temp", group_by="shift"), SCHEMA, [plant_csv], "csv")
    layout = vector_layout(job("mean", field="temp", group_by="shift"), SCHEMA)
    assert dict(zip(layout.names, by_shift.tolist(), strict=True)) == {
        "n[shift=A]": 2.0,
        "sum((temp-c))[shift=A]": (1500 - 1600) + (1800 - 1600),
        "n[shift=B]": 0.0,
        "sum((temp-c))[shift=B]": 0.0,
        "n[shift=A' OR 1=1 --]": 1.0,
        "sum((temp-c))[shift=A' OR 1=1 --]": 1400 - 1600,
    }


def test_filter_values_are_bound_parameters_never_sql(plant_csv: Path) -> None:
    injected = "A' OR 1=1 --"
    spec = job("count", filters=[{"field": "shift", "op": "eq", "value": injected}])
    assert local_vector(spec, SCHEMA, [plant_csv], "csv").tolist() == [1.0]
    sql, params = build_query(spec, SCHEMA, vector_layout(spec, SCHEMA), [str(plant_csv)], "csv")
    assert injected not in sql and "1=1" not in sql
    assert injected in params.values()


def test_integer_fields_and_timestamp_filters(plant_csv: Path) -> None:
    # '12.5' is not an integer and '500' clips to 120.
    cycles = local_vector(job("sum", field="cycle"), SCHEMA, [plant_csv], "csv")
    assert cycles.tolist() == [7.0, (30 + 40 + 50 + 60 + 70 + 80 + 120) - 7 * 65]
    spec = job(
        "count", filters=[{"field": "ts", "op": "between", "value": ["2024-01-01T07:00", "2024-01-01 10:00"]}]
    )
    assert local_vector(spec, SCHEMA, [plant_csv], "csv").tolist() == [4.0]


def test_filters_compare_clipped_values(plant_csv: Path) -> None:
    at_max = job("count", filters=[{"field": "temp", "op": "eq", "value": 1800}])
    assert local_vector(at_max, SCHEMA, [plant_csv], "csv").tolist() == [1.0]


def test_histogram_bins_are_half_open_except_the_last(plant_csv: Path) -> None:
    spec = job("histogram", field="temp", bins=[1400, 1500, 1600, 1800])
    assert local_vector(spec, SCHEMA, [plant_csv], "csv").tolist() == [5.0, 1.0, 1.0, 3.0]


def test_regression_vector_matches_layout(plant_csv: Path) -> None:
    spec = job("linear_regression", features=["cycle"], target="temp")
    rows = [(30, 1500), (40, 1800), (70, 1600), (80, 1650)]  # the complete rows, clipped
    z = np.array([c - 65.0 for c, _ in rows])
    w = np.array([t - 1600.0 for _, t in rows])
    expected = [len(rows), z.sum(), (z * z).sum(), (z * w).sum(), w.sum(), (w * w).sum()]
    assert local_vector(spec, SCHEMA, [plant_csv], "csv").tolist() == pytest.approx(expected, rel=1e-12)


@pytest.fixture(scope="module")
def steel_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("steel")
    return [generate(folder / f"f{i}.csv", rows=2000, seed=100 + i, factory_index=i) for i in range(3)]


STEEL_SPECS = [
    JobSpec(kind="variance", dataset="steel_production", field="energy_kwh_per_t", group_by="process_step"),
    JobSpec.model_validate(
        {
            "kind": "linear_regression",
            "dataset": "steel_production",
            "features": ["furnace_temp_c", "scrap_ratio"],
            "target": "energy_kwh_per_t",
            "filters": [{"field": "ts", "op": "ge", "value": "2024-01-03"}],
        }
    ),
]


@pytest.mark.parametrize("spec", STEEL_SPECS, ids=lambda s: s.kind)
def test_vectors_are_additive_over_files(spec: JobSpec, steel_files: list[Path]) -> None:
    schema = profile_schema()
    together = local_vector(spec, schema, steel_files, "csv")
    separately = sum(local_vector(spec, schema, [path], "csv") for path in steel_files)
    assert together == pytest.approx(separately, rel=1e-12, abs=1e-9)


@pytest.fixture(scope="module")
def steel_parquet(steel_files: list[Path]) -> list[Path]:
    targets = [path.with_suffix(".parquet") for path in steel_files]
    for source, target in zip(steel_files, targets, strict=True):
        # Typed Parquet (DOUBLE, BIGINT, TIMESTAMP columns), as a plant historian would export it.
        duckdb.sql(f"COPY (SELECT * FROM read_csv('{source}')) TO '{target}' (FORMAT parquet)")
    return targets


@pytest.mark.parametrize("spec", STEEL_SPECS, ids=lambda s: s.kind)
def test_parquet_gives_the_same_vector_as_csv(
    spec: JobSpec, steel_files: list[Path], steel_parquet: list[Path]
) -> None:
    schema = profile_schema()
    expected = local_vector(spec, schema, steel_files, "csv")
    assert local_vector(spec, schema, steel_parquet, "parquet") == pytest.approx(
        expected, rel=1e-12, abs=1e-9
    )


def test_files_may_order_columns_differently(plant_csv: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.csv"
    other.write_text("temp,shift,extra\n1700,B,x\n", encoding="utf-8")
    vector = local_vector(job("count", group_by="shift"), SCHEMA, [plant_csv, other], "csv")
    assert vector.tolist() == [2.0, 4.0, 1.0]


def test_invalid_spec_is_refused_before_reading(tmp_path: Path) -> None:
    with pytest.raises(JobSpecError):
        local_vector(job("mean", field="operator"), SCHEMA, [tmp_path / "absent.csv"], "csv")


@pytest.mark.parametrize(
    ("files", "message"), [([], "no files"), ([Path("/nonexistent/plant.csv")], "not found")]
)
def test_missing_files(files: list[Path], message: str) -> None:
    with pytest.raises(LocalComputeError, match=message):
        local_vector(job("count"), SCHEMA, files, "csv")


def test_missing_column_is_a_local_compute_error(tmp_path: Path) -> None:
    path = tmp_path / "narrow.csv"
    path.write_text("shift\nA\n", encoding="utf-8")
    with pytest.raises(LocalComputeError, match="cannot compute mean"):
        local_vector(job("mean", field="temp"), SCHEMA, [path], "csv")


def test_unknown_format(plant_csv: Path) -> None:
    with pytest.raises(LocalComputeError, match="unsupported dataset format"):
        local_vector(job("count"), SCHEMA, [plant_csv], "xlsx")  # type: ignore[arg-type]


@pytest.mark.slow
def test_throughput_of_a_million_rows(tmp_path: Path) -> None:
    path = generate(tmp_path / "big.csv", rows=1_000_000, seed=1)
    spec = STEEL_SPECS[1]
    start = time.perf_counter()
    local_vector(spec, profile_schema(), [path], "csv")
    # About a million rows per second on an idle 2-core machine; the margin allows for a busy one.
    assert 1_000_000 / (time.perf_counter() - start) > 250_000
