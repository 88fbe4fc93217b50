"""Offers and multi-party contracts negotiated through the real gateway and real nodes."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from contracts.agreement import Contract
from contracts.signing import verify_contract, verify_statement
from coordinator.client.gateway import GatewayError
from coordinator.localspace.harness import LocalSpace

from .conftest import ROWS

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def space(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSpace]:
    """Two factories sign by local rule; the third asks a person."""
    local = LocalSpace(tmp_path_factory.mktemp("contracts"), extra_env={"DATASPACE_ROUND_TIMEOUT_S": "20"})
    local.start_coordinator()
    for i in range(3):
        local.start_node(local.add_factory(i, ROWS, auto_approve="*" if i < 2 else None))
    local.wait_for_nodes(3)
    try:
        yield local
    finally:
        local.stop()


def _node_cli(space: LocalSpace, index: int, *args: str) -> subprocess.CompletedProcess[str]:
    directory = str(space.factories[index].directory)
    return subprocess.run([sys.executable, "-m", "node", *args, "--dir", directory],
                          capture_output=True, text=True, check=False)  # fmt: skip


def test_publish_propose_sign_finalize(space: LocalSpace) -> None:
    offer_ids = [space.publish(f, "--purpose", "energy_benchmarking") for f in space.factories]
    with space.enroll_buyer() as buyer:
        assert {o["offer_id"] for o in buyer.offers()} >= set(offer_ids)
        proposed = buyer.propose_contract(offer_ids, "energy_benchmarking")
        contract_id = proposed["contract_id"]
        # The third factory's person has not decided: the contract waits in REQUESTED.
        time.sleep(1.5)
        assert buyer.contract(contract_id)["negotiation"]["stage"] == "REQUESTED"
        pending = _node_cli(space, 2, "contracts", "pending")
        assert contract_id in pending.stdout
        assert _node_cli(space, 2, "contracts", "approve", contract_id).returncode == 0
        buyer.wait_contract(contract_id, {"OFFERED"})
        buyer.contract_move(contract_id, "agree")
        buyer.wait_contract(contract_id, {"AGREED"})
        # Nodes sign once the buyer agreed; the buyer signs with the key only its session holds.
        deadline = time.monotonic() + 20
        while len(buyer.contract(contract_id)["signatures"]) < 3:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        buyer.sign_contract(contract_id)
        final = Contract.model_validate(buyer.wait_contract(contract_id, {"FINALIZED"}))
    keys = _registered_keys(space, final)
    verify_contract(final, keys, _operator_public_key(space))


def test_illegal_transition_is_refused_with_the_current_state(space: LocalSpace) -> None:
    offer_ids = [space.publish(f, "--purpose", "research") for f in space.factories[:2]]
    offer_ids.append(space.publish(space.factories[2], "--purpose", "research"))
    with space.enroll_buyer() as buyer:
        contract_id = buyer.propose_contract(offer_ids, "research")["contract_id"]
        with pytest.raises(GatewayError) as refused:
            buyer.contract_move(contract_id, "revoke")  # only a FINALIZED contract can be revoked
    assert refused.value.status == 409
    assert refused.value.details["current_state"] in {"REQUESTED", "OFFERED"}


def test_a_purpose_no_offer_allows_cannot_be_proposed(space: LocalSpace) -> None:
    offer_id = space.publish(space.factories[0], "--purpose", "research")
    others = [space.publish(f, "--purpose", "research") for f in space.factories[1:]]
    with space.enroll_buyer() as buyer, pytest.raises(GatewayError) as refused:
        buyer.propose_contract([offer_id, *others], "insurance_underwriting")
    assert refused.value.status == 422 and refused.value.code == "purpose_not_allowed"


def _registered_keys(space: LocalSpace, contract: Contract) -> dict[str, bytes]:
    import base64

    from coordinator.store.database import Store, make_engine

    store = Store(make_engine(None, space.coordinator_dir))
    keys = {p: base64.b64decode(k) for p, k in store.signing_keys(list(contract.parties)).items()}
    store.engine.dispose()
    return keys


def _operator_public_key(space: LocalSpace) -> bytes:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    raw = (space.coordinator_dir / "operator.key").read_bytes()
    return Ed25519PrivateKey.from_private_bytes(raw).public_key().public_bytes_raw()


def test_revocation_cancels_a_running_job(space: LocalSpace) -> None:
    from coordinator.localspace.harness import terminate
    from node.journal import Journal
    from tests.support.faulty_node import FAULT_ENV, Fault

    slow = space.factories[0]
    with space.enroll_buyer() as buyer:
        offer_ids = [space.publish(f, "--purpose", "quality_improvement") for f in space.factories]
        contract_id = buyer.propose_contract(offer_ids, "quality_improvement")["contract_id"]
        _approve_when_proposed(space, contract_id)
        buyer.wait_contract(contract_id, {"OFFERED"})
        buyer.contract_move(contract_id, "agree")
        deadline = time.monotonic() + 20
        while len(buyer.contract(contract_id)["signatures"]) < 3:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        buyer.sign_contract(contract_id)
        buyer.wait_contract(contract_id, {"FINALIZED"})
        terminate(slow.process)
        space.wait_for_nodes_exactly(2)
        space.start_node(slow, {FAULT_ENV: Fault.SLOW_MASKED_INPUT.value}, module="tests.support.faulty_node")
        space.wait_for_nodes(3)
        job_id = buyer.submit_job({"kind": "mean", "dataset": "steel_production", "field": "scrap_ratio",
                                   "contract_id": contract_id})["id"]  # fmt: skip
        while buyer.job(job_id)["state"] != "RUNNING":
            time.sleep(0.05)
        time.sleep(1.0)  # the nodes are in the protocol; the slow one has not sent its masked input
        with space.client(buyer.token) as keyless, pytest.raises(GatewayError) as unsigned:
            keyless.contract_move(contract_id, "revoke")  # a revocation is the party's signed statement
        assert (unsigned.value.status, unsigned.value.code) == (422, "missing_statement")
        buyer.contract_move(contract_id, "revoke")
        revoked = Contract.model_validate(buyer.contract(contract_id))
        [statement] = revoked.statements
        assert statement.statement.party == buyer.participant_id
        verify_statement(revoked, statement, _operator_public_key(space))
        job = buyer.wait(job_id, timeout=30)
        assert job["state"] == "CANCELLED" and "revoked" in (job["reason"] or "")
        with pytest.raises(GatewayError) as no_result:
            buyer.result(job_id)
        assert no_result.value.status == 409
    deadline = time.monotonic() + 20
    for factory in space.factories[1:]:
        journal = Journal(factory.directory / "journal.jsonl")
        stops = ("job_finished", job_id, "ABORTED")
        while stops not in {(e["event"], e.get("job_id"), e.get("state")) for e in journal.entries()}:
            assert time.monotonic() < deadline, f"{factory.participant_id} did not log the stop"
            time.sleep(0.2)
        kept = ("contract_statement_kept", contract_id)  # forwarded with the notice, verified, kept
        while kept not in {(e["event"], e.get("contract_id")) for e in journal.entries()}:
            assert time.monotonic() < deadline, f"{factory.participant_id} did not keep the revocation"
            time.sleep(0.2)
    terminate(slow.process)
    space.start_node(slow)
    space.wait_for_nodes(3)


def _approve_when_proposed(space: LocalSpace, contract_id: str) -> None:
    deadline = time.monotonic() + 20
    while _node_cli(space, 2, "contracts", "approve", contract_id).returncode != 0:
        assert time.monotonic() < deadline
        time.sleep(0.2)
