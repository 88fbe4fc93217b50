"""gRPC servicer of the node stream: authenticate the peer from its certificate, then relay messages.

The participant id is taken from the mutually authenticated TLS certificate, never from a message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
from cryptography import x509
from cryptography.x509.oid import NameOID

from contracts.exceptions import ContractsError
from contracts.identity import Role
from contracts.negotiation import Event as Move
from coordinator.audit.trail import Event
from coordinator.exceptions import CoordinatorError, InvalidRequestError, NotFoundError, PermissionDeniedError
from coordinator.server import witnesses
from coordinator.server.hello import declared_datasets
from coordinator.server.runtime import ServerContext
from coordinator.server.sessions import NodeSession
from coordinator.services import contracting
from proto.dataspace.v1 import node_service_pb2 as pb
from proto.dataspace.v1 import node_service_pb2_grpc as pb_grpc

log = logging.getLogger(__name__)


class NodeService(pb_grpc.NodeServiceServicer):
    def __init__(self, context: ServerContext) -> None:
        self.ctx = context

    async def Connect(
        self, request_iterator: AsyncIterator[pb.NodeMessage], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.CoordinatorMessage]:
        # Read the Hello before refusing anyone: refusing while the client is still writing it would let
        # the client's failed write mask our status with an internal error.
        first = await anext(aiter(request_iterator), None)
        participant_id = await self._authenticate(context)
        if first is None or first.WhichOneof("body") != "hello":
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, "the first message must be Hello")
            return
        now = self.ctx.clock()
        try:
            datasets = declared_datasets(first.hello)
        except InvalidRequestError as refusal:
            self._record_refused_hello(participant_id, refusal)
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"{refusal.code}: {refusal.message}")
            return
        self.ctx.store.set_node_datasets(participant_id, datasets, now)
        session = NodeSession(participant_id, datasets, connected_at=now, last_seen=now,
                              witnessed_size=first.hello.witnessed_size)  # fmt: skip
        if first.hello.witness_key:
            self.ctx.store.set_witness_key(participant_id, first.hello.witness_key, now)
        self.ctx.sessions.register(session)
        log.info("node %s connected with datasets %s", participant_id, sorted(datasets))
        interval_ms = int(self.ctx.settings.heartbeat_interval_s * 1000)
        yield pb.CoordinatorMessage(
            welcome=pb.Welcome(participant_id=participant_id, heartbeat_interval_ms=interval_ms)
        )
        witnesses.show_checkpoint(self.ctx, session)
        for contract in contracting.contracts_of(self.ctx, participant_id):
            session.send(
                pb.CoordinatorMessage(contract=pb.ContractNotice(contract_json=contract.model_dump_json()))
            )
        reader = asyncio.create_task(self._read(session, request_iterator))
        try:
            while (message := await session.outbox.get()) is not None:
                yield message
        finally:
            reader.cancel()
            self.ctx.sessions.unregister(session)
            log.info("node %s disconnected", participant_id)

    async def _read(self, session: NodeSession, requests: AsyncIterator[pb.NodeMessage]) -> None:
        recorder = _WireRecorder(self.ctx.settings.wire_record_dir, session.participant_id)
        try:
            async for message in requests:
                recorder.record(message)
                session.last_seen = self.ctx.clock()
                kind = message.WhichOneof("body")
                if kind == "job":
                    self.ctx.sessions.deliver(session.participant_id, message.job)
                elif kind == "cosignature":
                    witnesses.accept_cosignature(self.ctx, session, message.cosignature)
                elif kind == "contract_action":
                    self._contract_action(session.participant_id, message.contract_action)
                elif kind == "witness_alarm":
                    witnesses.record_alarm(self.ctx, session, message.witness_alarm)
                elif kind == "hello":
                    self._redeclare(session, message.hello)
        except (grpc.aio.AioRpcError, asyncio.CancelledError):
            pass
        finally:
            session.close()

    def _redeclare(self, session: NodeSession, hello: pb.Hello) -> None:
        """A later Hello on an open stream changes the datasets only if it is valid as a whole."""
        try:
            session.datasets = declared_datasets(hello)
        except InvalidRequestError as refusal:
            self._record_refused_hello(session.participant_id, refusal)
            return
        self.ctx.store.set_node_datasets(session.participant_id, session.datasets, self.ctx.clock())

    def _record_refused_hello(self, participant_id: str, refusal: InvalidRequestError) -> None:
        log.warning("hello from %s refused: %s", participant_id, refusal.message)
        payload = {"code": refusal.code, "reason": refusal.message, **refusal.details}
        self.ctx.audit.record(participant_id, Event.HELLO_REFUSED, {"participant": participant_id}, payload)

    async def PublishOffer(
        self, request: pb.PublishOfferRequest, context: grpc.aio.ServicerContext
    ) -> pb.PublishOfferReply:
        participant_id = await self._authenticate(context)
        try:
            offer = contracting.publish_offer(
                self.ctx, participant_id, request.offer_json, request.preview_json
            )
        except (CoordinatorError, ContractsError) as error:
            await context.abort(_status_of(error), f"{error.code}: {error}")
        return pb.PublishOfferReply(offer_id=offer.offer_id)

    def _contract_action(self, participant_id: str, action: pb.ContractAction) -> None:
        """A provider's negotiation move; a refused move is logged (the node sees the state it gets back)."""
        try:
            move = Move(action.event)
            contracting.act_json(self.ctx, action.contract_id, participant_id, move, action.signature_json)
        except (ValueError, CoordinatorError, ContractsError) as error:
            log.warning("contract move %s by %s refused: %s", action.event, participant_id, error)
            with contextlib.suppress(CoordinatorError, ContractsError):
                contracting.notify_providers(self.ctx, contracting.load(self.ctx, action.contract_id))

    async def _authenticate(self, context: grpc.aio.ServicerContext) -> str:
        """Participant id of a factory whose current certificate this is; abort otherwise."""
        pem = context.auth_context().get("x509_pem_cert")
        if not pem:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "a client certificate is required")
        cert = x509.load_pem_x509_certificate(pem[0])
        participant_id = str(cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)
        participant = self.ctx.store.participant(participant_id)
        serial = format(cert.serial_number, "x")
        if participant is None or participant.role != Role.FACTORY:
            await context.abort(
                grpc.StatusCode.PERMISSION_DENIED, f"{participant_id} is not an enrolled factory"
            )
        elif participant.certificate_serial is None:
            await context.abort(
                grpc.StatusCode.PERMISSION_DENIED, "this certificate was revoked by the operator"
            )
        elif participant.certificate_serial != serial:
            await context.abort(
                grpc.StatusCode.PERMISSION_DENIED, "this certificate was superseded by a newer enrollment"
            )
        return participant_id


class _WireRecorder:
    """Append every message a node sent, length-prefixed, so audits can inspect exactly what arrived."""

    def __init__(self, directory: Path | None, participant_id: str) -> None:
        self.path = directory / f"{participant_id}.bin" if directory is not None else None
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)

    def record(self, message: pb.NodeMessage) -> None:
        if self.path is None:
            return
        data = message.SerializeToString()
        with self.path.open("ab") as handle:
            handle.write(len(data).to_bytes(4, "little") + data)


def _status_of(error: Exception) -> grpc.StatusCode:
    if isinstance(error, PermissionDeniedError):
        return grpc.StatusCode.PERMISSION_DENIED
    if isinstance(error, NotFoundError):
        return grpc.StatusCode.NOT_FOUND
    return grpc.StatusCode.INVALID_ARGUMENT
