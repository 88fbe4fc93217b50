"""Encrypted scoring's spec, monomial layout and result assembly (pure parts)."""

from __future__ import annotations

from typing import Any

import pytest

from contracts.exceptions import JobSpecError
from contracts.jobspec import JobSpec, vector_layout
from contracts.schema import DatasetSchema
from contracts.scoring import attach_scores, count_spec
from protocols.he import exponents

SCHEMA = DatasetSchema.model_validate(
    {
        "name": "plant",
        "fields": [
            {"name": "line", "type": "category", "categories": ["L1", "L2"]},
            *({"name": f"x{i}", "type": "number", "min": 0, "max": 10} for i in range(17)),
        ],
    }
)


def spec(**changes: Any) -> JobSpec:
    base = {
        "kind": "encrypted_scoring", "dataset": "plant", "features": ["x0", "x1"], "degree": 2,
        "outputs": ["score"], "he_params": "ckks-8192", "input_digest": "a" * 64,
    }  # fmt: skip
    return JobSpec.model_validate({**base, **changes})


def test_the_layout_follows_the_basis_the_buyer_expands_on() -> None:
    """Term i is the monomial protocols.he.exponents lists i-th, so the buyer's c_i meets S_i."""
    features = ["x0", "x1", "x2"]
    layout = vector_layout(spec(features=features, degree=3), SCHEMA)
    powers = [tuple(term.factors.count(f) for f in features) for term in layout.terms]
    assert powers == [tuple(int(e) for e in row) for row in exponents(3, 3)]
    assert layout.term_row_bounds == (1.0,) * len(powers)  # scaled monomials are in [-1, 1]


@pytest.mark.parametrize(
    "changes",
    [
        {"he_params": "ckks-16384"},
        {"outputs": ["a", "a"]},
        {"features": [f"x{i}" for i in range(16)], "degree": 4},  # C(20, 4) = 4845 monomials
        {"features": ["x0", "x0"]},
        {"field": "x0"},
        {"input_digest": None},
    ],
)
def test_invalid_scoring_specs_are_refused(changes: dict[str, Any]) -> None:
    with pytest.raises((JobSpecError, ValueError)):
        vector_layout(spec(**changes), SCHEMA)


def test_other_kinds_take_no_scoring_parameters_and_serialise_as_before() -> None:
    with pytest.raises(JobSpecError):
        vector_layout(JobSpec(kind="count", dataset="plant", degree=2), SCHEMA)  # type: ignore[arg-type]
    dumped = JobSpec(kind="count", dataset="plant").model_dump(mode="json")  # type: ignore[arg-type]
    assert not {"degree", "outputs", "he_params", "input_digest"} & dumped.keys()


def test_the_count_view_keeps_groups_filters_and_epsilon() -> None:
    filters = [{"field": "x3", "op": "lt", "value": 5}]
    view = count_spec(spec(group_by="line", filters=filters, epsilon=0.5))
    assert (view.kind, view.group_by, view.epsilon) == ("count", "line", 0.5)
    assert [f.model_dump(mode="json") for f in view.filters] == [{"field": "x3", "op": "lt", "value": 5}]


def test_withheld_groups_get_no_ciphertexts() -> None:
    counts = {"kind": "count", "contributors": 3, "groups": [
        {"group": "L1", "n": 40, "contributors": 3},
        {"group": "L2", "suppressed": True, "reason": "too few rows", "code": "min_cell_rows"},
    ]}  # fmt: skip
    result = attach_scores(counts, ["score", "risk"], {0: ["c1", "c2"]})
    assert result["kind"] == "encrypted_scoring"
    assert result["groups"][0]["encrypted"] == {"score": "c1", "risk": "c2"}
    assert "encrypted" not in result["groups"][1]
