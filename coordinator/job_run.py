"""One run of a joint-analysis job: tickets, the four secure-aggregation rounds, and finalisation.

The coordinator only ever holds masked vectors and the final sum. A result is released only when at
least ``min_participants`` nodes contributed; otherwise the run fails and nothing partial is kept.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from contracts.analysis import finalize
from contracts.exceptions import ContractsError
from contracts.jobspec import JobSpec, vector_layout
from contracts.tickets import JobTicket, sign_ticket
from coordinator import serde
from coordinator.context import CoordinatorContext
from coordinator.datasets import dataset_schema
from coordinator.sessions import Disconnected, InboxItem
from coordinator.tables import Job
from proto.dataspace.v1 import node_service_pb2 as pb
from protocols import fixedpoint
from protocols.exceptions import InvalidMessageError, StageError, ThresholdError
from protocols.secagg import server
from protocols.secagg.config import SecAggConfig
from protocols.secagg.messages import AdvertiseKeys, MaskedInput, ShareKeys, UnmaskResponse

log = logging.getLogger(__name__)
RING_BITS: fixedpoint.RingBits = 64
TICKET_LIFETIME = timedelta(minutes=10)


class JobFailed(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Round:
    name: str
    message_type: type
    receive: Callable[[server.ServerState, Any], server.ServerState]
    close: Callable[[server.ServerState], tuple[server.ServerState, Any]]


ROUNDS = (
    Round("advertise keys", AdvertiseKeys, server.receive_keys, server.close_keys),
    Round("share keys", ShareKeys, server.receive_shares, server.close_shares),
    Round("masked input", MaskedInput, server.receive_masked_input, server.close_masked_inputs),
    Round("unmasking", UnmaskResponse, server.receive_unmasking, server.close_unmasking),
)


def threshold_for(n: int, min_participants: int) -> int:
    """Shares needed to unmask: a majority of the participants, and never fewer than the release floor."""
    return min(n, max(min_participants, n // 2 + 1))


@dataclass
class RunOutcome:
    result: dict[str, Any]
    contributors: int
    refusals: dict[str, str] = field(default_factory=dict)


class JobRun:
    def __init__(self, ctx: CoordinatorContext, job: Job) -> None:
        self.ctx, self.job = ctx, job
        self.spec = JobSpec.model_validate_json(job.spec_json)
        self.run_id = "run_" + uuid.uuid4().hex
        self.refusals: dict[str, str] = {}

    async def execute(self) -> RunOutcome:
        schema, holders = dataset_schema(self.ctx.store, self.spec.dataset)
        try:
            layout = vector_layout(self.spec, schema)
        except ContractsError as exc:
            raise JobFailed("invalid_spec", str(exc)) from exc
        participants = await self._gather(holders)
        config = SecAggConfig(
            session_id=secrets.token_bytes(16),
            participants=tuple(participants),
            threshold=threshold_for(len(participants), self.spec.min_participants),
            ring_bits=RING_BITS,
            vector_length=layout.length,
        )
        inbox = self.ctx.sessions.open_run(self.run_id)
        try:
            self._send_tickets(config)
            aggregate, contributors = await self._secure_aggregation(config, inbox)
        finally:
            self.ctx.sessions.close_run(self.run_id)
        if contributors < self.spec.min_participants:
            raise JobFailed(
                "too_few_contributors",
                f"only {contributors} nodes contributed; the job needs {self.spec.min_participants}",
            )
        values = fixedpoint.decode(aggregate, scale_bits=self.spec.precision_bits, ring_bits=RING_BITS)
        try:
            result = finalize(self.spec, schema, values, contributors)
        except ContractsError as exc:
            raise JobFailed("analysis_failed", str(exc)) from exc
        result["fixed_point_max_abs_error"] = fixedpoint.max_abs_error(contributors, self.spec.precision_bits)
        return RunOutcome(result, contributors, self.refusals)

    def notify_finished(self, participants: list[str], state: str) -> None:
        for pid in participants:
            self._send(pid, pb.ToNode(finished=pb.JobFinished(state=state)))

    async def _gather(self, holders: list[str]) -> list[str]:
        """Connected holders of the dataset; wait a little for late nodes before giving up."""
        deadline = time.monotonic() + self.ctx.settings.participant_wait_s
        while True:
            connected = [pid for pid in holders if self.ctx.sessions.get(pid) is not None]
            if len(connected) >= self.spec.min_participants:
                return connected
            if time.monotonic() >= deadline:
                raise JobFailed(
                    "not_enough_nodes",
                    f"{len(connected)} node(s) holding {self.spec.dataset!r} are connected; the job needs "
                    f"{self.spec.min_participants}",
                )
            await asyncio.sleep(0.2)

    def _send_tickets(self, config: SecAggConfig) -> None:
        now = self.ctx.clock()
        for pid in config.participants:
            ticket = JobTicket(
                job_id=self.job.job_id,
                run_id=self.run_id,
                buyer=self.job.buyer_id,
                spec=self.spec.model_dump(mode="json"),
                participants=config.participants,
                threshold=config.threshold,
                ring_bits=config.ring_bits,
                scale_bits=self.spec.precision_bits,
                vector_length=config.vector_length,
                session_id=base64.b64encode(config.session_id).decode(),
                nonce=secrets.token_urlsafe(16),
                issued_at=now,
                expires_at=now + TICKET_LIFETIME,
            )
            payload, signature = sign_ticket(ticket, self.ctx.keys.ticket_key)
            self._send(pid, pb.ToNode(ticket=pb.JobTicket(payload=payload, signature=signature)))

    async def _secure_aggregation(
        self, config: SecAggConfig, inbox: asyncio.Queue[InboxItem]
    ) -> tuple[fixedpoint.RingArray, int]:
        state = server.new_server(config)
        expected = set(config.participants)
        contributors = 0
        for round_ in ROUNDS:
            for pid, message in await self._collect(inbox, expected, round_):
                try:
                    state = round_.receive(state, message)
                except (InvalidMessageError, StageError) as exc:
                    log.warning(
                        "job %s: dropping %s's %s message: %s", self.job.job_id, pid, round_.name, exc
                    )
            try:
                state, outgoing = round_.close(state)
            except ThresholdError as exc:
                raise JobFailed("too_many_dropouts", self._dropout_reason(round_, exc)) from exc
            if round_ is ROUNDS[2]:
                contributors = len(outgoing)
            if isinstance(outgoing, dict):
                for pid, message in outgoing.items():
                    self._send(pid, pb.ToNode(secagg=serde.encode_server(message)))
                expected = set(outgoing)
            else:
                return outgoing, contributors
        raise AssertionError("the last round returns the aggregate")

    async def _collect(
        self, inbox: asyncio.Queue[InboxItem], expected: set[str], round_: Round
    ) -> list[tuple[str, Any]]:
        """This round's messages from the expected nodes, until all answered, dropped or the deadline."""
        waiting, received = set(expected), []
        deadline = time.monotonic() + self.ctx.settings.round_timeout_s
        while waiting and (remaining := deadline - time.monotonic()) > 0:
            try:
                item = await asyncio.wait_for(inbox.get(), remaining)
            except TimeoutError:
                break
            if isinstance(item, Disconnected):
                waiting.discard(item.participant_id)
                continue
            pid, message = item
            if pid not in waiting:
                continue
            if message.WhichOneof("body") == "refusal":
                self.refusals[pid] = f"{message.refusal.code}: {message.refusal.message}"
                waiting.discard(pid)
                continue
            decoded = serde.decode_client(message.secagg, pid)
            if isinstance(decoded, round_.message_type):
                received.append((pid, decoded))
                waiting.discard(pid)
        if waiting:
            log.info("job %s: no %s from %s", self.job.job_id, round_.name, sorted(waiting))
        return received

    def _dropout_reason(self, round_: Round, exc: ThresholdError) -> str:
        reason = f"too few nodes remained in the {round_.name} round ({exc})"
        if self.refusals:
            reason += "; refusals: " + "; ".join(
                f"{pid}: {why}" for pid, why in sorted(self.refusals.items())
            )
        return reason

    def _send(self, pid: str, body: pb.ToNode) -> None:
        body.job_id, body.run_id = self.job.job_id, self.run_id
        self.ctx.sessions.send(pid, pb.CoordinatorMessage(job=body))
