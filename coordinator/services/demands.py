"""Demands: a buyer states what it needs, matching proposes cohorts of offers that would admit it.

Candidates come from the catalogue, filtered in the database by what every offer of a cohort must allow
(purpose, region, job kinds, the demanded tags); ``contracts.matching`` then assembles cohorts and verifies
each on the real contract path, so a proposed cohort does not fail at contract time for a policy reason.
A factory sees the demands one of its offers could serve (``demands_for_provider``).
"""

from __future__ import annotations

import dataclasses
import threading
import uuid
from collections import OrderedDict
from collections.abc import Hashable
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel

from contracts.demands import Demand, fit_offer, validate_demand
from contracts.matching import Cohort, match
from contracts.offers import DataQuality, DatasetOffer
from coordinator.audit.trail import OPERATOR, Event
from coordinator.context import CoordinatorContext
from coordinator.exceptions import NotFoundError
from coordinator.services.catalog import CatalogQuery, catalog_filter, stored_offer
from coordinator.store.tables import DemandRow

MAX_CANDIDATES = 10_000


class StoredDemand(BaseModel):
    demand_id: str
    buyer: str
    demand: Demand
    created_at: str


class CohortPublic(BaseModel):
    """A proposed cohort: its offers, the field each tag is read from, price, validity and its score."""

    rank: int
    offer_ids: list[str]
    providers: list[str]
    fields: dict[str, str]
    total_price: str
    valid_until: str
    score: dict[str, Any]

    @classmethod
    def of(cls, rank: int, cohort: Cohort) -> CohortPublic:
        return cls(
            rank=rank,
            offer_ids=list(cohort.offer_ids),
            providers=[o.provider for o in cohort.offers],
            fields=cohort.fields,
            total_price=str(cohort.total_price),
            valid_until=cohort.valid_until.isoformat(),
            score=cohort.score.model_dump(mode="json"),
        )


def create(ctx: CoordinatorContext, buyer: str, demand: Demand) -> StoredDemand:
    """Validate and keep ``demand``; a refusal raises ``DemandError`` (HTTP 422) and keeps nothing."""
    validate_demand(demand)
    row = DemandRow(demand_id="dem_" + uuid.uuid4().hex[:20], buyer=buyer,
                    demand_text=demand.model_dump_json(), created_at=ctx.clock())  # fmt: skip
    ctx.store.add_demand(row)
    summary = {"tags": list(demand.tags), "job_kinds": list(demand.job_kinds), "purpose": demand.purpose,
               "region": demand.region, "min_factories": demand.min_factories}  # fmt: skip
    ctx.audit.record(buyer, Event.DEMAND_PUBLISHED, {"demand": row.demand_id, "participant": buyer}, summary)
    return _public(row)


def visible(ctx: CoordinatorContext, demand_id: str, participant: str, is_operator: bool) -> StoredDemand:
    """The demand, to its buyer and the operator; to anyone else it does not exist."""
    row = ctx.store.demand(demand_id)
    if not is_operator and row.buyer != participant:
        raise NotFoundError(f"no demand {demand_id}", code="demand_not_found")
    return _public(row)


def listed(ctx: CoordinatorContext, participant: str, role: str) -> list[StoredDemand]:
    """The operator's: every demand; a buyer's: its own; a factory's: those one of its offers could serve."""
    if role == "operator":
        return [_public(row) for row in ctx.store.demands()]
    if role == "buyer":
        return [_public(row) for row in ctx.store.demands(buyer=participant)]
    return demands_for_provider(ctx, participant)


# Matching a demand against thousands of offers takes a few hundred milliseconds; its answer changes only when
# the catalogue does or time crosses an offer's validity, so it is kept until either (at most a minute).
_MATCHES_TTL = timedelta(minutes=1)
_MATCHES_KEPT = 1_000
_matches: OrderedDict[tuple[str, int], tuple[Hashable, datetime, list[CohortPublic]]] = OrderedDict()
_matches_lock = threading.Lock()


def matches(ctx: CoordinatorContext, stored: StoredDemand, limit: int) -> list[CohortPublic]:
    """Up to ``limit`` cohorts that serve the demand, best first (cached while the catalogue is unchanged)."""
    key, version, now = (stored.demand_id, limit), ctx.store.catalog_version(), ctx.clock()
    with _matches_lock:
        kept = _matches.get(key)
        if kept is not None and kept[0] == version and now - kept[1] < _MATCHES_TTL:
            _matches.move_to_end(key)
            return kept[2]
    found = _match(ctx, stored, limit)
    with _matches_lock:
        _matches[key] = (version, now, found)
        _matches.move_to_end(key)
        while len(_matches) > _MATCHES_KEPT:
            _matches.popitem(last=False)
    return found


def _match(ctx: CoordinatorContext, stored: StoredDemand, limit: int) -> list[CohortPublic]:
    demand = stored.demand
    offers = _candidates(ctx, demand)
    quality = {o.offer_id: quality_score(o.quality) for o in offers if o.quality is not None}
    cohorts = match(demand, offers, ctx.clock(), buyer=stored.buyer, operator=OPERATOR, limit=limit,
                    quality=quality)  # fmt: skip
    return [CohortPublic.of(rank, cohort) for rank, cohort in enumerate(cohorts, start=1)]


def demands_for_provider(ctx: CoordinatorContext, provider: str) -> list[StoredDemand]:
    """Demands that at least one of ``provider``'s offers fits on its own (a cohort needs others too)."""
    own = [stored_offer(row.offer_text) for row in ctx.store.offers(provider=provider)]
    now = ctx.clock()
    found = []
    for row in ctx.store.demands():
        demand = Demand.model_validate_json(row.demand_text)
        if any(not isinstance(fit_offer(demand, o, now, buyer=row.buyer), str) for o in own):
            found.append(_public(row))
    return found


def quality_score(quality: DataQuality | None) -> float:
    """One figure in [0, 1] for ranking: complete, valid and without duplicates is 1."""
    if quality is None:
        return 0.5
    return round((quality.completeness + quality.validity + (1 - quality.duplicate_rate)) / 3, 4)


def _candidates(ctx: CoordinatorContext, demand: Demand) -> list[DatasetOffer]:
    """Offers the catalogue admits for every member of a cohort: purpose, region, kinds, demanded tags."""
    query = CatalogQuery(tag=list(demand.tags), kind=list(demand.job_kinds), purpose=demand.purpose,
                         region=demand.region, dataset=demand.dataset, limit=1)  # fmt: skip
    _, rows = ctx.store.search_catalog(dataclasses.replace(catalog_filter(query), limit=MAX_CANDIDATES))
    return [stored_offer(row.offer_text) for row in rows]


def _public(row: DemandRow) -> StoredDemand:
    demand = Demand.model_validate_json(row.demand_text)
    return StoredDemand(demand_id=row.demand_id, buyer=row.buyer, demand=demand,
                        created_at=row.created_at.isoformat())  # fmt: skip
