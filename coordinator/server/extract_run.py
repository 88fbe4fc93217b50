"""One run of an extract job: tickets out, each node's desensitized rows in, checked, merged and kept.

There are no protocol rounds: each node answers its ticket with its rows and a receipt (``ExtractRows``),
outside secure aggregation, since what is released is records. The run goes on without nodes that refuse
or stay silent while the job's minimum of participants remains; then the release check blocks everything
if one node's rows hold what reads as personal data or a class below k (``coordinator.services.extracts``).
"""

from __future__ import annotations

import logging
import secrets

from contracts.agreement import Contract
from contracts.exceptions import ContractsError
from contracts.extracts.release import NodeUpload
from contracts.tickets import JobTicket
from coordinator.server.job_run import JobRun, RunOutcome, wait_for_participants
from coordinator.server.run_channel import TICKET_LIFETIME, RunChannel, RunFailed
from coordinator.services import contracting, extracts
from coordinator.services.datasets import dataset_schema
from proto.dataspace.v1 import node_service_pb2 as pb
from protocols.exceptions import InvalidMessageError

log = logging.getLogger(__name__)


class ExtractRun(JobRun):
    async def execute(self) -> RunOutcome:
        if self.job.contract_id is None:
            raise RunFailed("no_contract", "an extract runs only under a usage contract")
        contract = contracting.load(self.ctx, self.job.contract_id)
        if contract.terms.extract is None:
            raise RunFailed("extract_not_granted", f"contract {contract.contract_id} grants no extract")
        _schema, holders = dataset_schema(self.ctx.store, self.spec.dataset)
        holders = [pid for pid in holders if pid in contract.provider_ids]
        self.participants = await wait_for_participants(
            self.ctx, holders, self.spec.min_participants, self.spec.dataset
        )
        self._check_contract_now(contract)
        self.channel = channel = RunChannel(self.ctx, self.job.job_id, self.job.buyer_id)
        try:
            self._send_tickets(channel, contract)
            uploads = await self._collect(channel)
        finally:
            channel.close()
        if len(uploads) < self.spec.min_participants:
            needed = self.spec.min_participants
            reason = f"only {len(uploads)} nodes sent an extract; the job needs {needed}"
            raise RunFailed("too_few_contributors", reason)
        columns = self.spec.columns
        try:
            released = extracts.release_extract(contract, columns, uploads, today=self.ctx.clock().date())
        except ContractsError as blocked:
            raise RunFailed(blocked.code, blocked.message, blocked.details) from blocked
        result = extracts.extract_result(released, contract, columns)
        receipt = extracts.extract_receipt(released, contract, columns)
        return RunOutcome(result, len(uploads), channel.refusals, receipt)

    def _send_tickets(self, channel: RunChannel, contract: Contract) -> None:
        now = self.ctx.clock()
        spec, terms = self.spec.model_dump(mode="json"), contract.model_dump(mode="json")
        for pid in self.participants:
            ticket = JobTicket(
                job_id=self.job.job_id, run_id=channel.run_id, buyer=self.job.buyer_id, spec=spec,
                contract=terms, participants=tuple(self.participants), nonce=secrets.token_urlsafe(16),
                issued_at=now, expires_at=now + TICKET_LIFETIME,
            )  # fmt: skip
            payload, signature = channel.sign(ticket)
            channel.send(pid, pb.ToNode(ticket=pb.JobTicket(payload=payload, signature=signature)))

    async def _collect(self, channel: RunChannel) -> dict[str, NodeUpload]:
        """Each node's extract; a refusal, another message or silence until the deadline leaves it out."""
        uploads = {}
        for pid, message in (await channel.first_answers(set(self.participants), "extract")).items():
            if message.WhichOneof("body") == "extract":
                uploads[pid] = NodeUpload(message.extract.rows, message.extract.receipt)
            else:
                wrong = InvalidMessageError(f"it answered an extract with {message.WhichOneof('body')}")
                channel.drop_malformed(pid, "extract", wrong)
        return uploads
