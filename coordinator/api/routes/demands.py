"""Demands (buyers) and the cohorts of offers matching proposes for them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from contracts.demands import Demand
from contracts.identity import Role
from coordinator.api.deps import BuyerDep, ContextDep, IdPath, PrincipalDep
from coordinator.services import demands

router = APIRouter(prefix="/api/v1", tags=["demands"])


@router.post("/demands", status_code=201)
def create_demand(body: Demand, context: ContextDep, buyer: BuyerDep) -> demands.StoredDemand:
    """State what you need (buyer): tags, job kinds, purpose, region, how many factories, time and price.

    A demand naming an unknown tag or purpose, or a coverage that has ended, is refused with 422 and a code.
    """
    return demands.create(context, buyer.participant_id, body)


@router.get("/demands")
def list_demands(context: ContextDep, principal: PrincipalDep) -> list[demands.StoredDemand]:
    """A buyer's own demands; every demand for the operator; for a factory, those one of its offers fits."""
    return demands.listed(context, principal.participant_id, principal.role.value)


@router.get("/demands/{demand_id}")
def get_demand(demand_id: IdPath, context: ContextDep, principal: PrincipalDep) -> demands.StoredDemand:
    return demands.visible(context, demand_id, principal.participant_id, principal.role is Role.OPERATOR)


@router.get("/demands/{demand_id}/matches")
def demand_matches(
    demand_id: IdPath,
    context: ContextDep,
    principal: PrincipalDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
) -> list[demands.CohortPublic]:
    """Cohorts of offers from distinct factories that serve the demand, best first, each with its score.

    Every cohort passed the real contract path: proposing a contract over its offers (POST /contracts with
    ``offer_ids``, the demand's purpose and region) does not fail for a policy reason.
    """
    stored = demands.visible(context, demand_id, principal.participant_id, principal.role is Role.OPERATOR)
    return demands.matches(context, stored, limit)
