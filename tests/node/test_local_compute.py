from __future__ import annotations

import csv
import time
from decimal import ROUND_FLOOR, Decimal
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pytest

from contracts.exceptions import JobSpecError
from contracts.jobspec import JobSpec, vector_layout
from contracts.schema import DatasetSchema
from node import local_compute
from node.exceptions import LocalComputeError
from node.local_compute import build_query
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


def local_vector(spec: JobSpec, schema: DatasetSchema, files: list[Path], fmt: Any) -> np.ndarray:
    """The node's statistics without the cohort indicators (which stay 0 until cells are gated)."""
    layout = vector_layout(spec, schema)
    vector = local_compute.local_vector(spec, schema, files, fmt)
    indicators = [
        i for g in range(len(layout.groups)) for i in range(layout.length)[layout.indicator_slice(g)]
    ]
    assert not vector[indicators].any()
    return np.delete(vector, indicators)


def statistic_names(layout: Any) -> list[str]:
    return [name for name in layout.names if not name.startswith("cohort(")]


def job(kind: str, **kwargs: Any) -> JobSpec:
    return JobSpec.model_validate({"kind": kind, "dataset": "plant", **kwargs})


def flt(field: str, op: str, value: Any) -> dict[str, Any]:
    return {"field": field, "op": op, "value": value}


