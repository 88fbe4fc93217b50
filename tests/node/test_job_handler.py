"""The job handler never lets a message end the node: each failure is journalled and refused with a code.

The coordinator plays the attacker here: tickets it would not send (the gateway refuses such filters at the
edge) are built and signed in-process with the ticket key the node pinned.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from contracts.schema import DatasetSchema
from contracts.tickets import JobTicket
from node import job_runner
from node.config import DatasetConfig
from node.handlers import Outbox
from node.handlers import jobs as jobs_module
from node.handlers.jobs import JobHandler
from node.job_runner import NodeContext, RunState
from proto.dataspace.v1 import node_service_pb2 as pb
from proto.dataspace.v1 import secagg_pb2 as spb
from tests.merkle_reference import registry

from .conftest import ME, NOW, PEER_KEYS, PEERS, TICKET_KEY, ContextFactory

SCHEMA = DatasetSchema.model_validate(
    {"name": "plant", "fields": [{"name": "temp", "type": "number", "min": 1400, "max": 1800}]}
)
MEAN = {"kind": "mean", "dataset": "plant", "field": "temp"}


def ticket(spec: dict[str, Any], **changes: Any) -> pb.CoordinatorMessage:
    fields: dict[str, Any] = {
        "job_id": "job_1", "run_id": "run_1", "buyer": "buyer", "spec": spec, "contract": None,
        "participants": PEERS, "threshold": 3, "ring_bits": 64, "scale_bits": 16, "peer_keys": PEER_KEYS,
        "vector_length": 3, "session_id": base64.b64encode(b"s" * 16).decode(),
        "nonce": secrets.token_urlsafe(16), "issued_at": NOW, "expires_at": NOW + timedelta(minutes=10),
    } | changes  # fmt: skip
    # Signed as a rogue coordinator would: raw RFC 8785, without our encoder's refusal of unsafe numbers.
    payload = bytes(rfc8785.dumps(JobTicket(**fields).model_dump(mode="json")))
    signature = TICKET_KEY.sign(payload)
    body = pb.ToNode(job_id=fields["job_id"], run_id=fields["run_id"])
    body.ticket.CopyFrom(pb.JobTicket(payload=payload, signature=signature))
    return pb.CoordinatorMessage(job=body)


def handle(ctx: NodeContext, message: pb.CoordinatorMessage, handler: JobHandler | None = None) -> list[Any]:
    outbox: Outbox = asyncio.Queue()
    asyncio.run((handler or JobHandler(ctx)).handle(message, outbox))
    sent = []
    while not outbox.empty():
        sent.append(outbox.get_nowait())
    return sent


def refusals(sent: list[Any]) -> list[tuple[str, str]]:
    return [
        (m.job.refusal.code, m.job.refusal.message) for m in sent if m.job.WhichOneof("body") == "refusal"
    ]


def journal(ctx: NodeContext, event: str) -> list[dict[str, Any]]:
    return [e for e in ctx.journal.entries() if e["event"] == event]


def test_a_ticket_with_1e16_is_refused_not_fatal(make_context: ContextFactory) -> None:
    ctx = make_context([])
    message = ticket({**MEAN, "filters": [{"field": "temp", "op": "lt", "value": 1e16}]})
    assert b"10000000000000000" in message.job.ticket.payload  # RFC 8785 writes it as an integer > 2**53
    sent = handle(ctx, message)
    [(code, reason)] = refusals(sent)
    assert code == "malformed_ticket" and "canonical" in reason
    [entry] = journal(ctx, "job_refused")
    assert entry["code"] == "malformed_ticket" and entry["run_id"] == "run_1"


def test_the_same_ticket_without_it_passes_the_ticket_check(make_context: ContextFactory) -> None:
    """The control: the ticket is otherwise sound, refused later because it names no contract."""
    sent = handle(
        make_context([]), ticket({**MEAN, "filters": [{"field": "temp", "op": "lt", "value": 1600}]})
    )
    assert [code for code, _ in refusals(sent)] == ["no_contract"]


def test_an_unexpected_error_is_refused_as_internal_error(
    make_context: ContextFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*_args: object) -> None:
        raise RuntimeError("secret row content")

    monkeypatch.setattr(jobs_module, "start_run", broken)
    ctx = make_context([])
    sent = handle(ctx, ticket(MEAN))
    [(code, reason)] = refusals(sent)
    assert code == "internal_error" and "RuntimeError" in reason
    assert "secret row content" not in reason  # the error's text stays in the journal
    [entry] = journal(ctx, "job_error")
    assert entry["code"] == "internal_error" and "secret row content" in entry["detail"]


def test_a_malformed_round_message_refuses_the_run_and_drops_it(make_context: ContextFactory) -> None:
    ctx = make_context([])
    handler = JobHandler(ctx)
    handler.runs["run_1"] = cast(RunState, object())
    message = pb.CoordinatorMessage(
        job=pb.ToNode(job_id="job_1", run_id="run_1", secagg=spb.SecAggServerMessage())
    )
    assert [code for code, _ in refusals(handle(ctx, message, handler))] == ["malformed_message"]
    assert handler.runs == {}


def test_a_round_message_for_an_unknown_run_is_ignored(make_context: ContextFactory) -> None:
    ctx = make_context([])
    message = pb.CoordinatorMessage(
        job=pb.ToNode(job_id="job_1", run_id="run_9", secagg=spb.SecAggServerMessage())
    )
    assert handle(ctx, message) == [] and list(ctx.journal.entries()) == []


def test_a_message_without_a_run_is_only_journalled(make_context: ContextFactory) -> None:
    ctx = make_context([])
    assert handle(ctx, pb.CoordinatorMessage(job=pb.ToNode(job_id="job_1"))) == []
    [entry] = journal(ctx, "job_refused")
    assert entry["code"] == "malformed_message" and entry["run_id"] == ""


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (None, "data_missing"),
        (b"", "data_unreadable"),
        (b"temp\n1500\n15", "data_unreadable"),
        (b"temperature\n1500\n", "schema_mismatch"),
        (b"temp\n1500\n\xff\xfe\n", "data_unreadable"),
    ],
    ids=["deleted", "empty", "truncated", "renamed", "not_utf8"],
)
def test_a_broken_file_is_refused_before_the_budget_is_charged(
    make_context: ContextFactory, tmp_path: Path, content: bytes | None, code: str
) -> None:
    path = tmp_path / "plant.csv"
    if content is not None:
        path.write_bytes(content)
    ctx = make_context([DatasetConfig(name="plant", paths=[path], format="csv", schema=SCHEMA)])
    spec = job_runner.JobSpec.model_validate(MEAN)
    parsed = JobTicket.model_validate_json(ticket(MEAN).job.ticket.payload)
    with pytest.raises(job_runner.JobRefused) as refused:
        # The contract is not reached: the files are checked before anything is charged to it.
        asyncio.run(job_runner._local_statistics(ctx, parsed, spec, cast(Any, None)))
    assert refused.value.code == code and refused.value.detail
    assert str(path) not in str(refused.value) and str(refused.value).startswith("dataset 'plant': ")


def test_a_broken_contract_file_does_not_stop_the_watch(
    make_context: ContextFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from node.handlers import negotiation

    ctx = make_context([])
    (tmp_path / "contracts").mkdir(exist_ok=True)
    (tmp_path / "contracts" / "ctr_broken.json").write_text("{not json", encoding="utf-8")
    rounds = 0
    real_sleep = asyncio.sleep

    async def tick(_seconds: float) -> None:
        nonlocal rounds
        rounds += 1
        await real_sleep(0)

    monkeypatch.setattr(negotiation.asyncio, "sleep", tick)

    async def watch() -> None:
        task = asyncio.create_task(negotiation.NegotiationHandler(ctx).watch_decisions(asyncio.Queue()))
        while rounds < 5:
            await real_sleep(0)
        assert not task.done()
        task.cancel()

    asyncio.run(watch())
    assert len(journal(ctx, "contract_error")) == 1


DIAGNOSTIC = {"kind": "diagnostic_sum", "dimension": 3}


def test_a_ticket_without_proven_peer_keys_is_refused_before_anything_runs(
    make_context: ContextFactory,
) -> None:
    """Without its registration in a log this node witnessed, a peer's key could be the coordinator's."""
    ctx = make_context([])
    unproven = {pid: proof for pid, proof in PEER_KEYS.items() if pid != "other_2"}
    [(code, reason)] = refusals(handle(ctx, ticket(MEAN, peer_keys=unproven)))
    assert code == "unproven_peer_key" and "other_2" in reason
    assert journal(ctx, "job_accepted") == []


def test_a_ticket_proving_another_key_for_this_node_is_refused(make_context: ContextFactory) -> None:
    """A registration of a key this node does not hold, even one really in the log, is not this node's."""
    ctx = make_context([])
    stranger = Ed25519PrivateKey.generate().public_key().public_bytes_raw()
    size, root, proofs = registry({ME: stranger})
    ctx.witness.roots[size] = root
    [(code, reason)] = refusals(handle(ctx, ticket(MEAN, peer_keys={**PEER_KEYS, ME: proofs[ME]})))
    assert code == "unproven_peer_key" and "another signing key" in reason


@pytest.mark.parametrize(("threshold", "refused"), [(2, True), (3, False)])
def test_a_threshold_below_two_thirds_of_the_participants_is_refused(
    make_context: ContextFactory, threshold: int, refused: bool
) -> None:
    """Three participants need all three shares: with two, a coordinator with one colluder could unmask."""
    ctx = make_context([])
    sent = handle(ctx, ticket(DIAGNOSTIC, threshold=threshold))
    assert [code for code, _ in refusals(sent)] == (["low_threshold"] if refused else [])
    assert len(journal(ctx, "job_accepted")) == (0 if refused else 1)
