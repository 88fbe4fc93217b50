"""Set-intersection job specs: which key fields and summed fields a job may name, and what it may not ask."""

from __future__ import annotations

from typing import Any

import pytest

from contracts.exceptions import JobSpecError
from contracts.jobspec import JobSpec, validate_spec
from contracts.schema import DatasetSchema

SCHEMA = DatasetSchema.model_validate(
    {
        "name": "suppliers",
        "fields": [
            {"name": "code", "type": "text"},
            {"name": "contact", "type": "text", "personal": True},
            {"name": "grade", "type": "category", "categories": ["ore", "coal"]},
            {"name": "spend", "type": "number", "min": 0, "max": 1e9},
            {"name": "margin", "type": "number", "min": -10, "max": 10},
            {"name": "since", "type": "timestamp"},
        ],
    }
)


def check(**fields: Any) -> None:
    base = {"kind": "psi_cardinality", "dataset": "suppliers", "key_field": "code", "normalization": "exact"}
    validate_spec(JobSpec.model_validate({**base, **fields}), SCHEMA)


def test_text_and_category_keys_are_allowed() -> None:
    check()
    check(key_field="grade", normalization="text")
    check(kind="psi_sum", field="spend")


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"key_field": "contact"}, "personal_field"),  # personal data is never a key
        ({"key_field": "spend"}, "field_type_not_allowed"),
        ({"key_field": "since"}, "field_type_not_allowed"),
        ({"normalization": "soundex"}, "bad_features"),
        ({"kind": "psi_sum", "field": "margin"}, "field_type_not_allowed"),  # values must be >= 0
        ({"kind": "psi_sum", "field": "spend", "epsilon": 1.0}, "unexpected_parameter"),
        ({"kind": "psi_sum"}, "missing_parameter"),
        ({"group_by": "grade"}, "group_by_not_supported"),
        ({"field": "spend"}, "unexpected_parameter"),  # a count sums nothing
    ],
)
def test_what_a_set_intersection_may_not_name(fields: dict[str, Any], code: str) -> None:
    with pytest.raises(JobSpecError) as refused:
        check(**fields)
    assert refused.value.code == code
