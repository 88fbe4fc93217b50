"""Each value detector on its own: formats, boundaries, positions, confidence, and overlap resolution."""

from __future__ import annotations

import itertools
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stdnum.cn import uscc

from contracts.detectors import Confidence, Kind, Match, find_identifiers
from contracts.detectors.checks import luhn_valid, ric_check_digit, uscc_valid
from contracts.detectors.values import DETECTORS, PRIORITY, VALUE_KINDS

TODAY = date(2025, 6, 1)
RIC = "11010519491231002X"


def kinds(text: str, *, names: bool = False) -> list[Kind]:
    return [m.kind for m in find_identifiers(text, today=TODAY, names=names)]


def spans(text: str, *, names: bool = False) -> list[str]:
    return [text[m.start : m.end] for m in find_identifiers(text, today=TODAY, names=names)]


def with_check(body17: str) -> str:
    return body17 + ric_check_digit(body17)


# ------------------------------------------------------------------------------------------ resident IDs


def test_resident_id_in_text_with_its_position() -> None:
    text = f"身份证号：{RIC}，请核对"
    assert find_identifiers(text, today=TODAY) == [Match(Kind.RESIDENT_ID, 5, 23, Confidence.HIGH)]


def test_resident_id_lower_case_x_is_found() -> None:
    assert kinds(RIC.lower()) == [Kind.RESIDENT_ID]


def test_region_outside_stdnums_table_is_found_with_medium_confidence() -> None:
    # Faker issues 830000 (Taiwan residents' permits) and real cards keep codes since renamed or merged.
    number = with_check("83000019900101123")
    assert find_identifiers(number, today=TODAY) == [Match(Kind.RESIDENT_ID, 0, 18, Confidence.MEDIUM)]


def test_real_region_and_year_pair_stdnum_refuses_is_found() -> None:
    # stdnum's validate() requires the county to have existed in the birth year; 110105 was created later
    # than some of its holders were born, and the card still carries it.
    number = with_check("11010519300101123")
    assert kinds(number) == [Kind.RESIDENT_ID]


@pytest.mark.parametrize(
    "date8",
    ["19901301", "19900230", "18991231", "20250602", "00000000"],
)
def test_resident_id_with_impossible_birth_date_is_not_found(date8: str) -> None:
    assert Kind.RESIDENT_ID not in kinds(with_check("110105" + date8 + "123"))


def test_birth_date_is_bounded_by_the_today_given() -> None:
    number = with_check("11010520250602123")
    assert Kind.RESIDENT_ID not in [m.kind for m in find_identifiers(number, today=TODAY)]
    assert [m.kind for m in find_identifiers(number, today=date(2025, 6, 2))] == [Kind.RESIDENT_ID]


def test_wrong_check_digit_and_wrong_length_are_not_resident_ids() -> None:
    assert Kind.RESIDENT_ID not in kinds(RIC[:17] + "1")
    assert Kind.RESIDENT_ID not in kinds(RIC[:17])
    assert Kind.RESIDENT_ID not in kinds(RIC + "1")
    assert kinds("AB" + RIC) == []  # part of a longer code


def test_legacy_fifteen_digit_numbers_have_low_confidence() -> None:
    assert find_identifiers("110105491231002", today=TODAY) == [
        Match(Kind.RESIDENT_ID_15, 0, 15, Confidence.LOW)
    ]
    assert kinds("999999491231002") == []  # unknown region: no check digit to fall back on
    assert kinds("110105491331002") == []  # month 13


# -------------------------------------------------------------------------------------------- mobiles


@pytest.mark.parametrize(
    "text",
    ["13812345678", "+8613812345678", "+86 138 1234 5678", "0086-138-1234-5678", "8613812345678",
     "138-1234-5678", "138 1234 5678", "19912345678"],
)  # fmt: skip
def test_mobile_formats(text: str) -> None:
    assert spans(text) == [text]


@pytest.mark.parametrize(
    "text",
    ["12812345678", "23812345678", "1381234567", "138123456789", "138-12345678", "PO13812345678",
     "13812345678A", "010-12345678"],
)  # fmt: skip
def test_not_mobiles(text: str) -> None:
    assert Kind.MOBILE not in kinds(text)


def test_mobile_segment_not_open_to_the_public_is_medium() -> None:
    assert find_identifiers("14012345678", today=TODAY)[0].confidence is Confidence.MEDIUM
    assert find_identifiers("13912345678", today=TODAY)[0].confidence is Confidence.HIGH


# ------------------------------------------------------------------------------------------ bank cards


@pytest.mark.parametrize("text", ["6222021234567890128", "4111111111111111", "4111 1111 1111 1111",
                                  "6222-0212-3456-7890-128"])  # fmt: skip
def test_bank_cards(text: str) -> None:
    assert spans(text) == [text]


def test_cards_need_luhn_length_and_a_card_issuing_industry() -> None:
    assert kinds("4111111111111112") == []  # Luhn fails
    assert kinds("411111111111116") == []  # 15 digits
    sim = "8986" + "0" * 15
    sim += next(d for d in "0123456789" if luhn_valid(sim + d))
    assert kinds(sim) == []  # a SIM card's ICCID passes Luhn but is no bank card


