"""Job messages: start a run from its ticket, play its secure-aggregation rounds, end it on abort or finish.

A refused job or a protocol error is answered with a refusal; any other error is journaled as ``job_error``.
"""

from __future__ import annotations

import logging

from node import serde
from node.exceptions import JobRefused
from node.handlers import Outbox
from node.job_runner import NodeContext, RunState, advance, start_run
from proto.dataspace.v1 import node_service_pb2 as pb
from protocols.exceptions import ProtocolError

log = logging.getLogger(__name__)


class JobHandler:
    """The node's job runs, by run id."""

    def __init__(self, ctx: NodeContext) -> None:
        self.ctx = ctx
        self.runs: dict[str, RunState] = {}

    async def handle(self, envelope: pb.CoordinatorMessage, outbox: Outbox) -> None:
        message = envelope.job
        try:
            await self._on_job(message, outbox)
        except Exception as error:  # one job's fault must not end the connection
            log.exception("job %s failed", message.job_id)
            self.ctx.journal.record(
                self.ctx.clock(),
                "job_error",
                job_id=message.job_id,
                error=type(error).__name__,
                reason=str(error),
            )

    async def _on_job(self, message: pb.ToNode, outbox: Outbox) -> None:
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
