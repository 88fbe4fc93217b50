"""Job submission and views: validate a buyer's typed job spec against the public schema and queue it."""

from __future__ import annotations

import base64
import json
import threading
import uuid
from typing import Any

from contracts.agreement import Contract
from contracts.canonical import canonical
from contracts.enforcement import evaluate
from contracts.exceptions import ContractsError
from contracts.jobspec import JobSpec, validate_spec
from contracts.orders import ORDERED_KINDS, OrderError, SignedOrder, verify_order
from contracts.policy import JobRequest, Usage
from coordinator.audit.refusals import RequestDigest, refusal_payload, safe_subjects, scalar_details
from coordinator.audit.trail import COORDINATOR, Event
from coordinator.context import CoordinatorContext
from coordinator.exceptions import (
    ConflictError,
    CoordinatorError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    PolicyViolationError,
    mark_audited,
)
from coordinator.services import contracting
from coordinator.services.job_inputs import check_job_input
from coordinator.store.database import Charge
from coordinator.store.tables import ContractRow, Job, JobOrderRow, JobState
from protocols.dp.accounting import epsilon_for, rho_for


def submit_job(
    context: CoordinatorContext,
    buyer_id: str,
    spec: JobSpec,
    contract_id: str,
    epsilon: float | None = None,
    purpose: str | None = None,
    *,
    request: RequestDigest | None = None,
    order: SignedOrder | None = None,
) -> Job:
    """Enforce the contract, validate, and queue; a refused job leaves an audit entry and nothing else.

    The entry summarises the request (``request``, else the canonical spec) by digest and size; it never
    holds the spec, which may be as large as the gateway lets a body be.
    """
    try:
        return _submit_under_contract(context, buyer_id, spec, contract_id, epsilon, purpose, order)
    except (CoordinatorError, ContractsError) as error:
        summary = request or RequestDigest.of(canonical(spec.model_dump(mode="json")))
        reasons = error.details.get("reasons") if isinstance(error, PolicyViolationError) else None
        constraints = [r.get("constraint") for r in reasons or () if isinstance(r, dict)]
        extra = scalar_details(error.details) | ({"constraints": constraints} if constraints else {})
        refusal = refusal_payload(error.code, str(error), summary, **extra)
        subjects = safe_subjects(participant=buyer_id, contract=contract_id)
        context.audit.record(buyer_id, Event.JOB_REFUSED, subjects, refusal)
        mark_audited(error)
        raise


def _submit_under_contract(
    context: CoordinatorContext,
    buyer_id: str,
    spec: JobSpec,
    contract_id: str,
    epsilon: float | None,
    purpose: str | None,
    order: SignedOrder | None,
) -> Job:
    contract = contracting.load(context, contract_id)
    if contract.buyer != buyer_id:
        raise NotFoundError(f"no contract {contract_id}", code="contract_not_found")
    job_id = _checked_order(context, buyer_id, contract_id, spec, order)
    check_job_input(context, buyer_id, spec)
    request = JobRequest(
        spec=spec,
        buyer=buyer_id,
        purpose=purpose or contract.purpose,
        region=contract.region,
        factories=len(contract.provider_ids),
        epsilon=epsilon,
        delta=contract.terms.privacy.delta,
    )
    rho = rho_for(epsilon, request.delta) if epsilon is not None else 0.0
    charge = Charge(epsilon=epsilon or 0.0, rho=rho)
    judged_on: list[Usage] = []  # the usage the admission was decided on, for the audit entry

    def decide(row: ContractRow) -> Charge:
        # The row is locked: its state (revoked meanwhile?) and usage are what this admission is judged on.
        usage = Usage(jobs_run=row.jobs_run, epsilon_spent=row.epsilon_spent, rho_spent=row.rho_spent)
        _enforce(context, Contract.model_validate_json(row.contract_text), request, usage)
        validate_spec(spec, contract.terms.dataset_schema)
        judged_on.append(usage)
        return charge

    now = context.clock()
    ordered = [JobOrderRow(job_id=job_id, order_json=order.model_dump_json())] if order is not None else []
    job = context.store.admit_job(
        Job(job_id=job_id, buyer_id=buyer_id, contract_id=contract_id, kind=spec.kind,
            spec_json=spec.model_dump_json(), state=JobState.QUEUED, created_at=now, updated_at=now),
        decide,
        ordered,
    )  # fmt: skip
    subjects = {"job": job.job_id, "participant": buyer_id, "contract": contract_id}
    context.audit.record(buyer_id, Event.JOB_SUBMITTED, subjects, {"spec": spec.model_dump(mode="json")})
    before = judged_on[-1]
    rho_spent = before.rho_spent + charge.rho
    spent = {
        "jobs_run": before.jobs_run + 1,
        "rho_spent": rho_spent,
        "epsilon_spent": epsilon_for(rho_spent, request.delta),
        "delta": request.delta,
    }
    budget_subjects = {"contract": contract_id, "participant": buyer_id}
    context.audit.record(COORDINATOR, Event.BUDGET_SPENT, budget_subjects, spent)
    context.wake(context.jobs_queued)
    return job


