"""The catalogue against a naive filter over the same offers: every query's total, order and page.

A generated catalogue (purposes, regions, job kinds, grades, tags, prices, validity and quality varied) is
published through the real service on SQLite and, when configured, PostgreSQL; each query goes through the
gateway, and the reference applies the documented meaning of each parameter in plain Python.
"""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from contracts.grades import Grade
from contracts.grading import tags_named
from contracts.offers import DatasetOffer
from coordinator.services import catalog, contracting
from tests.contracts.test_offers import NOW, PROVIDERS, offer_dict

from .conftest import Gateway

PURPOSES = ["energy_benchmarking", "research", "quality_improvement"]
KINDS = ["count", "sum", "mean", "histogram", "variance"]
ORDER = [Grade.GENERAL, Grade.IMPORTANT, Grade.CORE]


def generated_offer(rng: random.Random, index: int) -> dict[str, Any]:
    grades = {"energy": rng.choice(["general", "important"])}
    tags = {"throughput": rng.choice(["throughput", "speed"])}
    document = offer_dict(
        index % len(PROVIDERS),
        offer_id=f"cat-{index:03d}",
        allowed_purposes=rng.sample(PURPOSES, rng.randint(1, 3)),
        allowed_regions=rng.sample(["CN", "DE"], rng.randint(1, 2)),
        allowed_job_kinds=rng.sample(KINDS, rng.randint(1, 5)),
        not_after=NOW + timedelta(days=rng.randint(1, 60)),
        price={"amount": f"{rng.randint(0, 500000) / 100:.2f}", "currency": "CNY"},
    )
    document["grades"] = document["grades"] | grades
    document["tags"] = document["tags"] | tags
    if rng.random() < 0.7:
        document["quality"] = {
            "rows": rng.choice([80, 1200, 56000]), "completeness": rng.choice([0.5, 0.9, 0.99, 1.0]),
            "validity": 1.0, "duplicate_rate": 0.0, "last_update": NOW - timedelta(days=rng.randint(0, 30)),
            "measured_at": NOW,
        }  # fmt: skip
    return document


@pytest.fixture
def published(gateway: Gateway) -> list[DatasetOffer]:
    rng = random.Random(7)
    for index in range(40):
        document = generated_offer(rng, index)
        provider = document["provider"]
        try:
            contracting.publish_offer(
                gateway.context, provider, DatasetOffer.model_validate(document).model_dump_json()
            )
        except Exception:  # an offer the rules refuse (say, important data for abroad) is simply not listed
            continue
    return [DatasetOffer.model_validate_json(row.offer_text) for row in gateway.context.store.offers()]


def admitted(offer: DatasetOffer, query: dict[str, Any]) -> bool:
    """The documented meaning of each parameter, applied naively."""
    usable = offer.usable_fields()
    tags = {offer.tags[name] for name in usable}
    highest = max((offer.grades.get(n, Grade.CORE) for n in usable), key=ORDER.index, default=Grade.GENERAL)
    quality = offer.quality
    words = (query.get("q") or "").split()
    return (
        set(query.get("tag", [])) <= tags
        and set(query.get("kind", [])) <= set(offer.allowed_job_kinds)
        and query.get("purpose", offer.allowed_purposes[0]) in offer.allowed_purposes
        and query.get("region", offer.allowed_regions[0]) in offer.allowed_regions
        and ORDER.index(highest) <= ORDER.index(Grade(query.get("max_grade", "core")))
        and all(
            tags & tags_named(w) or any(w.casefold() in n.casefold() for n in (*usable, offer.dataset))
            for w in words
        )
        and Decimal(query.get("max_price", "1e9")) >= offer.price.amount
        and ("min_rows" not in query or (quality is not None and quality.rows >= query["min_rows"]))
        and (
            "min_completeness" not in query
            or (quality is not None and quality.completeness >= query["min_completeness"])
        )
        and (
            "valid_on" not in query or offer.not_before.date() <= query["valid_on"] <= offer.not_after.date()
        )
    )


QUERIES: list[dict[str, Any]] = [
    {},
    {"tag": ["temperature"]},
    {"tag": ["temperature", "speed"]},
    {"kind": ["mean", "variance"]},
    {"purpose": "research", "region": "DE"},
    {"max_grade": "general"},
    {"q": "温度"},
    {"q": "speed energy"},
    {"q": "kwh"},
    {"q": "thr"},
    {"q": "plant"},
    {"q": "nothingatall"},
    {"max_price": "1000.00", "min_rows": 1000},
    {"min_completeness": 0.95, "kind": ["count"]},
    {"valid_on": (NOW + timedelta(days=45)).date()},
]


@pytest.mark.parametrize("query", QUERIES, ids=[str(q) for q in QUERIES])
def test_a_query_finds_exactly_what_the_naive_filter_finds(
    gateway: Gateway, published: list[DatasetOffer], query: dict[str, Any]
) -> None:
    expected = sorted(
        (o for o in published if admitted(o, query)), key=lambda o: (o.price.amount, o.offer_id)
    )
    params = {k: (str(v) if not isinstance(v, list) else v) for k, v in query.items()}
    page = gateway.call("buyer", "GET", "/api/v1/catalog", params={**params, "sort": "price", "order": "asc",
                                                                 "limit": 100})  # fmt: skip
    assert page.status_code == 200, page.text
    body = page.json()
    assert body["total"] == len(expected)
    assert [o["offer_id"] for o in body["offers"]] == [o.offer_id for o in expected]


def test_pages_cover_the_result_once_in_order(gateway: Gateway, published: list[DatasetOffer]) -> None:
    seen: list[str] = []
    for offset in range(0, len(published) + 7, 7):
        page = gateway.call("buyer", "GET", "/api/v1/catalog",
                            params={"sort": "price", "limit": 7, "offset": offset}).json()  # fmt: skip
        assert page["total"] == len(published)
        seen += [o["offer_id"] for o in page["offers"]]
    by_price = sorted(published, key=lambda o: (-o.price.amount, o.offer_id))  # descending, ties by id
    assert seen == [o.offer_id for o in by_price]


def test_bad_parameters_are_refused_with_the_field(gateway: Gateway) -> None:
    for params in ({"limit": 101}, {"sort": "cheapest"}, {"max_grade": "secret"}, {"unknown": "x"}):
        refused = gateway.call("buyer", "GET", "/api/v1/catalog", params=params)
        assert refused.status_code == 422, (params, refused.text)
    assert gateway.call(None, "GET", "/api/v1/catalog").status_code == 401


def test_offers_stored_before_the_catalogue_are_indexed_at_start(
    gateway: Gateway, published: list[DatasetOffer]
) -> None:
    store = gateway.context.store
    with store.engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM catalog_term")
        conn.exec_driver_sql("DELETE FROM catalog_entry")
    assert gateway.call("buyer", "GET", "/api/v1/catalog").json()["total"] == 0
    assert catalog.index_missing(gateway.context) == len(published)
    assert gateway.call("buyer", "GET", "/api/v1/catalog").json()["total"] == len(published)
    assert catalog.index_missing(gateway.context) == 0
