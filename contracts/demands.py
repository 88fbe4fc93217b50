"""What a buyer asks of the space (a ``Demand``), which offers could serve it, and whether a cohort does.

A demand names the semantic tags it needs, the job kinds it will run, its purpose and region, and how many
factories it wants; the filters after that (time coverage, price cap, dataset, grade ceiling, job count,
exact results) are optional. ``fit_offer`` checks one offer on its own; ``check_cohort`` runs the real
contract path on a set of offers: ``compile_terms`` (or ``draft_contract``), then the policy evaluator on a
representative job of every demanded kind that reads every demanded field (``representative_specs``).
Refusals raise ``contracts.exceptions.DemandError`` with a ``DemandErrorCode``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Hashable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Final

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, field_validator

from contracts.agreement import Terms, compile_terms, draft_contract
from contracts.desensitize import DateShiftRule
from contracts.exceptions import ContractsError, DemandError, DemandErrorCode
from contracts.extracts.grant import check_extract_spec
from contracts.jobspec import (
    MAX_FEATURES,
    PSI_KINDS,
    SCORING_PARAMETER_SETS,
    JobKind,
    JobSpec,
    validate_spec,
)
from contracts.offers import DatasetOffer, Grade, Region, as_utc, field_key, sorted_unique, validate_offer
from contracts.policy import JobRequest, Usage, evaluate_policy
from contracts.schema import IDENTIFIER_PATTERN, DatasetSchema, FieldSpec, FieldType
from contracts.vocabulary import DOMESTIC_REGION, PURPOSES, TAGS

CURRENCY: Final = "CNY"
MAX_DEMAND_TAGS: Final = 16
MAX_COHORT_SIZE: Final = 100
SPACE_MIN_FACTORIES: Final = 3  # the space's floor, as for an offer's min_cohort and a job's participants
MEASURE_KINDS: Final = frozenset({JobKind.SUM, JobKind.MEAN, JobKind.VARIANCE, JobKind.HISTOGRAM})
# A representative job filters a timestamp from a date every grid (day or hour) starts at.
_EPOCH_FILTER: Final = "2000-01-01T00:00:00"

TagName = Annotated[str, StringConstraints(max_length=64)]


class Coverage(BaseModel):
    """The half-open span ``[start, end)`` over which every offer of a cohort must be valid."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    start: AwareDatetime
    end: AwareDatetime

    @field_validator("start", "end")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return as_utc(value)


