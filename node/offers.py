"""Dataset offers a factory publishes: its public schema plus the terms under which jobs may use it.

Field tags and grades are those confirmed in node.toml. An offer is built only for a dataset whose values
are all confirmed (no ``proposed`` left) and whose every field has a grade and a tag; core-grade and
personal fields are always excluded, so no job can ever read them, and free text unless the terms allow
set intersections (``psi_cardinality``), which may use a text field as their key.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation

from pydantic import ValidationError

from contracts.exceptions import OfferError
from contracts.jobspec import PSI_KINDS, JobKind
from contracts.offers import DatasetOffer, Grade, Price, validate_offer
from contracts.privacy import PrivacyTerms
from contracts.schema import FieldType
from contracts.vocabulary import TAGS
from node.config import DatasetConfig, NodeConfig
from node.exceptions import NodeError


class OfferNotReady(NodeError):
    """The dataset cannot be offered yet; the message says what the factory must do first."""


# What an offer allows unless its terms name kinds: every statistic. An extract releases rows, encrypted
# scoring runs a model the factory cannot read, and a set intersection reads a key field (psi_sum also
# lets the buyer learn this factory's intersection size), so each is allowed only where the terms name it.
_NAMED_ONLY = ("extract", "encrypted_scoring", "psi_cardinality", "psi_sum")
AGGREGATE_KINDS = tuple(kind for kind in JobKind if kind.value not in _NAMED_ONLY)


@dataclass(frozen=True)
class OfferTerms:
    purposes: tuple[str, ...]
    regions: tuple[str, ...] = ("CN",)
    job_kinds: tuple[str, ...] = AGGREGATE_KINDS
    min_cohort: int = 3
    max_jobs: int = 100
    epsilon_budget: float | None = None
    privacy: PrivacyTerms = field(default_factory=PrivacyTerms)
    valid_days: float = 365
    price_cny: str = "0"
    retention_days: int = 90


def readiness_problems(dataset: DatasetConfig) -> list[str]:
    """Why the dataset's declarations cannot be published yet: unconfirmed values, missing grades or tags."""
    problems = []
    unconfirmed = dataset.unconfirmed()
    if unconfirmed:
        listed = "; ".join(f"{name} ({', '.join(keys)})" for name, keys in unconfirmed.items())
        problems.append(
            f"proposed values not confirmed yet: {listed}. Check them in node.toml, then delete their "
            f"`proposed` lines or run `dataspace-node confirm {dataset.name}`"
        )
    for spec in dataset.schema.fields:
        if spec.name not in dataset.grades:
            problems.append(f"field {spec.name} has no grade: set grade = core, important or general")
        if spec.name not in dataset.tags:
            choices = [
                n for n, t in TAGS.items() if spec.type in t.field_types and t.personal == spec.personal
            ]
            problems.append(f"field {spec.name} has no tag: set tag = one of {', '.join(choices)}")
    return problems


def build_offer(config: NodeConfig, dataset: str, terms: OfferTerms, now: datetime) -> DatasetOffer:
    """The offer of ``dataset`` under ``terms``; ``OfferNotReady`` or ``OfferError`` say why there is none."""
    chosen = config.dataset(dataset)
    problems = readiness_problems(chosen)
    if problems:
        raise OfferNotReady(f"dataset {dataset} cannot be offered yet: " + " | ".join(problems))
    schema, grades = chosen.schema, chosen.grades
    # Free text is excluded unless the terms allow set intersections, where a text field can be the key
    # (personal ones never).
    keyed = any(kind in PSI_KINDS for kind in terms.job_kinds)
    excluded = [
        f.name
        for f in schema.fields
        if f.personal or grades.get(f.name) is Grade.CORE or (f.type is FieldType.TEXT and not keyed)
    ]
    try:
        price = Price(amount=Decimal(terms.price_cny), currency="CNY")
    except (InvalidOperation, ValueError) as exc:
        raise OfferNotReady(
            f"price {terms.price_cny!r} is not an amount in CNY with at most 2 decimals"
        ) from exc
    try:
        offer = _offer(config, chosen.name, terms, now, tuple(excluded), price)
        validate_offer(offer)
    except OfferError as exc:
        raise OfferNotReady(f"dataset {dataset} cannot be offered: {exc}") from exc
    except ValidationError as exc:
        found = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise OfferNotReady(f"dataset {dataset} cannot be offered: {found}") from exc
    return offer


def _offer(
    config: NodeConfig,
    dataset: str,
    terms: OfferTerms,
    now: datetime,
    excluded: tuple[str, ...],
    price: Price,
) -> DatasetOffer:
    chosen = config.dataset(dataset)
    return DatasetOffer(
        offer_id="offer_" + uuid.uuid4().hex[:20],
        provider=config.participant_id,
        dataset=dataset,
        dataset_schema=chosen.schema,
        tags=dict(chosen.tags),
        grades=dict(chosen.grades),
        excluded_fields=excluded,
        allowed_job_kinds=tuple(JobKind(k) for k in terms.job_kinds),
        allowed_purposes=terms.purposes,
        allowed_regions=terms.regions,
        min_cohort=terms.min_cohort,
        max_jobs=terms.max_jobs,
        epsilon_budget=terms.epsilon_budget,
        privacy=terms.privacy,
        not_before=now,
        not_after=now + timedelta(days=terms.valid_days),
        price=price,
        retention_days=terms.retention_days,
    )
