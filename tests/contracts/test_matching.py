"""Supply–demand matching: demands, soundness, completeness against brute force, the score's directions.

Every proposed cohort is re-checked here with the real contract path (``draft_contract`` and the policy
evaluator), through requests built independently of ``contracts.demands``: one job per field and kind
rather than one job per kind reading every field.
"""

from __future__ import annotations

import copy
import itertools
import random
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from contracts.agreement import Terms, draft_contract
from contracts.demands import (
    Demand,
    check_cohort,
    frozen_key,
    validate_demand,
)
from contracts.exceptions import ContractsError, DemandError, DemandErrorCode
from contracts.extracts.grant import check_extract_spec
from contracts.identity import make_participant_id
from contracts.jobspec import JobKind, JobSpec, validate_spec
from contracts.matching import Cohort, Weights, match, score_cohort
from contracts.offers import DatasetOffer, field_key
from contracts.policy import JobRequest, Usage, evaluate_policy
from contracts.schema import FieldType
from tests.contracts.test_extracts import EXTRACT
from tests.contracts.test_offers import BUYER, GRADES_OF, NOW, OPERATOR, SCHEMA, TAGS_OF, offer_dict

FACTORIES = tuple(make_participant_id(f"91320500MA1N{i:05d}") for i in range(6))
KINDS = ["count", "sum", "mean", "variance", "histogram", "linear_regression"]
PURPOSES = ["research", "energy_benchmarking", "quality_improvement"]
TAG_POOL = ["temperature", "production_line", "throughput", "energy_intensity", "timestamp", "shift"]
MEASURED = {"sum": 1, "mean": 1, "variance": 1, "histogram": 1, "linear_regression": 2}
SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


def schema(dataset: str = "plant", temp_unit: str = "°C", twin: bool = False) -> dict[str, Any]:
    """The shared test schema, renamed, with temp in another unit, or with a second temperature field."""
    fields = copy.deepcopy(SCHEMA["fields"])
    for field in fields:
        if field["name"] == "temp":
            field["unit"] = temp_unit
    if twin:
        fields.append({"name": "temp2", "type": "number", "unit": "°C", "min": 0, "max": 100})
    return {"name": dataset, "description": "test", "fields": fields}


def offer(
    index: int,
    provider: int,
    *,
    dataset: str = "plant",
    temp_unit: str = "°C",
    twin: bool = False,
    energy: str = "important",
    excluded: Sequence[str] = (),
    price: int = 1000,
    **overrides: Any,
) -> DatasetOffer:
    tags = dict(TAGS_OF) | ({"temp2": "temperature"} if twin else {})
    grades = dict(GRADES_OF) | {"energy": energy} | ({"temp2": "general"} if twin else {})
    return DatasetOffer.model_validate(
        offer_dict(
            0,
            offer_id=f"o{index}",
            provider=FACTORIES[provider],
            dataset=dataset,
            dataset_schema=schema(dataset, temp_unit, twin),
            tags=tags,
            grades=grades,
            excluded_fields=["recipe", "operator_name", *excluded],
            price={"amount": f"{price}.00", "currency": "CNY"},
            **overrides,
        )
    )


def demand(**changes: Any) -> Demand:
    base: dict[str, Any] = {
        "tags": ["temperature", "production_line"],
        "job_kinds": ["mean", "count"],
        "purpose": "research",
        "region": "CN",
    }
    return Demand.model_validate(base | changes)


# ------------------------------------------------------------------------- independent re-check


def serves(
    need: Demand, offers: Sequence[DatasetOffer], now: datetime, fields: dict[str, str] | None = None
) -> bool:
    """Whether ``offers`` serve ``need`` on the real contract path (some field choice, unless ``fields``)."""
    providers = {o.provider for o in offers}
    if len(providers) != len(offers) or len(offers) not in need.sizes:
        return False
    cap, cov = need.max_total_price, need.coverage
    demand_only = [
        all(o.price.currency == "CNY" for o in offers),
        cap is None or sum(o.price.amount for o in offers) <= cap,
        need.dataset is None or all(o.dataset == need.dataset for o in offers),
        not need.exact_results or all(o.epsilon_budget is None for o in offers),
        cov is None or all(o.not_before <= cov.start and cov.end <= o.not_after for o in offers),
    ]
    if not all(demand_only):
        return False
    try:
        terms = draft_contract(
            "c-1", offers, buyer=BUYER, operator=OPERATOR, purpose=need.purpose, region=need.region, now=now
        ).terms
    except ContractsError:
        return False
    at = max(now, cov.start) if cov else now
    if fields is not None:
        choices = [[fields[t] for t in need.tags]]
    else:
        per_tag = [[f for f, tag in terms.tags.items() if tag == t] for t in need.tags]
        choices = [list(c) for c in itertools.product(*per_tag)]
    return any(_choice_serves(need, terms, offers, choice, at) for choice in choices)