class Demand(BaseModel):
    """What a buyer needs: a cohort of ``min_factories`` to ``max_factories`` distinct factories.

    ``tags`` must each be carried by a field every offer lets this buyer use (for a buyer outside CN, not an
    important-grade field; with ``max_grade``, no field graded stricter) and every demanded job kind must
    run on them; ``optional_tags`` only raise the coverage score. ``max_factories`` (default
    ``min_factories``) admits offers asking for larger cohorts; the smallest size that serves is proposed.
    Without ``coverage`` the offers must be valid now; ``max_total_price`` is in CNY, and offers priced in
    another currency are never matched. ``dataset`` names the one dataset wanted; ``min_jobs`` asks for at
    least that many jobs under every offer's count limit; ``exact_results`` refuses offers that carry a
    differential-privacy budget. Check the rest with ``validate_demand``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    tags: tuple[TagName, ...] = Field(min_length=1, max_length=MAX_DEMAND_TAGS)
    optional_tags: tuple[TagName, ...] = Field(default=(), max_length=MAX_DEMAND_TAGS)
    job_kinds: tuple[JobKind, ...] = Field(min_length=1, max_length=len(JobKind))
    purpose: str = Field(max_length=64)
    region: Region
    min_factories: int = Field(default=SPACE_MIN_FACTORIES, ge=SPACE_MIN_FACTORIES, le=MAX_COHORT_SIZE)
    max_factories: int | None = Field(default=None, ge=SPACE_MIN_FACTORIES, le=MAX_COHORT_SIZE)
    coverage: Coverage | None = None
    max_total_price: Decimal | None = Field(default=None, ge=0, max_digits=18, decimal_places=2)  # CNY
    dataset: str | None = Field(default=None, pattern=IDENTIFIER_PATTERN)
    max_grade: Grade | None = None
    min_jobs: int = Field(default=1, ge=1, le=1_000_000)
    exact_results: bool = False

    @field_validator("tags", "optional_tags", "job_kinds")
    @classmethod
    def _sorted(cls, values: tuple[Any, ...]) -> tuple[Any, ...]:
        return sorted_unique(values)

    @property
    def sizes(self) -> range:
        """The cohort sizes asked for."""
        return range(self.min_factories, (self.max_factories or self.min_factories) + 1)


def validate_demand(demand: Demand) -> None:
    """Raise ``DemandError`` unless ``demand`` names known, usable tags and purposes and is coherent."""
    for tag in (*demand.tags, *demand.optional_tags):
        known = TAGS.get(tag)
        if known is None:
            raise DemandError(DemandErrorCode.UNKNOWN_TAG, f"tag {tag!r} is not in the vocabulary", tag=tag)
        if known.personal or not known.field_types - {FieldType.TEXT}:
            message = f"tag {tag!r} ({known.label_zh}) marks fields no job may read"
            raise DemandError(DemandErrorCode.UNUSABLE_TAG, message, tag=tag)
    both = sorted(set(demand.tags) & set(demand.optional_tags))
    if both:
        raise DemandError(
            DemandErrorCode.DUPLICATE_TAG, f"tags both required and optional: {both}", tags=both
        )
    if demand.purpose not in PURPOSES:
        message = f"purpose {demand.purpose!r} is not in the controlled list"
        raise DemandError(DemandErrorCode.UNKNOWN_PURPOSE, message, purpose=demand.purpose)
    if demand.coverage is not None and demand.coverage.start >= demand.coverage.end:
        raise DemandError(DemandErrorCode.EMPTY_COVERAGE, "coverage must start before it ends")
    if demand.max_factories is not None and demand.max_factories < demand.min_factories:
        message = f"max_factories ({demand.max_factories}) is below min_factories ({demand.min_factories})"
        raise DemandError(DemandErrorCode.FACTORY_RANGE, message)
    measurable = [t for t in demand.tags if TAGS[t].field_types & {FieldType.NUMBER, FieldType.INTEGER}]
    for kind in demand.job_kinds:
        needed = measures_needed(kind)
        if len(measurable) < needed:
            message = f"{kind} needs {needed} numeric tag(s) among the required tags, found {measurable}"
            raise DemandError(DemandErrorCode.NOTHING_TO_MEASURE, message, kind=str(kind), needed=needed)


def measures_needed(kind: JobKind) -> int:
    """Numeric fields a representative job of ``kind`` measures."""
    if kind is JobKind.LINEAR_REGRESSION:
        return 2
    return 1 if kind in MEASURE_KINDS or kind in (JobKind.ENCRYPTED_SCORING, JobKind.PSI_SUM) else 0


def evaluation_time(demand: Demand, now: datetime) -> datetime:
    """When the demanded jobs are judged: now, or the start of the coverage if that is later."""
    if demand.coverage is None:
        return as_utc(now)
    if demand.coverage.end <= now:
        message = f"the demanded coverage ended at {demand.coverage.end.isoformat()}"
        raise DemandError(DemandErrorCode.COVERAGE_ENDED, message)
    return max(as_utc(now), demand.coverage.start)


# ------------------------------------------------------------------------------------------ one offer

FieldOption = tuple[str, Hashable]  # a field name and its frozen ``field_key``


@dataclasses.dataclass(frozen=True)
class OfferFit:
    """An offer that may serve the demand: what it must share with the rest of a cohort, per tag.

    ``base`` is what the whole cohort must agree on exactly (dataset, and extract terms if an extract is
    demanded); ``required[i]`` and ``optional[i]`` are the fields that can carry the i-th (optional) tag.
    """

    offer: DatasetOffer
    base: Hashable
    required: tuple[tuple[FieldOption, ...], ...]
    optional: tuple[tuple[FieldOption, ...], ...]


def fit_offer(
    demand: Demand, offer: DatasetOffer, now: datetime, *, buyer: str, operator: str | None = None
) -> OfferFit | str:
    """``offer``'s fit to a validated ``demand``, or the reason it cannot be in any cohort serving it."""
    problem = _misfit(demand, offer, now, buyer, operator)
    if problem is None:
        try:
            validate_offer(offer)
        except ContractsError as exc:
            problem = f"invalid offer: {exc.message}"
    if problem is not None:
        return problem
    options = field_options(demand, offer)
    missing = [tag for tag in demand.tags if not options[tag]]
    if missing:
        return f"no field this buyer may use carries {missing}"
    required = tuple(options[tag] for tag in demand.tags)
    optional = tuple(options[tag] for tag in demand.optional_tags)
    return OfferFit(offer=offer, base=_base_key(demand, offer), required=required, optional=optional)


