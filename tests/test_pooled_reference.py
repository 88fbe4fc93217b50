"""Federated result == result on the pooled rows, computed independently (csv module + numpy, no DuckDB).

Four factories compute local vectors; their plain sum (what secure aggregation reveals) is finalised and
compared with statistics computed directly on all rows, clipped to the declared bounds the same way. Filters
compare whole granules, computed here on their own: exact decimal floors for numbers, numpy day truncation
for timestamps.
"""

from __future__ import annotations

import csv
import math
from datetime import datetime
from decimal import ROUND_FLOOR, Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from contracts.analysis import finalize
from contracts.jobspec import JobKind, JobSpec, vector_layout
from contracts.privacy import ReleaseRules, gate_cells
from contracts.schema import DatasetSchema, FieldType
from node.local_compute import local_vector
from node.sampledata import generate, profile_schema

SCHEMA = profile_schema("steel")
DATASET = SCHEMA.name
FACTORIES = [(11, 3000), (22, 2500), (33, 4000), (44, 3500)]  # (seed, rows)
# The steel profile declares no granularity, so filters follow the defaults: whole days, and for numbers
# the largest 1-2-5 x 10^k not above a tenth of the range, written out here rather than asked of the code.
GRID_STEPS = {
    "furnace_temp_c": Decimal(20),  # [1400, 1800]
    "energy_kwh_per_t": Decimal(20),  # [300, 700]
    "throughput_t_per_h": Decimal(50),  # [0, 500]
    "defect_rate_pct": Decimal(10),  # [0, 100]
    "scrap_ratio": Decimal("0.1"),  # [0, 1]
    "cycle_time_min": Decimal(10),  # [10, 120]
}


@pytest.fixture(scope="module")
def factory_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("factories")
    return [
        generate(folder / f"factory{i}.csv", rows=rows, seed=seed, factory_index=i)
        for i, (seed, rows) in enumerate(FACTORIES)
    ]


class Pool:
    """All factories' rows, parsed and clipped column by column."""

    def __init__(self, files: list[Path], schema: DatasetSchema) -> None:
        rows: list[dict[str, str]] = []
        for path in files:
            with path.open(newline="", encoding="utf-8") as handle:
                rows.extend(csv.DictReader(handle))
        self.size = len(rows)
        self.columns: dict[str, np.ndarray] = {}
        for field in schema.fields:
            cells = [row[field.name] for row in rows]
            if field.type in (FieldType.NUMBER, FieldType.INTEGER):
                parse = int if field.type is FieldType.INTEGER else float
                raw = np.array([parse(c) if c != "" else math.nan for c in cells], dtype=np.float64)
                self.columns[field.name] = np.clip(raw, field.min, field.max)
            elif field.type is FieldType.TIMESTAMP:
                self.columns[field.name] = np.array(
                    [np.datetime64(datetime.fromisoformat(c)) if c else np.datetime64("NaT") for c in cells],
                    dtype="datetime64[us]",
                )
            else:
                self.columns[field.name] = np.array([c if c != "" else None for c in cells], dtype=object)
        self._granules: dict[str, np.ndarray] = {}

    def present(self, name: str) -> np.ndarray:
        field = SCHEMA.field(name)
        column = self.columns[name]
        if field.type is FieldType.CATEGORY:
            return np.array([value in (field.categories or []) for value in column])
        if field.type is FieldType.TIMESTAMP:
            return ~np.isnat(column)
        return ~np.isnan(column)

    def mask(self, spec: JobSpec) -> np.ndarray:
        names = [spec.field, spec.group_by, spec.target, *spec.features, *(f.field for f in spec.filters)]
        keep = np.ones(self.size, dtype=bool)
        for name in filter(None, names):
            keep &= self.present(name)
        for item in spec.filters:
            keep &= self.predicate(item.field, item.op.value, item.value)
        return keep

    def granules(self, name: str) -> np.ndarray:
        """The column as a filter compares it: each value replaced by the start of its granule."""
        if name not in self._granules:
            column = self.columns[name]
            if SCHEMA.field(name).type is FieldType.TIMESTAMP:
                column = column.astype("datetime64[D]")
            elif name in GRID_STEPS:
                column = np.array([floor_to_grid(x, GRID_STEPS[name]) for x in column.tolist()])
            self._granules[name] = column
        return self._granules[name]

    def predicate(self, name: str, op: str, value: Any) -> np.ndarray:
        column = self.granules(name)
        if SCHEMA.field(name).type is FieldType.TIMESTAMP:
            value = [np.datetime64(v) for v in value] if isinstance(value, list) else np.datetime64(value)
        with np.errstate(invalid="ignore"):
            if op == "in":
                return np.isin(column, value)
            if op == "between":
                return (column >= value[0]) & (column <= value[1])
            compare = {"eq": np.equal, "ne": np.not_equal, "lt": np.less, "le": np.less_equal}
            compare |= {"gt": np.greater, "ge": np.greater_equal}
            return np.asarray(compare[op](column, value), dtype=bool)


