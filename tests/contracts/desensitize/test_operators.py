"""Mask, pseudonym, bucket, generalize, date shift and suppress behave as their rules document."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.desensitize import (
    BucketRule,
    ContractKey,
    DateShiftRule,
    GeneralizeRule,
    MaskRule,
    PseudonymRule,
    SuppressRule,
    ValueHierarchy,
    derive_contract_key,
)
from contracts.desensitize.operators import transform_for
from contracts.desensitize.rules import Rule
from tests.contracts.desensitize.conftest import NODE_SECRET


def run(rule: Rule, key: ContractKey, value: object, row: dict[str, object] | None = None) -> object:
    return transform_for(rule, key)(value, row or {})


# -- mask ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("rule", "value", "expected"),
    [
        (MaskRule(keep_first=3, keep_last=4), "13812345678", "138****5678"),
        (MaskRule(keep_last=4, mask_char="#"), "6222021234567890", "############7890"),
        (MaskRule(keep_first=1), "张三丰", "张**"),
        (MaskRule(keep_first=3, keep_last=4), "1234567", "*******"),  # too short to keep both: all masked
        (MaskRule(keep_first=3, keep_last=4), "", ""),
        (MaskRule(), "abc", "***"),
        (MaskRule(keep_first=2), 123456, "12****"),
    ],
)
def test_mask(rule: MaskRule, value: object, expected: str, key: ContractKey) -> None:
    assert run(rule, key, value) == expected


@given(st.text(max_size=30), st.integers(0, 10), st.integers(0, 10))
def test_mask_keeps_the_length_and_shows_at_most_what_it_keeps(text: str, first: int, last: int) -> None:
    masked = MaskRule(keep_first=first, keep_last=last)
    out = transform_for(masked, derive_contract_key(NODE_SECRET, "c"))(text, {})
    assert isinstance(out, str)
    assert len(out) == len(text)
    shown = sum(1 for a, b in zip(out, text, strict=True) if a == b and a != "*")
    assert shown <= first + last


# -- pseudonym ----------------------------------------------------------------------------------------
def test_pseudonyms_are_stable_within_a_contract_and_differ_across(
    key: ContractKey, other_key: ContractKey
) -> None:
    rule = PseudonymRule()
    token = run(rule, key, "E-1001")
    assert token == run(rule, derive_contract_key(NODE_SECRET, "contract-1"), "E-1001")
    assert isinstance(token, str) and len(token) == 20 and set(token) <= set("0123456789abcdef")
    assert token != run(rule, other_key, "E-1001")
    assert token != run(rule, key, "E-1002")
    assert token != run(PseudonymRule(domain="other"), key, "E-1001")
    other_node = derive_contract_key(bytes(32), "contract-1")
    assert token != run(rule, other_node, "E-1001")


def test_pseudonym_encodings(key: ContractKey) -> None:
    token = run(PseudonymRule(encoding="base32", length=26), key, 42)
    assert (
        isinstance(token, str) and len(token) == 26 and set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
    )
    assert run(PseudonymRule(), key, 42) == run(PseudonymRule(), key, "42")  # by text form


def test_pseudonym_refuses_other_types(key: ContractKey) -> None:
    for value in (1.5, True, b"x", [1]):
        with pytest.raises(ValueError):
            run(PseudonymRule(), key, value)


def test_contract_keys_need_a_real_secret() -> None:
    with pytest.raises(ValueError):
        derive_contract_key(bytes(31), "c")
    with pytest.raises(ValueError):
        derive_contract_key(bytes(32), "")
    contract_key = derive_contract_key(bytes(32), "c")
    assert contract_key.secret.hex() not in repr(contract_key)
    assert "secret" not in repr(contract_key)


# -- bucket -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("rule", "value", "expected"),
    [
        (BucketRule(width=10), 15, "[10, 20)"),
        (BucketRule(width=10), 10, "[10, 20)"),
        (BucketRule(width=10), 9.999, "[0, 10)"),
        (BucketRule(width=10), -0.5, "[-10, 0)"),
        (BucketRule(width=10), -10, "[-10, 0)"),
        (BucketRule(width=10, origin=5), 4, "[-5, 5)"),
        (BucketRule(width=0.1), 0.3, "[0.3, 0.4)"),  # decimal, not binary, arithmetic
        (BucketRule(width=0.25, origin=0.5), 1.1, "[1, 1.25)"),
        (BucketRule(width=1000), 123456, "[123000, 124000)"),
        (BucketRule(edges=(18, 30.5, 65)), 17, "(-inf, 18)"),
        (BucketRule(edges=(18, 30.5, 65)), 18, "[18, 30.5)"),
        (BucketRule(edges=(18, 30.5, 65)), 30.5, "[30.5, 65)"),
        (BucketRule(edges=(18, 30.5, 65)), 99, "[65, +inf)"),
    ],
)
def test_bucket(rule: BucketRule, value: float, expected: str, key: ContractKey) -> None:
    assert run(rule, key, value) == expected


@given(st.integers(-(10**9), 10**9), st.integers(1, 1000), st.integers(-1000, 1000))
def test_a_value_lies_in_its_bucket(value: int, width: int, origin: int) -> None:
    label = transform_for(BucketRule(width=width, origin=origin), derive_contract_key(NODE_SECRET, "c"))(
        value, {}
    )
    assert isinstance(label, str)
    low, high = (int(x) for x in label.strip("[)").split(", "))
    assert low <= value < high and high - low == width and (low - origin) % width == 0


def test_bucket_refuses_what_is_not_a_finite_number(key: ContractKey) -> None:
    for value in ("12", float("nan"), float("inf"), True):
        with pytest.raises(ValueError):
            run(BucketRule(width=10), key, value)


# -- generalize and suppress --------------------------------------------------------------------------
def test_generalize_and_suppress(key: ContractKey) -> None:
    ages = ValueHierarchy.parse("34;30-39;*\n35;30-39;*\n")
    assert run(GeneralizeRule(hierarchy=ages, level=1), key, 34) == "30-39"
    assert run(GeneralizeRule(hierarchy=ages, level=0), key, 34) == 34
    assert run(GeneralizeRule(hierarchy=ages, level=2), key, "35") == "*"
    with pytest.raises(ValueError, match="not in the hierarchy"):
        run(GeneralizeRule(hierarchy=ages, level=1), key, 36)
    assert run(SuppressRule(), key, "secret") == "*"


# -- date shift ---------------------------------------------------------------------------------------
SHIFT = DateShiftRule(entity_field="patient", max_days=30)


def shifted(key: ContractKey, value: object, entity: object) -> object:
    return run(SHIFT, key, value, {"patient": entity})


def test_a_date_shift_is_stable_per_entity_and_key(key: ContractKey, other_key: ContractKey) -> None:
    day = date(2024, 3, 1)
    first = shifted(key, day, "P-1")
    assert isinstance(first, date)
    assert first == shifted(key, day, "P-1")
    # every date of one entity moves alike, so intervals survive
    later = shifted(key, date(2024, 5, 17), "P-1")
    assert isinstance(later, date)
    assert later - first == date(2024, 5, 17) - day
    shifts = {(shifted(key, day, f"P-{i}") - day).days for i in range(200)}  # type: ignore[operator]
    assert len(shifts) > 30 and 0 not in shifts and max(map(abs, shifts)) <= 30
    across = {(shifted(other_key, day, f"P-{i}") - day).days for i in range(200)}  # type: ignore[operator]
    assert across != shifts


@settings(max_examples=200)
@given(st.text(min_size=1, max_size=20), st.integers(1, 3650))
def test_a_shift_is_nonzero_and_within_bounds(entity: str, max_days: int) -> None:
    rule = DateShiftRule(entity_field="e", max_days=max_days)
    out = transform_for(rule, derive_contract_key(NODE_SECRET, "c"))(date(2000, 1, 1), {"e": entity})
    assert isinstance(out, date)
    assert 1 <= abs((out - date(2000, 1, 1)).days) <= max_days


def test_a_date_shift_keeps_the_type_and_form(key: ContractKey) -> None:
    days = (shifted(key, date(2024, 3, 1), "P-1") - date(2024, 3, 1)).days  # type: ignore[operator]
    delta = timedelta(days=days)
    assert shifted(key, datetime(2024, 3, 1, 8, 30), "P-1") == datetime(2024, 3, 1, 8, 30) + delta
    assert shifted(key, "2024-03-01", "P-1") == (date(2024, 3, 1) + delta).isoformat()
    assert shifted(key, "2024-03-01 08:30:00", "P-1") == (datetime(2024, 3, 1, 8, 30) + delta).isoformat(" ")
    assert (
        shifted(key, "2024-03-01T08:30:00+08:00", "P-1")
        == (datetime.fromisoformat("2024-03-01T08:30:00+08:00") + delta).isoformat()
    )


def test_a_date_shift_refuses_bad_dates_and_missing_entities(key: ContractKey) -> None:
    for value in ("01/03/2024", "2024-02-30", 20240301):
        with pytest.raises(ValueError):
            shifted(key, value, "P-1")
    with pytest.raises(ValueError, match="entity"):
        shifted(key, date(2024, 3, 1), None)
    with pytest.raises(ValueError, match="entity"):
        run(SHIFT, key, date(2024, 3, 1), {})
    far = DateShiftRule(entity_field="patient", max_days=3650)
    refused = 0
    for edge in (date.min, date.max):  # the shift is nonzero, so one of the two leaves the calendar
        try:
            run(far, key, edge, {"patient": "x"})
        except ValueError as exc:
            assert "calendar" in str(exc)
            refused += 1
    assert refused == 1
