"""The node agent: dials out to the coordinator, holds one mutual-TLS stream, heartbeats, reconnects.

Factory networks usually allow outbound connections only, so the node is always the one that connects. Each
message is handed, by its kind, to a handler in ``node.handlers``. At start the node checks its datasets'
files and offers only the usable ones; after that nothing but a stop signal ends it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import signal
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import grpc

from node.budget import BudgetLedger
from node.config import DatasetConfig, load_config
from node.contract_book import ContractBook
from node.datacheck import offerable
from node.exceptions import CertificateRefusedError, ConfigError, NoUsableDatasetError
from node.handlers import Outbox
from node.handlers.jobs import JobHandler
from node.handlers.negotiation import NegotiationHandler
from node.handlers.witnessing import WitnessingHandler
from node.identity import IDENTITY_DIR, NodeIdentity
from node.job_runner import NodeContext
from node.journal import Journal, NonceLedger
from node.witness import Witness
from proto.dataspace.v1 import node_service_pb2 as pb
from proto.dataspace.v1 import node_service_pb2_grpc as pb_grpc
from protocols.tlog.note import NoteVerifier

log = logging.getLogger(__name__)
Handler = Callable[[pb.CoordinatorMessage, Outbox], Awaitable[None]]
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


RECONNECT_MAX_ENV: Final = "DATASPACE_RECONNECT_MAX_S"
DEFAULT_RECONNECT_MAX_S: Final = 30.0


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
    def __init__(
        self,
        ctx: NodeContext,
        heartbeat_s: float = 5.0,
        datasets: Sequence[DatasetConfig] | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        self.ctx = ctx
        self.heartbeat_s = heartbeat_s
        self.datasets = list(ctx.config.datasets if datasets is None else datasets)  # those the Hello offers
        self.backoff = backoff or Backoff()
        self.jobs = JobHandler(ctx)
        self.negotiation = NegotiationHandler(ctx)
        # A kind without a handler (the coordinator's heartbeat) is ignored.
        self.handlers: dict[str, Handler] = {
            "welcome": self._on_welcome,
            "job": self.jobs.handle,
            "checkpoint": WitnessingHandler(ctx).handle,
            "contract": self.negotiation.handle,
        }

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Hold a session, dialling again after each loss; raise ``CertificateRefusedError`` when futile."""
        while not stop.is_set():
            try:
                await self._session(stop)
            except grpc.aio.AioRpcError as error:
                message = describe_rpc_error(error)
                self.ctx.journal.record(self.ctx.clock(), "disconnected", reason=message)
                if error.code() == grpc.StatusCode.PERMISSION_DENIED:
                    raise CertificateRefusedError(
                        f"the coordinator refuses this node's certificate ({error.details()}); enroll again "
                        "with a new token from the operator: dataspace-node enroll --dir DIR --token T"
                    ) from None
                log.warning("connection to coordinator lost: %s", message)
            except Exception as error:  # a fault of one session ends that session, never the node
                log.exception("session with the coordinator failed")
                self.ctx.journal.record(
                    self.ctx.clock(), "session_error", error=type(error).__name__, reason=str(error)
                )
            delay = self.backoff.next_delay()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)

    async def _session(self, stop: asyncio.Event) -> None:
        identity = self.ctx.identity
        credentials = grpc.ssl_channel_credentials(identity.ca_pem, identity.key_pem, identity.cert_pem)
        async with grpc.aio.secure_channel(
            identity.grpc_target, credentials, options=CHANNEL_OPTIONS
        ) as channel:
            outbox: Outbox = asyncio.Queue()
            outbox.put_nowait(pb.NodeMessage(hello=self._hello()))
            call = pb_grpc.NodeServiceStub(channel).Connect()
            writer = asyncio.create_task(_pump(outbox, call))
            heartbeat = asyncio.create_task(self._heartbeat(outbox))
            decisions = asyncio.create_task(self.negotiation.watch_decisions(outbox))
            stopper = asyncio.create_task(_cancel_on(stop, call))
            try:
                async for message in call:
                    kind = message.WhichOneof("body")
                    handler = self.handlers.get(kind) if kind is not None else None
                    if handler is not None:
                        await handler(message, outbox)
            except asyncio.CancelledError:
                pass
            finally:
                heartbeat.cancel()
                decisions.cancel()
                stopper.cancel()
                writer.cancel()

    async def _on_welcome(self, message: pb.CoordinatorMessage, outbox: Outbox) -> None:
        self.backoff.reset()
        self.heartbeat_s = max(0.5, message.welcome.heartbeat_interval_ms / 1000)
        log.info("connected to coordinator as %s", message.welcome.participant_id)
        self.ctx.journal.record(self.ctx.clock(), "connected", target=self.ctx.identity.grpc_target)

    def _hello(self) -> pb.Hello:
        datasets = [
            pb.DatasetInfo(name=ds.name, schema_json=ds.schema.model_dump_json()) for ds in self.datasets
        ]
        witness = self.ctx.witness
        return pb.Hello(
            agent_version=AGENT_VERSION,
            datasets=datasets,
            witness_key=witness.verifier_key,
            witnessed_size=witness.size,
        )

    async def _heartbeat(self, outbox: Outbox) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_s)
            sent_at = int(self.ctx.clock().timestamp() * 1000)
            outbox.put_nowait(pb.NodeMessage(heartbeat=pb.Heartbeat(sent_at_ms=sent_at)))


