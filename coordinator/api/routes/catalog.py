"""The catalogue (any participant): offers searched, filtered, sorted and paged in the database."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from coordinator.api.deps import ContextDep, PrincipalDep
from coordinator.services import catalog

router = APIRouter(prefix="/api/v1", tags=["catalog"])


@router.get("/catalog")
def search_catalog(
    query: Annotated[catalog.CatalogQuery, Query()], context: ContextDep, _principal: PrincipalDep
) -> catalog.CatalogPage:
    """One page of the offers every given filter admits, with the total count.

    ``q`` takes words in Chinese or English: each must name one of an offer's semantic tags (温度,
    temperature, 炉温, kwh …) or occur in one of its usable fields' or its dataset's name. Repeated ``tag``
    and ``kind`` must all be present; ``max_grade=general`` keeps offers whose usable fields are all general
    grade (the ones that may serve buyers abroad).
    """
    return catalog.search(context, query)
