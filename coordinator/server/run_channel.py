"""The coordinator's side of one protocol run: tickets out, round messages in, secure aggregation driven.

It relays and aggregates only: it sees advertised public keys, encrypted share envelopes, masked vectors
and the final sum. It also measures each round and the bytes every node uploaded.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import secrets
import time
import uuid
from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from contracts.peer_keys import PeerKey
from contracts.tickets import JobTicket, sign_ticket
from coordinator.server import serde
from coordinator.server.peer_keys import Registration, peer_keys_for, registrations, witnessed_by
from coordinator.server.runtime import ServerContext
from coordinator.server.sessions import Disconnected, InboxItem
from proto.dataspace.v1 import node_service_pb2 as pb
from protocols import fixedpoint
from protocols.exceptions import InvalidMessageError, StageError, ThresholdError
from protocols.secagg import server
from protocols.secagg.config import SecAggConfig, SecurityMode, threshold_floor
from protocols.secagg.messages import (
    AdvertiseKeys,
    ConsistencySignature,
    MaskedInput,
    ShareKeys,
    UnmaskResponse,
)

log = logging.getLogger(__name__)
TICKET_LIFETIME = timedelta(minutes=10)
INPUT_CHUNK_BYTES = 1024 * 1024


class RunFailed(Exception):
    """A run ends without a result; ``code`` is machine-readable, ``details`` never hold a data value."""

    def __init__(self, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.details = dict(details or {})


@dataclass(frozen=True)
class Round:
    name: str
    message_type: type
    receive: Any  # (ServerState, message) -> ServerState
    close: Any  # ServerState -> (ServerState, outgoing or aggregate)


_KEYS = Round("advertise keys", AdvertiseKeys, server.receive_keys, server.close_keys)
_SHARES = Round("share keys", ShareKeys, server.receive_shares, server.close_shares)
_MASKED = Round("masked input", MaskedInput, server.receive_masked_input, server.close_masked_inputs)
_CONSISTENCY = Round(
    "consistency", ConsistencySignature, server.receive_consistency, server.close_consistency
)
_UNMASKING = Round("unmasking", UnmaskResponse, server.receive_unmasking, server.close_unmasking)
ROUNDS = {
    SecurityMode.MALICIOUS: (_KEYS, _SHARES, _MASKED, _CONSISTENCY, _UNMASKING),
    # The baseline the benchmarks measure against, on synthetic data only: nodes refuse it for real jobs.
    SecurityMode.SEMI_HONEST: (_KEYS, _SHARES, _MASKED, _UNMASKING),
}


def threshold_for(n: int, min_cohort: int, mode: SecurityMode = SecurityMode.MALICIOUS) -> int:
    """Shares needed to unmask: the floor every node enforces, or a majority in the semi-honest baseline."""
    if mode is SecurityMode.SEMI_HONEST:
        return min(n, max(min_cohort, n // 2 + 1))
    threshold = threshold_floor(n, min_cohort)
    if threshold > n:
        reason = (
            f"{n} participants cannot meet the threshold of {threshold} that nodes require "
            "(the min cohort, and more than two thirds of the participants)"
        )
        raise RunFailed("too_few_participants", reason)
    return threshold


class RunChannel:
    def __init__(self, ctx: ServerContext, job_id: str, buyer: str) -> None:
        self.ctx, self.job_id, self.buyer = ctx, job_id, buyer
        self.run_id = "run_" + uuid.uuid4().hex
        self.refusals: dict[str, str] = {}
        self.uploaded: dict[str, int] = defaultdict(int)
        self.round_seconds: dict[str, float] = {}
        self.survivors: tuple[str, ...] = ()
        self.registrations: dict[str, Registration] = {}  # the participants'
        self.buyer_registration: dict[str, Registration] = {}  # the buyer's, for a job on its order
        # Encrypted scoring: the ciphertexts that came with each masked input, and who was asked for one.
        self.scores: dict[str, list[bytes]] = {}
        self.points: dict[str, bytes] = {}  # set-intersection sums: each node's masked point
        self.masked_round: frozenset[str] = frozenset()
        self.inbox: asyncio.Queue[InboxItem] = ctx.sessions.open_run(self.run_id)

    def close(self) -> None:
        self.ctx.sessions.close_run(self.run_id)

    async def with_proven_keys(self, participants: list[str], buyer: str | None = None) -> list[str]:
        """The participants whose key registration every other participant can check in its witnessed log.

        A participant without a registration carrying its key, or that does not cosign a checkpoint
        covering every registration in time, is left out of the run and recorded as refusing. With
        ``buyer`` (a job on the buyer's signed order) the buyer's registration is proven to every node too.
        """
        ordered = registrations(self.ctx, [buyer]) if buyer is not None else {}
        if buyer is not None and buyer not in ordered:
            raise RunFailed(
                "unproven_buyer_key", "the buyer's signing key is not registered in the audit log"
            )
        found = registrations(self.ctx, participants)
        for pid in participants:
            if pid not in found:
                self.refusals[pid] = (
                    "unproven_key: no signing key of this node is registered in the audit log"
                )
        needed = max((r.index for r in (*found.values(), *ordered.values())), default=-1) + 1
        ready = await witnessed_by(self.ctx, list(found), needed, self.ctx.settings.participant_wait_s)
        for pid in found.keys() - set(ready):
            self.refusals[pid] = "unwitnessed: the node did not cosign a checkpoint holding every peer's key"
        self.registrations = {pid: found[pid] for pid in ready}
        self.buyer_registration = ordered
        return ready

    def new_config(
        self,
        participants: list[str],
        min_cohort: int,
        ring_bits: int,
        length: int,
        mode: SecurityMode = SecurityMode.MALICIOUS,
    ) -> SecAggConfig:
        return SecAggConfig(
            session_id=secrets.token_bytes(16),
            participants=tuple(participants),
            threshold=threshold_for(len(participants), min_cohort, mode),
            ring_bits=ring_bits,  # type: ignore[arg-type]
            vector_length=length,
            verify_keys={pid: self.registrations[pid].public_key for pid in participants},
            mode=mode,
        )

    def send_tickets(
        self,
        config: SecAggConfig,
        spec: dict[str, Any],
        scale_bits: int,
        contract: dict[str, Any] | None = None,
        order: dict[str, Any] | None = None,
    ) -> None:
        now = self.ctx.clock()
        proofs: dict[int, dict[str, PeerKey]] = {}
        proven = self.registrations | self.buyer_registration
        for pid in config.participants:
            ticket = JobTicket(
                job_id=self.job_id, run_id=self.run_id, buyer=self.buyer, spec=spec, contract=contract,
                participants=config.participants, threshold=config.threshold, ring_bits=config.ring_bits,
                scale_bits=scale_bits, vector_length=config.vector_length,
                session_id=base64.b64encode(config.session_id).decode(), nonce=secrets.token_urlsafe(16),
                issued_at=now, expires_at=now + TICKET_LIFETIME, secagg_mode=config.mode.value,
                peer_keys=peer_keys_for(self.ctx, pid, proven, proofs), order=order,
            )  # fmt: skip
            payload, signature = self.sign(ticket)
            self.send(pid, pb.ToNode(ticket=pb.JobTicket(payload=payload, signature=signature)))

    def send_input(self, participants: Sequence[str], data: bytes) -> None:
        """The buyer's input, in pieces, to every participant ahead of its ticket (same stream, in order)."""
        for pid in participants:
            for offset in range(0, len(data), INPUT_CHUNK_BYTES):
                piece = pb.JobInputChunk(
                    offset=offset, total=len(data), data=data[offset : offset + INPUT_CHUNK_BYTES]
                )
                self.send(pid, pb.ToNode(input=piece))

    def sign(self, ticket: JobTicket) -> tuple[bytes, bytes]:
        """The ticket's canonical bytes and the coordinator's signature over them."""
        return sign_ticket(ticket, self.ctx.keys.ticket_key)

    def relay(self, pid: str, message: serde.ServerMessage) -> None:
        """Send one round's message to one node; every protocol message to a node leaves through here."""
        self.send(pid, pb.ToNode(secagg=serde.encode_server(message)))

    async def secure_aggregation(
        self, config: SecAggConfig, absent: Collection[str] = ()
    ) -> tuple[fixedpoint.RingArray, int]:
        """Drive the rounds; return the sum of the survivors' inputs and how many they are.

        Participants in ``absent`` are known to have left already; nobody waits for their keys.

        A responder whose share does not match its dealer's commitment is named and left out of the
        reconstruction; the sum is still exact while enough honest shares remain.
        """
        state = server.new_server(config)
        expected = set(config.participants) - set(absent)
        contributors = 0
        for round_ in ROUNDS[config.mode]:
            started = time.perf_counter()
            if round_.message_type is MaskedInput:
                self.masked_round = frozenset(expected)
            for pid, message in await self.collect(expected, round_.message_type, round_.name):
                try:
                    state = round_.receive(state, message)
                except (InvalidMessageError, StageError) as exc:
                    self.drop_malformed(pid, round_.name, exc)
            try:
                state, outgoing = round_.close(state)
            except ThresholdError as exc:
                raise RunFailed("too_many_dropouts", self._dropout_reason(round_.name, exc)) from exc
            except InvalidMessageError as exc:  # well-formed but inconsistent shares: no sum can be trusted
                raise RunFailed("unmasking_failed", f"the {round_.name} round failed: {exc}") from exc
            self.round_seconds[round_.name] = time.perf_counter() - started
            if round_.message_type is MaskedInput:
                self.survivors = config.ordered(outgoing)
                contributors = len(outgoing)
            if not isinstance(outgoing, dict):
                for pid, reason in state.excluded.items():
                    log.warning("run %s: %s sent a bad share: %s", self.run_id, pid, reason)
                    self.refusals[pid] = f"bad_share: {reason}"
                return outgoing, contributors
            for pid, message in outgoing.items():
                self.relay(pid, message)
            expected = set(outgoing)
        raise AssertionError("the unmasking round returns the aggregate")

    async def collect(self, expected: set[str], message_type: type, name: str) -> list[tuple[str, Any]]:
        """This round's secure-aggregation messages from the expected nodes (see ``first_answers``).

        A malformed message makes its node a dropout, as a refusal does.
        """
        received = []
        for pid, message in (await self.first_answers(expected, name)).items():
            if message_type is MaskedInput and message.HasField("scores"):
                self.scores[pid] = list(message.scores.ciphertexts)
            if message_type is MaskedInput and message.masked_point:
                self.points[pid] = message.masked_point
            try:
                received.append((pid, _decode(message, pid, message_type)))
            except InvalidMessageError as exc:
                self.drop_malformed(pid, name, exc)
        return received

    async def first_answers(self, expected: set[str], name: str) -> dict[str, pb.FromNode]:
        """Each expected node's first message, until all answered, dropped or the round's deadline passed.

        A refusal is recorded in ``refusals`` and its node left out; later messages of a node that already
        answered are counted in ``uploaded`` and otherwise ignored.
        """
        waiting, answers = set(expected), {}
        deadline = time.monotonic() + self.ctx.settings.round_timeout_s
        while waiting and (remaining := deadline - time.monotonic()) > 0:
            try:
                item = await asyncio.wait_for(self.inbox.get(), remaining)
            except TimeoutError:
                break
            if isinstance(item, Disconnected):
                waiting.discard(item.participant_id)
                continue
            pid, message = item
            self.uploaded[pid] += message.ByteSize()
            if pid not in waiting:
                continue
            waiting.discard(pid)
            if message.WhichOneof("body") == "refusal":
                self.refusals[pid] = f"{message.refusal.code}: {message.refusal.message}"
            else:
                answers[pid] = message
        if waiting:
            log.info("run %s: no %s message from %s", self.run_id, name, sorted(waiting))
        return answers

    def drop_malformed(self, pid: str, round_name: str, exc: Exception) -> None:
        """The node leaves the run as if it had disconnected here; the refusal reaches the audit log."""
        log.warning("run %s: dropping %s for its malformed %s message: %s", self.run_id, pid, round_name, exc)
        self.refusals[pid] = f"malformed_message: node {pid} sent a malformed {round_name} message ({exc})"

    def notify_finished(self, participants: list[str], state: str) -> None:
        for pid in participants:
            self.send(pid, pb.ToNode(finished=pb.JobFinished(state=state)))

    def send(self, pid: str, body: pb.ToNode) -> None:
        body.job_id, body.run_id = self.job_id, self.run_id
        self.ctx.sessions.send(pid, pb.CoordinatorMessage(job=body))

    def _dropout_reason(self, round_name: str, exc: ThresholdError) -> str:
        reason = f"too few nodes remained in the {round_name} round ({exc})"
        if self.refusals:
            reason += "; refusals: " + "; ".join(
                f"{pid}: {why}" for pid, why in sorted(self.refusals.items())
            )
        return reason


def _decode(message: pb.FromNode, pid: str, message_type: type) -> Any:
    """The round message in ``message``, or InvalidMessageError for an empty one or one of another round."""
    if message.WhichOneof("body") != "secagg":
        raise InvalidMessageError(f"{pid!r} sent neither a round message nor a refusal")
    decoded = serde.decode_client(message.secagg, pid)
    if not isinstance(decoded, message_type):
        raise InvalidMessageError(
            f"{pid!r} sent a {type(decoded).__name__} instead of a {message_type.__name__}"
        )
    return decoded