def floor_to_grid(x: float, step: Decimal) -> float:
    if math.isnan(x):
        return x
    # repr gives the shortest decimal that reads back as x, so 0.3 is 3/10 here, not 0.29999999999999998...
    return float((Decimal(repr(x)) / step).to_integral_value(ROUND_FLOOR) * step)


@pytest.fixture(scope="module")
def pool(factory_files: list[Path]) -> Pool:
    return Pool(factory_files, SCHEMA)


# The arithmetic against the pooled rows: every cell released (cell minimums are tested on their own).
EVERY_CELL = ReleaseRules(min_cohort=0, min_cell_rows=0, min_rows_per_factory=1)


def federated(spec: JobSpec, files: list[Path]) -> dict[str, Any]:
    layout = vector_layout(spec, SCHEMA)
    summed = sum(gate_cells(layout, local_vector(spec, SCHEMA, [path], "csv"), 1).vector for path in files)
    return finalize(spec, SCHEMA, np.asarray(summed), EVERY_CELL)


def reference_groups(spec: JobSpec, pool: Pool) -> list[tuple[str | None, np.ndarray]]:
    keep = pool.mask(spec)
    if spec.group_by is None:
        return [(None, keep)]
    labels = pool.columns[spec.group_by]
    return [(g, keep & (labels == g)) for g in SCHEMA.field(spec.group_by).categories or []]


def spec(kind: str, **kwargs: Any) -> JobSpec:
    return JobSpec.model_validate({"kind": kind, "dataset": DATASET, **kwargs})


FILTERS = {
    "eq": {"field": "process_step", "op": "eq", "value": "BOF"},
    "ne": {"field": "line", "op": "ne", "value": "L2"},
    "lt": {"field": "furnace_temp_c", "op": "lt", "value": 1600.0},
    "le": {"field": "energy_kwh_per_t", "op": "le", "value": 460.0},  # keeps values below 480
    "gt": {"field": "scrap_ratio", "op": "gt", "value": 0.1},  # keeps values from 0.2
    "lt_decimal": {
        "field": "scrap_ratio",
        "op": "lt",
        "value": 0.3,
    },  # drops 0.3000 (0.3 / 0.1 < 3 in binary)
    "ge_clipped": {"field": "furnace_temp_c", "op": "ge", "value": 1800.0},
    "in": {"field": "process_step", "op": "in", "value": ["LF", "RH"]},
    "between": {"field": "furnace_temp_c", "op": "between", "value": [1560.0, 1640.0]},  # 1560 to 1659.9
    "between_integer": {"field": "cycle_time_min", "op": "between", "value": [40, 40]},  # 40 to 49
    "ge_integer": {"field": "cycle_time_min", "op": "ge", "value": 50},
    "ge_timestamp": {"field": "ts", "op": "ge", "value": "2024-01-12T00:00:00"},
    "le_timestamp": {"field": "ts", "op": "le", "value": "2024-01-10"},  # all of 10 January
    "between_timestamp": {"field": "ts", "op": "between", "value": ["2024-01-05", "2024-01-15"]},
    "one_day": {"field": "ts", "op": "between", "value": ["2024-01-09", "2024-01-09"]},
}

