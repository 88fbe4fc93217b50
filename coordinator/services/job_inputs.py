"""Buyers' private job inputs: an encrypted query stored once under its SHA-256, checked before it is kept.

The coordinator can hold such an input without learning anything: it is a public context and coefficients
encrypted under the buyer's key. It refuses one whose context carries a secret key — that would hand the
buyer's key to the coordinator and every factory — with an audit entry, and keeps nothing of it.
"""

from __future__ import annotations

import hashlib

from contracts.jobspec import JobKind, JobSpec
from coordinator.audit.refusals import RequestDigest, refusal_payload, safe_subjects
from coordinator.audit.trail import Event
from coordinator.context import CoordinatorContext
from coordinator.exceptions import InvalidRequestError, mark_audited
from coordinator.store.tables import JobInputRow
from protocols.he import query
from protocols.he.exceptions import HEError, SecretKeyInContextError


def store_input(context: CoordinatorContext, buyer_id: str, data: bytes) -> JobInputRow:
    """Check ``data`` as an encrypted query and keep it; InvalidRequestError (audited) if it is not one."""
    digest = hashlib.sha256(data).hexdigest()
    try:
        decoded = query.decode(data)
        query.open_query(data, params=decoded.params, outputs=len(decoded.queries))
    except HEError as exc:
        code = "secret_key_in_context" if isinstance(exc, SecretKeyInContextError) else "malformed_input"
        error = InvalidRequestError(f"the job input is refused: {exc}", code=code)
        summary = RequestDigest(digest, len(data))
        refusal = refusal_payload(code, str(error), summary)
        context.audit.record(buyer_id, Event.JOB_REFUSED, safe_subjects(participant=buyer_id), refusal)
        mark_audited(error)
        raise error from exc
    row = JobInputRow(
        buyer_id=buyer_id, digest=digest, he_params=decoded.params, outputs=len(decoded.queries),
        size=len(data), data=data, created_at=context.clock(),
    )  # fmt: skip
    context.store.add_job_input(row)
    return row


def check_job_input(context: CoordinatorContext, buyer_id: str, spec: JobSpec) -> None:
    """A job that names an input must name one of this buyer's, for its parameter set and outputs."""
    if spec.kind is not JobKind.ENCRYPTED_SCORING or spec.input_digest is None:
        return
    row = context.store.job_input(buyer_id, spec.input_digest)
    if row is None:
        raise InvalidRequestError(
            f"no job input {spec.input_digest} of yours; upload it first (PUT /api/v1/jobs/inputs)",
            code="input_not_found",
        )
    if row.he_params != spec.he_params or row.outputs != len(spec.outputs):
        raise InvalidRequestError(
            f"the input holds {row.outputs} outputs for {row.he_params}; the job names "
            f"{len(spec.outputs)} for {spec.he_params}",
            code="input_mismatch",
        )