def count(schema: DatasetSchema, files: list[Path], *filters: dict[str, Any]) -> int:
    """The eligible rows of a filtered count job, read from the vector by name."""
    spec = JobSpec.model_validate({"kind": "count", "dataset": schema.name, "filters": list(filters)})
    vector = local_vector(spec, schema, files, "csv")
    return int(vector[vector_layout(spec, schema).index("n")])


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
    assert dict(zip(statistic_names(layout), by_shift.tolist(), strict=True)) == {
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


def test_integer_fields(plant_csv: Path) -> None:
    # '12.5' is not an integer and '500' clips to 120.
    cycles = local_vector(job("sum", field="cycle"), SCHEMA, [plant_csv], "csv")
    assert cycles.tolist() == [7.0, (30 + 40 + 50 + 60 + 70 + 80 + 120) - 7 * 65]


def test_timestamp_filters(plant_csv: Path) -> None:
    # Every parseable time (with a space or a 'T') lies on 2024-01-01; 'not a time' never matches.
    assert count(SCHEMA, [plant_csv], flt("ts", "between", ["2024-01-01", "2024-01-01"])) == 7
    assert count(SCHEMA, [plant_csv], flt("ts", "lt", "2024-01-01")) == 0
    assert count(SCHEMA, [plant_csv], flt("ts", "ge", "2024-01-02")) == 0


def test_filters_compare_clipped_values(plant_csv: Path) -> None:
    # Step 20: '2000' clips to 1800 and '1300' to 1400, the bounds' own granules.
    assert count(SCHEMA, [plant_csv], flt("temp", "ge", 1800)) == 1
    assert count(SCHEMA, [plant_csv], flt("temp", "lt", 1400)) == 0
    assert count(SCHEMA, [plant_csv], flt("temp", "le", 1400)) == 1


# --------------------------------------------------------------------------- filters select whole granules
# The references below work on the CSV text with Decimal and numpy datetime64, never through DuckDB.

GRID_SCHEMA = DatasetSchema.model_validate(
    {
        "name": "grid",
        "fields": [
            {"name": "ts", "type": "timestamp"},
            {"name": "hour", "type": "timestamp", "filter_resolution": "hour"},
            {"name": "scrap", "type": "number", "min": 0, "max": 1},  # default step 0.1
            {"name": "cycle", "type": "integer", "min": 10, "max": 120},  # default step 10
        ],
    }
)
STAMPS = [
    "2024-03-01 00:00:00",
    "2024-03-01 12:34:56",
    "2024-03-01 23:59:59.999999",
    "2024-03-02T00:00:00",
    "2024-03-02 00:00:01",
    "2024-03-02 17:00:00",
    "2024-03-03 06:59:59",
    "2024-03-03 07:00:00",
    "2024-03-03 23:59:59",
    "2024-03-04 00:00:00",
    "",
    "not a time",
]
SCRAPS = ["0", "0.0999", "0.1", "0.2999", "0.3", "0.3000", "0.35", "0.3999999", "0.4", "0.7", "1", "1.5"]
CYCLES = ["10", "29", "30", "39", "40", "41", "49", "50", "119", "120", "500", "5"]


@pytest.fixture
def grid_csv(tmp_path: Path) -> Path:
    lines = ["ts,hour,scrap,cycle"]
    lines += [f"{t},{t},{s},{c}" for t, s, c in zip(STAMPS, SCRAPS, CYCLES, strict=True)]
    path = tmp_path / "grid.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def stamps(unit: str) -> np.ndarray:
    """STAMPS truncated to ``unit`` by numpy ('NaT' where a cell is not a time)."""
    parsed = []
    for text in STAMPS:
        try:
            parsed.append(np.datetime64(text.replace(" ", "T"), "us"))
        except ValueError:
            parsed.append(np.datetime64("NaT"))
    return np.array(parsed, dtype="datetime64[us]").astype(f"datetime64[{unit}]")


def granules(cells: list[str], lo: str, hi: str, step: str) -> list[Decimal]:
    """Exact decimal start of each clipped value's granule."""
    out = []
    for text in cells:
        x = min(max(Decimal(text), Decimal(lo)), Decimal(hi))
        out.append((x / Decimal(step)).to_integral_value(ROUND_FLOOR) * Decimal(step))
    return out


def expected(column: Any, op: str, value: Any) -> int:
    column = np.asarray(column)
    if op == "between":
        return int(np.sum((column >= value[0]) & (column <= value[1])))
    compare = {"lt": np.less, "le": np.less_equal, "gt": np.greater, "ge": np.greater_equal}
    return int(np.sum(compare[op](column, value)))


DAY_FILTERS = [
    ("le", "2024-03-01"),
    ("lt", "2024-03-02"),
    ("le", "2024-03-02"),
    ("gt", "2024-03-02"),
    ("ge", "2024-03-02"),
    ("between", ["2024-03-02", "2024-03-02"]),
    ("between", ["2024-03-01", "2024-03-03"]),
    ("lt", "2024-03-01"),
]


@pytest.mark.parametrize(("op", "value"), DAY_FILTERS)
def test_day_filters_select_whole_days(op: str, value: Any, grid_csv: Path) -> None:
    days = stamps("D")
    bound = [np.datetime64(v, "D") for v in value] if op == "between" else np.datetime64(value, "D")
    with np.errstate(invalid="ignore"):
        want = expected(days, op, bound)
    assert count(GRID_SCHEMA, [grid_csv], flt("ts", op, value)) == want


def test_day_semantics_by_example(grid_csv: Path) -> None:
    # ts <= D keeps all of day D (up to 23:59:59.999999), ts < D none of it.
    assert count(GRID_SCHEMA, [grid_csv], flt("ts", "le", "2024-03-02")) == 6
    assert count(GRID_SCHEMA, [grid_csv], flt("ts", "lt", "2024-03-02")) == 3
    assert count(GRID_SCHEMA, [grid_csv], flt("ts", "between", ["2024-03-02", "2024-03-03"])) == 6


@pytest.mark.parametrize(
    ("op", "value"),
    [
        ("lt", "2024-03-03T07:00"),
        ("le", "2024-03-03T06:00"),
        ("ge", "2024-03-01T12:00"),
        ("between", ["2024-03-01T23:00", "2024-03-02T00:00"]),
        ("gt", "2024-03-02T17:00"),
    ],
)
def test_hour_filters_select_whole_hours(op: str, value: Any, grid_csv: Path) -> None:
    hours = stamps("h")
    bound = [np.datetime64(v, "h") for v in value] if op == "between" else np.datetime64(value, "h")
    with np.errstate(invalid="ignore"):
        want = expected(hours, op, bound)
    assert count(GRID_SCHEMA, [grid_csv], flt("hour", op, value)) == want


NUMBER_FILTERS = [
    ("scrap", "lt", 0.3),
    ("scrap", "le", 0.3),
    ("scrap", "gt", 0.3),
    ("scrap", "ge", 0.3),
    ("scrap", "ge", 0.7),
    ("scrap", "between", [0.3, 0.3]),
    ("scrap", "between", [0.1, 0.6]),
    ("scrap", "ge", 1.0),
    ("scrap", "le", 0.0),
    ("cycle", "between", [30, 40]),
    ("cycle", "lt", 50),
    ("cycle", "ge", 120),
    ("cycle", "le", 10),
]


@pytest.mark.parametrize(("name", "op", "value"), NUMBER_FILTERS)
def test_number_filters_select_whole_granules(name: str, op: str, value: Any, grid_csv: Path) -> None:
    cells, lo, hi, step = (SCRAPS, "0", "1", "0.1") if name == "scrap" else (CYCLES, "10", "120", "10")
    starts = granules(cells, lo, hi, step)
    bound = [Decimal(str(v)) for v in value] if op == "between" else Decimal(str(value))
    assert count(GRID_SCHEMA, [grid_csv], flt(name, op, value)) == expected(starts, op, bound)


def test_number_semantics_by_example(grid_csv: Path) -> None:
    # Granule 0.3 holds 0.3 to 0.3999999 but not 0.2999, although 0.3 / 0.1 < 3 in binary floating point.
    assert count(GRID_SCHEMA, [grid_csv], flt("scrap", "between", [0.3, 0.3])) == 4
    assert count(GRID_SCHEMA, [grid_csv], flt("scrap", "lt", 0.3)) == 4
    assert count(GRID_SCHEMA, [grid_csv], flt("scrap", "ge", 0.7)) == 3  # 0.7, 1 and 1.5 clipped to 1


def test_steel_day_ranges_match_the_csv_text(steel_files: list[Path]) -> None:
    schema = profile_schema()
    days: list[str] = []
    for path in steel_files:
        with path.open(newline="", encoding="utf-8") as handle:
            days += [row["ts"][:10] for row in csv.DictReader(handle) if row["ts"]]
    for first, last in [
        ("2024-01-02", "2024-01-02"),
        ("2024-01-05", "2024-01-09"),
        ("2024-01-20", "2024-02-01"),
    ]:
        want = sum(first <= day <= last for day in days)
        assert 0 < want < len(days)
        assert count(schema, steel_files, flt("ts", "between", [first, last])) == want


@pytest.mark.parametrize(
    "item",
    [
        flt("ts", "between", ["2024-03-01T12:34:56", "2024-03-01T12:34:56"]),
        flt("ts", "ne", "2024-03-01T12:34:56"),
        flt("scrap", "eq", 0.35),
        flt("scrap", "lt", 0.35),
        flt("hour", "ge", "2024-03-01T12:34"),
    ],
)
def test_the_node_refuses_fine_filters_itself(item: dict[str, Any], grid_csv: Path) -> None:
    with pytest.raises(JobSpecError) as caught:
        count(GRID_SCHEMA, [grid_csv], item)
    assert caught.value.code == "filter_granularity"


def test_granularity_reaches_sql_as_parameters(grid_csv: Path) -> None:
    spec = job("count", filters=[flt("ts", "ge", "2024-03-02"), flt("scrap", "lt", 0.3)])
    spec = spec.model_copy(update={"dataset": "grid"})
    sql, params = build_query(spec, GRID_SCHEMA, vector_layout(spec, GRID_SCHEMA), [str(grid_csv)], "csv")
    assert "date_trunc($" in sql and "day" not in sql and "0.1" not in sql
    values = list(params.values())
    assert "day" in values and 0.1 in values and 0.30000000000000004 in values


def test_histogram_bins_are_half_open_except_the_last(plant_csv: Path) -> None:
    spec = job("histogram", field="temp", bins=[1400, 1500, 1600, 1800])
    # The first term counts the rows outside the edges: none here.
    assert local_vector(spec, SCHEMA, [plant_csv], "csv").tolist() == [0.0, 1.0, 1.0, 3.0]


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
