"""Job messages: start a run from its ticket, play its secure-aggregation rounds, end it on abort or finish.

An extract's ticket is answered at once with the node's desensitized rows (``node.extract``).

Every failure of a job message is journalled and, when the message names a run, answered with a refusal
and the run's state dropped, so the coordinator records the node's refusal instead of waiting for a
dropout: a refused job or a malformed message with its own code, a protocol error with the error's name,
anything unexpected as ``internal_error``.
"""

from __future__ import annotations

import asyncio
import logging

from contracts.jobspec import JobKind
from node import serde
from node.exceptions import JobRefused
from node.extract import run_extract
from node.handlers import Outbox
from node.job_runner import (
    NodeContext,
    RunState,
    advance,
    check_ticket,
    psi_answered,
    start_run,
    use_idle_time,
)
from node.psi import PsiOutgoing
from node.scoring import InputBuffer
from proto.dataspace.v1 import node_service_pb2 as pb
from protocols.exceptions import ProtocolError

log = logging.getLogger(__name__)


class JobHandler:
    """The node's job runs, by run id."""

    def __init__(self, ctx: NodeContext) -> None:
        self.ctx = ctx
        self.runs: dict[str, RunState] = {}
        # Inputs arriving ahead of their run's ticket, by run id (at most one run's at a time).
        self.inputs: dict[str, InputBuffer] = {}

    async def handle(self, envelope: pb.CoordinatorMessage, outbox: Outbox) -> None:
        message = envelope.job
        try:
            await self._on_job(message, outbox)
        except JobRefused as refusal:
            log.warning("refused job %s: %s", message.job_id, refusal)
            self._refuse(message, outbox, "job_refused", refusal.code, str(refusal), refusal.detail)
        except ProtocolError as error:
            log.warning("protocol error in job %s: %s", message.job_id, error)
            self._refuse(message, outbox, "protocol_error", type(error).__name__, str(error))
        except Exception as error:  # one job's fault must end neither the connection nor the node
            log.exception("job %s failed", message.job_id)
            reason = f"the node could not handle a message of this job ({type(error).__name__})"
            self._refuse(
                message, outbox, "job_error", "internal_error", reason, f"{type(error).__name__}: {error}"
            )

    async def _on_job(self, message: pb.ToNode, outbox: Outbox) -> None:
        kind = message.WhichOneof("body")
        reply: serde.ClientMessage | PsiOutgoing | None = None
        if kind == "ticket":
            ticket = check_ticket(self.ctx, message.ticket.payload, message.ticket.signature)
            if ticket.spec.get("kind") == JobKind.EXTRACT:  # rows, in one message: no protocol rounds
                upload = await run_extract(self.ctx, ticket)
                extract = pb.ExtractRows(rows=upload.rows, receipt=upload.receipt)
                outbox.put_nowait(_from_node(message, extract=extract))
                return
            buffer = self.inputs.pop(message.run_id, None)
            job_input = bytes(buffer.data) if buffer is not None and buffer.complete else None
            started, reply = await start_run(self.ctx, ticket, job_input)
            self.runs[message.run_id] = started
        elif kind == "input":
            self._receive_input(message)
        elif kind == "psi":
            run = self.runs.get(message.run_id)
            if run is None:
                return
            # Blinding thousands of keys takes a while: off the event loop (messages of a run arrive in turn).
            reply = await asyncio.to_thread(psi_answered, self.ctx, run, message.psi.data)
        elif kind == "secagg":
            run = self.runs.get(message.run_id)
            if run is None:  # a run this node refused, finished or never joined: nothing to answer
                return
            try:
                decoded = serde.decode_server(message.secagg, self.ctx.identity.participant_id)
            except ValueError as exc:
                raise JobRefused(
                    "malformed_message", f"secure-aggregation message not understood: {exc}"
                ) from exc
            reply = advance(self.ctx, run, decoded)
        elif kind in ("abort", "finished"):
            self._finish(message)
        else:
            raise JobRefused("malformed_message", "a job message without a body this node knows")
        if isinstance(reply, PsiOutgoing):
            outbox.put_nowait(_from_node(message, psi=pb.PsiMessage(data=reply.data)))
        elif reply is not None:
            extra: dict[str, object] = {}
            if (run := self.runs.get(message.run_id)) is not None:  # what travels with the masked input
                if run.scores is not None:
                    extra["scores"] = pb.EncryptedScores(ciphertexts=run.scores)
                    run.scores = None
                if run.masked_point is not None:
                    extra["masked_point"] = run.masked_point
                    run.masked_point = None
            outbox.put_nowait(_from_node(message, secagg=serde.encode_client(reply), **extra))
        if (run := self.runs.get(message.run_id)) is not None:
            await use_idle_time(run)

    def _receive_input(self, message: pb.ToNode) -> None:
        """Keep one piece of a run's input; a new run's first piece replaces any unfinished other input."""
        piece = message.input
        buffer = self.inputs.get(message.run_id)
        if buffer is None:
            if piece.offset != 0:
                raise JobRefused("malformed_input", "an input must start at offset 0")
            self.inputs.clear()
            buffer = self.inputs[message.run_id] = InputBuffer(piece.total)
        buffer.add(piece.offset, piece.total, piece.data)

    def _refuse(
        self, message: pb.ToNode, outbox: Outbox, event: str, code: str, reason: str, detail: str = ""
    ) -> None:
        """Journal the failure with its local detail; refuse the run, if the message names one."""
        self.runs.pop(message.run_id, None)
        self.inputs.pop(message.run_id, None)
        extra = {"detail": detail} if detail else {}
        self.ctx.journal.record(
            self.ctx.clock(), event, job_id=message.job_id, run_id=message.run_id, code=code, reason=reason,
            **extra,
        )  # fmt: skip
        if message.run_id:
            outbox.put_nowait(_from_node(message, refusal=pb.JobRefusal(code=code, message=reason)))

    def _finish(self, message: pb.ToNode) -> None:
        run = self.runs.pop(message.run_id, None)
        self.inputs.pop(message.run_id, None)
        state = message.finished.state if message.WhichOneof("body") == "finished" else "ABORTED"
        reason = message.abort.reason if message.WhichOneof("body") == "abort" else None
        if run is not None:
            self.ctx.journal.record(
                self.ctx.clock(), "job_finished", job_id=message.job_id, state=state, reason=reason
            )


def _from_node(message: pb.ToNode, **body: object) -> pb.NodeMessage:
    return pb.NodeMessage(job=pb.FromNode(job_id=message.job_id, run_id=message.run_id, **body))  # type: ignore[arg-type]
