"""Signed checkpoints of the audit log, and the nodes that witness them.

The checkpointer signs a new checkpoint whenever the log grew (at most every ``interval`` seconds) and
shows it to every connected node with a consistency proof from the size that node last cosigned. Nodes
answer with cosignatures, which are stored beside the checkpoint, or with an alarm.
"""

from __future__ import annotations

import asyncio
import logging

from coordinator.audit.trail import Event
from coordinator.server.runtime import ServerContext
from coordinator.server.sessions import NodeSession
from proto.dataspace.v1 import node_service_pb2 as pb
from protocols.tlog.checkpoint import WitnessVerifier, parse_checkpoint
from protocols.tlog.exceptions import AuditError
from protocols.tlog.note import split_note

log = logging.getLogger(__name__)


def checkpoint_notice(ctx: ServerContext, witnessed_size: int) -> pb.CheckpointNotice | None:
    """The latest checkpoint with a consistency proof from ``witnessed_size``; None before the first."""
    note = ctx.audit.log.latest_checkpoint()
    if note is None:
        return None
    size = parse_checkpoint(split_note(note)[0]).size
    proof: list[bytes] = []
    if 0 < witnessed_size < size:
        proof = ctx.audit.log.consistency_proof(witnessed_size, size)
    return pb.CheckpointNotice(note=note, from_size=witnessed_size, consistency_proof=proof)


def show_checkpoint(ctx: ServerContext, session: NodeSession) -> None:
    notice = checkpoint_notice(ctx, session.witnessed_size)
    if notice is not None:
        session.send(pb.CoordinatorMessage(checkpoint=notice))


def accept_cosignature(ctx: ServerContext, session: NodeSession, cosignature: pb.Cosignature) -> None:
    key = ctx.store.witness_key(session.participant_id)
    if key is None:
        log.warning("cosignature from %s, which declared no witness key", session.participant_id)
        return
    try:
        ctx.audit.log.add_cosignature(cosignature.size, cosignature.signature_line,
                                      WitnessVerifier.from_key_string(key.key))  # fmt: skip
    except AuditError as exc:
        log.warning("rejected cosignature from %s: %s", session.participant_id, exc)
        return
    session.witnessed_size = max(session.witnessed_size, cosignature.size)


def record_alarm(ctx: ServerContext, session: NodeSession, alarm: pb.WitnessAlarm) -> None:
    log.error("node %s refuses to cosign the audit log: %s", session.participant_id, alarm.reason)
    ctx.audit.record(session.participant_id, Event.WITNESS_ALARM, {"participant": session.participant_id},
                     {"witnessed_size": alarm.size, "reason": alarm.reason})  # fmt: skip


async def run_checkpointer(ctx: ServerContext, interval: float) -> None:
    """Sign when the log grew, then show the new checkpoint to every connected witness."""
    signed_size = -1
    while True:
        await asyncio.sleep(interval)
        try:
            size = ctx.audit.log.size()
            if size == signed_size:
                continue
            ctx.audit.log.checkpoint(ctx.clock())
            signed_size = size
            for session in ctx.sessions.connected():
                show_checkpoint(ctx, session)
        except AuditError:
            log.exception("could not issue an audit checkpoint")
