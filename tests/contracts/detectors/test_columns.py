"""Column names that announce personal data, and names that only look as if they did."""

from __future__ import annotations

import pytest

from contracts.detectors import Kind, match_column_name, name_words
from contracts.detectors.columns import keyword_end


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("身份证号", Kind.RESIDENT_ID),
        ("id_card", Kind.RESIDENT_ID),
        ("IDCardNo", Kind.RESIDENT_ID),
        ("sfzh", Kind.RESIDENT_ID),
        ("id_card_no", Kind.RESIDENT_ID),  # not a bank card number
        ("手机号", Kind.MOBILE),
        ("联系电话", Kind.MOBILE),
        ("联系人电话", Kind.MOBILE),  # the phone, not the contact's name
        ("phoneNumber", Kind.MOBILE),
        ("mobile_no", Kind.MOBILE),
        ("tel", Kind.MOBILE),
        ("邮箱", Kind.EMAIL),
        ("email_address", Kind.EMAIL),
        ("E-Mail", Kind.EMAIL),
        ("银行卡号", Kind.BANK_CARD),
        ("card_no", Kind.BANK_CARD),
        ("车牌号", Kind.LICENCE_PLATE),
        ("license_plate", Kind.LICENCE_PLATE),
        ("vehicle_no", Kind.LICENCE_PLATE),
        ("统一社会信用代码", Kind.USCC),
        ("supplier_credit_code", Kind.USCC),
        ("工号", Kind.EMPLOYEE_ID),
        ("操作员工号", Kind.EMPLOYEE_ID),
        ("operator_id", Kind.EMPLOYEE_ID),
        ("姓名", Kind.PERSON_NAME),
        ("检验员", Kind.PERSON_NAME),
        ("操作员", Kind.PERSON_NAME),
        ("name", Kind.PERSON_NAME),
        ("operator", Kind.PERSON_NAME),
        ("shift_inspector", Kind.PERSON_NAME),
        ("operator_name", Kind.PERSON_NAME),
        ("full_name", Kind.PERSON_NAME),
        ("UserName", Kind.PERSON_NAME),
    ],
)
def test_names_that_announce_a_kind(name: str, kind: Kind) -> None:
    match = match_column_name(name)
    assert match is not None and match.kind is kind, match


@pytest.mark.parametrize(
    "name",
    [
        "product_name", "machine_name", "line_name", "设备名称", "产品名称", "customer_region", "hotel",
        "steel_grade", "plate_no", "plate_width", "temperature", "batch_no", "order_id", "ts",
        "operator_count", "员工数", "",
    ],
)  # fmt: skip
def test_names_that_announce_nothing(name: str) -> None:
    assert match_column_name(name) is None


def test_words_of_a_column_name() -> None:
    assert name_words("phoneNumber") == ("phone", "number")
    assert name_words("PHONE_NO") == ("phone", "no")
    assert name_words("IDCardNo") == ("id", "card", "no")
    assert name_words("炉温_max") == ("max",)


def test_keyword_end_is_the_end_of_the_last_occurrence() -> None:
    assert keyword_end("furnace_temp", "temp") == len("furnace_temp")
    assert keyword_end("equipment_id", "equipment") == len("equipment")
    assert keyword_end("idcardno", "id_card") == len("idcardno")
    assert keyword_end("hotel", "tel") is None
    assert keyword_end("设备温度", "温度") == 4
