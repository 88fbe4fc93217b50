"""Audit-log checkpoints: cosign one that extends what this node witnessed, raise the alarm on a fork."""

from __future__ import annotations

import logging

from node.handlers import Outbox
from node.job_runner import NodeContext
from node.witness import ForkDetected, NotVerifiable
from proto.dataspace.v1 import node_service_pb2 as pb

log = logging.getLogger(__name__)


class WitnessingHandler:
    def __init__(self, ctx: NodeContext) -> None:
        self.ctx = ctx

    async def handle(self, envelope: pb.CoordinatorMessage, outbox: Outbox) -> None:
        notice = envelope.checkpoint
        try:
            self._on_checkpoint(notice, outbox)
        except Exception as error:  # one bad notice must not end the connection
            log.exception("checkpoint notice not handled")
            self.ctx.journal.record(
                self.ctx.clock(), "checkpoint_error", error=type(error).__name__, reason=str(error)
            )

    def _on_checkpoint(self, notice: pb.CheckpointNotice, outbox: Outbox) -> None:
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
