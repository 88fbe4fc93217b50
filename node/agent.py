"""The node agent: dials out to the coordinator, holds one mutual-TLS stream, heartbeats, reconnects.

Factory networks usually allow outbound connections only, so the node is always the one that connects.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import signal
from datetime import UTC, datetime
from pathlib import Path

import grpc

from contracts.agreement import Contract
from contracts.negotiation import Event as Move
from contracts.signing import sign_terms
from node import serde
from node.config import load_config
from node.contract_book import ContractBook, Decision, next_move
from node.exceptions import JobRefused
from node.faults import configured_fault
from node.identity import NodeIdentity
from node.job_runner import NodeContext, RunState, advance, start_run
from node.journal import Journal, NonceLedger
from node.witness import ForkDetected, NotVerifiable, Witness
from proto.dataspace.v1 import node_service_pb2 as pb
from proto.dataspace.v1 import node_service_pb2_grpc as pb_grpc
from protocols.exceptions import ProtocolError
from protocols.tlog.note import NoteVerifier

log = logging.getLogger(__name__)
AGENT_VERSION = "0.1.0"
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.keepalive_time_ms", 20_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
]


def utc_now() -> datetime:
    return datetime.now(UTC)


class Backoff:
    """Exponential backoff with full jitter; the random source is a parameter."""

    def __init__(self, initial: float = 0.5, maximum: float = 30.0, rng: random.Random | None = None) -> None:
        self.initial, self.maximum, self.rng = initial, maximum, rng or random.Random()
        self.attempt = 0

    def next_delay(self) -> float:
        ceiling = min(self.maximum, self.initial * 2**self.attempt)
        self.attempt += 1
        return self.rng.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        self.attempt = 0


def describe_rpc_error(error: grpc.aio.AioRpcError) -> str:
    """Turn TLS and authorisation failures into something an operator can act on."""
    details = error.details() or ""
    if error.code() == grpc.StatusCode.UNAVAILABLE and (
        "handshake" in details.lower() or "ssl" in details.lower()
    ):
        return (
            f"TLS handshake with the coordinator failed (certificate not accepted or not trusted): {details}"
        )
    return f"{error.code().name}: {details}"


class NodeAgent:
    def __init__(self, ctx: NodeContext, heartbeat_s: float = 5.0) -> None:
        self.ctx = ctx
        self.heartbeat_s = heartbeat_s
        self.runs: dict[str, RunState] = {}
        self.moves_sent: set[tuple[str, str, Move]] = set()

    async def run_forever(self, stop: asyncio.Event) -> None:
        backoff = Backoff()
        while not stop.is_set():
            try:
                await self._session(stop, backoff)
            except grpc.aio.AioRpcError as error:
                message = describe_rpc_error(error)
                log.warning("connection to coordinator lost: %s", message)
                self.ctx.journal.record(self.ctx.clock(), "disconnected", reason=message)
            delay = backoff.next_delay()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)

    async def _session(self, stop: asyncio.Event, backoff: Backoff) -> None:
        identity = self.ctx.identity
        credentials = grpc.ssl_channel_credentials(identity.ca_pem, identity.key_pem, identity.cert_pem)
        async with grpc.aio.secure_channel(
            identity.grpc_target, credentials, options=CHANNEL_OPTIONS
        ) as channel:
            outbox: asyncio.Queue[pb.NodeMessage | None] = asyncio.Queue()
            outbox.put_nowait(pb.NodeMessage(hello=self._hello()))
            call = pb_grpc.NodeServiceStub(channel).Connect()
            writer = asyncio.create_task(_pump(outbox, call))
            heartbeat = asyncio.create_task(self._heartbeat(outbox))
            decisions = asyncio.create_task(self._watch_decisions(outbox))
            stopper = asyncio.create_task(_cancel_on(stop, call))
            try:
                async for message in call:
                    kind = message.WhichOneof("body")
                    if kind == "welcome":
                        backoff.reset()
                        self.heartbeat_s = max(0.5, message.welcome.heartbeat_interval_ms / 1000)
                        log.info("connected to coordinator as %s", message.welcome.participant_id)
                        self.ctx.journal.record(self.ctx.clock(), "connected", target=identity.grpc_target)
                    elif kind == "job":
                        await self._on_job(message.job, outbox)
                    elif kind == "checkpoint":
                        self._on_checkpoint(message.checkpoint, outbox)
                    elif kind == "contract":
                        self._on_contract(
                            Contract.model_validate_json(message.contract.contract_json), outbox
                        )
            except asyncio.CancelledError:
                pass
            finally:
                heartbeat.cancel()
                decisions.cancel()
                stopper.cancel()
                writer.cancel()

    def _hello(self) -> pb.Hello:
        datasets = [
            pb.DatasetInfo(name=ds.name, schema_json=ds.schema.model_dump_json())
            for ds in self.ctx.config.datasets
        ]
        witness = self.ctx.witness
        return pb.Hello(
            agent_version=AGENT_VERSION,
            datasets=datasets,
            witness_key=witness.verifier_key,
            witnessed_size=witness.size,
        )

    def _on_contract(self, contract: Contract, outbox: asyncio.Queue[pb.NodeMessage | None]) -> None:
        """Record a proposal or update; approve by local rule or leave it for a person; then move."""
        me = self.ctx.identity.participant_id
        if me not in contract.provider_ids:
            return
        default = (
            Decision.APPROVED if self.ctx.config.contracts.approves(contract.buyer) else Decision.PENDING
        )
        known = self.ctx.contracts.decision(contract.contract_id) is not None
        decision = self.ctx.contracts.record(contract, default)
        if not known:
            proposed = {"buyer": contract.buyer, "purpose": contract.purpose, "decision": decision}
            self.ctx.journal.record(
                self.ctx.clock(), "contract_proposed", contract_id=contract.contract_id, **proposed
            )
        self._move(contract, decision, outbox)

    def _move(
        self, contract: Contract, decision: Decision, outbox: asyncio.Queue[pb.NodeMessage | None]
    ) -> None:
        me = self.ctx.identity.participant_id
        move = next_move(contract, me, decision)
        if move is None or (contract.contract_id, contract.state, move) in self.moves_sent:
            return
        self.moves_sent.add((contract.contract_id, contract.state, move))
        signature = ""
        if move is Move.SIGN:
            signed = sign_terms(contract, me, self.ctx.identity.signing_key).signature_of(me)
            signature = signed.model_dump_json() if signed else ""
        action = pb.ContractAction(
            contract_id=contract.contract_id, event=move.value, signature_json=signature
        )
        outbox.put_nowait(pb.NodeMessage(contract_action=action))
        self.ctx.journal.record(self.ctx.clock(), f"contract_{move.value}", contract_id=contract.contract_id)

    async def _watch_decisions(self, outbox: asyncio.Queue[pb.NodeMessage | None]) -> None:
        """A person approves or rejects from the command line; act on it while connected."""
        while True:
            await asyncio.sleep(1.0)
            for contract, decision in self.ctx.contracts.entries():
                self._move(contract, decision, outbox)

    def _on_checkpoint(
        self, notice: pb.CheckpointNotice, outbox: asyncio.Queue[pb.NodeMessage | None]
    ) -> None:
        """Cosign a checkpoint that extends what we witnessed; raise the alarm on a fork."""
        now = self.ctx.clock()
        try:
            size, line = self.ctx.witness.witness(
                notice.note, notice.from_size, list(notice.consistency_proof), now
            )
        except NotVerifiable as skipped:
            log.info("checkpoint not checked: %s", skipped)
            return
        except ForkDetected as fork:
            log.error("AUDIT LOG FORK DETECTED: %s", fork)
            self.ctx.journal.record(
                now, "log_fork_detected", reason=str(fork), witnessed=self.ctx.witness.size
            )
            outbox.put_nowait(pb.NodeMessage(witness_alarm=pb.WitnessAlarm(size=self.ctx.witness.size,
                                                                           reason=str(fork))))  # fmt: skip
            return
        self.ctx.journal.record(now, "checkpoint_cosigned", size=size)
        outbox.put_nowait(pb.NodeMessage(cosignature=pb.Cosignature(size=size, signature_line=line)))

    async def _heartbeat(self, outbox: asyncio.Queue[pb.NodeMessage | None]) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_s)
            sent_at = int(self.ctx.clock().timestamp() * 1000)
            outbox.put_nowait(pb.NodeMessage(heartbeat=pb.Heartbeat(sent_at_ms=sent_at)))

    async def _on_job(self, message: pb.ToNode, outbox: asyncio.Queue[pb.NodeMessage | None]) -> None:
        kind = message.WhichOneof("body")
        reply: serde.ClientMessage | None = None
        try:
            if kind == "ticket":
                run, reply = await start_run(self.ctx, message.ticket.payload, message.ticket.signature)
                self.runs[message.run_id] = run
            elif kind == "secagg" and message.run_id in self.runs:
                decoded = serde.decode_server(message.secagg, self.ctx.identity.participant_id)
                reply = advance(self.ctx, self.runs[message.run_id], decoded)
            elif kind in ("abort", "finished"):
                self._finish(message)
        except JobRefused as refusal:
            log.warning("refused job %s: %s", message.job_id, refusal)
            self.ctx.journal.record(
                self.ctx.clock(), "job_refused", job_id=message.job_id, code=refusal.code, reason=str(refusal)
            )
            outbox.put_nowait(
                _from_node(message, refusal=pb.JobRefusal(code=refusal.code, message=str(refusal)))
            )
        except ProtocolError as error:
            log.warning("protocol error in job %s: %s", message.job_id, error)
            self.ctx.journal.record(
                self.ctx.clock(), "protocol_error", job_id=message.job_id, reason=str(error)
            )
            self.runs.pop(message.run_id, None)
            code = type(error).__name__
            outbox.put_nowait(_from_node(message, refusal=pb.JobRefusal(code=code, message=str(error))))
        if reply is not None:
            outbox.put_nowait(_from_node(message, secagg=serde.encode_client(reply)))

    def _finish(self, message: pb.ToNode) -> None:
        run = self.runs.pop(message.run_id, None)
        state = message.finished.state if message.WhichOneof("body") == "finished" else "ABORTED"
        reason = message.abort.reason if message.WhichOneof("body") == "abort" else None
        if run is not None:
            self.ctx.journal.record(
                self.ctx.clock(), "job_finished", job_id=message.job_id, state=state, reason=reason
            )


def _from_node(message: pb.ToNode, **body: object) -> pb.NodeMessage:
    return pb.NodeMessage(job=pb.FromNode(job_id=message.job_id, run_id=message.run_id, **body))  # type: ignore[arg-type]


async def _pump(outbox: asyncio.Queue[pb.NodeMessage | None], call: grpc.aio.StreamStreamCall) -> None:
    """Write queued messages; a failed write ends the pump and the reader reports the call's status.

    Explicit writes (rather than a request iterator) keep the server's status authoritative: a write
    racing with the server closing the stream must not turn a clear refusal into an internal error.
    """
    while (message := await outbox.get()) is not None:
        try:
            await call.write(message)
        except (grpc.aio.AioRpcError, asyncio.InvalidStateError):
            return


async def _cancel_on(stop: asyncio.Event, call: grpc.aio.StreamStreamCall) -> None:
    await stop.wait()
    call.cancel()


async def run_agent(node_dir: Path) -> None:
    """Entry point of ``dataspace-node run``: run until SIGINT/SIGTERM."""
    config = load_config(node_dir / "node.toml")
    identity = NodeIdentity.load(node_dir)
    ctx = NodeContext(
        config=config,
        identity=identity,
        journal=Journal(node_dir / "journal.jsonl"),
        nonces=NonceLedger(node_dir / "identity" / "nonces.txt"),
        clock=utc_now,
        witness=Witness(
            node_dir / "identity", identity.participant_id, NoteVerifier.from_key_string(identity.log_key)
        ),
        contracts=ContractBook(node_dir / "contracts"),
        fault=configured_fault(),
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    log.info("node %s dialling %s", identity.participant_id, identity.grpc_target)
    await NodeAgent(ctx).run_forever(stop)