AGGREGATE_SPECS = [
    *(
        spec(kind, field=f, group_by=g)
        for kind in ("count",)
        for f in (None,)
        for g in (None, "shift", "line")
    ),
    *(
        spec(k, field="furnace_temp_c", group_by=g)
        for k in ("sum", "mean", "variance")
        for g in (None, "shift")
    ),
    spec("mean", field="energy_kwh_per_t", group_by="process_step"),
    spec("variance", field="cycle_time_min", group_by="line"),
    spec("variance", field="defect_rate_pct", group_by="process_step"),
    *(spec("variance", field="energy_kwh_per_t", group_by="line", filters=[f]) for f in FILTERS.values()),
    spec(
        "mean",
        field="scrap_ratio",
        filters=[FILTERS["gt"], FILTERS["between_integer"], FILTERS["ge_timestamp"]],
    ),
    spec("count", group_by="shift", filters=list(FILTERS.values())[:4]),
    spec("sum", field="throughput_t_per_h", group_by="process_step", filters=[FILTERS["between_timestamp"]]),
]


@pytest.mark.parametrize(
    "job", AGGREGATE_SPECS, ids=lambda s: f"{s.kind}-{s.field}-{s.group_by}-{len(s.filters)}"
)
def test_aggregates_match_pooled_reference(job: JobSpec, factory_files: list[Path], pool: Pool) -> None:
    result = federated(job, factory_files)
    expected = reference_groups(job, pool)
    assert [g["group"] for g in result["groups"]] == [group for group, _ in expected]
    for got, (_, rows) in zip(result["groups"], expected, strict=True):
        n = int(rows.sum())
        assert got["n"] == n
        if job.kind is JobKind.COUNT:
            continue
        x = pool.columns[job.field or ""][rows]
        if n == 0:
            assert all(got[key] is None for key in got if key not in ("group", "n", "contributors"))
            continue
        if job.kind is JobKind.SUM:
            assert got["sum"] == pytest.approx(math.fsum(x), rel=1e-9)
        else:
            assert got["mean"] == pytest.approx(math.fsum(x) / n, rel=1e-9)
        if job.kind is JobKind.VARIANCE:
            assert got["variance"] == (pytest.approx(np.var(x, ddof=1), rel=1e-9) if n > 1 else None)


def test_filters_select_some_but_not_all_rows(pool: Pool) -> None:
    # Each filter must be a real test: it keeps some rows and drops others.
    for item in FILTERS.values():
        kept = pool.mask(spec("count", filters=[item])).sum()
        assert 0 < kept < pool.size, item


def test_the_grid_written_here_is_the_schemas() -> None:
    for name, step in GRID_STEPS.items():
        assert SCHEMA.field(name).effective_filter_step == float(step), name
    assert SCHEMA.field("ts").effective_filter_resolution == "day"
    assert sorted(GRID_STEPS) == sorted(f.name for f in SCHEMA.fields if f.type.is_numeric)


def test_filter_values_sit_on_the_grid_and_data_on_granule_starts(pool: Pool) -> None:
    for item in FILTERS.values():
        values = item["value"] if isinstance(item["value"], list) else [item["value"]]
        if item["field"] in GRID_STEPS:
            assert all(Decimal(repr(float(v))) % GRID_STEPS[item["field"]] == 0 for v in values), item
        elif item["field"] == "ts":
            assert all(np.datetime64(v) == np.datetime64(v, "D") for v in values), item
    # Granule boundaries are only tested if rows sit exactly on them, including a decimal one.
    assert np.any(pool.columns["scrap_ratio"] == 0.3)
    assert np.any(pool.columns["furnace_temp_c"] == 1600.0)


