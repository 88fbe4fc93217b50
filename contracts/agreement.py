"""Multi-party usage contracts: an ODRL-like policy compiled from the offers, plus negotiation and signatures.

``compile_terms`` takes the intersection of what every offer allows; a buyer gets only what all its
providers agree to, and the strictest of their limits. The ``extract`` kind is granted only when every offer
declares the same extract terms (``contracts.extracts.grant``): it then has a permission of its own, over
the fields those terms release, and the extract terms become part of the signed terms.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from contracts.exceptions import SignatureError, SignatureErrorCode, TermsError, TermsErrorCode
from contracts.extracts.grant import ExtractGrant, extract_grant
from contracts.extracts.policy import extract_permission, personal_prohibitions
from contracts.jobspec import PSI_KINDS, JobKind
from contracts.negotiation import Event, Negotiation, Stage, fire, request
from contracts.offers import (
    ID_PATTERN,
    DatasetOffer,
    Grade,
    Price,
    Region,
    common_usable_fields,
    sorted_unique,
    strictest,
    validate_offer,
)
from contracts.policy import (
    Duty,
    DutyAction,
    NumberConstraint,
    Permission,
    Policy,
    Prohibition,
    SetConstraint,
    TimeConstraint,
)
from contracts.privacy import PrivacyTerms, strictest_terms
from contracts.schema import DatasetSchema, FieldSpec, FieldType
from contracts.signatures import PartySignature
from contracts.statements import SignedStatement
from contracts.vocabulary import DOMESTIC_REGION, ConstraintName

T = TypeVar("T")


class OfferRef(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    offer_id: str
    provider: str
    price: Price


class Terms(BaseModel):
    """The compiled terms: the schema of the fields every offer lets a job use, and the policy."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    dataset_schema: DatasetSchema
    tags: dict[str, str]
    grades: dict[str, Grade]
    offers: tuple[OfferRef, ...]
    policy: Policy
    privacy: PrivacyTerms = Field(default_factory=PrivacyTerms)
    # What an extract may release; absent unless the policy permits the extract kind.
    extract: ExtractGrant | None = Field(default=None, exclude_if=lambda grant: grant is None)


