"""Whom a token speaks for, and who sees which contracts in a list: the parties see theirs, the operator every
one, anyone else none."""

from __future__ import annotations

import pytest
from rich.console import Console
from rich.table import Table

from coordinator.client.tables import contracts_table, jobs_table, offers_table

from .conftest import BUYER, PROVIDERS, STRANGER, Gateway


@pytest.mark.parametrize(
    ("who", "sees_it"),
    [("operator", True), ("buyer", True), ("factory", True), ("stranger", False)],
)
def test_a_contract_is_listed_for_its_parties_and_the_operator(
    gateway: Gateway, who: str, sees_it: bool
) -> None:
    listed = gateway.call(who, "GET", "/api/v1/contracts")
    assert listed.status_code == 200
    ids = [contract["contract_id"] for contract in listed.json()]
    assert ids == ([gateway.contract_id] if sees_it else [])


def test_listing_contracts_needs_a_token(gateway: Gateway) -> None:
    assert gateway.call(None, "GET", "/api/v1/contracts").status_code == 401


@pytest.mark.parametrize("who", ["operator", "buyer", "factory", "stranger"])
def test_me_names_the_participant_and_role_of_the_token(gateway: Gateway, who: str) -> None:
    me = gateway.call(who, "GET", "/api/v1/me")
    assert me.status_code == 200
    expected = {"operator": "operator", "buyer": "buyer", "factory": "factory", "stranger": "buyer"}[who]
    assert me.json()["role"] == expected
    parties = {"buyer": BUYER, "factory": PROVIDERS[0], "stranger": STRANGER}
    assert who == "operator" or me.json()["participant_id"] == parties[who]
    assert gateway.call(None, "GET", "/api/v1/me").status_code == 401


def rendered(table: Table) -> str:
    console = Console(record=True, width=250)
    console.print(table)
    return console.export_text()


def test_list_tables_show_what_the_gateway_returned(gateway: Gateway) -> None:
    spec = {"kind": "count", "dataset": "plant", "contract_id": gateway.contract_id}
    submitted = gateway.call("buyer", "POST", "/api/v1/jobs", json=spec)
    assert submitted.status_code == 202, submitted.text
    contracts = rendered(contracts_table(gateway.call("buyer", "GET", "/api/v1/contracts").json()))
    assert gateway.contract_id in contracts and "FINALIZED" in contracts and "plant" in contracts
    jobs = rendered(jobs_table(gateway.call("buyer", "GET", "/api/v1/jobs").json()))
    assert submitted.json()["id"] in jobs and "count" in jobs and "QUEUED" in jobs
    offers = gateway.call("buyer", "GET", "/api/v1/offers").json()
    shown = rendered(offers_table(offers))
    assert offers and all(offer["offer_id"] in shown for offer in offers)
    assert "(none)" in rendered(jobs_table(gateway.call("stranger", "GET", "/api/v1/jobs").json()))
