"""Rules: strict models that travel as canonical JSON, and a digest that names a rule set."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from contracts.canonical import canonical, parse_canonical
from contracts.desensitize import (
    BucketRule,
    DateShiftRule,
    FF1Rule,
    GeneralizeRule,
    IntervalHierarchy,
    KeepRule,
    MaskRule,
    PseudonymRule,
    RuleSet,
    SuppressRule,
    ValueHierarchy,
    rules_digest,
)

JOBS = ValueHierarchy.parse("welder;production;*\nfitter;production;*\nclerk;office;*\n")

RULES = RuleSet(
    fields={
        "employee": PseudonymRule(domain="staff", encoding="base32", length=26),
        "phone": MaskRule(keep_first=3, keep_last=4),
        "id_card": FF1Rule(format="resident_id", birth_date="keep", keep_sex=True),
        "supplier": FF1Rule(format="uscc"),
        "job": GeneralizeRule(hierarchy=JOBS, level=1),
        "salary": BucketRule(width=1000),
        "age": BucketRule(edges=(18, 30.5, 65)),
        "hired": DateShiftRule(entity_field="employee", max_days=30),
        "note": SuppressRule(mode="drop"),
        "line": KeepRule(),
    }
)


def test_rules_travel_as_canonical_json() -> None:
    document = RULES.model_dump(mode="json")
    data = canonical(document)
    again = RuleSet.model_validate(parse_canonical(data))
    assert again == RULES
    assert rules_digest(again) == rules_digest(RULES)
    assert document["fields"]["phone"] == {"op": "mask", "keep_first": 3, "keep_last": 4, "mask_char": "*"}


def test_the_digest_is_sha256_of_the_canonical_form_and_sees_every_change() -> None:
    import hashlib

    assert rules_digest(RULES) == hashlib.sha256(canonical(RULES.model_dump(mode="json"))).hexdigest()
    changed = RULES.model_copy(update={"fields": {**RULES.fields, "salary": BucketRule(width=2000)}})
    assert rules_digest(changed) != rules_digest(RULES)


@pytest.mark.parametrize(
    "rule",
    [
        {"op": "mask", "keep_first": 3, "extra": 1},
        {"op": "mask", "mask_char": "**"},
        {"op": "mask", "keep_first": -1},
        {"op": "pseudonym", "length": 8},
        {"op": "pseudonym", "encoding": "hex", "length": 65},
        {"op": "pseudonym", "encoding": "base32", "length": 52},
        {"op": "pseudonym", "domain": "Upper Case"},
        {"op": "ff1", "format": "iban"},
        {"op": "ff1", "format": "uscc", "keep_sex": True},
        {"op": "ff1", "format": "numeric", "birth_date": "keep"},
        {"op": "generalize", "hierarchy": {"rows": [["a", "*"]]}, "level": 2},
        {"op": "bucket"},
        {"op": "bucket", "width": 10, "edges": [1, 2]},
        {"op": "bucket", "width": 0},
        {"op": "bucket", "edges": [1, 1]},
        {"op": "bucket", "width": float("inf")},
        {"op": "date_shift", "entity_field": "x", "max_days": 0},
        {"op": "date_shift", "max_days": 3},
        {"op": "suppress", "mode": "hide"},
        {"op": "encrypt"},
    ],
)
def test_malformed_rules_are_refused(rule: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        RuleSet.model_validate({"fields": {"f": rule}})


def test_field_names_must_be_identifiers() -> None:
    with pytest.raises(ValidationError):
        RuleSet.model_validate({"fields": {"Bad Name": {"op": "keep"}}})


def test_pseudonym_length_limits_follow_the_encoding() -> None:
    assert PseudonymRule(encoding="hex", length=64).length == 64
    assert PseudonymRule(encoding="base32", length=51).length == 51


# -- hierarchies --------------------------------------------------------------------------------------
def test_arx_hierarchy_text_round_trips() -> None:
    text = "welder;production;*\nfitter;production;*\n\nclerk;office;*\n"
    hierarchy = ValueHierarchy.parse(text)
    assert hierarchy.height == 2
    assert hierarchy.generalize("fitter", 1) == "production"
    assert hierarchy.generalize("fitter", 2) == "*"
    assert hierarchy.generalize("fitter", 0) == "fitter"
    assert ValueHierarchy.parse(hierarchy.to_text()) == hierarchy


@pytest.mark.parametrize(
    "text",
    [
        "a;x;*\nb;*\n",  # ragged
        "a\nb\n",  # no level above the value
        "a;x;*\na;y;*\n",  # a value twice
        "a;x;*\nb;x;y\n",  # level 2 is not a function of level 1
    ],
)
def test_malformed_hierarchies_are_refused(text: str) -> None:
    with pytest.raises(ValidationError):
        ValueHierarchy.parse(text)


def test_interval_hierarchies_must_nest() -> None:
    assert IntervalHierarchy(widths=(0.5, 1.5, 3)).height == 4
    for widths in [(10, 15), (10, 10), (10, 5)]:
        with pytest.raises(ValidationError):
            IntervalHierarchy(widths=widths)