class ProviderPart(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    provider: str
    offer_ids: tuple[str, ...]


class Contract(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    contract_id: str = Field(pattern=ID_PATTERN)
    buyer: str
    providers: tuple[ProviderPart, ...] = Field(min_length=1)
    operator: str
    purpose: str
    region: Region
    terms: Terms
    negotiation: Negotiation
    signatures: tuple[PartySignature, ...] = ()
    countersignature: PartySignature | None = None
    # Revocations and terminations, each signed by whoever made it; like the negotiation, not in the terms.
    statements: tuple[SignedStatement, ...] = ()

    @property
    def state(self) -> Stage:
        return self.negotiation.stage

    @property
    def provider_ids(self) -> tuple[str, ...]:
        return tuple(part.provider for part in self.providers)

    @property
    def parties(self) -> tuple[str, ...]:
        """Everyone who signs the terms: the buyer, then the providers."""
        return (self.buyer, *self.provider_ids)

    def signature_of(self, party: str) -> PartySignature | None:
        return next((s for s in self.signatures if s.party == party), None)

    def with_statement(self, signed: SignedStatement) -> Contract:
        """This contract carrying ``signed`` too (once)."""
        if signed in self.statements:
            return self
        return self.model_copy(update={"statements": (*self.statements, signed)})


_KEY_TYPES = frozenset({FieldType.TEXT, FieldType.CATEGORY})


def draft_contract(
    contract_id: str,
    offers: Sequence[DatasetOffer],
    *,
    buyer: str,
    operator: str,
    purpose: str,
    region: str,
    now: datetime,
) -> Contract:
    """Compile the terms and open the negotiation (state REQUESTED)."""
    terms = compile_terms(offers, buyer, purpose, region, now)
    by_provider: dict[str, list[str]] = {}
    for item in offers:
        by_provider.setdefault(item.provider, []).append(item.offer_id)
    parts = tuple(ProviderPart(provider=p, offer_ids=tuple(sorted(ids))) for p, ids in by_provider.items())
    return Contract(
        contract_id=contract_id,
        buyer=buyer,
        providers=parts,
        operator=operator,
        purpose=purpose,
        region=region,
        terms=terms,
        negotiation=request(buyer, [p.provider for p in parts], operator, now),
    )


def advance(contract: Contract, event: Event, actor: str, now: datetime) -> Contract:
    """Fire a negotiation event; signing events need the actor's signature to be on the contract."""
    if event is Event.SIGN and contract.signature_of(actor) is None:
        raise SignatureError(SignatureErrorCode.MISSING_SIGNATURE, actor, f"{actor} has not signed the terms")
    if event is Event.COUNTERSIGN and contract.countersignature is None:
        raise SignatureError(
            SignatureErrorCode.MISSING_SIGNATURE, actor, "the operator has not countersigned"
        )
    return contract.model_copy(update={"negotiation": fire(contract.negotiation, event, actor, now)})


# ------------------------------------------------------------------------------------------ compilation


def compile_terms(
    offers: Sequence[DatasetOffer], buyer: str, purpose: str, region: str, now: datetime
) -> Terms:
    """Intersect the offers into terms for ``buyer``; raise ``TermsError`` if nothing is left."""
    _check_offer_set(offers, buyer)
    fields = _common_fields(offers)
    first = offers[0].dataset_schema
    schema = DatasetSchema(name=first.name, description=first.description, fields=list(fields))
    grant = extract_grant(offers) if all(JobKind.EXTRACT in o.allowed_job_kinds for o in offers) else None
    kinds = _kinds(offers, grant)
    aggregate = _permission(offers, schema, buyer, purpose, region, now, kinds)
    permissions: tuple[Permission, ...] = (aggregate,) if any(k is not JobKind.EXTRACT for k in kinds) else ()
    if grant is not None:
        permissions += (extract_permission(aggregate, grant),)
    records = DutyAction.RESULTS_ONLY_AGGREGATE if grant is None else DutyAction.RECORDS_ONLY_DESENSITIZED
    policy = Policy(
        assigners=sorted_unique(o.provider for o in offers),
        assignee=buyer,
        permissions=permissions,
        prohibitions=_prohibitions(offers, grant),
        duties=(
            Duty(action=records),
            Duty(action=DutyAction.DELETE_AFTER, days=min(o.retention_days for o in offers)),
        ),
    )
    return Terms(
        dataset_schema=schema,
        tags={f.name: offers[0].tags[f.name] for f in fields},
        grades={f.name: strictest(o.grades[f.name] for o in offers) for f in fields},
        offers=tuple(OfferRef(offer_id=o.offer_id, provider=o.provider, price=o.price) for o in offers),
        policy=policy,
        privacy=strictest_terms([o.privacy for o in offers]),
        extract=grant,
    )


def _kinds(offers: Sequence[DatasetOffer], grant: ExtractGrant | None) -> tuple[JobKind, ...]:
    """The common job kinds; ``extract`` only with a grant, since rules are what an extract releases under."""
    kinds = _intersect(offers, lambda o: o.allowed_job_kinds, TermsErrorCode.NO_COMMON_JOB_KINDS, "job kinds")
    if grant is None:
        kinds = tuple(k for k in kinds if k is not JobKind.EXTRACT)
    if not kinds:
        raise TermsError(
            TermsErrorCode.NO_COMMON_JOB_KINDS,
            "the offers have no job kinds in common (an extract needs the same extract terms in every offer)",
        )
    return kinds


def _permission(
    offers: Sequence[DatasetOffer],
    schema: DatasetSchema,
    buyer: str,
    purpose: str,
    region: str,
    now: datetime,
    kinds: Sequence[JobKind],
) -> Permission:
    """The aggregate permission (over the kinds other than ``extract``)."""
    purposes = _intersect(offers, lambda o: o.allowed_purposes, TermsErrorCode.NO_COMMON_PURPOSES, "purposes")
    regions = _intersect(offers, lambda o: o.allowed_regions, TermsErrorCode.NO_COMMON_REGIONS, "regions")
    if purpose not in purposes:
        raise TermsError(
            TermsErrorCode.PURPOSE_NOT_ALLOWED, f"purpose {purpose!r} is not allowed", allowed=list(purposes)
        )
    if region not in regions:
        raise TermsError(
            TermsErrorCode.REGION_NOT_ALLOWED,
            f"buyer region {region!r} is not allowed",
            allowed=list(regions),
        )
    fields = schema.fields
    # Numbers are measured; a set intersection reads a key field, which holds text (personal fields stay
    # prohibited below, whatever the kind).
    keyed = bool(PSI_KINDS & set(kinds))
    measured = [f.name for f in fields if f.type.is_numeric or (keyed and f.type in _KEY_TYPES)]
    return Permission(
        target=schema.name,
        constraints=(
            _any_of(ConstraintName.BUYER, [buyer]),
            _any_of(ConstraintName.PURPOSE, [purpose]),
            _any_of(ConstraintName.DATASET, [schema.name]),
            _any_of(ConstraintName.JOB_KIND, [str(k) for k in kinds if k is not JobKind.EXTRACT]),
            _any_of(ConstraintName.FIELDS, measured),
            _any_of(ConstraintName.FILTER_FIELDS, [f.name for f in fields]),
            _any_of(ConstraintName.GROUP_BY, [f.name for f in fields if f.type is FieldType.CATEGORY]),
            _any_of(ConstraintName.REGION, regions),
            *_window(offers, now),
            *_limits(offers),
        ),
    )


def _check_offer_set(offers: Sequence[DatasetOffer], buyer: str) -> None:
    if not offers:
        raise TermsError(TermsErrorCode.NO_OFFERS, "a contract needs at least one offer")
    for item in offers:
        validate_offer(item)
    ids = [o.offer_id for o in offers]
    if len(set(ids)) != len(ids):
        raise TermsError(TermsErrorCode.DUPLICATE_OFFER, "an offer is listed twice", offer_ids=ids)
    if any(o.provider == buyer for o in offers):
        raise TermsError(TermsErrorCode.BUYER_IS_PROVIDER, f"{buyer} cannot buy its own offer", buyer=buyer)
    datasets = sorted({o.dataset for o in offers})
    if len(datasets) > 1:
        raise TermsError(
            TermsErrorCode.DATASET_MISMATCH, "offers cover different datasets", datasets=datasets
        )


def _common_fields(offers: Sequence[DatasetOffer]) -> tuple[FieldSpec, ...]:
    common = common_usable_fields(offers)
    if not common:
        raise TermsError(TermsErrorCode.NO_COMMON_FIELDS, "no field is usable under every offer")
    return common


def _intersect(
    offers: Sequence[DatasetOffer],
    get: Callable[[DatasetOffer], Iterable[T]],
    code: TermsErrorCode,
    what: str,
) -> tuple[T, ...]:
    common = set(get(offers[0]))
    for item in offers[1:]:
        common &= set(get(item))
    if not common:
        raise TermsError(code, f"the offers have no {what} in common")
    return sorted_unique(common)


def _window(offers: Sequence[DatasetOffer], now: datetime) -> tuple[TimeConstraint, TimeConstraint]:
    start = max(o.not_before for o in offers)
    end = min(o.not_after for o in offers)
    if start >= end:
        raise TermsError(TermsErrorCode.NO_COMMON_VALIDITY, "the offers' validity windows do not overlap")
    if now.astimezone(UTC) >= end:
        raise TermsError(TermsErrorCode.EXPIRED, f"the common validity ended at {end.isoformat()}")
    name = ConstraintName.VALIDITY_WINDOW
    return (
        TimeConstraint(left_operand=name, operator="gteq", right_operand=start),
        TimeConstraint(left_operand=name, operator="lt", right_operand=end),
    )


def _limits(offers: Sequence[DatasetOffer]) -> tuple[NumberConstraint, ...]:
    limits: list[tuple[ConstraintName, Literal["lteq", "gteq"], float]] = [
        (ConstraintName.MIN_COHORT, "gteq", max(o.min_cohort for o in offers)),
        (ConstraintName.QUERY_COUNT, "lteq", min(o.max_jobs for o in offers)),
    ]
    # An offer without an epsilon budget asks for no differential privacy; any budget set is binding.
    budgets = [o.epsilon_budget for o in offers if o.epsilon_budget is not None]
    if budgets:
        limits.append((ConstraintName.EPSILON_BUDGET, "lteq", min(budgets)))
    return tuple(NumberConstraint(left_operand=n, operator=op, right_operand=v) for n, op, v in limits)


def _prohibitions(offers: Sequence[DatasetOffer], grant: ExtractGrant | None) -> tuple[Prohibition, ...]:
    """Core fields never; personal fields never, except in an extract where a rule removes their content."""

    def union(get: Callable[[DatasetOffer], Iterable[str]]) -> tuple[str, ...]:
        return sorted_unique(name for o in offers for name in get(o))

    return (
        Prohibition(name=ConstraintName.GRADE, target=union(lambda o: o.fields_of_grade(Grade.CORE))),
        *personal_prohibitions(union(lambda o: o.personal_fields()), grant),
        Prohibition(
            name=ConstraintName.CROSS_BORDER,
            target=union(lambda o: o.fields_of_grade(Grade.IMPORTANT)),
            when=(
                SetConstraint(
                    left_operand=ConstraintName.REGION, operator="isNoneOf", right_operand=(DOMESTIC_REGION,)
                ),
            ),
        ),
    )


def _any_of(name: ConstraintName, values: Iterable[str]) -> SetConstraint:
    return SetConstraint(left_operand=name, operator="isAnyOf", right_operand=tuple(values))
