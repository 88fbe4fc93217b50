"""Nodes enforce contracts on their own: a deliberately misbehaving coordinator gets refused by every node."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from coordinator.client.gateway import GatewayClient
from coordinator.faults import CoordinatorFault
from coordinator.localspace.harness import LocalSpace
from node.journal import Journal

from .conftest import start_space

pytestmark = pytest.mark.e2e
MEAN_TEMP = {"kind": "mean", "dataset": "steel_production", "field": "furnace_temp_c"}


@pytest.fixture(scope="module")
def space(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSpace]:
    local = start_space(tmp_path_factory.mktemp("rogue"), 3, {"DATASPACE_ROUND_TIMEOUT_S": "10"})
    try:
        yield local
    finally:
        local.stop()


def _turn_rogue(space: LocalSpace, fault: CoordinatorFault) -> None:
    space.extra_env["DATASPACE_COORDINATOR_FAULT"] = fault.value
    space.restart_coordinator(crash=False)
    space.wait_for_nodes(3)


def _contract(space: LocalSpace, buyer: GatewayClient, *publish: str) -> str:
    offer_ids = [space.publish(f, "--purpose", "research", *publish) for f in space.factories]
    return buyer.negotiate(offer_ids, "research")


def _node_refusals(space: LocalSpace, job_id: str) -> dict[str, set[str]]:
    """Per node: the events it journalled for this job (refusal codes, or that it computed)."""
    seen: dict[str, set[str]] = {}
    for factory in space.factories:
        for entry in Journal(factory.directory / "journal.jsonl").entries():
            if entry.get("job_id") == job_id and entry["event"] in ("job_refused", "job_accepted"):
                seen.setdefault(factory.participant_id, set()).add(entry.get("code") or entry["event"])
    return seen


def _run(buyer: GatewayClient, contract_id: str, spec: dict[str, Any]) -> dict[str, Any]:
    return buyer.wait(buyer.submit_job({**spec, "contract_id": contract_id})["id"], timeout=120)


def _assert_every_node_refused(space: LocalSpace, job: dict[str, Any], code: str) -> None:
    assert job["state"] == "FAILED", job
    refusals = _node_refusals(space, job["id"])
    assert refusals == {f.participant_id: {code} for f in space.factories}, refusals


@pytest.mark.parametrize(
    ("fault", "publish", "spec", "code"),
    [
        (CoordinatorFault.SKIP_POLICY, ("--kind", "mean"), {**MEAN_TEMP, "kind": "variance"}, "job_kind"),
        (CoordinatorFault.FORGE_TICKET, (), MEAN_TEMP, "bad_signature"),
        (CoordinatorFault.EXPIRED_TICKET, (), MEAN_TEMP, "ticket_expired"),
        (CoordinatorFault.STRIP_SIGNATURES, (), MEAN_TEMP, "signature"),
        (CoordinatorFault.SWAP_BUYER_SIGNATURE, (), MEAN_TEMP, "signature"),
    ],
    ids=[
        "outside_terms",
        "forged_ticket",
        "expired_ticket",
        "factory_signature_missing",
        "buyer_signature_forged",
    ],
)
def test_node_refuses_what_a_rogue_coordinator_sends(
    space: LocalSpace, fault: CoordinatorFault, publish: tuple[str, ...], spec: dict[str, Any], code: str
) -> None:
    _turn_rogue(space, CoordinatorFault.NONE)
    with space.enroll_buyer() as buyer:
        contract_id = _contract(space, buyer, *publish)
        _turn_rogue(space, fault)
        _assert_every_node_refused(space, _run(buyer, contract_id, spec), code)


def test_node_refuses_a_replayed_nonce(space: LocalSpace) -> None:
    _turn_rogue(space, CoordinatorFault.NONE)
    with space.enroll_buyer() as buyer:
        contract_id = _contract(space, buyer)
        _turn_rogue(space, CoordinatorFault.REPLAY_TICKET)
        _run(buyer, contract_id, MEAN_TEMP)  # the nonce's first use may pass: no node has seen it
        _assert_every_node_refused(space, _run(buyer, contract_id, MEAN_TEMP), "nonce_reused")


def test_node_refuses_jobs_under_a_contract_it_revoked(space: LocalSpace) -> None:
    _turn_rogue(space, CoordinatorFault.NONE)
    with space.enroll_buyer() as buyer:
        contract_id = _contract(space, buyer)
        _turn_rogue(space, CoordinatorFault.IGNORE_REVOCATION)
        for factory in space.factories:
            subprocess.run([sys.executable, "-m", "node", "contracts", "revoke", contract_id,
                            "--dir", str(factory.directory)], check=True, capture_output=True)  # fmt: skip
        _assert_every_node_refused(space, _run(buyer, contract_id, MEAN_TEMP), "contract_state")


def test_node_refuses_a_ticket_past_the_query_count_by_its_own_ledger(space: LocalSpace) -> None:
    """The coordinator skips its budget check and sends a sixth job under max_jobs = 5."""
    _turn_rogue(space, CoordinatorFault.NONE)
    with space.enroll_buyer() as buyer:
        contract_id = _contract(space, buyer, "--max-jobs", "5")
        _turn_rogue(space, CoordinatorFault.SKIP_POLICY)
        for _ in range(5):
            assert _run(buyer, contract_id, MEAN_TEMP)["state"] == "SUCCEEDED"
        _assert_every_node_refused(space, _run(buyer, contract_id, MEAN_TEMP), "query_count")


def test_node_refuses_a_ticket_past_the_epsilon_budget_by_its_own_ledger(space: LocalSpace) -> None:
    _turn_rogue(space, CoordinatorFault.NONE)
    with space.enroll_buyer() as buyer:
        contract_id = _contract(space, buyer, "--epsilon", "1.0")
        _turn_rogue(space, CoordinatorFault.SKIP_POLICY)
        assert _run(buyer, contract_id, {**MEAN_TEMP, "epsilon": 0.9})["state"] == "SUCCEEDED"
        _assert_every_node_refused(
            space, _run(buyer, contract_id, {**MEAN_TEMP, "epsilon": 0.9}), "epsilon_budget"
        )
        # A job that states no epsilon under a budget would be exact: refused as well.
        _assert_every_node_refused(space, _run(buyer, contract_id, MEAN_TEMP), "epsilon_budget")
