"""Cells and cohorts: a factory contributes a cell only with enough rows, and a sum is released only with
enough factories behind it — checked against a direct computation over every factory's rows."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from contracts.analysis import finalize
from contracts.jobspec import JobSpec, vector_layout
from contracts.privacy import (
    NoiseMode,
    PrivacyTerms,
    ReleaseRules,
    decide_cells,
    gate_cells,
    strictest_terms,
)
from contracts.schema import DatasetSchema
from tests.contracts.test_analysis import vector_from_rows


def job(kind: str, **kwargs: Any) -> JobSpec:
    return JobSpec.model_validate({"kind": kind, "dataset": "plant", **kwargs})


def factory_rows(rng: np.random.Generator, sizes: dict[str, int]) -> dict[str, list[Any]]:
    shifts = [shift for shift, size in sizes.items() for _ in range(size)]
    return {"temp": list(rng.uniform(1450, 1750, len(shifts))), "shift": shifts}


def test_a_factory_with_too_few_rows_in_a_cell_contributes_nothing_to_it(schema: DatasetSchema) -> None:
    spec = job("mean", field="temp", group_by="shift")
    layout = vector_layout(spec, schema)
    rows = factory_rows(np.random.default_rng(1), {"A": 12, "B": 9, "C": 0})
    own = vector_from_rows(spec, schema, rows, contributors=0)
    gated = gate_cells(layout, own, min_rows_per_factory=10)
    assert gated.vector[layout.group_slice(0)].tolist() == own[layout.group_slice(0)].tolist()
    assert gated.vector[layout.group_slice(1)].tolist() == [0.0, 0.0]  # 9 rows of shift B stay home
    assert [gated.vector[layout.indicator_slice(g)][0] for g in range(3)] == [1.0, 0.0, 0.0]
    assert (gated.cells, gated.qualifying, gated.rows, gated.matched) == (3, 1, 12, 21)


@pytest.mark.parametrize("seed", range(12))
def test_released_cells_match_a_direct_computation_over_qualifying_factories(
    seed: int, schema: DatasetSchema
) -> None:
    rng = np.random.default_rng(seed)
    spec = job("mean", field="temp", group_by="shift")
    layout = vector_layout(spec, schema)
    rules = ReleaseRules(min_cohort=3, min_cell_rows=40, min_rows_per_factory=10)
    factories = [
        factory_rows(rng, {shift: int(rng.integers(0, 25)) for shift in ("A", "B", "C")}) for _ in range(5)
    ]
    summed = sum(
        gate_cells(layout, vector_from_rows(spec, schema, rows, contributors=0), 10).vector
        for rows in factories
    )
    result = finalize(spec, schema, summed, rules)
    for group in result["groups"]:
        # The reference: the rows of factories with at least 10 rows in this shift, taken directly.
        qualifying = [
            [t for t, s in zip(rows["temp"], rows["shift"], strict=True) if s == group["group"]]
            for rows in factories
        ]
        qualifying = [values for values in qualifying if len(values) >= 10]
        pooled = [t for values in qualifying for t in values]
        if len(qualifying) >= 3 and len(pooled) >= 40:
            assert group["contributors"] == len(qualifying)
            assert group["n"] == len(pooled)
            assert group["mean"] == pytest.approx(np.mean(pooled), rel=1e-12)
        else:
            assert group["suppressed"] is True
            assert set(group) == {"group", "suppressed", "reason", "code"}
            assert group["code"] == ("min_cohort" if len(qualifying) < 3 else "min_cell_rows")


def test_a_histogram_withholds_thin_bins_and_the_total_that_would_reveal_them(schema: DatasetSchema) -> None:
    spec = job("histogram", field="temp", bins=[1400, 1500, 1600, 1800])
    layout = vector_layout(spec, schema)
    rules = ReleaseRules(min_cohort=3, min_cell_rows=30, min_rows_per_factory=10)
    per_factory = {"temp": [1450.0] * 12 + [1550.0] * 3 + [1700.0] * 15}  # the middle bin is thin
    summed = sum(
        gate_cells(layout, vector_from_rows(spec, schema, per_factory, contributors=0), 10).vector
        for _ in range(4)
    )
    (group,) = finalize(spec, schema, summed, rules)["groups"]
    assert group["counts"] == [48, None, 60]
    assert group["n"] is None  # n minus the released bins would give the thin bin away
    assert [w["cell"] for w in group["withheld"]] == ["outside", "bin(temp in [1500,1600))"]
    assert group["out_of_range"] is None


def test_decisions_never_show_a_withheld_cell_count(schema: DatasetSchema) -> None:
    spec = job("count")
    layout = vector_layout(spec, schema)
    (decision,) = decide_cells(layout, np.array([500.0, 2.0]), ReleaseRules(3, 30, 10))[0]
    assert not decision.released and "2" not in (decision.reason or "")


def test_the_strictest_privacy_terms_of_the_offers_bind_the_contract() -> None:
    terms = strictest_terms(
        [
            PrivacyTerms(min_rows_per_factory=5, min_cell_rows=50, noise_mode=NoiseMode.CENTRAL, delta=1e-6),
            PrivacyTerms(min_rows_per_factory=20, min_cell_rows=10, noise_mode=NoiseMode.CENTRAL, delta=1e-8),
        ]
    )
    assert terms == PrivacyTerms(
        min_rows_per_factory=20, min_cell_rows=50, noise_mode=NoiseMode.CENTRAL, delta=1e-8
    )
    assert strictest_terms([PrivacyTerms(noise_mode=NoiseMode.CENTRAL), PrivacyTerms()]).noise_mode is (
        NoiseMode.DISTRIBUTED
    )