def _checked_order(
    context: CoordinatorContext, buyer_id: str, contract_id: str, spec: JobSpec, order: SignedOrder | None
) -> str:
    """The job id: the one the buyer's signed order names (checked as every node will), else a new one.

    Kinds whose input is the buyer's secret run only on such an order (``contracts.orders``).
    """
    if order is None:
        if spec.kind in ORDERED_KINDS:
            raise InvalidRequestError(
                f"a {spec.kind} job runs only on the buyer's signed order (sign it with your key)",
                code="order_required",
            )
        return "job_" + uuid.uuid4().hex
    key = context.store.signing_keys([buyer_id]).get(buyer_id)
    if key is None:
        raise PermissionDeniedError("you have no registered signing key to order jobs with", code="order_key")
    try:
        verify_order(order, buyer=buyer_id, key=base64.b64decode(key), contract_id=contract_id,
                     job_id=order.order.job_id, spec=spec)  # fmt: skip
    except OrderError as exc:
        raise PermissionDeniedError(str(exc), code=exc.code) from exc
    if context.store.job_exists(order.order.job_id):
        raise ConflictError(f"job {order.order.job_id} exists: an order runs once", code="order_reused")
    return order.order.job_id


def _enforce(context: CoordinatorContext, contract: Contract, request: JobRequest, usage: Usage) -> None:
    """Raise PolicyViolationError with every reason unless the contract allows the job."""
    decision = evaluate(contract, request, usage, context.clock())
    if decision.allowed:
        return
    first = decision.reasons[0]
    raise PolicyViolationError(
        f"the job breaks the contract: {first.message}",
        details={
            "constraint": first.constraint,
            "reasons": [r.model_dump(mode="json") for r in decision.reasons],
        },
    )


def visible_job(context: CoordinatorContext, job_id: str, participant_id: str, is_operator: bool) -> Job:
    """The job if this principal may see it; a buyer sees only its own jobs (others look absent)."""
    job = context.store.job(job_id)
    if not is_operator and job.buyer_id != participant_id:
        raise NotFoundError(f"no job {job_id}", code="job_not_found")
    return job


_RELEASES = threading.Lock()  # one reader's first read is logged once, however many polls race


def release_result(context: CoordinatorContext, job: Job, reader: str) -> dict[str, Any]:
    """The job's result; the first read by ``reader`` appends result.released, later reads append nothing."""
    released = job_result(job)
    with _RELEASES:
        earlier = context.audit.log.entries(
            0, 10_000, kind=Event.RESULT_RELEASED, subject=("job", job.job_id)
        )
        if not any(entry.payload.get("to") == reader for entry in earlier):
            subjects = {"job": job.job_id, "participant": job.buyer_id}
            context.audit.record(reader, Event.RESULT_RELEASED, subjects, {"to": reader})
    return released


def job_result(job: Job) -> dict[str, Any]:
    if job.state != JobState.SUCCEEDED or job.result_json is None:
        raise ConflictError(
            f"job {job.job_id} has no result (state {job.state})",
            code="result_not_available",
            details={"state": job.state, "reason": job.reason},
        )
    result: dict[str, Any] = json.loads(job.result_json)
    return result