def _choice_serves(
    need: Demand, terms: Terms, offers: Sequence[DatasetOffer], names: list[str], at: datetime
) -> bool:
    if need.max_grade is not None and any(terms.grades[n].rank > need.max_grade.rank for n in names):
        return False
    budgets = [o.epsilon_budget for o in offers if o.epsilon_budget is not None]
    for kind in need.job_kinds:
        for spec in _jobs(kind, terms, names, len(offers), min(budgets, default=None)):
            if spec is None:
                return False
            request = JobRequest(
                spec=spec, buyer=BUYER, purpose=need.purpose, region=need.region, factories=len(offers),
                epsilon=spec.epsilon, delta=terms.privacy.delta,
            )  # fmt: skip
            if evaluate_policy(terms.policy, request, Usage(jobs_run=need.min_jobs - 1), at):
                return False
            try:
                validate_spec(spec, terms.dataset_schema)
                if kind is JobKind.EXTRACT:
                    check_extract_spec(spec, terms.extract)
            except ContractsError:
                return False
    return True


def _jobs(
    kind: JobKind, terms: Terms, names: list[str], factories: int, budget: float | None
) -> list[JobSpec | None]:
    """One job of ``kind`` per field, the field in its natural role (None: the kind cannot be built)."""
    schema = terms.dataset_schema
    fields = [schema.field(n) for n in names]
    numeric = [f.name for f in fields if f.type.is_numeric]
    if len(numeric) < MEASURED.get(kind, 0):
        return [None]
    epsilon = None if budget is None or kind is JobKind.EXTRACT else min(budget, 10.0) / 4
    jobs: list[JobSpec | None] = []
    for field in fields:
        spec: dict[str, Any] = {"kind": kind, "dataset": schema.name, "min_participants": factories}
        spec["epsilon"] = epsilon
        if kind is JobKind.EXTRACT:
            spec["columns"] = [field.name]
        elif kind is JobKind.LINEAR_REGRESSION:
            target = field.name if field.type.is_numeric else numeric[0]
            spec |= {"target": target, "features": [next(n for n in numeric if n != target)]}
        elif kind is not JobKind.COUNT:
            spec["field"] = field.name if field.type.is_numeric else numeric[0]
            if kind is JobKind.HISTOGRAM:
                measured = schema.field(spec["field"])
                spec["bins"] = [measured.lower, (measured.lower + measured.upper) / 2, measured.upper]
        if field.type is FieldType.CATEGORY and kind not in (JobKind.LINEAR_REGRESSION, JobKind.EXTRACT):
            spec["group_by"] = field.name
        elif kind is not JobKind.EXTRACT and field.name not in (spec.get("field"), spec.get("target")):
            value: Any = {FieldType.TIMESTAMP: "2030-01-01T00:00:00", FieldType.CATEGORY: field.categories}
            op = "in" if field.type is FieldType.CATEGORY else "lt"
            spec["filters"] = [{"field": field.name, "op": op, "value": value.get(field.type, 0.0)}]
        jobs.append(JobSpec.model_validate(spec))
    return jobs


def brute_force(need: Demand, offers: Sequence[DatasetOffer], now: datetime) -> bool:
    """Whether any set of offers, one per provider, serves ``need``."""
    by_provider: dict[str, list[DatasetOffer]] = {}
    for item in offers:
        by_provider.setdefault(item.provider, []).append(item)
    for size in need.sizes:
        for providers in itertools.combinations(sorted(by_provider), size):
            for chosen in itertools.product(*(by_provider[p] for p in providers)):
                if serves(need, chosen, now):
                    return True
    return False


