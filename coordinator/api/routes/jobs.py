"""Joint-analysis jobs: submit (buyer), follow and read results (the buyer who owns it, or the operator)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from contracts.canonical import SafeId
from contracts.identity import Role
from contracts.jobspec import JobSpec
from contracts.orders import SignedOrder
from contracts.schema import IDENTIFIER_PATTERN
from coordinator.api.deps import BuyerDep, BuyerOrOperatorDep, ContextDep, IdPath
from coordinator.api.middleware import request_digest
from coordinator.exceptions import ConflictError, InvalidRequestError
from coordinator.services import job_inputs, jobs
from coordinator.store.tables import Job

router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"])
INPUTS_PATH = "/api/v1/jobs/inputs"
EXCHANGE_PATH = r"/api/v1/jobs/[^/]+/exchange"  # a pattern: the body limit of the buyer's answers


class JobPublic(BaseModel):
    id: str
    buyer: str
    kind: str
    contract_id: str | None
    spec: dict[str, Any]
    state: str
    reason: str | None
    attempts: int
    contributors: int | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, job: Job) -> JobPublic:
        return cls(
            id=job.job_id,
            buyer=job.buyer_id,
            kind=job.kind,
            contract_id=job.contract_id,
            spec=json.loads(job.spec_json),
            state=job.state,
            reason=job.reason,
            attempts=job.attempts,
            contributors=job.contributors,
            created_at=_utc(job.created_at),
            updated_at=_utc(job.updated_at),
        )


def _utc(moment: datetime) -> datetime:
    """SQLite hands back naive UTC wall times; the schema promises RFC 3339 date-times with an offset."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class JobSubmission(JobSpec):
    """A job spec (with the epsilon it spends, if any) plus the usage contract it runs under."""

    contract_id: SafeId = Field(description="The finalized usage contract this job runs under")
    purpose: str | None = Field(
        default=None,
        pattern=IDENTIFIER_PATTERN,
        description="Why this job runs; the contract's purpose if unset",
    )
    order: SignedOrder | None = Field(
        default=None,
        description="The buyer's signed order of this job (required for encrypted_scoring and psi_*): "
        "its job id, contract and exact spec, signed with the buyer's registered key",
    )


@router.post("", status_code=202)
def submit(body: JobSubmission, request: Request, context: ContextDep, buyer: BuyerDep) -> JobPublic:
    spec = JobSpec.model_validate(body.model_dump(exclude={"contract_id", "purpose", "order"}))
    job = jobs.submit_job(context, buyer.participant_id, spec, body.contract_id, spec.epsilon, body.purpose,
                          request=request_digest(request.scope), order=body.order)  # fmt: skip
    return JobPublic.of(job)


class JobInputPublic(BaseModel):
    digest: str = Field(description="SHA-256 of the input; a job names it as input_digest")
    bytes: int
    he_params: str
    outputs: int


@router.put(
    "/inputs",
    status_code=201,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
async def upload_input(request: Request, context: ContextDep, buyer: BuyerDep) -> JobInputPublic:
    """A buyer's encrypted query (public context and encrypted coefficients), for encrypted scoring jobs.

    Buyer only. The body is the raw query (``protocols.he.query``) and may be as large as
    ``DATASPACE_MAX_INPUT_BYTES``; a context carrying a secret key is refused (422) and audited.
    """
    data = await request.body()
    row = await run_in_threadpool(job_inputs.store_input, context, buyer.participant_id, data)
    return JobInputPublic(digest=row.digest, bytes=row.size, he_params=row.he_params, outputs=row.outputs)


@router.get("")
def list_jobs(context: ContextDep, principal: BuyerOrOperatorDep) -> list[JobPublic]:
    buyer = None if principal.role is Role.OPERATOR else principal.participant_id
    return [JobPublic.of(job) for job in context.store.jobs(buyer_id=buyer)]


@router.get("/{job_id}")
def status(job_id: IdPath, context: ContextDep, principal: BuyerOrOperatorDep) -> JobPublic:
    job = jobs.visible_job(context, job_id, principal.participant_id, principal.role is Role.OPERATOR)
    return JobPublic.of(job)


@router.get("/{job_id}/result")
def result(job_id: IdPath, context: ContextDep, principal: BuyerOrOperatorDep) -> dict[str, Any]:
    """The released figures; the first read by each reader is logged (result.released), later ones are not."""
    job = jobs.visible_job(context, job_id, principal.participant_id, principal.role is Role.OPERATOR)
    released = jobs.release_result(context, job, principal.participant_id)
    return {"id": job.job_id, "contributors": job.contributors, "result": released}


class ExchangeItem(BaseModel):
    factory: SafeId = Field(description="The factory the message comes from, or the answer goes to")
    data: str = Field(description="Base64 of the protocol message (group elements only)")


class Exchange(BaseModel):
    items: list[ExchangeItem]


@router.get("/{job_id}/exchange")
def pending_exchange(job_id: IdPath, context: ContextDep, buyer: BuyerDep) -> Exchange:
    """The factories' messages the buyer has yet to answer in its running job (set intersection).

    Buyer only, for its own job; empty when nothing waits. The buyer's client answers them with POST.
    """
    jobs.visible_job(context, job_id, buyer.participant_id, False)
    rows = context.store.exchange(job_id)
    pending = [row for row in rows if row.response is None]
    items = [
        ExchangeItem(factory=r.participant_id, data=base64.b64encode(r.request).decode()) for r in pending
    ]
    return Exchange(items=items)


@router.post("/{job_id}/exchange", status_code=202)
def answer_exchange(job_id: IdPath, body: Exchange, context: ContextDep, buyer: BuyerDep) -> dict[str, int]:
    """The buyer's answers to pending messages; others are ignored (409 if none of them was pending)."""
    jobs.visible_job(context, job_id, buyer.participant_id, False)
    try:
        answers = {item.factory: base64.b64decode(item.data, validate=True) for item in body.items}
    except ValueError as exc:
        raise InvalidRequestError(f"an answer is not base64: {exc}", code="invalid_exchange") from None
    accepted = context.store.answer_exchange(job_id, answers)
    if answers and not accepted:
        raise ConflictError("nothing of this job waits for an answer", code="nothing_pending")
    return {"accepted": accepted}
