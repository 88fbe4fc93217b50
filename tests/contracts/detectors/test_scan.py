"""Column profiles and the release check's findings."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal

import pytest

from contracts.detectors import (
    Confidence,
    Finding,
    Kind,
    as_text,
    find_personal_data,
    scan_column,
    scan_table,
)

TODAY = date(2025, 6, 1)
RIC = "11010519491231002X"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, None),
        ("", None),
        ("  ", None),
        (float("nan"), None),
        (Decimal("NaN"), None),
        (13812345678.0, "13812345678"),
        (Decimal("13812345678"), "13812345678"),
        (13812345678, "13812345678"),
        (36.6, "36.6"),
        (b"13812345678", "13812345678"),
        (date(2024, 3, 15), "2024-03-15"),
    ],
)
def test_as_text(value: object, text: str | None) -> None:
    assert as_text(value) == text


def test_column_of_mobiles() -> None:
    values = ["13812345678", "+86 139 1234 5678", None, "", "备注：13712345678", "无"]
    finding = scan_column("联系电话", values, today=TODAY)
    mobile = finding.stat(Kind.MOBILE)
    assert mobile is not None
    assert (finding.values, finding.non_empty) == (6, 4)
    assert (mobile.hits, mobile.whole, mobile.strong) == (3, 2, 3)
    assert mobile.rate == pytest.approx(0.75)
    assert finding.name_match is not None and finding.name_match.kind is Kind.MOBILE
    assert [s.kind for s in finding.hits()] == [Kind.MOBILE]
    assert not finding.names_tested and finding.stat(Kind.PERSON_NAME) is None


def test_names_are_tested_in_name_columns_only() -> None:
    values = ["张伟", "李娜", "白班"]
    assert scan_column("remark", values, today=TODAY).hits() == ()
    by_name = scan_column("检验员", values, today=TODAY)
    assert by_name.names_tested
    stat = by_name.stat(Kind.PERSON_NAME)
    assert stat is not None and stat.hits == 2
    declared = scan_column("col7", values, today=TODAY, name_column=True)
    assert declared.names_tested and declared.hits()[0].kind is Kind.PERSON_NAME
    refused = scan_column("姓名", values, today=TODAY, name_column=False)
    assert not refused.names_tested


def test_numeric_values_are_counted_and_read_once() -> None:
    def readings() -> Iterator[object]:
        yield from (1523.4, "1580", 7, "1.2e-3", "Q235B", None)

    finding = scan_column("temp", readings(), today=TODAY)
    assert (finding.non_empty, finding.numeric) == (5, 4)
    assert finding.hits() == () and finding.name_match is None


def test_empty_column_has_zero_rates() -> None:
    finding = scan_column("phone", [], today=TODAY)
    assert finding.non_empty == 0
    assert all(s.rate == 0.0 for s in finding.detections)


def test_scan_table_honours_declared_name_columns() -> None:
    table = {"col_a": ["张伟"], "col_b": ["张伟"], "mobile": ["13812345678"]}
    findings = scan_table(table, today=TODAY, name_columns={"col_a"})
    assert findings["col_a"].hits()[0].kind is Kind.PERSON_NAME
    assert findings["col_b"].hits() == ()
    assert findings["mobile"].hits()[0].kind is Kind.MOBILE


def test_findings_in_records_give_row_column_and_exact_positions() -> None:
    rows = [
        {"batch": "B20240315-017", "temp": 1523.4, "note": "正常"},
        {"batch": "B20240315-018", "temp": 1530.0, "note": f"联系张工 13812345678，身份证{RIC}"},
        {"batch": "B20240315-019", "operator": "王芳", "phone": 13912345678.0},
    ]
    findings = find_personal_data(rows, today=TODAY)
    assert findings == [
        Finding(1, "note", Kind.MOBILE, 5, 16, Confidence.HIGH),
        Finding(1, "note", Kind.RESIDENT_ID, 20, 38, Confidence.HIGH),
        Finding(2, "operator", Kind.PERSON_NAME, 0, 2, Confidence.LOW),
        Finding(2, "phone", Kind.MOBILE, 0, 11, Confidence.HIGH),
    ]
    note = str(rows[1]["note"])
    assert note[5:16] == "13812345678" and note[20:38] == RIC
    assert all(f.personal for f in findings)


def test_findings_in_bare_values_and_the_limit() -> None:
    values = ["1523.4", "13812345678", None, "a@b.cn", "91110000600037341L"]
    findings = find_personal_data(values, today=TODAY)
    assert [(f.row, f.column, f.kind) for f in findings] == [
        (1, None, Kind.MOBILE),
        (3, None, Kind.EMAIL),
        (4, None, Kind.USCC),
    ]
    assert not findings[-1].personal  # a credit code is reported, but it names an organisation
    assert len(find_personal_data(values, today=TODAY, limit=1)) == 1


def test_declared_name_columns_in_records() -> None:
    rows = [{"c1": "张伟", "c2": "张伟"}]
    findings = find_personal_data(rows, today=TODAY, name_columns={"c2"})
    assert [(f.column, f.kind) for f in findings] == [("c2", Kind.PERSON_NAME)]


def test_a_finding_never_carries_the_identifier() -> None:
    (finding,) = find_personal_data([RIC], today=TODAY)
    assert RIC not in repr(finding)
    assert "1949" not in repr(finding)


def test_identifiers_disguised_by_width_or_invisible_characters_are_found() -> None:
    # A value typed with a Chinese input method, or pasted with zero-width spaces, is still the identifier.
    rows = [{"note": "电话１３８１２３４５６７８"}, {"note": "id\u200b " + RIC.replace("1", "1\u200b")}]
    findings = find_personal_data(rows, today=TODAY)
    assert [f.kind for f in findings] == [Kind.MOBILE, Kind.RESIDENT_ID]
    assert rows[1]["note"][findings[1].start : findings[1].end].replace("\u200b", "") == RIC
