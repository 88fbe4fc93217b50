"""Whom a token speaks for, and who sees which contracts in a list: the parties see theirs, the operator every
one, anyone else none."""

from __future__ import annotations

import pytest

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
