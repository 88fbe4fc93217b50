"""The pure step from column profiles to a proposed schema: types, bounds, categories, personal data."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts.schema import FieldType
from node.inference import (
    ColumnProfile,
    InferenceError,
    dataset_name,
    infer_dataset,
    infer_field,
    propose_bounds,
)

TODAY = date(2025, 6, 1)


def numbers(
    name: str, lo: float, hi: float, *, whole: bool = False, n: int = 1000, **extra: float
) -> ColumnProfile:
    values = {"low": lo, "high": hi} | extra
    return ColumnProfile(
        name=name, rows=n, non_empty=n, numbers=n, integers=n if whole else 0, distinct=n,
        minimum=values.get("minimum", lo), maximum=values.get("maximum", hi), low=values["low"],
        high=values["high"], sample=tuple(str(lo + (hi - lo) * i / 9) for i in range(10)),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("lo", "hi", "integer", "expected"),
    [
        (900.0, 1400.0, False, (850.0, 1450.0)),
        (0.5, 4.5, False, (0.0, 5.0)),  # never below 0 for a column without negative values
        (0.81, 0.99, False, (0.78, 1.0)),  # a share stays at most 1
        (0.0, 7.0, True, (0.0, 8.0)),
        (-12.5, 3.0, False, (-15.0, 5.0)),
        (5.0, 5.0, True, (4.0, 6.0)),  # one value still gets a range
        (0.0, 0.0, False, (0.0, 0.1)),
    ],
)
def test_bounds_get_headroom_and_a_round_grid(
    lo: float, hi: float, integer: bool, expected: tuple[float, float]
) -> None:
    lower, upper, _ = propose_bounds(lo, hi, integer=integer)
    assert (lower, upper) == expected


@given(
    st.floats(-1e9, 1e9, allow_nan=False),
    st.floats(0, 1e9, allow_nan=False),
    st.booleans(),
)
def test_bounds_always_cover_the_values_and_are_valid(lo: float, width: float, integer: bool) -> None:
    hi = lo + width
    lower, upper, _ = propose_bounds(lo, hi, integer=integer)
    assert lower <= lo and hi <= upper and lower < upper
    if integer:
        assert lower.is_integer() and upper.is_integer()
    if lo >= 0:
        assert lower >= 0


def test_a_lone_glitch_does_not_set_the_bounds() -> None:
    profile = numbers("temp", 900, 1400, minimum=900, maximum=99_999)  # one reading of a broken sensor
    field = infer_field(profile, today=TODAY)
    assert (field.spec.min, field.spec.max) == (850, 1450)
    assert any("glitches" in note for note in field.notes)


def test_types_from_the_shares_that_parse() -> None:
    def text(name: str, **counts: int) -> ColumnProfile:
        return ColumnProfile(name=name, rows=100, non_empty=100, distinct=100, **counts)

    times = infer_field(text("at", timestamps=97), today=TODAY)
    mostly_numbers = infer_field(text("reading", numbers=96, integers=10, minimum=1, maximum=2), today=TODAY)
    few_numbers = infer_field(text("note", numbers=50), today=TODAY)
    assert times.spec.type is FieldType.TIMESTAMP
    assert mostly_numbers.spec.type is FieldType.NUMBER
    assert few_numbers.spec.type is FieldType.TEXT
    empty = infer_field(ColumnProfile(name="unused", rows=100, non_empty=0), today=TODAY)
    assert empty.spec.type is FieldType.TEXT


def test_categories_need_repeated_values() -> None:
    top = tuple((f"L{i}", 20) for i in range(4))
    lines = ColumnProfile(name="line", rows=80, non_empty=80, distinct=4, top=top)
    unique = ColumnProfile(name="code", rows=4, non_empty=4, distinct=4, top=top)
    assert infer_field(lines, today=TODAY).spec.categories == ["L0", "L1", "L2", "L3"]
    assert infer_field(unique, today=TODAY).spec.type is FieldType.TEXT


def test_numbers_that_name_things_are_categories() -> None:
    top = tuple((str(101 + i), 50) for i in range(3))
    meters = ColumnProfile(
        name="meter_id", rows=150, non_empty=150, numbers=150, integers=150, distinct=3, minimum=101,
        maximum=103, top=top,
    )  # fmt: skip
    field = infer_field(meters, today=TODAY)
    assert field.spec.type is FieldType.CATEGORY and field.spec.categories == ["101", "102", "103"]


def test_personal_columns_are_text_whatever_they_hold() -> None:
    mobiles = ["13812345678", "13987654321", "15012345678"] * 20
    column = ColumnProfile(
        name="contact", rows=60, non_empty=60, numbers=60, integers=60, distinct=3, minimum=1.38e10,
        maximum=1.5e10, top=tuple((m, 20) for m in mobiles[:3]), sample=tuple(mobiles),
    )  # fmt: skip
    field = infer_field(column, today=TODAY)
    assert field.spec.type is FieldType.TEXT and field.spec.personal
    assert field.spec.min is None and field.spec.categories is None  # neither range nor numbers published
    assert field.tag == "phone_number" and field.grade == "important"
    assert "personal" in field.proposed and not any(note.startswith("bounds:") for note in field.notes)


def test_dataset_names_and_skipped_columns() -> None:
    assert dataset_name("Kiln Log 2024") == "kiln_log_2024"
    assert dataset_name("2024-kiln") == "data_2024_kiln"
    assert dataset_name("窑炉") == "dataset"
    assert dataset_name("kiln", taken=["kiln", "kiln_2"]) == "kiln_3"
    good = ColumnProfile(name="line", rows=10, non_empty=0)
    odd = ColumnProfile(name="Line No.", rows=10, non_empty=0)
    inferred = infer_dataset("plant", [good, odd, good], today=TODAY)
    assert [f.spec.name for f in inferred.fields] == ["line"]
    assert [c for c, _ in inferred.skipped] == ["Line No.", "line"]
    assert "'line_no'" in inferred.skipped[0][1] and "more than one" in inferred.skipped[1][1]
    with pytest.raises(InferenceError, match="no column of plant"):
        infer_dataset("plant", [odd], today=TODAY)
