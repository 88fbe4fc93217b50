"""Check digits against published examples and against python-stdnum as a reference implementation."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stdnum import luhn
from stdnum.cn import ric, uscc

from contracts.detectors.checks import (
    PROVINCES,
    USCC_ALPHABET,
    known_region,
    luhn_valid,
    organisation_code_check,
    organisation_code_valid,
    plausible_birth_date,
    ric_check_digit,
    uscc_valid,
)
from contracts.identity import validate_participant_id

TODAY = date(2025, 6, 1)


@pytest.mark.parametrize(
    "number",
    [
        "11010519491231002X",  # the example of GB 11643-1999
        "360426199101010071",  # python-stdnum's example
    ],
)
def test_resident_id_check_digit_known_answers(number: str) -> None:
    assert ric_check_digit(number[:17]) == number[17]


@given(st.text(alphabet="0123456789", min_size=17, max_size=17))
def test_resident_id_check_digit_matches_stdnum(body: str) -> None:
    assert ric_check_digit(body) == ric.calc_check_digit(body + "0")


@pytest.mark.parametrize(
    ("ymd", "plausible"),
    [
        ((1900, 1, 1), True),
        ((1899, 12, 31), False),
        ((2025, 6, 1), True),
        ((2025, 6, 2), False),  # tomorrow
        ((2000, 2, 29), True),
        ((1900, 2, 29), False),  # not a leap year
        ((1990, 13, 1), False),
        ((1990, 4, 31), False),
        ((1990, 0, 10), False),
    ],
)
def test_birth_date_from_1900_to_today(ymd: tuple[int, int, int], plausible: bool) -> None:
    assert plausible_birth_date(*ymd, TODAY) is plausible


def test_region_table_knows_counties_but_not_provinces_alone() -> None:
    assert known_region("110105")  # 北京市朝阳区
    assert not known_region("119999")  # Beijing, but no such county
    assert not known_region("999999")
    assert {"11", "44", "65", "71", "81", "82", "83"} <= PROVINCES
    assert not {"00", "10", "20", "66", "91"} & PROVINCES


@pytest.mark.parametrize(
    ("number", "valid"),
    [
        ("4111111111111111", True),
        ("5555555555554444", True),
        ("6222021234567890128", True),
        ("6222021234567890127", False),
    ],
)
def test_luhn_known_answers(number: str, valid: bool) -> None:
    assert luhn_valid(number) is valid


@given(st.text(alphabet="0123456789", min_size=1, max_size=25))
def test_luhn_matches_stdnum(digits: str) -> None:
    assert luhn_valid(digits) is luhn.is_valid(digits)


@pytest.mark.parametrize(
    ("code", "organisation_check"),
    [("91110000600037341L", "1"), ("914403001922038216", "1"), ("91440300708461136T", "6")],
)
def test_credit_codes_and_their_organisation_codes(code: str, organisation_check: str) -> None:
    assert uscc_valid(code)
    assert organisation_code_check(code[8:16]) == organisation_check
    assert organisation_code_valid(code[8:17])


@given(
    st.sampled_from("123456789"),
    st.sampled_from("123456789"),
    st.text(alphabet="0123456789", min_size=6, max_size=6),
    st.text(alphabet=USCC_ALPHABET, min_size=10, max_size=10),
)
def test_credit_code_check_agrees_with_the_participant_id_validator(
    authority: str, category: str, region: str, rest: str
) -> None:
    code = authority + category + region + rest
    try:
        validate_participant_id(code)
        reference = True
    except ValueError:
        reference = False
    assert uscc_valid(code) is reference


def test_credit_codes_of_authorities_n_and_y_are_accepted() -> None:
    # python-stdnum, and so the participant id validator, want digits in the first eight places.
    body = "N2110105MA0000000"
    code = body + uscc.calc_check_digit(body)
    assert uscc_valid(code)
    assert not uscc_valid("0" + code[1:])  # no authority 0
    assert not uscc_valid(code[0] + "0" + code[2:])  # no category 0