def assert_sound(need: Demand, cohorts: list[Cohort], now: datetime) -> None:
    for cohort in cohorts:
        assert len(set(cohort.providers)) == len(cohort.offers) >= need.min_factories
        if need.max_total_price is not None:
            assert cohort.total_price <= need.max_total_price
        assert serves(need, cohort.offers, now, cohort.fields), cohort.offer_ids
        terms = check_cohort(need, cohort.offers, cohort.fields, now, buyer=BUYER, operator=OPERATOR)
        assert all(terms.tags[field] == tag for tag, field in cohort.fields.items())
    totals = [c.score.total for c in cohorts]
    assert totals == sorted(totals, reverse=True)


# ----------------------------------------------------------------------------------------- generators


OFFER_TWISTS: dict[str, st.SearchStrategy[Any]] = {
    "dataset": st.just("mill"),
    "temp_unit": st.just("K"),
    "twin": st.just(True),
    "excluded": st.lists(st.sampled_from(["shift", "throughput", "temp", "ts"]), min_size=1),
    "extract": st.sampled_from([EXTRACT, EXTRACT, EXTRACT | {"k": 7}]),
    "allowed_job_kinds": st.lists(st.sampled_from(KINDS), min_size=1, max_size=5, unique=True),
    "allowed_purposes": st.lists(st.sampled_from(PURPOSES), min_size=1, max_size=2, unique=True),
    "allowed_regions": st.sampled_from([["CN"], ["DE"]]),
    "min_cohort": st.integers(4, 5),
    "max_jobs": st.integers(1, 3),
    "epsilon_budget": st.sampled_from([1.0, 20.0]),
    "privacy": st.just({"delta": 1e-7}),
    "not_before": st.integers(-20, 5).map(lambda days: NOW + timedelta(days=days)),
    "not_after": st.integers(-1, 60).map(lambda days: NOW + timedelta(days=days)),
}


@st.composite
def offers_strategy(draw: st.DrawFn, max_offers: int, providers: int) -> list[DatasetOffer]:
    """Offers that fit a plain demand but for a few changes the catalogue makes often: cohorts often exist.

    Each catalogue picks up to four kinds of change and applies each to an offer with odds of one in three,
    so the changes meet in one cohort often enough to matter.
    """
    active = draw(st.lists(st.sampled_from(list(OFFER_TWISTS)), max_size=4, unique=True))
    made = []
    for index in range(draw(st.integers(3, max_offers))):
        changes = {name: draw(OFFER_TWISTS[name]) for name in active if draw(st.integers(0, 2)) == 0}
        if "extract" in changes:
            changes["allowed_job_kinds"] = [*changes.get("allowed_job_kinds", KINDS), "extract"]
        window = {"not_before": NOW - timedelta(days=10), "not_after": NOW + timedelta(days=30)}
        window |= {k: v for k, v in changes.items() if k in window}
        if window["not_before"] >= window["not_after"]:
            window["not_after"] = window["not_before"] + timedelta(days=1)
        params = {"allowed_job_kinds": KINDS, **changes, **window}
        provider = draw(st.integers(0, providers - 1))
        energy = draw(st.sampled_from(["important", "general"]))
        made.append(offer(index, provider, energy=energy, price=draw(st.integers(0, 30)) * 100, **params))
    return made


DEMAND_TWISTS: dict[str, st.SearchStrategy[Any]] = {
    "purpose": st.sampled_from(PURPOSES),
    "region": st.just("DE"),
    "max_factories": st.just(4),
    "max_total_price": st.sampled_from([2000, 5000, 9000]),
    "dataset": st.sampled_from(["plant", "mill"]),
    "max_grade": st.just("general"),
    "min_jobs": st.just(3),
    "exact_results": st.just(True),
    "coverage": st.tuples(st.integers(-5, 5), st.integers(1, 20)).map(
        lambda t: {"start": NOW + timedelta(days=t[0]), "end": NOW + timedelta(days=max(t[0] + t[1], 1))}
    ),
}


@st.composite
def demands(draw: st.DrawFn) -> Demand:
    tags = draw(st.lists(st.sampled_from(TAG_POOL), min_size=1, max_size=3, unique=True))
    kinds = draw(st.lists(st.sampled_from([*KINDS, "extract"]), min_size=1, max_size=2, unique=True))
    needed = max(MEASURED.get(k, 0) for k in kinds)
    numeric = [t for t in tags if t in ("temperature", "throughput", "energy_intensity")]
    tags += [t for t in ("temperature", "throughput") if t not in tags][: max(needed - len(numeric), 0)]
    rest = [t for t in TAG_POOL if t not in tags]
    twists = draw(st.lists(st.sampled_from(list(DEMAND_TWISTS)), max_size=3, unique=True))
    need = demand(
        tags=tags,
        optional_tags=draw(st.lists(st.sampled_from(rest), max_size=2, unique=True)) if rest else [],
        job_kinds=kinds,
        **{name: draw(DEMAND_TWISTS[name]) for name in twists},
    )
    validate_demand(need)
    return need