HISTOGRAM_SPECS = [
    spec("histogram", field="furnace_temp_c", bins=[1400, 1500, 1550, 1600, 1650, 1700, 1800]),
    spec("histogram", field="furnace_temp_c", bins=[1500, 1600.0, 1700], group_by="process_step"),
    spec(
        "histogram", field="defect_rate_pct", bins=[0.5, 1, 2, 4], group_by="shift", filters=[FILTERS["ne"]]
    ),
    spec("histogram", field="cycle_time_min", bins=[20, 30, 40, 45, 50, 60, 80], filters=[FILTERS["in"]]),
]


@pytest.mark.parametrize("job", HISTOGRAM_SPECS, ids=lambda s: f"{s.field}-{s.group_by}")
def test_histograms_match_numpy(job: JobSpec, factory_files: list[Path], pool: Pool) -> None:
    result = federated(job, factory_files)
    assert result["edges"] == [float(e) for e in job.bins or []]
    for got, (_, rows) in zip(result["groups"], reference_groups(job, pool), strict=True):
        x = pool.columns[job.field or ""][rows]
        counts, _ = np.histogram(x, bins=np.asarray(job.bins))
        assert got["counts"] == counts.tolist()
        assert got["n"] == len(x)
        assert got["out_of_range"] == len(x) - int(counts.sum())


def test_histogram_edges_hit_data_values(pool: Pool) -> None:
    # The half-open/closed bin semantics are only tested if rows sit exactly on edges.
    temperature = pool.columns["furnace_temp_c"]
    assert np.any(temperature == 1600.0) and np.any(temperature == 1800.0)


REGRESSION_SPECS = [
    spec("linear_regression", features=["furnace_temp_c", "scrap_ratio"], target="energy_kwh_per_t"),
    spec(
        "linear_regression",
        features=["furnace_temp_c", "scrap_ratio", "throughput_t_per_h", "cycle_time_min"],
        target="energy_kwh_per_t",
        filters=[FILTERS["eq"]],
    ),
    spec(
        "linear_regression",
        features=["furnace_temp_c"],
        target="defect_rate_pct",
        filters=[FILTERS["ge_timestamp"]],
    ),
]


@pytest.mark.parametrize("job", REGRESSION_SPECS, ids=lambda s: f"{len(s.features)}-{s.target}")
def test_regression_matches_lstsq(job: JobSpec, factory_files: list[Path], pool: Pool) -> None:
    result = federated(job, factory_files)
    rows = pool.mask(job)
    x = np.column_stack([np.ones(rows.sum()), *(pool.columns[f][rows] for f in job.features)])
    y = pool.columns[job.target or ""][rows]
    beta, *_ = np.linalg.lstsq(x, y, rcond=None)
    n, k = x.shape
    residuals = y - x @ beta
    sigma2 = residuals @ residuals / (n - k)
    std_errors = np.sqrt(sigma2 * np.diag(np.linalg.inv(x.T @ x)))
    r_squared = 1 - (residuals @ residuals) / np.sum((y - y.mean()) ** 2)

    names = ["intercept", *job.features]
    assert result["n"] == n and result["dof"] == n - k
    assert list(result["coefficients"]) == names
    assert [result["coefficients"][name] for name in names] == pytest.approx(beta.tolist(), rel=1e-9)
    assert [result["std_errors"][name] for name in names] == pytest.approx(std_errors.tolist(), rel=1e-8)
    assert result["r_squared"] == pytest.approx(r_squared, rel=1e-9)
    assert result["residual_std_error"] == pytest.approx(math.sqrt(sigma2), rel=1e-9)


def test_pooled_result_differs_from_every_single_factory(factory_files: list[Path]) -> None:
    job = spec("mean", field="energy_kwh_per_t")
    pooled = federated(job, factory_files)["groups"][0]["mean"]
    for path in factory_files:
        alone = finalize(job, SCHEMA, local_vector(job, SCHEMA, [path], "csv"), EVERY_CELL)
        assert abs(alone["groups"][0]["mean"] - pooled) > 0.5
