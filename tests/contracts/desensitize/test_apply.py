"""apply_rules: fail-closed per-field rules over rows, joins within a contract, and a report for receipts."""

from __future__ import annotations

from datetime import date

import pytest
from stdnum.cn import ric

from contracts.canonical import canonical
from contracts.desensitize import (
    BucketRule,
    ContractKey,
    DateShiftRule,
    FF1Rule,
    KeepRule,
    MaskRule,
    PseudonymRule,
    RuleError,
    RuleSet,
    SuppressRule,
    ValueFormatError,
    apply_rules,
    rules_digest,
)

ID_1 = "11010119900307123" + ric.calc_check_digit("11010119900307123?")
ID_2 = "11010519851225002" + ric.calc_check_digit("11010519851225002?")
WRONG = ID_1[:17] + ("0" if ID_1[17] != "0" else "1")

ROWS: list[dict[str, object]] = [
    {
        "id_card": ID_1,
        "name": "张三",
        "phone": "13812345678",
        "visit": date(2024, 3, 1),
        "cost": 123.5,
        "ward": "A",
    },
    {
        "id_card": ID_2,
        "name": "李四",
        "phone": "13987654321",
        "visit": date(2024, 3, 9),
        "cost": 88,
        "ward": "B",
    },
    {"id_card": ID_1, "name": "张三", "phone": None, "visit": date(2024, 4, 2), "cost": 40, "ward": "A"},
]

RULES = RuleSet(
    fields={
        "id_card": FF1Rule(format="resident_id"),
        "phone": MaskRule(keep_first=3, keep_last=4),
        "visit": DateShiftRule(entity_field="id_card", max_days=15),
        "cost": BucketRule(width=50),
        "ward": KeepRule(),
        "patient": PseudonymRule(domain="patients"),
    }
)


def rows_with_patient() -> list[dict[str, object]]:
    return [{**row, "patient": row["id_card"]} for row in ROWS]


def test_rules_apply_field_by_field_and_other_fields_are_dropped(key: ContractKey) -> None:
    result = apply_rules(rows_with_patient(), RULES, key)
    first, second, third = result.rows
    assert list(first) == ["id_card", "phone", "visit", "cost", "ward", "patient"]  # "name" had no rule
    assert ric.is_valid(str(first["id_card"])) and first["id_card"] != ID_1
    assert first["id_card"] == third["id_card"] != second["id_card"]
    assert first["phone"] == "138****5678" and third["phone"] is None
    assert first["cost"] == "[100, 150)" and second["cost"] == "[50, 100)"
    assert first["ward"] == "A"
    assert first["patient"] == third["patient"] != second["patient"]
    # the same person's visits move alike, keyed by the id as read, before its own rule
    assert isinstance(first["visit"], date) and isinstance(third["visit"], date)
    assert third["visit"] - first["visit"] == date(2024, 4, 2) - date(2024, 3, 1)


def test_the_report_names_fields_and_counts_but_no_values(key: ContractKey) -> None:
    report = apply_rules(rows_with_patient(), RULES, key).report
    assert report.contract_id == key.contract_id
    assert report.rules_digest == rules_digest(RULES)
    assert report.rows == 3
    assert report.dropped_fields == ("name",)
    phone = next(f for f in report.fields if f.field == "phone")
    assert (phone.op, phone.values, phone.missing) == ("mask", 2, 1)
    data = canonical(report.model_dump(mode="json"))
    for row in ROWS:
        for value in row.values():
            if isinstance(value, str) and len(value) > 1:
                assert value.encode() not in data


def test_joins_work_within_a_contract_and_not_across(key: ContractKey, other_key: ContractKey) -> None:
    rules = RuleSet(fields={"id_card": FF1Rule(format="resident_id"), "patient": PseudonymRule()})
    rows = [{"id_card": ID_1, "patient": "P-1"}]
    once, again = apply_rules(rows, rules, key).rows[0], apply_rules(rows, rules, key).rows[0]
    assert once == again
    elsewhere = apply_rules(rows, rules, other_key).rows[0]
    assert elsewhere["id_card"] != once["id_card"] and elsewhere["patient"] != once["patient"]


def test_suppression_replaces_or_drops(key: ContractKey) -> None:
    rules = RuleSet(fields={"name": SuppressRule(), "phone": SuppressRule(mode="drop"), "ward": KeepRule()})
    result = apply_rules(ROWS, rules, key)
    assert result.rows[0] == {"name": "*", "ward": "A"}
    assert "phone" in result.report.dropped_fields
    assert [f.field for f in result.report.fields] == ["name", "ward"]


def test_a_value_that_does_not_fit_stops_the_release_without_showing_it(key: ContractKey) -> None:
    rows = [*ROWS, {**ROWS[0], "id_card": WRONG}]
    with pytest.raises(ValueFormatError) as caught:
        apply_rules(rows, RuleSet(fields={"id_card": FF1Rule(format="resident_id")}), key)
    assert caught.value.field == "id_card" and caught.value.row == 3
    assert WRONG[:14] not in str(caught.value.to_dict())


def test_a_rule_for_an_absent_field_is_an_error(key: ContractKey) -> None:
    with pytest.raises(RuleError, match="patient"):
        apply_rules(ROWS, RULES, key)


def test_no_rows_no_output(key: ContractKey) -> None:
    result = apply_rules([], RULES, key)
    assert result.rows == [] and result.report.rows == 0 and result.report.dropped_fields == ()