# ---------------------------------------------------------------------------- soundness, completeness


def strict_match(need: Demand, offers: Sequence[DatasetOffer], **options: Any) -> list[Cohort]:
    """``match``, failing the test if the contract check refuses any cohort the algorithm proposed.

    ``match`` skips a refused candidate, which would hide a proposal that should never have been made.
    """

    def check(*args: Any, **kwargs: Any) -> Terms:
        try:
            return check_cohort(*args, **kwargs)
        except ContractsError as exc:
            raise AssertionError(f"a proposed cohort was refused: {exc.code}: {exc.message}") from exc

    with mock.patch("contracts.matching.check_cohort", check):
        return match(need, offers, NOW, buyer=BUYER, operator=OPERATOR, **options)


qualities = st.lists(st.floats(0, 1), min_size=30, max_size=30).map(
    lambda figures: {f"o{i}": q for i, q in enumerate(figures) if i % 3}  # a third carry no figure
)


@SETTINGS
@given(
    need=demands(),
    offers=offers_strategy(max_offers=30, providers=6),
    quality=qualities,
    seed=st.integers(0, 2**16),
)
def test_every_proposed_cohort_passes_the_contract_path(
    need: Demand, offers: list[DatasetOffer], quality: dict[str, float], seed: int
) -> None:
    cohorts = strict_match(need, offers, limit=5, quality=quality)
    event(f"{min(len(cohorts), 2)} or more cohorts" if len(cohorts) >= 2 else f"{len(cohorts)} cohorts")
    assert_sound(need, cohorts, NOW)
    random.Random(seed).shuffle(offers)
    assert strict_match(need, offers, limit=5, quality=quality) == cohorts


@settings(SETTINGS, max_examples=300)
@given(need=demands(), offers=offers_strategy(max_offers=8, providers=5), quality=qualities)
def test_a_cohort_is_proposed_whenever_brute_force_finds_one(
    need: Demand, offers: list[DatasetOffer], quality: dict[str, float]
) -> None:
    for size in need.sizes:  # each size on its own: a cohort of every size that exists is found
        sized = need.model_copy(update={"min_factories": size, "max_factories": size})
        cohorts = strict_match(sized, offers, limit=3, quality=quality)
        event(f"size {size}: " + ("a cohort exists" if cohorts else "no cohort exists"))
        assert_sound(sized, cohorts, NOW)
        assert bool(cohorts) == brute_force(sized, offers, NOW)


def test_a_cheaper_swap_brings_the_best_cohort_under_the_cap() -> None:
    offers = [offer(i, i, price=3000 if i < 3 else 1000) for i in range(6)]
    quality = {f"o{i}": 1.0 if i < 3 else 0.0 for i in range(6)}
    only_quality = Weights(coverage=0, quality=1, freshness=0, price=0)
    rich = strict_match(demand(), offers, quality=quality, weights=only_quality, limit=1)
    assert rich[0].offer_ids == ("o0", "o1", "o2")
    need = demand(max_total_price="5000")
    capped = strict_match(need, offers, quality=quality, weights=only_quality)
    assert capped[0].total_price == 5000  # one of the best (3000) and two cheap ones (1000 each)
    assert all(c.total_price <= 5000 for c in capped)
    # With price counting too, the cheapest cohort wins: 0.3 * (1 - 3000/5000) beats 0.2 * 1/3.
    assert strict_match(need, offers, quality=quality)[0].offer_ids == ("o3", "o4", "o5")
    assert strict_match(demand(max_total_price="2999"), offers) == []


