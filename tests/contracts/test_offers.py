"""Offer rules (grades, personal information, vocabulary) and the intersection semantics of compiled terms.

The builders at the top are shared with the negotiation, policy and signing tests.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from contracts.agreement import Contract, advance, compile_terms, draft_contract
from contracts.exceptions import OfferError, OfferErrorCode, TermsError, TermsErrorCode
from contracts.identity import make_participant_id
from contracts.jobspec import JobKind
from contracts.negotiation import Event, Stage
from contracts.offers import DatasetOffer, Grade, common_usable_fields, strictest, validate_offer
from contracts.policy import NumberConstraint, SetConstraint, TimeConstraint
from contracts.signing import countersign, sign_terms, terms_payload
from contracts.vocabulary import PURPOSES, TAGS, ConstraintName

NOW = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
PROVIDERS = tuple(make_participant_id(f"91320500MA1N{i:05d}") for i in range(3))
BUYER = make_participant_id("91110000MA01B0000")
OPERATOR = make_participant_id("12100000MB0C00000")
STRANGER = make_participant_id("91440300MA5D00000")
PARTICIPANTS = (*PROVIDERS, BUYER, OPERATOR, STRANGER)
PRIVATE_KEYS = {
    p: Ed25519PrivateKey.from_private_bytes(bytes([i + 1]) * 32) for i, p in enumerate(PARTICIPANTS)
}
PUBLIC_KEYS: dict[str, Ed25519PublicKey] = {p: k.public_key() for p, k in PRIVATE_KEYS.items()}

SCHEMA: dict[str, Any] = {
    "name": "plant",
    "description": "熔炼车间 melt shop",
    "fields": [
        {"name": "ts", "type": "timestamp"},
        {"name": "line", "type": "category", "categories": ["L1", "L2", "L3"]},
        {"name": "shift", "type": "category", "categories": ["A", "B", "C"]},
        {"name": "temp", "type": "number", "unit": "°C", "min": 1400, "max": 1800},
        {"name": "energy", "type": "number", "unit": "kWh/t", "min": 300, "max": 700},
        {"name": "throughput", "type": "number", "unit": "t/h", "min": 0, "max": 50},
        {"name": "recipe", "type": "number", "min": 0, "max": 1},
        {"name": "note", "type": "text"},
        {"name": "operator_name", "type": "text", "personal": True},
    ],
}
TAGS_OF = {
    "ts": "timestamp",
    "line": "production_line",
    "shift": "shift",
    "temp": "temperature",
    "energy": "energy_intensity",
    "throughput": "throughput",
    "recipe": "material_ratio",
    "note": "free_text",
    "operator_name": "person_name",
}
GRADES_OF = {name: "general" for name in TAGS_OF} | {"energy": "important", "recipe": "core"}


def offer_dict(index: int = 0, **overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "offer_id": f"offer-{index}",
        "provider": PROVIDERS[index],
        "dataset": "plant",
        "dataset_schema": SCHEMA,
        "tags": dict(TAGS_OF),
        "grades": dict(GRADES_OF),
        "excluded_fields": ["recipe", "operator_name"],
        "allowed_job_kinds": ["count", "sum", "mean", "histogram"],
        "allowed_purposes": ["energy_benchmarking", "research", "quality_improvement"],
        "allowed_regions": ["CN", "DE"],
        "min_cohort": 3,
        "max_jobs": 10,
        "epsilon_budget": None,
        "not_before": NOW - timedelta(days=10),
        "not_after": NOW + timedelta(days=30),
        "price": {"amount": "1200.00", "currency": "CNY"},
    }
    return base | overrides


def make_offer(index: int = 0, **overrides: Any) -> DatasetOffer:
    return DatasetOffer.model_validate(offer_dict(index, **overrides))


def make_offers(count: int = 3, **overrides: Any) -> list[DatasetOffer]:
    return [make_offer(i, **overrides) for i in range(count)]


def draft(
    offers: Sequence[DatasetOffer] | None = None, *, region: str = "CN", purpose: str = "research"
) -> Contract:
    return draft_contract(
        "contract-1",
        make_offers() if offers is None else offers,
        buyer=BUYER,
        operator=OPERATOR,
        purpose=purpose,
        region=region,
        now=NOW,
    )


def sign_all(contract: Contract) -> Contract:
    """Walk a drafted contract to VERIFIED, every party signing for real."""
    for provider in contract.provider_ids:
        contract = advance(contract, Event.OFFER, provider, NOW)
    contract = advance(contract, Event.AGREE, BUYER, NOW)
    for party in contract.parties:
        contract = advance(sign_terms(contract, party, PRIVATE_KEYS[party]), Event.SIGN, party, NOW)
    return contract


def finalize(contract: Contract) -> Contract:
    contract = sign_all(contract)
    contract = countersign(contract, PRIVATE_KEYS[OPERATOR], PUBLIC_KEYS)
    return advance(contract, Event.COUNTERSIGN, OPERATOR, NOW)


def permission_constraints(contract: Contract) -> dict[ConstraintName, Any]:
    found: dict[ConstraintName, Any] = {}
    for c in contract.terms.policy.permissions[0].constraints:
        if isinstance(c, TimeConstraint):
            found.setdefault(c.left_operand, {})[c.operator] = c.right_operand
        elif isinstance(c, (SetConstraint, NumberConstraint)):
            found[c.left_operand] = c.right_operand
    return found


# ------------------------------------------------------------------------------------------------ offers


def test_a_valid_offer_passes_and_offers_only_its_usable_fields() -> None:
    offer = make_offer()
    validate_offer(offer)
    assert offer.usable_fields() == ("ts", "line", "shift", "temp", "energy", "throughput")
    assert offer.personal_fields() == ("operator_name",)
    assert offer.fields_of_grade(Grade.CORE) == ("recipe",)


def invalid(code: OfferErrorCode, **overrides: Any) -> tuple[OfferErrorCode, dict[str, Any]]:
    return code, overrides


@pytest.mark.parametrize(
    ("code", "overrides"),
    [
        invalid(OfferErrorCode.CORE_FIELD_OFFERED, excluded_fields=["operator_name"]),
        invalid(OfferErrorCode.PERSONAL_FIELD_OFFERED, excluded_fields=["recipe"]),
        invalid(OfferErrorCode.UNKNOWN_TAG, tags=TAGS_OF | {"temp": "furnace_heat"}),
        invalid(OfferErrorCode.MISSING_TAG, tags={k: v for k, v in TAGS_OF.items() if k != "temp"}),
        invalid(OfferErrorCode.TAG_TYPE_MISMATCH, tags=TAGS_OF | {"line": "temperature"}),
        invalid(OfferErrorCode.PERSONAL_FLAG_MISSING, tags=TAGS_OF | {"note": "phone_number"}),
        invalid(OfferErrorCode.MISSING_GRADE, grades={k: v for k, v in GRADES_OF.items() if k != "ts"}),
        invalid(OfferErrorCode.UNKNOWN_FIELD, grades=GRADES_OF | {"pressure": "general"}),
        invalid(OfferErrorCode.UNKNOWN_FIELD, excluded_fields=["recipe", "operator_name", "secret"]),
        invalid(OfferErrorCode.DATASET_MISMATCH, dataset="rolling_mill"),
        invalid(OfferErrorCode.UNKNOWN_PURPOSE, allowed_purposes=["research", "marketing"]),
        invalid(OfferErrorCode.EMPTY_VALIDITY_WINDOW, not_after=NOW - timedelta(days=10)),
    ],
)
def test_offers_breaking_a_rule_are_refused(code: OfferErrorCode, overrides: dict[str, Any]) -> None:
    with pytest.raises(OfferError) as caught:
        validate_offer(make_offer(**overrides))
    assert caught.value.code == code.value
    assert caught.value.to_dict()["code"] == code.value


def test_a_core_field_is_unusable_even_if_the_offer_was_never_validated() -> None:
    offer = make_offer(excluded_fields=["operator_name"], grades=GRADES_OF | {"ts": "core"})
    assert "recipe" not in offer.usable_fields()
    assert "ts" not in offer.usable_fields()


def test_personal_information_is_never_usable_whatever_its_grade() -> None:
    schema = SCHEMA | {
        "fields": [*SCHEMA["fields"], {"name": "phone", "type": "category", "categories": ["x"]}]
    }
    offer = make_offer(
        dataset_schema=schema,
        tags=TAGS_OF | {"phone": "phone_number"},
        grades=GRADES_OF | {"phone": "general"},
    )
    assert "phone" not in offer.usable_fields()
    assert "phone" in offer.personal_fields()


@pytest.mark.parametrize(
    "overrides",
    [
        {"min_cohort": 2},
        {"allowed_regions": ["cn"]},
        {"allowed_regions": []},
        {"allowed_job_kinds": ["delete"]},
        {"epsilon_budget": 0.0},
        {"epsilon_budget": float("inf")},
        {"max_jobs": 0},
        {"not_before": datetime(2025, 1, 1)},  # naive
        {"price": {"amount": "-1", "currency": "CNY"}},
        {"price": {"amount": "1", "currency": "yuan"}},
        {"surprise": True},
    ],
)
def test_malformed_offers_do_not_parse(overrides: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        make_offer(**overrides)


def test_sets_are_sorted_and_times_normalised_to_utc() -> None:
    beijing = timezone(timedelta(hours=8))
    offer = make_offer(
        allowed_regions=["DE", "CN", "DE"],
        allowed_job_kinds=["sum", "count"],
        not_before=datetime(2025, 3, 1, 16, 0, tzinfo=beijing),
    )
    assert offer.allowed_regions == ("CN", "DE")
    assert offer.allowed_job_kinds == (JobKind.COUNT, JobKind.SUM)
    assert offer.not_before == datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
    assert offer.not_before.tzinfo is UTC
    assert offer.price.amount == Decimal("1200.00")


def test_vocabulary_is_consistent() -> None:
    personal = {name for name, tag in TAGS.items() if tag.personal}
    assert {"person_name", "phone_number", "id_card_number"} <= personal
    assert {"temperature", "energy_intensity", "throughput", "defect_rate", "material_ratio"} <= set(TAGS)
    assert {"quality_improvement", "energy_benchmarking", "insurance_underwriting", "research"} <= set(
        PURPOSES
    )
    assert all(name == tag.name and tag.field_types for name, tag in TAGS.items())


def test_strictest_grade() -> None:
    assert strictest([Grade.GENERAL, Grade.IMPORTANT]) is Grade.IMPORTANT
    assert strictest([Grade.CORE, Grade.GENERAL]) is Grade.CORE
    assert strictest([]) is Grade.GENERAL


# ----------------------------------------------------------------------------------------- compilation


def test_terms_are_the_intersection_of_the_offers() -> None:
    offers = [
        make_offer(
            0, allowed_job_kinds=["count", "mean", "sum"], min_cohort=4, max_jobs=20, epsilon_budget=None
        ),
        make_offer(1, allowed_purposes=["research"], allowed_regions=["CN", "DE", "FR"], epsilon_budget=2.0),
        make_offer(
            2,
            allowed_job_kinds=["mean", "sum", "variance"],
            excluded_fields=["recipe", "operator_name", "throughput"],
            grades=GRADES_OF | {"temp": "important", "energy": "general"},
            min_cohort=5,
            max_jobs=7,
            epsilon_budget=3.0,
            not_before=NOW - timedelta(days=2),
            not_after=NOW + timedelta(days=5),
            retention_days=30,
        ),
    ]
    contract = draft(offers)
    found = permission_constraints(contract)
    assert found[ConstraintName.JOB_KIND] == ("mean", "sum")
    assert found[ConstraintName.PURPOSE] == ("research",)
    assert found[ConstraintName.REGION] == ("CN", "DE")
    assert found[ConstraintName.FIELDS] == ("temp", "energy")
    assert found[ConstraintName.GROUP_BY] == ("line", "shift")
    assert found[ConstraintName.FILTER_FIELDS] == ("ts", "line", "shift", "temp", "energy")
    assert found[ConstraintName.MIN_COHORT] == 5
    assert found[ConstraintName.QUERY_COUNT] == 7
    assert found[ConstraintName.EPSILON_BUDGET] == 2.0
    assert found[ConstraintName.VALIDITY_WINDOW] == {
        "gteq": NOW - timedelta(days=2),
        "lt": NOW + timedelta(days=5),
    }
    terms = contract.terms
    assert terms.grades == {
        "ts": "general",
        "line": "general",
        "shift": "general",
        "temp": "important",
        "energy": "important",
    }
    assert terms.dataset_schema.field_names == ["ts", "line", "shift", "temp", "energy"]
    prohibited = {p.name: p.target for p in terms.policy.prohibitions}
    assert prohibited == {
        ConstraintName.GRADE: ("recipe",),
        ConstraintName.PERSONAL_INFORMATION: ("operator_name",),
        ConstraintName.CROSS_BORDER: ("energy", "temp"),
    }
    duties = {d.action: d.days for d in terms.policy.duties}
    assert duties == {"results_only_aggregate": None, "delete_after": 30}
    assert terms.policy.assigners == tuple(sorted(PROVIDERS))
    assert terms.policy.assignee == BUYER


def test_no_epsilon_budget_when_no_offer_asks_for_differential_privacy() -> None:
    assert ConstraintName.EPSILON_BUDGET not in permission_constraints(draft())


def test_fields_described_differently_are_left_out() -> None:
    other = {**SCHEMA, "fields": [f | {"max": 900} if f["name"] == "energy" else f for f in SCHEMA["fields"]]}
    offers = [make_offer(0), make_offer(1, dataset_schema=other)]
    assert [f.name for f in common_usable_fields(offers)] == ["ts", "line", "shift", "temp", "throughput"]
    retagged = [make_offer(0), make_offer(1, tags=TAGS_OF | {"throughput": "quantity"})]
    assert "throughput" not in [f.name for f in common_usable_fields(retagged)]


def schema_with(**changes: dict[str, Any]) -> dict[str, Any]:
    return {**SCHEMA, "fields": [f | changes.get(f["name"], {}) for f in SCHEMA["fields"]]}


def test_fields_filtered_at_different_granularity_are_left_out() -> None:
    finer = schema_with(temp={"filter_step": 10}, ts={"filter_resolution": "hour"})
    offers = [make_offer(0), make_offer(1, dataset_schema=finer), make_offer(2)]
    assert [f.name for f in common_usable_fields(offers)] == ["line", "shift", "energy", "throughput"]
    # An unset granularity is its default: writing the default out changes nothing.
    explicit = schema_with(
        temp={"filter_step": 20}, throughput={"filter_step": 5}, ts={"filter_resolution": "day"}
    )
    same = [make_offer(0), make_offer(1, dataset_schema=explicit)]
    assert common_usable_fields(same) == common_usable_fields([make_offer(0)])


def test_the_granularity_is_part_of_the_signed_terms() -> None:
    finer = schema_with(temp={"filter_step": 10}, ts={"filter_resolution": "hour"})
    contract = draft(make_offers(dataset_schema=finer))
    schema = contract.terms.dataset_schema
    assert (schema.field("temp").filter_granularity, schema.field("ts").filter_granularity) == (10.0, "hour")
    signed = json.loads(terms_payload(contract))["terms"]["dataset_schema"]["fields"]
    assert {f["name"]: f["filter_step"] for f in signed}["temp"] == 10
    assert {f["name"]: f["filter_resolution"] for f in signed}["ts"] == "hour"


def broken(code: TermsErrorCode, offers: list[DatasetOffer], **kwargs: Any) -> Any:
    return pytest.param(code, offers, kwargs, id=code.value)


@pytest.mark.parametrize(
    ("code", "offers", "kwargs"),
    [
        broken(TermsErrorCode.NO_OFFERS, []),
        broken(TermsErrorCode.DUPLICATE_OFFER, [make_offer(0), make_offer(0)]),
        broken(TermsErrorCode.BUYER_IS_PROVIDER, make_offers(), buyer=PROVIDERS[1]),
        broken(
            TermsErrorCode.DATASET_MISMATCH,
            [make_offer(0), make_offer(1, dataset="mill", dataset_schema=SCHEMA | {"name": "mill"})],
        ),
        broken(
            TermsErrorCode.NO_COMMON_FIELDS,
            [
                make_offer(0),
                make_offer(1, excluded_fields=[f["name"] for f in SCHEMA["fields"] if f["name"] != "note"]),
            ],
        ),
        broken(
            TermsErrorCode.NO_COMMON_JOB_KINDS,
            [make_offer(0, allowed_job_kinds=["sum"]), make_offer(1, allowed_job_kinds=["mean"])],
        ),
        broken(
            TermsErrorCode.NO_COMMON_PURPOSES,
            [
                make_offer(0, allowed_purposes=["research"]),
                make_offer(1, allowed_purposes=["insurance_underwriting"]),
            ],
        ),
        broken(
            TermsErrorCode.NO_COMMON_REGIONS,
            [make_offer(0, allowed_regions=["CN"]), make_offer(1, allowed_regions=["DE"])],
        ),
        broken(
            TermsErrorCode.NO_COMMON_VALIDITY,
            [
                make_offer(0, not_after=NOW + timedelta(days=1)),
                make_offer(1, not_before=NOW + timedelta(days=1)),
            ],
        ),
        broken(TermsErrorCode.EXPIRED, [make_offer(0, not_after=NOW), make_offer(1)]),
        broken(TermsErrorCode.PURPOSE_NOT_ALLOWED, make_offers(), purpose="insurance_underwriting"),
        broken(TermsErrorCode.PURPOSE_NOT_ALLOWED, make_offers(), purpose="unlisted_purpose"),
        broken(TermsErrorCode.REGION_NOT_ALLOWED, make_offers(), region="US"),
    ],
)
def test_empty_intersections_are_refused(
    code: TermsErrorCode, offers: list[DatasetOffer], kwargs: dict[str, Any]
) -> None:
    arguments: dict[str, Any] = {"buyer": BUYER, "purpose": "research", "region": "CN", "now": NOW} | kwargs
    with pytest.raises(TermsError) as caught:
        compile_terms(offers, **arguments)
    assert caught.value.code == code.value


def test_an_invalid_offer_is_refused_when_compiling() -> None:
    with pytest.raises(OfferError):
        compile_terms([make_offer(0, excluded_fields=[])], BUYER, "research", "CN", NOW)


KINDS = [str(k) for k in JobKind]
REGIONS = ["CN", "DE", "FR", "JP"]
OPTIONS = st.fixed_dictionaries(
    {
        "allowed_job_kinds": st.lists(st.sampled_from(KINDS), min_size=1, unique=True),
        "allowed_regions": st.lists(st.sampled_from(REGIONS), min_size=1, unique=True),
        "min_cohort": st.integers(3, 9),
        "max_jobs": st.integers(1, 50),
        "epsilon_budget": st.none() | st.sampled_from([0.5, 1.0, 4.0]),
    }
)


@settings(max_examples=60, deadline=None)
@given(options=st.lists(OPTIONS, min_size=1, max_size=3), region=st.sampled_from(REGIONS))
def test_compiled_limits_match_a_naive_intersection(options: list[dict[str, Any]], region: str) -> None:
    offers = [make_offer(i, **o) for i, o in enumerate(options)]
    # Offers without extract terms never grant an extract, whatever kinds they list.
    kinds = set.intersection(*(set(o["allowed_job_kinds"]) for o in options)) - {"extract"}
    regions = set.intersection(*(set(o["allowed_regions"]) for o in options))
    try:
        found = permission_constraints(draft(offers, region=region))
    except TermsError as exc:
        expected = (
            TermsErrorCode.NO_COMMON_JOB_KINDS
            if not kinds
            else TermsErrorCode.NO_COMMON_REGIONS
            if not regions
            else TermsErrorCode.REGION_NOT_ALLOWED
        )
        assert exc.code == expected.value
        return
    assert set(found[ConstraintName.JOB_KIND]) == kinds
    assert set(found[ConstraintName.REGION]) == regions
    assert found[ConstraintName.MIN_COHORT] == max(o["min_cohort"] for o in options)
    assert found[ConstraintName.QUERY_COUNT] == min(o["max_jobs"] for o in options)
    budgets = [o["epsilon_budget"] for o in options if o["epsilon_budget"] is not None]
    assert found.get(ConstraintName.EPSILON_BUDGET) == (min(budgets) if budgets else None)


def test_a_draft_groups_offers_by_provider_and_starts_requested() -> None:
    offers = [make_offer(0), make_offer(1), make_offer(1, offer_id="offer-1b")]
    contract = draft(offers)
    assert contract.state is Stage.REQUESTED
    assert contract.provider_ids == PROVIDERS[:2]
    assert contract.providers[1].offer_ids == ("offer-1", "offer-1b")
    assert contract.negotiation.history[0].actor == BUYER


def test_contracts_round_trip_through_json() -> None:
    contract = finalize(draft())
    assert Contract.model_validate_json(contract.model_dump_json()) == contract