def _misfit(
    demand: Demand, offer: DatasetOffer, now: datetime, buyer: str, operator: str | None
) -> str | None:
    """The first demand the offer alone fails (checked lazily: most offers of a catalogue fail early)."""
    cap = demand.max_total_price
    checks: tuple[tuple[Callable[[], bool], str], ...] = (
        (lambda: offer.provider in (buyer, operator), "the buyer or operator cannot be a provider"),
        (lambda: offer.price.currency != CURRENCY, f"not priced in {CURRENCY}"),
        (lambda: demand.dataset not in (None, offer.dataset), "another dataset"),
        (lambda: demand.purpose not in offer.allowed_purposes, "purpose not allowed"),
        (lambda: demand.region not in offer.allowed_regions, "region not allowed"),
        (
            lambda: not set(demand.job_kinds) <= set(offer.allowed_job_kinds),
            "a demanded job kind not allowed",
        ),
        (lambda: JobKind.EXTRACT in demand.job_kinds and offer.extract is None, "no extract terms"),
        (lambda: not _valid_over(demand, offer, now), "not valid over the demanded time"),
        (lambda: offer.max_jobs < demand.min_jobs, "allows fewer jobs than demanded"),
        (lambda: demand.exact_results and offer.epsilon_budget is not None, "a differential-privacy budget"),
        (lambda: offer.min_cohort > demand.sizes[-1], "needs a larger cohort than demanded"),
        (lambda: cap is not None and offer.price.amount > cap, "costs more than the price cap"),
    )
    return next((reason for failed, reason in checks if failed()), None)


def _valid_over(demand: Demand, offer: DatasetOffer, now: datetime) -> bool:
    if demand.coverage is None:
        return offer.not_before <= now < offer.not_after
    return offer.not_before <= demand.coverage.start and demand.coverage.end <= offer.not_after


def field_options(demand: Demand, offer: DatasetOffer) -> dict[str, tuple[FieldOption, ...]]:
    """For each demanded tag (required or optional), the fields of ``offer`` carrying it a job may read."""
    extract = offer.extract if JobKind.EXTRACT in demand.job_kinds else None
    found: dict[str, list[FieldOption]] = {tag: [] for tag in (*demand.tags, *demand.optional_tags)}
    for spec in offer.dataset_schema.fields:
        tag = offer.tags.get(spec.name)
        if tag not in found or not offer.is_usable(spec):
            continue
        grade = offer.grades[spec.name]
        if demand.region != DOMESTIC_REGION and grade is Grade.IMPORTANT:
            continue  # the contract's cross-border prohibition
        if demand.max_grade is not None and grade.rank > demand.max_grade.rank:
            continue
        if extract is not None and (grade is not Grade.GENERAL or spec.name not in extract.released()):
            continue  # an extract releases general-grade fields its terms name, nothing else
        found[tag].append((spec.name, frozen_key(offer, spec)))
    return {tag: tuple(options) for tag, options in found.items()}


_KEYS: dict[tuple[object, ...], Hashable] = {}
_MAX_KEYS: Final = 65_536


def frozen_key(offer: DatasetOffer, spec: FieldSpec) -> Hashable:
    """``field_key`` made hashable: offers agree on a field exactly when these are equal.

    Memoised on the declared values ``field_key`` reads (the derived filter step costs a logarithm), so a
    catalogue of many offers of few schemas computes each key once.
    """
    categories = None if spec.categories is None else tuple(spec.categories)
    tag = offer.tags.get(spec.name)
    declared = (
        spec.type,
        spec.unit,
        spec.min,
        spec.max,
        categories,
        spec.filter_step,
        spec.filter_resolution,
        tag,
    )
    found = _KEYS.get(declared)
    if found is None:
        found = tuple(tuple(part) if isinstance(part, list) else part for part in field_key(offer, spec))
        if len(_KEYS) >= _MAX_KEYS:
            _KEYS.clear()
        _KEYS[declared] = found
    return found