def test_unknown_issuer_prefix_is_medium() -> None:
    number = next(f"3000000000000{i:03d}" for i in range(1000) if luhn_valid(f"3000000000000{i:03d}"))
    assert find_identifiers(number, today=TODAY) == [Match(Kind.BANK_CARD, 0, 16, Confidence.MEDIUM)]


# --------------------------------------------------------------------------------------- credit codes


def test_credit_code_with_valid_organisation_code_is_high() -> None:
    assert find_identifiers("统一社会信用代码91110000600037341L", today=TODAY) == [
        Match(Kind.USCC, 8, 26, Confidence.HIGH)
    ]


def test_credit_code_needs_its_check_and_upper_case() -> None:
    assert kinds("91110000600037341K") == []
    assert kinds("91110000600037341l") == []


# ------------------------------------------------------------------------------ e-mails, plates, names


@pytest.mark.parametrize(
    "text", ["zhang.wei@example.com", "li_na+qc@factory.com.cn", "ops-1@mail.sub.example.org"]
)
def test_emails(text: str) -> None:
    assert spans(f"邮箱：{text}。") == [text]


@pytest.mark.parametrize(
    "text", ["user@", "@example.com", "user@example", "user@example.c", "www.example.com"]
)
def test_not_emails(text: str) -> None:
    assert kinds(text) == []


@pytest.mark.parametrize(
    "text", ["京A12345", "粤B-12345", "沪A·D12345", "苏E12345F", "鲁QAB123", "京A1234学", "陕I55514"]
)
def test_plates(text: str) -> None:
    assert spans(f"车辆{text}进厂") == [text]


@pytest.mark.parametrize(
    "text", ["京A1234", "京A123456", "A京12345", "京112345", "京AABC12", "北A12345", "Q235B"]
)
def test_not_plates(text: str) -> None:
    assert kinds(text) == []


def test_plate_with_letter_i_has_low_confidence() -> None:
    assert find_identifiers("陕I55514", today=TODAY)[0].confidence is Confidence.LOW


@pytest.mark.parametrize("text", ["张伟", "欧阳娜娜", "李志强", " 王芳 ", "司马光"])
def test_names_only_when_asked(text: str) -> None:
    assert kinds(text) == []
    assert spans(text, names=True) == [text.strip()]


@pytest.mark.parametrize(
    "text", ["白班", "高温", "管理员", "班长", "张", "张伟伟伟", "Zhang Wei", "1号线", "热轧"]
)
def test_not_names(text: str) -> None:
    assert kinds(text, names=True) == []


# --------------------------------------------------------------------------------- folding and overlap


def test_full_width_digits_and_zero_width_spaces_do_not_hide_identifiers() -> None:
    full = "电话：１３８１２３４５６７８"
    assert spans(full) == ["１３８１２３４５６７８"]
    hidden = "手机138\u200b1234\u200b5678号"
    assert spans(hidden) == ["138\u200b1234\u200b5678"]


def test_resident_id_that_passes_luhn_is_reported_once_as_resident_id() -> None:
    candidates = (with_check(f"440305199001{i % 28 + 1:02d}{i:03d}") for i in range(1000))
    number = next(n for n in candidates if n[-1] != "X" and luhn_valid(n))
    assert DETECTORS[Kind.BANK_CARD].find(number, TODAY)  # the card detector alone would claim it
    assert kinds(number) == [Kind.RESIDENT_ID]


def test_resident_id_that_passes_the_credit_code_check_is_reported_as_resident_id() -> None:
    number = next(
        n for i in range(5000) if uscc_valid(n := with_check(f"110105199001{i % 28 + 1:02d}{i % 1000:03d}"))
    )
    assert kinds(number) == [Kind.RESIDENT_ID]


def test_email_swallows_the_phone_number_in_its_local_part() -> None:
    assert kinds("13812345678@qq.com") == [Kind.EMAIL]


def test_several_identifiers_in_one_text_in_order() -> None:
    body = "91320500MA1N00001"
    code = body + uscc.calc_check_digit(body)
    text = f"联系人手机 13812345678，邮箱 a@b.cn，身份证 {RIC}，车牌 苏E12345，单位 {code}"
    assert kinds(text) == [Kind.MOBILE, Kind.EMAIL, Kind.RESIDENT_ID, Kind.LICENCE_PLATE, Kind.USCC]


def test_every_detector_has_a_priority() -> None:
    assert set(PRIORITY) == set(VALUE_KINDS) == set(DETECTORS)


@given(st.text(max_size=60))
def test_matches_are_ordered_disjoint_and_inside_the_text(text: str) -> None:
    matches = find_identifiers(text, today=TODAY, names=True)
    for m in matches:
        assert 0 <= m.start < m.end <= len(text)
    for a, b in itertools.pairwise(matches):
        assert a.end <= b.start