def test_offers_must_agree_on_the_field_read_for_each_tag() -> None:
    # Three factories read temperature in temp2 only (temp is in kelvin at one of them): a cohort reads temp2.
    offers = [offer(0, 0, twin=True), offer(1, 1, twin=True, temp_unit="K"), offer(2, 2, twin=True)]
    offers += [offer(3, 3, temp_unit="K")]
    (cohort,) = strict_match(demand(), offers)
    assert cohort.offer_ids == ("o0", "o1", "o2")
    assert cohort.fields["temperature"] == "temp2"
    assert serves(demand(), cohort.offers, NOW, cohort.fields)


def test_a_tag_read_as_a_number_in_one_field_and_a_category_in_another() -> None:
    # Both fields carry "identifier"; only the integer one can be measured by a mean.
    fields = [
        {"name": "batch", "type": "category", "categories": ["b1", "b2"]},
        {"name": "order_no", "type": "integer", "min": 0, "max": 1000},
        {"name": "line", "type": "category", "categories": ["L1", "L2"]},
    ]
    offers = [
        DatasetOffer.model_validate(
            offer_dict(
                0,
                offer_id=f"o{i}",
                provider=FACTORIES[i],
                dataset="orders",
                dataset_schema={"name": "orders", "fields": fields},
                tags={"batch": "identifier", "order_no": "identifier", "line": "production_line"},
                grades=dict.fromkeys(("batch", "order_no", "line"), "general"),
                excluded_fields=[],
            )
        )
        for i in range(3)
    ]
    need = demand(tags=["identifier", "production_line"], job_kinds=["mean"])
    (cohort,) = strict_match(need, offers)
    assert cohort.fields == {"identifier": "order_no", "production_line": "line"}
    counted = strict_match(need.model_copy(update={"job_kinds": (JobKind.COUNT,)}), offers)
    assert {c.fields["identifier"] for c in counted} == {"batch"}  # the same offers: proposed once


def test_field_keys_are_remembered_by_what_they_are_computed_from() -> None:
    plain, kelvin, twin = offer(0, 0), offer(1, 1, temp_unit="K"), offer(2, 2, twin=True)
    for item in (plain, kelvin, twin, plain):
        for spec in item.dataset_schema.fields:
            expected = tuple(tuple(p) if isinstance(p, list) else p for p in field_key(item, spec))
            assert frozen_key(item, spec) == expected
    temp = plain.dataset_schema.field("temp")
    stepped = temp.model_copy(update={"filter_step": temp.effective_filter_step})
    assert frozen_key(plain, stepped) == frozen_key(plain, temp)  # the default step written out
    assert frozen_key(kelvin, kelvin.dataset_schema.field("temp")) != frozen_key(plain, temp)


def test_a_foreign_buyer_gets_no_important_field_and_a_domestic_one_does() -> None:
    offers = [offer(i, i) for i in range(3)]
    energy = demand(tags=["energy_intensity"], job_kinds=["mean"])
    assert strict_match(energy, offers)
    assert strict_match(energy.model_copy(update={"region": "DE"}), offers) == []
    general = [offer(i, i, energy="general") for i in range(3)]
    assert strict_match(energy.model_copy(update={"region": "DE"}), general)
    foreign = energy.model_copy(update={"region": "DE"})
    with pytest.raises(DemandError) as caught:  # naming the field directly does not get round it
        check_cohort(foreign, offers, {"energy_intensity": "energy"}, NOW, buyer=BUYER)
    assert caught.value.code == "cohort_refused"
    assert not serves(foreign, offers, NOW, {"energy_intensity": "energy"})  # the policy refuses it too


@pytest.mark.parametrize(
    ("cohort", "fields", "changes"),
    [
        ([0, 1], {}, {}),  # too few
        ([0, 1, 3], {}, {}),  # two offers of one provider
        ([0, 1, 2], {}, {"max_total_price": "2999"}),
        ([0, 1, 2], {"temperature": "energy"}, {}),  # a field that does not carry the tag
        ([0, 1, 2], {"throughput": "temp"}, {"optional_tags": ["throughput"]}),
        ([0, 1, 2], {}, {"dataset": "mill"}),
    ],
)
def test_a_cohort_the_demand_refuses_is_refused_before_the_contract_path(
    cohort: list[int], fields: dict[str, str], changes: dict[str, Any]
) -> None:
    offers = [offer(0, 0), offer(1, 1), offer(2, 2), offer(3, 0)]
    need = demand(**changes)
    named = {"temperature": "temp", "production_line": "line"} | fields
    with pytest.raises(DemandError) as caught:
        check_cohort(need, [offers[i] for i in cohort], named, NOW, buyer=BUYER)
    assert caught.value.code == "cohort_refused"
    assert check_cohort(
        demand(), offers[:3], {"temperature": "temp", "production_line": "line"}, NOW, buyer=BUYER
    )