def _base_key(demand: Demand, offer: DatasetOffer) -> Hashable:
    if JobKind.EXTRACT not in demand.job_kinds or offer.extract is None:
        return (offer.dataset,)
    # ``extract_grant`` needs equal terms and identically described released and date-shift entity fields.
    terms = offer.extract
    entities = (rule.entity_field for rule in terms.rules.fields.values() if isinstance(rule, DateShiftRule))
    described = sorted({*terms.released(), *entities})
    keys = tuple((name, frozen_key(offer, offer.dataset_schema.field(name))) for name in described)
    return (offer.dataset, json.dumps(terms.model_dump(mode="json"), sort_keys=True), keys)


# ------------------------------------------------------------------------------------------ a cohort


def check_cohort(
    demand: Demand,
    offers: Sequence[DatasetOffer],
    fields: Mapping[str, str],
    now: datetime,
    *,
    buyer: str,
    operator: str | None = None,
) -> Terms:
    """The terms ``offers`` give the buyer, if they serve ``demand`` reading ``fields`` (tag -> field).

    Raises ``DemandError`` (``cohort_refused``) when the demand's own conditions fail (sizes, providers,
    price, any offer's fit) or the policy refuses a representative job, with every reason; ``TermsError``
    (or ``NegotiationError``) when the terms cannot be compiled.
    """
    _check_members(demand, offers, fields, now, buyer, operator)
    if operator is None:
        terms = compile_terms(offers, buyer, demand.purpose, demand.region, now)
    else:
        terms = draft_contract(
            "match-check", offers, buyer=buyer, operator=operator, purpose=demand.purpose,
            region=demand.region, now=now,
        ).terms  # fmt: skip
    at = evaluation_time(demand, now)
    budgets = [o.epsilon_budget for o in offers if o.epsilon_budget is not None]
    usage = Usage(jobs_run=demand.min_jobs - 1)
    required = [fields[t] for t in demand.tags]
    optional = [fields[t] for t in demand.optional_tags if t in fields]
    reasons: list[dict[str, Any]] = []
    for spec in representative_specs(
        demand, terms.dataset_schema, required, optional, len(offers), min(budgets, default=None)
    ):
        request = JobRequest(
            spec=spec, buyer=buyer, purpose=demand.purpose, region=demand.region, factories=len(offers),
            epsilon=spec.epsilon, delta=terms.privacy.delta,
        )  # fmt: skip
        found = [r.model_dump() for r in evaluate_policy(terms.policy, request, usage, at)]
        try:
            validate_spec(spec, terms.dataset_schema)
            if spec.kind is JobKind.EXTRACT:
                check_extract_spec(spec, terms.extract)
        except ContractsError as exc:
            found.append({"constraint": exc.code, "message": exc.message, "details": exc.details})
        reasons += [{"kind": str(spec.kind), **reason} for reason in found]
    if reasons:
        message = f"{reasons[0]['kind']}: {reasons[0]['message']}"
        raise DemandError(DemandErrorCode.COHORT_REFUSED, message, reasons=reasons)
    return terms


def _check_members(
    demand: Demand,
    offers: Sequence[DatasetOffer],
    fields: Mapping[str, str],
    now: datetime,
    buyer: str,
    operator: str | None,
) -> None:
    """What the demand asks beyond the contract path: sizes, distinct providers, price, each offer's fit."""

    def refuse(message: str, **details: Any) -> DemandError:
        return DemandError(DemandErrorCode.COHORT_REFUSED, message, **details)

    validate_demand(demand)
    unnamed = [tag for tag in demand.tags if tag not in fields]
    if unnamed:
        raise refuse(f"no field named for the required tags {unnamed}", tags=unnamed)
    providers = {o.provider for o in offers}
    if len(providers) != len(offers) or len(offers) not in demand.sizes:
        raise refuse(
            f"{len(offers)} offers from {len(providers)} providers, not one each from {demand.sizes}"
        )
    total = sum((o.price.amount for o in offers), Decimal(0))
    if demand.max_total_price is not None and total > demand.max_total_price:
        raise refuse(f"{total} {CURRENCY} in total, above the cap of {demand.max_total_price}")
    for item in offers:
        fit = fit_offer(demand, item, now, buyer=buyer, operator=operator)
        if isinstance(fit, str):
            raise refuse(f"offer {item.offer_id}: {fit}", offer=item.offer_id)
        tags = (*demand.tags, *demand.optional_tags)
        options = dict(zip(tags, fit.required + fit.optional, strict=True))
        wrong = sorted(t for t in tags if t in fields and fields[t] not in [name for name, _ in options[t]])
        if wrong:
            message = f"offer {item.offer_id}: the fields named for {wrong} cannot carry them for this buyer"
            raise refuse(message, offer=item.offer_id, tags=wrong)


