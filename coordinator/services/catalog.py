"""The catalogue: offers indexed when they are published, and searched in the database.

Each offer gets one ``catalog_entry`` row (what is ranged over and sorted: price, validity, quality) and
``catalog_term`` rows (what is matched: the semantic tag and name of each usable field, the regions, job
kinds and purposes it allows, the highest grade among its usable fields). A search word matches an offer
when it names one of the offer's tags — by the tag, its Chinese label or a column-name synonym of the
controlled vocabulary (``contracts.grading.tags_named``) — or occurs in one of its field names or its dataset
name. Every filter is one SQL condition, so a page of a catalogue of tens of thousands of offers costs one
indexed query, not a scan in Python.
"""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from contracts.canonical import MAX_SAFE_INTEGER, SafeId
from contracts.grades import Grade
from contracts.grading import tags_named
from contracts.jobspec import JobKind
from contracts.offers import DatasetOffer
from contracts.schema import IDENTIFIER_PATTERN
from coordinator.context import CoordinatorContext
from coordinator.store.database import CatalogFilter, TermCondition
from coordinator.store.tables import CatalogEntryRow, CatalogTermRow

MAX_PAGE = 100
MAX_WORDS = 8
# Grades from the least to the most protected; a filter ``max_grade`` admits those up to it.
_GRADE_ORDER = (Grade.GENERAL, Grade.IMPORTANT, Grade.CORE)


def catalog_rows(offer: DatasetOffer, published_at: datetime) -> tuple[CatalogEntryRow, list[CatalogTermRow]]:
    """What the catalogue stores of ``offer``: its entry and its searchable terms."""
    quality = offer.quality
    entry = CatalogEntryRow(
        offer_id=offer.offer_id,
        provider=offer.provider,
        dataset=offer.dataset,
        price_fen=int(offer.price.amount * 100),
        not_before=offer.not_before,
        not_after=offer.not_after,
        published_at=published_at,
        rows=quality.rows if quality else None,
        completeness=quality.completeness if quality else None,
        validity=quality.validity if quality else None,
        last_update=quality.last_update if quality else None,
    )
    usable = offer.usable_fields()
    facts: set[tuple[str, str]] = {("field", name.casefold()) for name in usable}
    facts.add(("dataset", offer.dataset.casefold()))
    facts |= {("tag", offer.tags[name]) for name in usable if name in offer.tags}
    facts |= {("region", region) for region in offer.allowed_regions}
    facts |= {("kind", str(kind)) for kind in offer.allowed_job_kinds}
    facts |= {("purpose", purpose) for purpose in offer.allowed_purposes}
    grades = [offer.grades.get(name, Grade.CORE) for name in usable]
    highest = max(grades, key=_GRADE_ORDER.index, default=Grade.GENERAL)
    facts.add(("grade", str(highest)))
    terms = [CatalogTermRow(offer_id=offer.offer_id, facet=f, value=v) for f, v in sorted(facts)]
    return entry, terms


@functools.lru_cache(maxsize=20_000)
def stored_offer(offer_text: str) -> DatasetOffer:
    """A stored offer, parsed once per process (the offer is frozen: share it, never change it).

    Stored offers never change, and parsing thousands of them was half of a demand's matching time.
    """
    return DatasetOffer.model_validate_json(offer_text)


def index_missing(ctx: CoordinatorContext) -> int:
    """Index every stored offer the catalogue lacks (stored before it existed); return how many."""
    missing = ctx.store.offers_not_in_catalog()
    for row in missing:
        offer = DatasetOffer.model_validate_json(row.offer_text)
        ctx.store.add_to_catalog(*catalog_rows(offer, row.published_at))
    return len(missing)


Sort = Literal["published", "price", "rows", "completeness", "valid_until"]


class CatalogQuery(BaseModel):
    """A catalogue search: every filter given must hold; within ``tag`` and ``kind`` every value must."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    q: str | None = Field(
        default=None,
        max_length=200,
        description="Words, each naming a tag (温度, temperature, kwh …) or part of a field or dataset name",
    )
    tag: list[str] = Field(default_factory=list, max_length=16, description="Semantic tags all required")
    kind: list[JobKind] = Field(default_factory=list, max_length=16, description="Job kinds all allowed")
    purpose: str | None = Field(default=None, pattern=IDENTIFIER_PATTERN)
    region: str | None = Field(default=None, pattern=r"^[A-Z]{2}$", description="Buyer region, ISO 3166")
    max_grade: Grade | None = Field(default=None, description="Highest grade of the usable fields")
    dataset: str | None = Field(default=None, pattern=IDENTIFIER_PATTERN)
    provider: SafeId | None = None
    valid_on: date | None = Field(default=None, description="Offers valid on this day (UTC)")
    updated_since: date | None = Field(default=None, description="Data updated on or after this day")
    min_rows: int | None = Field(default=None, ge=0, le=MAX_SAFE_INTEGER)
    min_completeness: float | None = Field(default=None, ge=0, le=1, allow_inf_nan=False)
    max_price: Decimal | None = Field(default=None, ge=0, max_digits=18, decimal_places=2)
    sort: Sort = "published"
    order: Literal["asc", "desc"] = "desc"
    limit: int = Field(default=20, ge=1, le=MAX_PAGE)
    offset: int = Field(default=0, ge=0, le=1_000_000)


class CatalogPage(BaseModel):
    total: int
    limit: int
    offset: int
    offers: list[DatasetOffer]


def search(ctx: CoordinatorContext, query: CatalogQuery) -> CatalogPage:
    total, rows = ctx.store.search_catalog(catalog_filter(query))
    offers = [stored_offer(row.offer_text) for row in rows]
    return CatalogPage(total=total, limit=query.limit, offset=query.offset, offers=offers)


def catalog_filter(query: CatalogQuery) -> CatalogFilter:
    """The database filter of a query: pure, so what each parameter means is tested without a database."""
    groups: list[tuple[TermCondition, ...]] = [(("tag", "=", tag),) for tag in query.tag]
    groups += [(("kind", "=", str(kind)),) for kind in query.kind]
    if query.purpose is not None:
        groups.append((("purpose", "=", query.purpose),))
    if query.region is not None:
        groups.append((("region", "=", query.region),))
    if query.max_grade is not None:
        admitted = _GRADE_ORDER[: _GRADE_ORDER.index(query.max_grade) + 1]
        groups.append(tuple(("grade", "=", str(grade)) for grade in admitted))
    groups += [_word(word) for word in (query.q or "").split()[:MAX_WORDS]]
    return CatalogFilter(
        terms=tuple(groups),
        provider=query.provider,
        dataset=query.dataset,
        valid_at=_start_of(query.valid_on),
        updated_since=_start_of(query.updated_since),
        min_rows=query.min_rows,
        min_completeness=query.min_completeness,
        max_price_fen=int(query.max_price * 100) if query.max_price is not None else None,
        sort=query.sort,
        descending=query.order == "desc",
        limit=query.limit,
        offset=query.offset,
    )


def _word(word: str) -> tuple[TermCondition, ...]:
    """An offer matches a word through a tag it names, or a field or dataset holding it in its name.

    ``%`` is dropped from the word; ``_`` stays a one-character wildcard, which only ever widens a match.
    """
    pattern = "%" + word.casefold().replace("%", "") + "%"
    named = (("tag", "=", tag) for tag in sorted(tags_named(word)))
    return (*named, ("field", "like", pattern), ("dataset", "like", pattern))


def _start_of(day: date | None) -> datetime | None:
    return None if day is None else datetime.combine(day, time(), tzinfo=UTC)
