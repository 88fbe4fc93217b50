from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest

from contracts.analysis import finalize
from contracts.exceptions import AnalysisError, SingularMatrixError
from contracts.jobspec import JobSpec, vector_layout
from contracts.privacy import ReleaseRules
from contracts.schema import DatasetSchema


def job(kind: str, **kwargs: Any) -> JobSpec:
    return JobSpec.model_validate({"kind": kind, "dataset": "plant", **kwargs})


# The arithmetic of each kind, every cell released (cell minimums: tests/contracts/test_privacy.py).
OPEN = ReleaseRules(min_cohort=3, min_cell_rows=0, min_rows_per_factory=1)


def vector_from_rows(
    spec: JobSpec, schema: DatasetSchema, columns: dict[str, list[Any]], contributors: int = 3
) -> np.ndarray:
    """The summed vector for these (already clipped, complete) rows, with ``contributors`` in every cell."""
    layout = vector_layout(spec, schema)
    size = len(next(iter(columns.values())))
    out = np.zeros(layout.length)
    for gi, group in enumerate(layout.groups):
        rows = [i for i in range(size) if group is None or columns[layout.group_by or ""][i] == group]
        for ti, term in enumerate(layout.terms):
            total = 0.0
            for i in rows:
                if term.outside:
                    x, edges = columns[spec.field or ""][i], spec.bins or []
                    total += x < edges[0] or x > edges[-1]
                elif term.bin_field is not None:
                    x = columns[term.bin_field][i]
                    total += term.bin_lo <= x and (x <= term.bin_hi if term.bin_closed else x < term.bin_hi)
                else:
                    total += math.prod(columns[f][i] - layout.centres[f] for f in term.factors)
            out[gi * layout.per_group + ti] = total
        out[layout.indicator_slice(gi)] = contributors
    return out


def with_cohort(
    spec: JobSpec, schema: DatasetSchema, terms: list[float], contributors: int = 3
) -> np.ndarray:
    """A summed vector of one group from its terms, every cell with ``contributors`` factories."""
    layout = vector_layout(spec, schema)
    return np.array([*terms, *[float(contributors)] * len(layout.cells)])


def test_count_mean_sum_variance(schema: DatasetSchema) -> None:
    temps = [1500.0, 1620.0, 1580.0, 1710.0]
    data = {"temp": temps}
    for kind, key, expected in [
        ("sum", "sum", sum(temps)),
        ("mean", "mean", np.mean(temps)),
        ("variance", "variance", np.var(temps, ddof=1)),
    ]:
        spec = job(kind, field="temp")
        result = finalize(spec, schema, vector_from_rows(spec, schema, data), OPEN)
        assert result["groups"][0][key] == pytest.approx(expected, rel=1e-12)
        assert result["groups"][0]["n"] == 4
        assert (result["field"], result["unit"], result["group_by"]) == ("temp", "°C", None)
    result = finalize(
        job("variance", field="temp"),
        schema,
        vector_from_rows(job("variance", field="temp"), schema, data),
        OPEN,
    )
    assert result["groups"][0]["std"] == pytest.approx(np.std(temps, ddof=1), rel=1e-12)


def test_empty_groups_and_single_rows_report_null(schema: DatasetSchema) -> None:
    spec = job("variance", field="temp", group_by="shift")
    data = {"temp": [1500.0, 1700.0, 1600.0], "shift": ["A", "A", "B"]}
    result = finalize(spec, schema, vector_from_rows(spec, schema, data), OPEN)
    a, b, c = result["groups"]
    assert a["n"] == 2 and a["mean"] == 1600.0 and a["variance"] == pytest.approx(20000.0)
    assert b == {"group": "B", "contributors": 3, "n": 1, "mean": 1600.0, "variance": None, "std": None}
    assert c == {"group": "C", "contributors": 3, "n": 0, "mean": None, "variance": None, "std": None}
    for kind in ("sum", "mean"):
        empty = finalize(
            job(kind, field="temp"), schema, with_cohort(job(kind, field="temp"), schema, [0, 0]), OPEN
        )
        assert empty["groups"] == [{"group": None, "contributors": 3, "n": 0, kind: None}]


def test_histogram_reports_counts_and_out_of_range(schema: DatasetSchema) -> None:
    spec = job("histogram", field="temp", bins=[1500, 1600, 1700])
    data = {"temp": [1400.0, 1500.0, 1599.9, 1600.0, 1700.0, 1750.0]}
    result = finalize(spec, schema, vector_from_rows(spec, schema, data), OPEN)
    assert result["edges"] == [1500.0, 1600.0, 1700.0]
    assert result["groups"] == [
        {"group": None, "contributors": 3, "n": 6, "counts": [2, 2], "out_of_range": 2}
    ]


def test_result_is_strict_json(schema: DatasetSchema) -> None:
    spec = job("variance", field="temp", group_by="shift")
    result = finalize(spec, schema, vector_from_rows(spec, schema, {"temp": [], "shift": []}), OPEN)
    assert json.loads(json.dumps(result, allow_nan=False)) == result


