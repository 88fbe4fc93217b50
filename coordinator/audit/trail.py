"""What the coordinator writes to its tamper-evident log, and when it issues signed checkpoints.

Every security-relevant state change is one entry. The subject ``participant`` always names the
participant an entry is about, so participants can read the entries that concern them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any

from coordinator.audit.entries import AuditEntry
from coordinator.audit.store import AuditLog

OPERATOR = "operator"
COORDINATOR = "coordinator"


class Event(StrEnum):
    TOKEN_ISSUED = "enrollment.token_issued"
    ENROLLMENT_REFUSED = "enrollment.refused"
    PARTICIPANT_ENROLLED = "participant.enrolled"
    CERTIFICATE_ISSUED = "certificate.issued"
    CERTIFICATE_REVOKED = "certificate.revoked"
    SIGNING_KEY_REGISTERED = "signing_key.registered"
    OFFER_PUBLISHED = "offer.published"
    DEMAND_PUBLISHED = "demand.published"
    OFFER_REFUSED = "offer.refused"
    CONTRACT_TRANSITION = "contract.transition"
    CONTRACT_SIGNED = "contract.signed"
    JOB_SUBMITTED = "job.submitted"
    JOB_REFUSED = "job.refused"
    REQUEST_REFUSED = "request.refused"  # any other action the gateway refused (coordinator.api.refusals)
    JOB_STARTED = "job.started"
    JOB_SUCCEEDED = "job.succeeded"
    JOB_FAILED = "job.failed"
    JOB_CANCELLED = "job.cancelled"
    NODE_REFUSED = "node.refused"
    HELLO_REFUSED = "node.hello_refused"
    BUDGET_SPENT = "budget.spent"
    RESULT_RELEASED = "result.released"
    # Desensitization receipts: the rules' digest, operators, k and l reached, rows, input and output digests.
    EXTRACT_RELEASED = "extract.released"
    PREVIEW_PUBLISHED = "preview.published"
    DIAGNOSTIC_RUN = "diagnostic.run"
    WITNESS_ALARM = "witness.alarm"


class AuditTrail:
    def __init__(self, log: AuditLog, clock: Callable[[], datetime]) -> None:
        self.log = log
        self.clock = clock

    def record(
        self,
        actor: str,
        event: Event,
        subjects: Mapping[str, str],
        payload: Mapping[str, Any] | None = None,
    ) -> AuditEntry:
        return self.log.append(actor, event, dict(subjects), dict(payload or {}), self.clock())