def test_min_cohort_and_the_size_range() -> None:
    offers = [offer(i, i, min_cohort=4 if i == 0 else 3) for i in range(4)]
    (three,) = strict_match(demand(), offers, limit=1)
    assert "o0" not in three.offer_ids
    sizes = {len(c.offers) for c in strict_match(demand(max_factories=4), offers)}
    assert sizes == {3, 4}
    assert strict_match(demand(min_factories=5), offers) == []


def test_extracts_need_the_same_extract_terms_everywhere() -> None:
    kinds = ["count", "mean", "extract"]
    same = [offer(i, i, extract=EXTRACT, allowed_job_kinds=kinds) for i in range(3)]
    need = demand(job_kinds=["extract", "count"])
    (cohort,) = strict_match(need, same)
    assert serves(need, cohort.offers, NOW, cohort.fields)
    other = [*same[:2], offer(2, 2, extract=EXTRACT | {"k": 7}, allowed_job_kinds=kinds)]
    assert strict_match(need, other) == []
    assert strict_match(demand(), other)  # aggregates do not need the same extract terms


def test_extracts_release_only_what_the_terms_name_and_jobs_need_their_count() -> None:
    kinds = ["count", "mean", "extract"]
    general = [offer(i, i, energy="general", extract=EXTRACT, allowed_job_kinds=kinds) for i in range(3)]
    energy = demand(tags=["energy_intensity"], job_kinds=["mean"])
    assert strict_match(energy, general)
    assert strict_match(energy.model_copy(update={"job_kinds": (JobKind.EXTRACT,)}), general) == []
    few = [offer(i, i, max_jobs=2 if i == 0 else 10) for i in range(4)]
    (cohort,) = strict_match(demand(min_jobs=3), few)
    assert cohort.offer_ids == ("o1", "o2", "o3")


def test_unusable_offers_are_left_out() -> None:
    offers = [offer(i, i) for i in range(4)]
    invalid = offers[3].model_copy(update={"excluded_fields": ("operator_name",)})  # core recipe offered
    own = offer(5, 0).model_copy(update={"provider": BUYER})
    cohorts = strict_match(demand(max_factories=4), [*offers[:3], invalid, own])
    assert {i for c in cohorts for i in c.offer_ids} == {"o0", "o1", "o2"}


# --------------------------------------------------------------------------------------------- demand


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"tags": ["colour"]}, DemandErrorCode.UNKNOWN_TAG),
        ({"tags": ["person_name"]}, DemandErrorCode.UNUSABLE_TAG),
        ({"optional_tags": ["free_text"]}, DemandErrorCode.UNUSABLE_TAG),
        ({"optional_tags": ["temperature"]}, DemandErrorCode.DUPLICATE_TAG),
        ({"purpose": "marketing"}, DemandErrorCode.UNKNOWN_PURPOSE),
        ({"coverage": {"start": NOW, "end": NOW}}, DemandErrorCode.EMPTY_COVERAGE),
        ({"min_factories": 5, "max_factories": 4}, DemandErrorCode.FACTORY_RANGE),
        ({"tags": ["production_line"], "job_kinds": ["mean"]}, DemandErrorCode.NOTHING_TO_MEASURE),
        ({"job_kinds": ["linear_regression"]}, DemandErrorCode.NOTHING_TO_MEASURE),
    ],
)
def test_malformed_demands_are_refused_with_a_code(changes: dict[str, Any], code: DemandErrorCode) -> None:
    with pytest.raises(DemandError) as caught:
        validate_demand(demand(**changes))
    assert caught.value.code == code.value
    with pytest.raises(DemandError):
        strict_match(demand(**changes), [])