async def _pump(outbox: Outbox, call: grpc.aio.StreamStreamCall) -> None:
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
        nonces=NonceLedger(node_dir / IDENTITY_DIR / "nonces.txt"),
        clock=utc_now,
        witness=Witness(
            node_dir / IDENTITY_DIR, identity.participant_id, NoteVerifier.from_key_string(identity.log_key)
        ),
        contracts=ContractBook(node_dir / "contracts"),
        ledger=BudgetLedger(node_dir / IDENTITY_DIR / "budget.jsonl"),
        identity_dir=node_dir / IDENTITY_DIR,
    )
    datasets = usable_datasets(ctx)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    log.info("node %s dialling %s", identity.participant_id, identity.grpc_target)
    backoff = Backoff(maximum=reconnect_max_s(os.environ))
    await NodeAgent(ctx, datasets=datasets, backoff=backoff).run_forever(stop)


def reconnect_max_s(env: Mapping[str, str]) -> float:
    """The longest wait between two dials, from ``DATASPACE_RECONNECT_MAX_S`` (30 s by default).

    After a coordinator restart every node dials again within this long of it coming back; a site with
    hundreds of nodes keeps it high so they do not all dial at once.
    """
    raw = env.get(RECONNECT_MAX_ENV, "")
    try:
        value = float(raw) if raw else DEFAULT_RECONNECT_MAX_S
    except ValueError:
        raise ConfigError(f"{RECONNECT_MAX_ENV} must be a number of seconds, not {raw!r}") from None
    if not 0.5 <= value <= 3600:
        raise ConfigError(f"{RECONNECT_MAX_ENV} must lie between 0.5 and 3600 seconds, not {raw}")
    return value


def usable_datasets(ctx: NodeContext) -> list[DatasetConfig]:
    """The datasets whose files pass ``dataspace-node check``; each other one is logged and journalled.

    Raises ``NoUsableDatasetError`` when datasets are configured and none is usable: such a node would
    only refuse jobs. A node configured without datasets still runs (it witnesses and negotiates).
    """
    usable, refused = offerable(ctx.config.datasets, ctx.data)
    for report in refused:
        problems = [{"code": p.code, "message": p.message} for p in report.problems]
        log.error("dataset %s is not offered: %s", report.name, "; ".join(p.message for p in report.problems))
        ctx.journal.record(ctx.clock(), "dataset_refused", dataset=report.name, problems=problems)
    if refused and not usable:
        names = ", ".join(report.name for report in refused)
        raise NoUsableDatasetError(
            f"no dataset is usable ({names}): run `dataspace-node check` for what is wrong with each file"
        )
    return usable
