"""Demands through the gateway: a buyer states a need, matching proposes cohorts, a cohort becomes a contract.

The gateway fixture's three factories each published one offer of the same plant data; every proposed
cohort is taken to the real contract proposal, which must accept it.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from contracts.identity import make_participant_id
from coordinator.context import utc_now
from coordinator.services import contracting
from tests.contracts.test_offers import offer_dict

from .conftest import PROVIDERS, Gateway

NEED: dict[str, Any] = {
    "tags": ["temperature"],
    "optional_tags": ["throughput"],
    "job_kinds": ["mean"],
    "purpose": "research",
    "region": "CN",
    "min_factories": 3,
}


def create(gateway: Gateway, need: dict[str, Any], who: str = "buyer") -> Any:
    return gateway.call(who, "POST", "/api/v1/demands", json=need)


def test_every_proposed_cohort_becomes_a_contract_proposal(gateway: Gateway) -> None:
    created = create(gateway, NEED)
    assert created.status_code == 201, created.text
    demand_id = created.json()["demand_id"]
    matches = gateway.call("buyer", "GET", f"/api/v1/demands/{demand_id}/matches")
    assert matches.status_code == 200, matches.text
    cohorts = matches.json()
    assert cohorts and [c["rank"] for c in cohorts] == list(range(1, len(cohorts) + 1))
    for cohort in cohorts:
        assert sorted(cohort["providers"]) == sorted(PROVIDERS)
        assert cohort["fields"]["temperature"] == "temp" and cohort["score"]["explanation"]
        body = {"offer_ids": cohort["offer_ids"], "purpose": NEED["purpose"], "region": NEED["region"]}
        proposed = gateway.call("buyer", "POST", "/api/v1/contracts", json=body)
        assert proposed.status_code == 201, proposed.text


def test_matches_follow_the_catalogue_at_once(gateway: Gateway) -> None:
    """Matches are kept between requests, but a newly published offer is matched on the next request."""
    demand_id = create(gateway, {**NEED, "min_factories": 4}).json()["demand_id"]
    path = f"/api/v1/demands/{demand_id}/matches"
    assert gateway.call("buyer", "GET", path).json() == []  # three factories cannot serve four
    fourth = make_participant_id("91320599MA1X2Y3L4")
    now = utc_now()
    offer = offer_dict(0, offer_id="offer-4th", provider=fourth, not_before=now - timedelta(days=1),
                       not_after=now + timedelta(days=30))  # fmt: skip
    contracting.publish_offer(gateway.context, fourth, json.dumps(offer, default=str))
    [cohort, *_] = gateway.call("buyer", "GET", path).json()
    assert fourth in cohort["providers"] and len(set(cohort["providers"])) == 4


def test_a_need_no_cohort_can_serve_gets_no_proposal(gateway: Gateway) -> None:
    for need in ({**NEED, "min_factories": 4}, {**NEED, "purpose": "insurance_underwriting"},
                 {**NEED, "max_total_price": "100.00"}):  # fmt: skip
        demand_id = create(gateway, need).json()["demand_id"]
        assert gateway.call("buyer", "GET", f"/api/v1/demands/{demand_id}/matches").json() == []


@pytest.mark.parametrize(
    ("change", "code"),
    [({"tags": ["no_such_tag"]}, "unknown_tag"), ({"purpose": "espionage"}, "unknown_purpose"),
     ({"tags": ["person_name"]}, "unusable_tag")],
)  # fmt: skip
def test_a_malformed_demand_is_refused_with_its_code_and_kept_nowhere(
    gateway: Gateway, change: dict[str, Any], code: str
) -> None:
    refused = create(gateway, {**NEED, **change})
    assert refused.status_code == 422 and refused.json()["error"]["code"] == code
    assert gateway.call("buyer", "GET", "/api/v1/demands").json() == []
    assert gateway.entries("request.refused")[-1]["payload"]["code"] == code


def test_who_sees_a_demand(gateway: Gateway) -> None:
    demand_id = create(gateway, NEED).json()["demand_id"]
    listed = {who: [d["demand_id"] for d in gateway.call(who, "GET", "/api/v1/demands").json()]
              for who in ("buyer", "operator", "factory", "stranger")}  # fmt: skip
    assert listed == {"buyer": [demand_id], "operator": [demand_id], "factory": [demand_id], "stranger": []}
    for path in (f"/api/v1/demands/{demand_id}", f"/api/v1/demands/{demand_id}/matches"):
        assert gateway.call("stranger", "GET", path).status_code == 404
        assert gateway.call("operator", "GET", path).status_code == 200
    assert create(gateway, NEED, who="factory").status_code == 403  # only buyers state demands
    assert gateway.entries("demand.published")[-1]["subjects"]["demand"] == demand_id