@pytest.mark.parametrize(
    "changes",
    [
        {"min_factories": 2},
        {"tags": []},
        {"tags": TAG_POOL * 3},
        {"job_kinds": ["guess"]},
        {"region": "cn"},
        {"max_total_price": "-1"},
        {"max_total_price": "1.001"},
        {"coverage": {"start": "2025-03-01T00:00:00", "end": "2025-04-01T00:00:00"}},  # no time zone
        {"surprise": 1},
    ],
)
def test_demand_fields_are_bounded(changes: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        demand(**changes)


def test_a_demand_is_normalised_and_can_end() -> None:
    need = demand(tags=["production_line", "temperature", "temperature"], job_kinds=["mean", "count"])
    assert need.tags == ("production_line", "temperature")
    assert need.job_kinds == (JobKind.COUNT, JobKind.MEAN)
    ended = demand(coverage={"start": NOW - timedelta(days=9), "end": NOW})
    with pytest.raises(DemandError) as caught:
        strict_match(ended, [])
    assert caught.value.code == "coverage_ended"
    for bad in ({"limit": 0}, {"quality": {"o0": 1.5}}):
        with pytest.raises(DemandError):
            strict_match(demand(), [], **bad)


# --------------------------------------------------------------------------------------------- scores


def trio(**overrides: Any) -> list[DatasetOffer]:
    return [offer(i, i, **overrides) for i in range(3)]


@SETTINGS
@given(
    prices=st.lists(st.integers(0, 5000), min_size=3, max_size=3),
    cuts=st.lists(st.integers(0, 5000), min_size=3, max_size=3),
    cap=st.sampled_from([None, 20000]),
)
def test_cheaper_is_better(prices: list[int], cuts: list[int], cap: int | None) -> None:
    need = demand(max_total_price=cap)
    lower = [max(p - c, 0) for p, c in zip(prices, cuts, strict=True)]
    dear = score_cohort(need, [offer(i, i, price=p) for i, p in enumerate(prices)], NOW)
    cheap = score_cohort(need, [offer(i, i, price=p) for i, p in enumerate(lower)], NOW)
    assert cheap.price >= dear.price and cheap.total >= dear.total
    if sum(lower) < sum(prices):
        assert cheap.price > dear.price and cheap.total > dear.total
    assert (cheap.coverage, cheap.quality, cheap.freshness) == (dear.coverage, dear.quality, dear.freshness)


def test_more_coverage_is_better() -> None:
    need = demand(optional_tags=["throughput", "shift"])
    full = score_cohort(need, trio(), NOW)
    half = score_cohort(need, [*trio()[:2], offer(2, 2, excluded=["shift"])], NOW)
    none = score_cohort(need, [offer(i, i, excluded=["shift", "throughput"]) for i in range(3)], NOW)
    assert (full.coverage, half.coverage, none.coverage) == (1.0, 0.5, 0.0)
    assert full.total > half.total > none.total
    assert any("missing 班次 shift" in line for line in half.explanation)
    assert score_cohort(demand(), trio(), NOW).coverage == 1.0  # nothing optional asked


def test_fresher_and_better_quality_are_better() -> None:
    need = demand()
    soon = score_cohort(need, trio(not_after=NOW + timedelta(days=5)), NOW)
    later = score_cohort(need, trio(not_after=NOW + timedelta(days=50)), NOW)
    assert later.freshness > soon.freshness and later.total > soon.total
    neutral = score_cohort(need, trio(), NOW)
    good = score_cohort(need, trio(), NOW, quality={"o0": 0.9})
    bad = score_cohort(need, trio(), NOW, quality={"o0": 0.1})
    assert bad.quality < neutral.quality == 0.5 < good.quality
    assert bad.total < neutral.total < good.total
    only_price = Weights(coverage=0, quality=0, freshness=0, price=1)
    assert score_cohort(need, trio(), NOW, weights=only_price).total == neutral.price


def test_cohorts_are_ranked_by_score_then_offer_id() -> None:
    offers = [offer(i, i, price=1000 + 100 * (i // 2)) for i in range(6)]  # o0, o1 cheapest, then o2, o3
    cohorts = strict_match(demand(), offers)
    assert cohorts[0].offer_ids == ("o0", "o1", "o2")
    assert cohorts[1].offer_ids == ("o0", "o1", "o3")  # as cheap as the first: ties go by offer id
    assert [c.score.total for c in cohorts] == sorted((c.score.total for c in cohorts), reverse=True)
    same = strict_match(demand(), [offer(i, i) for i in range(5)])
    tied = [c.offer_ids for c in same if c.score.total == same[0].score.total]
    assert tied == sorted(tied) and tied[0] == ("o0", "o1", "o2")
    assert Decimal(str(cohorts[0].total_price)) == Decimal("3100.00")