def representative_specs(
    demand: Demand,
    schema: DatasetSchema,
    required: Sequence[str],
    optional: Sequence[str],
    factories: int,
    budget: float | None,
) -> list[JobSpec]:
    """One job per demanded kind that reads every field named, in a role its type admits.

    The ``required`` numbers are measured (a regression's last one is the target), their first category is
    grouped by (except in a regression), every other field is filtered on; an extract releases them all as
    columns. Each job waits for the whole cohort and, under a budget, spends half of it (a job spends at most
    10). Raises ``DemandError`` (``nothing_to_measure``) if the required fields lack numbers a kind needs.
    """
    specs = [schema.field(name) for name in (*required, *optional)]
    numeric = [name for name in required if schema.field(name).type.is_numeric]
    categories = [name for name in required if schema.field(name).type is FieldType.CATEGORY]
    epsilon = None if budget is None else min(budget, 10.0) / 2
    made = []
    for kind in demand.job_kinds:
        if len(numeric) < measures_needed(kind):
            message = (
                f"{kind} needs {measures_needed(kind)} numeric field(s), the required ones are {numeric}"
            )
            raise DemandError(DemandErrorCode.NOTHING_TO_MEASURE, message, kind=str(kind))
        base: dict[str, Any] = {"kind": kind, "dataset": schema.name, "min_participants": factories}
        if kind is JobKind.EXTRACT:
            made.append(JobSpec.model_validate(base | {"columns": [s.name for s in specs]}))
            continue
        roles: dict[str, Any] = {"epsilon": epsilon}
        if kind is JobKind.LINEAR_REGRESSION:
            roles |= {"features": numeric[:-1], "target": numeric[-1]}
        elif kind is JobKind.ENCRYPTED_SCORING:  # the buyer's query is not known yet: any digest will do
            roles |= {"features": numeric[:MAX_FEATURES], "degree": 2, "outputs": ["score"],
                      "he_params": SCORING_PARAMETER_SETS[0], "input_digest": "0" * 64}  # fmt: skip
        elif kind in PSI_KINDS:  # keys are the buyer's; any textual required field holds some
            textual = (FieldType.TEXT, FieldType.CATEGORY)
            keyed = [s.name for s in specs if s.type in textual and not s.personal]
            if not keyed:
                message = f"{kind} needs a text or category field among the required ones"
                raise DemandError(DemandErrorCode.NOTHING_TO_MEASURE, message, kind=str(kind))
            roles = {"key_field": keyed[0], "normalization": "exact"}  # no noise: each factory counts
            if kind is JobKind.PSI_SUM:
                roles["field"] = numeric[0]
            else:
                roles["epsilon"] = epsilon
        elif kind in MEASURE_KINDS:
            field = schema.field(numeric[0])
            roles |= {"field": field.name}
            if kind is JobKind.HISTOGRAM:
                roles["bins"] = [field.lower, field.upper]
        if kind is not JobKind.LINEAR_REGRESSION and kind not in PSI_KINDS and categories:
            roles["group_by"] = categories[0]
        used = {roles.get("field"), roles.get("target"), roles.get("group_by"), *roles.get("features", ())}
        roles["filters"] = [_filter(s) for s in specs if s.name not in used]
        made.append(JobSpec.model_validate(base | roles))
    return made


def _filter(spec: FieldSpec) -> dict[str, Any]:
    """A filter on ``spec`` every schema admits: a declared category, or from a point on every grid."""
    if spec.type is FieldType.CATEGORY:
        return {"field": spec.name, "op": "eq", "value": (spec.categories or [""])[0]}
    value = _EPOCH_FILTER if spec.type is FieldType.TIMESTAMP else 0.0
    return {"field": spec.name, "op": "ge", "value": value}