def test_a_cell_below_the_cohort_is_withheld_without_its_count(schema: DatasetSchema) -> None:
    spec = job("mean", field="temp", group_by="shift")
    data = {"temp": [1500.0, 1700.0, 1600.0], "shift": ["A", "A", "B"]}
    vector = vector_from_rows(spec, schema, data)
    vector[vector_layout(spec, schema).indicator_slice(1)] = 2  # only two factories qualify for shift B
    result = finalize(spec, schema, vector, OPEN)
    a, b, _c = result["groups"]
    assert a["mean"] == 1600.0 and a["contributors"] == 3
    assert b == {
        "group": "B",
        "suppressed": True,
        "code": "min_cohort",
        "reason": "fewer than 3 factories have at least 1 matching rows in this cell",
    }


@pytest.mark.parametrize(
    ("vector", "code"),
    [
        (np.zeros(4), "vector_length_mismatch"),
        (np.zeros((3, 1)), "vector_length_mismatch"),
        (np.array([-1.0, 0.0, 3.0]), "invalid_aggregate"),
        (np.array([2.5, 0.0, 3.0]), "invalid_aggregate"),
        (np.array([2.0, np.nan, 3.0]), "invalid_aggregate"),
    ],
)
def test_malformed_vectors_are_refused(vector: np.ndarray, code: str, schema: DatasetSchema) -> None:
    with pytest.raises(AnalysisError) as caught:
        finalize(job("mean", field="temp"), schema, vector, OPEN)
    assert caught.value.code == code


def test_counts_tolerate_fixed_point_slack(schema: DatasetSchema) -> None:
    result = finalize(job("count"), schema, with_cohort(job("count"), schema, [41.99999]), OPEN)
    assert result["groups"][0]["n"] == 42


def test_regression_recovers_exact_coefficients(schema: DatasetSchema) -> None:
    rng = np.random.default_rng(5)
    temp, scrap = rng.uniform(1500, 1700, 50), rng.uniform(0.05, 0.3, 50)
    energy = 100.0 + 0.2 * temp + 150.0 * scrap
    spec = job("linear_regression", features=["temp", "scrap"], target="energy")
    data = {"temp": list(temp), "scrap": list(scrap), "energy": list(energy)}
    result = finalize(spec, schema, vector_from_rows(spec, schema, data), OPEN)
    assert result["coefficients"] == pytest.approx(
        {"intercept": 100.0, "temp": 0.2, "scrap": 150.0}, rel=1e-8
    )
    assert result["r_squared"] == pytest.approx(1.0)
    assert (result["n"], result["dof"], result["features"], result["target"]) == (
        50,
        47,
        ["temp", "scrap"],
        "energy",
    )
    assert result["std_errors"]["temp"] == pytest.approx(0.0, abs=1e-6)


def test_regression_standard_errors_match_textbook_formula(schema: DatasetSchema) -> None:
    rng = np.random.default_rng(9)
    temp = rng.uniform(1500, 1700, 40)
    energy = 80.0 + 0.25 * temp + rng.normal(0, 10, 40)
    spec = job("linear_regression", features=["temp"], target="energy")
    result = finalize(
        spec, schema, vector_from_rows(spec, schema, {"temp": list(temp), "energy": list(energy)}), OPEN
    )
    x = np.column_stack([np.ones(40), temp])
    beta = np.linalg.solve(x.T @ x, x.T @ energy)
    residuals = energy - x @ beta
    se = np.sqrt(residuals @ residuals / 38 * np.diag(np.linalg.inv(x.T @ x)))
    assert [result["std_errors"]["intercept"], result["std_errors"]["temp"]] == pytest.approx(
        se.tolist(), rel=1e-7
    )


def test_exactly_determined_regression_has_no_standard_errors(schema: DatasetSchema) -> None:
    spec = job("linear_regression", features=["temp"], target="energy")
    data = {"temp": [1500.0, 1600.0], "energy": [400.0, 420.0]}
    result = finalize(spec, schema, vector_from_rows(spec, schema, data), OPEN)
    assert result["coefficients"] == pytest.approx({"intercept": 100.0, "temp": 0.2})
    assert result["dof"] == 0
    assert result["std_errors"] == {"intercept": None, "temp": None}
    assert result["residual_std_error"] is None


@pytest.mark.parametrize(
    "data",
    [
        {"temp": [1500.0, 1600.0, 1700.0], "scrap": [0.1, 0.2, 0.3], "energy": [1.0, 2.0, 4.0]},  # collinear
        {"temp": [1550.0, 1550.0, 1550.0], "scrap": [0.1, 0.2, 0.4], "energy": [1.0, 2.0, 4.0]},  # constant
        {"temp": [1550.0, 1600.0], "scrap": [0.1, 0.2], "energy": [1.0, 2.0]},  # fewer rows than unknowns
        {"temp": [], "scrap": [], "energy": []},
    ],
)
def test_singular_regression_raises(data: dict[str, list[float]], schema: DatasetSchema) -> None:
    spec = job("linear_regression", features=["temp", "scrap"], target="energy")
    with pytest.raises(SingularMatrixError) as caught:
        vector = (
            vector_from_rows(spec, schema, data) if data["temp"] else with_cohort(spec, schema, [0.0] * 10)
        )
        finalize(spec, schema, vector, OPEN)
    assert caught.value.code == "singular_matrix"
