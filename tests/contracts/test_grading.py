"""Proposals of grade, personal flag and tag: the rules of contracts.grading, and offers built from them."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts.detectors import ColumnFinding, DetectorStat, Kind, NameMatch, scan_column, scan_table
from contracts.grading import Rule, propose, propose_table
from contracts.identity import make_participant_id
from contracts.jobspec import JobKind
from contracts.offers import DatasetOffer, Grade, Price, validate_offer
from contracts.schema import DatasetSchema, FieldSpec, FieldType
from contracts.vocabulary import TAGS

TODAY = date(2025, 6, 1)
RIC = "11010519491231002X"
CODE = make_participant_id("91320500MA1N00001")


def spec(name: str, type_: FieldType, *, personal: bool = False) -> FieldSpec:
    bounds = {"min": 0.0, "max": 2000.0} if type_.is_numeric else {}
    categories = {"categories": ["A", "B"]} if type_ is FieldType.CATEGORY else {}
    return FieldSpec(name=name, type=type_, personal=personal, **bounds, **categories)


def scan(name: str, values: list[object]) -> ColumnFinding:
    return scan_column(name, values, today=TODAY)


def test_resident_ids_are_sensitive_personal_information_graded_important() -> None:
    proposal = propose(scan("holder", [RIC] * 9 + ["-"]))
    assert (proposal.grade, proposal.personal, proposal.sensitive) == (Grade.IMPORTANT, True, True)
    assert proposal.tag == "id_card_number"
    assert proposal.rule is Rule.SENSITIVE_PERSONAL_INFORMATION
    assert proposal.evidence.tag_source == "values"
    (stat,) = proposal.evidence.detections
    assert (stat.kind, stat.hits, stat.rate) == (Kind.RESIDENT_ID, 9, 0.9)


def test_bank_cards_take_the_generic_identifier_tag() -> None:
    proposal = propose(scan("account", ["6222021234567890128"] * 3), spec("account", FieldType.TEXT))
    assert proposal.rule is Rule.SENSITIVE_PERSONAL_INFORMATION and proposal.sensitive
    assert proposal.tag == "identifier"
    assert proposal.evidence.tag_source == "generic"
    assert "no tag for bank_card" in proposal.evidence.reasons[-1]


def test_column_name_alone_makes_a_field_personal() -> None:
    proposal = propose(scan("联系电话", ["138****5678", "139****1234"]))
    assert (proposal.grade, proposal.personal, proposal.sensitive) == (Grade.IMPORTANT, True, False)
    assert proposal.tag == "phone_number" and proposal.evidence.tag_source == "column_name"
    assert proposal.rule is Rule.PERSONAL_INFORMATION
    assert proposal.evidence.name_match == NameMatch(kind=Kind.MOBILE, keyword="电话")


def test_one_phone_number_in_free_text_makes_the_column_personal() -> None:
    notes = ["温度正常"] * 99 + ["请联系张工 13812345678"]
    proposal = propose(scan("remark", notes), spec("remark", FieldType.TEXT))
    assert proposal.personal and proposal.grade is Grade.IMPORTANT
    assert proposal.tag == "free_text"  # 1 % of the values cannot make it a column of phone numbers


def test_process_parameters_are_general() -> None:
    proposal = propose(scan("furnace_temp", [1523.4, 1530.1, 1519.8]), spec("furnace_temp", FieldType.NUMBER))
    assert (proposal.grade, proposal.personal, proposal.tag) == (Grade.GENERAL, False, "temperature")
    assert proposal.rule is Rule.PROCESS_PARAMETER
    assert proposal.evidence.detections == ()


def test_credit_codes_are_important_but_not_personal() -> None:
    proposal = propose(scan("supplier", [CODE, CODE]), spec("supplier", FieldType.CATEGORY))
    assert (proposal.grade, proposal.personal, proposal.sensitive) == (Grade.IMPORTANT, False, False)
    assert proposal.rule is Rule.ORGANISATION_IDENTIFIER
    assert proposal.tag == "identifier"  # the vocabulary has no tag for organisations


def test_a_declared_personal_field_stays_personal() -> None:
    proposal = propose(scan("col9", ["x", "y"]), spec("col9", FieldType.CATEGORY, personal=True))
    assert (proposal.grade, proposal.personal, proposal.rule) == (
        Grade.IMPORTANT,
        True,
        Rule.DECLARED_PERSONAL,
    )


def test_names_in_an_operator_column() -> None:
    proposal = propose(scan("operator", ["张伟", "李娜", "王芳"]))
    assert (proposal.tag, proposal.personal, proposal.rule) == (
        "person_name",
        True,
        Rule.PERSONAL_INFORMATION,
    )


def test_a_tag_that_does_not_describe_the_declared_type_is_not_proposed() -> None:
    # Phone numbers kept as floats: phone_number and identifier describe labels, not numbers.
    proposal = propose(scan("mobile", [13812345678.0]), spec("mobile", FieldType.NUMBER))
    assert proposal.personal and proposal.tag is None


@pytest.mark.parametrize(
    ("column", "type_", "tag"),
    [
        ("equipment_id", FieldType.TEXT, "identifier"),  # the head word decides
        ("line_speed", FieldType.NUMBER, "speed"),
        ("单位能耗", FieldType.NUMBER, "energy_intensity"),
        ("能耗", FieldType.NUMBER, "energy_consumption"),
        ("cycle_time", FieldType.NUMBER, "cycle_time"),
        ("停机时长", FieldType.NUMBER, "duration"),
        ("班次", FieldType.CATEGORY, "shift"),
        ("steel_grade", FieldType.CATEGORY, "material_grade"),
        ("ts", FieldType.TIMESTAMP, "timestamp"),
        ("scrap_rate", FieldType.NUMBER, "scrap_rate"),
        ("x1", FieldType.NUMBER, None),  # the vocabulary has no generic numeric tag
        ("col", FieldType.TEXT, "free_text"),
    ],
)
def test_tags_from_column_names(column: str, type_: FieldType, tag: str | None) -> None:
    # Schema field names are ASCII; a file's Chinese column names are proposed for before any schema exists.
    declared = spec(column, type_) if column.isascii() else None
    proposal = propose(scan(column, []), declared)
    assert proposal.tag == tag
    assert proposal.grade is Grade.GENERAL and not proposal.personal


def test_profile_and_field_must_match() -> None:
    with pytest.raises(ValueError, match="proposed for field"):
        propose(scan("a", []), spec("b", FieldType.TEXT))


_KIND_STATS = st.lists(
    st.builds(
        lambda kind, hits: DetectorStat(kind=kind, hits=hits, whole=hits, strong=0, rate=hits / 10),
        st.sampled_from(list(Kind)),
        st.integers(0, 10),
    ),
    max_size=4,
    unique_by=lambda s: s.kind,
)


@given(_KIND_STATS, st.none() | st.sampled_from(list(Kind)), st.booleans())
def test_rules_hold_for_any_evidence(stats: list[DetectorStat], named: Kind | None, declared: bool) -> None:
    profile = ColumnFinding(
        column="c",
        values=10,
        non_empty=10,
        numeric=0,
        detections=tuple(stats),
        name_match=NameMatch(kind=named, keyword="k") if named else None,
    )
    proposal = propose(profile, spec("c", FieldType.TEXT, personal=declared))
    present = {s.kind for s in stats if s.hits} | ({named} if named else set())
    assert proposal.grade is not Grade.CORE  # core data is designated by catalogue, never proposed
    assert proposal.personal == (declared or any(k.personal for k in present))
    assert proposal.sensitive == any(k.sensitive for k in present)
    if proposal.personal or Kind.USCC in present:
        assert proposal.grade is Grade.IMPORTANT
    else:
        assert proposal.grade is Grade.GENERAL
    if proposal.tag is not None:
        assert FieldType.TEXT in TAGS[proposal.tag].field_types
        assert proposal.personal or not TAGS[proposal.tag].personal


def test_every_kind_tag_is_in_the_vocabulary() -> None:
    for kind in Kind:
        assert kind.tag is None or TAGS[kind.tag].personal == kind.personal


def test_an_offer_built_from_the_proposals_passes_validation() -> None:
    columns: dict[str, list[object]] = {
        "ts": ["2025-03-01 08:00:00"],
        "shift": ["A", "B"],
        "furnace_temp": [1523.4, 1530.1],
        "energy_intensity": [512.0, 530.0],
        "batch_no": ["B20240315-017"],
        "operator": ["张伟", "李娜"],
        "phone": ["13812345678", "13912345678"],
        "id_card": [RIC],
        "supplier": [CODE],
        "note": ["正常", "联系 13712345678"],
    }
    types = {
        "ts": FieldType.TIMESTAMP,
        "shift": FieldType.CATEGORY,
        "furnace_temp": FieldType.NUMBER,
        "energy_intensity": FieldType.NUMBER,
    }
    declared = DatasetSchema(name="melt", fields=[spec(c, types.get(c, FieldType.TEXT)) for c in columns])
    proposals = propose_table(scan_table(columns, today=TODAY).values(), declared)
    by_field = {p.field: p for p in proposals}
    assert {f for f, p in by_field.items() if p.personal} == {"operator", "phone", "id_card", "note"}
    assert {f for f, p in by_field.items() if p.grade is Grade.GENERAL} == {
        "ts", "shift", "furnace_temp", "energy_intensity", "batch_no"
    }  # fmt: skip
    assert all(p.tag is not None for p in proposals)

    # The factory accepts the proposals: personal flags into the schema, personal fields excluded.
    schema = DatasetSchema(
        name="melt",
        fields=[s.model_copy(update={"personal": by_field[s.name].personal}) for s in declared.fields],
    )
    offer = DatasetOffer(
        offer_id="melt-1",
        provider=CODE,
        dataset="melt",
        dataset_schema=schema,
        tags={p.field: p.tag for p in proposals if p.tag is not None},
        grades={p.field: p.grade for p in proposals},
        excluded_fields=tuple(p.field for p in proposals if p.personal),
        allowed_job_kinds=(JobKind.MEAN,),
        allowed_purposes=("quality_improvement",),
        allowed_regions=("CN",),
        max_jobs=10,
        not_before=datetime(2025, 1, 1, tzinfo=UTC),
        not_after=datetime(2026, 1, 1, tzinfo=UTC),
        price=Price(amount=Decimal("100.00"), currency="CNY"),
    )
    validate_offer(offer)
    assert set(offer.usable_fields()) == {"ts", "shift", "furnace_temp", "energy_intensity"}
