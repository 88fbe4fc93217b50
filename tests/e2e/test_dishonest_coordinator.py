"""A deliberately dishonest coordinator against real node processes: every deviation is refused by the nodes.

The coordinator here is the real one with one deviation installed (tests/support/rogue_coordinator.py):
it breaks the contract's terms, forges or replays tickets and statements, or attacks secure aggregation
(substituted keys, a participant of its own, split survivor sets, a low threshold). Each node notices on
its own and journals why; what the coordinator received (recorded on the wire) holds nothing that would
unmask any node's input.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from coordinator.client.gateway import GatewayClient
from coordinator.localspace.harness import LocalSpace
from node.journal import Journal
from proto.dataspace.v1 import node_service_pb2 as pb
from proto.dataspace.v1 import secagg_pb2 as spb
from tests.support.rogue_coordinator import ROGUE_FILE_ENV, Rogue

from .conftest import start_space

pytestmark = pytest.mark.e2e
MEAN_TEMP = {"kind": "mean", "dataset": "steel_production", "field": "furnace_temp_c"}


@pytest.fixture(scope="module")
def space(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSpace]:
    workdir = tmp_path_factory.mktemp("rogue")
    env = {"DATASPACE_ROUND_TIMEOUT_S": "10", "DATASPACE_WIRE_RECORD_DIR": str(workdir / "wire"),
           ROGUE_FILE_ENV: str(workdir / "rogue.txt")}  # fmt: skip
    local = start_space(workdir, 3, env, coordinator_module="tests.support.rogue_coordinator")
    try:
        yield local
    finally:
        local.stop()


def _turn_rogue(space: LocalSpace, fault: Rogue) -> None:
    """The coordinator deviates as ``fault`` says from its next use of the behaviour on."""
    Path(space.extra_env[ROGUE_FILE_ENV]).write_text(fault.value, encoding="utf-8")


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
        (Rogue.SKIP_POLICY, ("--kind", "mean"), {**MEAN_TEMP, "kind": "variance"}, "job_kind"),
        (Rogue.FORGE_TICKET, (), MEAN_TEMP, "bad_signature"),
        (Rogue.EXPIRED_TICKET, (), MEAN_TEMP, "ticket_expired"),
        (Rogue.STRIP_SIGNATURES, (), MEAN_TEMP, "signature"),
        (Rogue.SWAP_BUYER_SIGNATURE, (), MEAN_TEMP, "signature"),
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
    space: LocalSpace, fault: Rogue, publish: tuple[str, ...], spec: dict[str, Any], code: str
) -> None:
    _turn_rogue(space, Rogue.HONEST)
    with space.enroll_buyer() as buyer:
        contract_id = _contract(space, buyer, *publish)
        _turn_rogue(space, fault)
        _assert_every_node_refused(space, _run(buyer, contract_id, spec), code)


def test_node_refuses_a_replayed_nonce(space: LocalSpace) -> None:
    _turn_rogue(space, Rogue.HONEST)
    with space.enroll_buyer() as buyer:
        contract_id = _contract(space, buyer)
        _turn_rogue(space, Rogue.REPLAY_TICKET)
        _run(buyer, contract_id, MEAN_TEMP)  # the nonce's first use may pass: no node has seen it
        _assert_every_node_refused(space, _run(buyer, contract_id, MEAN_TEMP), "nonce_reused")


def test_node_refuses_jobs_under_a_contract_it_revoked(space: LocalSpace) -> None:
    _turn_rogue(space, Rogue.HONEST)
    with space.enroll_buyer() as buyer:
        contract_id = _contract(space, buyer)
        _turn_rogue(space, Rogue.IGNORE_REVOCATION)
        for factory in space.factories:
            subprocess.run([sys.executable, "-m", "node", "contracts", "revoke", contract_id,
                            "--dir", str(factory.directory)], check=True, capture_output=True)  # fmt: skip
        _assert_every_node_refused(space, _run(buyer, contract_id, MEAN_TEMP), "contract_state")


def test_node_refuses_a_ticket_past_the_query_count_by_its_own_ledger(space: LocalSpace) -> None:
    """The coordinator skips its budget check and sends a sixth job under max_jobs = 5."""
    _turn_rogue(space, Rogue.HONEST)
    with space.enroll_buyer() as buyer:
        contract_id = _contract(space, buyer, "--max-jobs", "5")
        _turn_rogue(space, Rogue.SKIP_POLICY)
        for _ in range(5):
            assert _run(buyer, contract_id, MEAN_TEMP)["state"] == "SUCCEEDED"
        _assert_every_node_refused(space, _run(buyer, contract_id, MEAN_TEMP), "query_count")


def test_node_refuses_a_ticket_past_the_epsilon_budget_by_its_own_ledger(space: LocalSpace) -> None:
    _turn_rogue(space, Rogue.HONEST)
    with space.enroll_buyer() as buyer:
        contract_id = _contract(space, buyer, "--epsilon", "1.0")
        _turn_rogue(space, Rogue.SKIP_POLICY)
        assert _run(buyer, contract_id, {**MEAN_TEMP, "epsilon": 0.9})["state"] == "SUCCEEDED"
        _assert_every_node_refused(
            space, _run(buyer, contract_id, {**MEAN_TEMP, "epsilon": 0.9}), "epsilon_budget"
        )
        # A job that states no epsilon under a budget would be exact: refused as well.
        _assert_every_node_refused(space, _run(buyer, contract_id, MEAN_TEMP), "epsilon_budget")


def _journal(space: LocalSpace, job_id: str, events: tuple[str, ...]) -> dict[str, list[dict[str, Any]]]:
    """Per node: its journal entries of the given kinds about this job."""
    seen: dict[str, list[dict[str, Any]]] = {}
    for factory in space.factories:
        for entry in Journal(factory.directory / "journal.jsonl").entries():
            if entry.get("job_id") == job_id and entry["event"] in events:
                seen.setdefault(factory.participant_id, []).append(entry)
    return seen


def _received(space: LocalSpace, job_id: str) -> dict[str, list[spb.SecAggClientMessage]]:
    """What the coordinator received from each node for this job: the round messages, as recorded."""
    received: dict[str, list[spb.SecAggClientMessage]] = {}
    for path in sorted((space.workdir / "wire").glob("*.bin")):
        data, offset = path.read_bytes(), 0
        while offset < len(data):
            size = int.from_bytes(data[offset : offset + 4], "little")
            message = pb.NodeMessage.FromString(data[offset + 4 : offset + 4 + size])
            offset += 4 + size
            job = message.job if message.WhichOneof("body") == "job" else None
            if job is not None and job.job_id == job_id and job.WhichOneof("body") == "secagg":
                received.setdefault(path.stem, []).append(job.secagg)
    return received


def _rounds(messages: list[spb.SecAggClientMessage]) -> set[str]:
    return {m.WhichOneof("round") or "" for m in messages}


def _attack(space: LocalSpace, rogue: Rogue) -> dict[str, Any]:
    _turn_rogue(space, Rogue.HONEST)
    with space.enroll_buyer() as buyer:
        contract_id = _contract(space, buyer)
        _turn_rogue(space, rogue)
        return _run(buyer, contract_id, MEAN_TEMP)


def test_a_substituted_key_is_refused_by_every_peer_and_nothing_is_masked(space: LocalSpace) -> None:
    """The coordinator shows the victim's peers keys it made itself, to decrypt the victim's shares."""
    job = _attack(space, Rogue.SUBSTITUTE_KEY)
    assert job["state"] == "FAILED", job
    victim, *peers = sorted(f.participant_id for f in space.factories)
    errors = _journal(space, job["id"], ("protocol_error",))
    assert sorted(errors) == peers
    for entries in errors.values():
        assert entries[0]["code"] == "InvalidMessageError" and victim in entries[0]["reason"]
    received = _received(space, job["id"])
    assert set(received) == {victim, *peers}  # keys were advertised, then the peers stopped
    for messages in received.values():
        assert _rounds(messages) <= {"advertise_keys", "encrypted_shares"}
    assert "encrypted_shares" not in _rounds([m for pid in peers for m in received[pid]])


def test_a_participant_the_log_never_registered_is_refused(space: LocalSpace) -> None:
    """A participant minted by the coordinator (and its CA) has no key registration any witness saw."""
    job = _attack(space, Rogue.FAKE_PARTICIPANT)
    _assert_every_node_refused(space, job, "unproven_peer_key")
    assert _received(space, job["id"]) == {}  # nobody computed, nobody advertised a key


def test_a_threshold_below_the_floor_is_refused_before_anything_is_computed(space: LocalSpace) -> None:
    job = _attack(space, Rogue.LOW_THRESHOLD)
    _assert_every_node_refused(space, job, "low_threshold")
    assert _received(space, job["id"]) == {}


def test_split_survivor_sets_reveal_no_key_share_of_the_victim(space: LocalSpace) -> None:
    """Told the victim dropped out, some nodes would reveal its mask key while others reveal its seed.

    Each node signed the survivor set it was shown; an unmask request for another set is refused, so
    the coordinator holds the victim's masked input but never enough to remove its masks.
    """
    job = _attack(space, Rogue.SPLIT_SURVIVORS)
    assert job["state"] == "FAILED", job
    victim, *peers = sorted(f.participant_id for f in space.factories)
    told_dropped = peers[len(peers) // 2 :]
    errors = _journal(space, job["id"], ("protocol_error",))
    assert sorted(errors) == told_dropped
    received = _received(space, job["id"])
    assert all("masked_input" in _rounds(received[pid]) for pid in (victim, *peers))
    unmasking = [m.unmask_shares for pid in received for m in received[pid] if m.HasField("unmask_shares")]
    assert all(victim not in shares.key_shares for shares in unmasking)
    seed_shares_of_victim = sum(victim in shares.seed_shares for shares in unmasking)
    assert seed_shares_of_victim < len(space.factories)  # the threshold is 3 of 3: never reached


def test_a_forged_revocation_is_refused_and_the_contract_stands(space: LocalSpace) -> None:
    """A revocation "by the buyer" the buyer never signed changes nothing a node acts on."""
    job = _attack(space, Rogue.FORGE_REVOCATION)
    assert job["state"] == "SUCCEEDED", job
    for factory in space.factories:
        entries = Journal(factory.directory / "journal.jsonl").entries()
        about = [e for e in entries if e.get("contract_id") == job["contract_id"]]
        refused = [e for e in about if e["event"] == "contract_statement_refused"]
        assert any(e["action"] == "revoke" for e in refused), factory.participant_id
        assert not any(e["event"] == "contract_statement_kept" for e in about)


def test_a_revocation_replayed_from_another_contract_is_refused(space: LocalSpace) -> None:
    _turn_rogue(space, Rogue.HONEST)
    with space.enroll_buyer() as buyer:
        ended = _contract(space, buyer)
        buyer.contract_move(ended, "revoke")
        contract_id = _contract(space, buyer)
        _turn_rogue(space, Rogue.REPLAY_REVOCATION)
        job = _run(buyer, contract_id, MEAN_TEMP)
    assert job["state"] == "SUCCEEDED", job
    for factory in space.factories:
        entries = Journal(factory.directory / "journal.jsonl").entries()
        replayed = [
            e
            for e in entries
            if e["event"] == "contract_statement_refused" and e["contract_id"] == contract_id
        ]
        # The rogue replays every statement of every other contract, among them the buyer's revocation.
        assert {e["about"] for e in replayed} >= {ended}, factory.participant_id
        assert all(e["about"] != contract_id for e in replayed)
