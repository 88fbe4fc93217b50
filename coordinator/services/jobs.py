"""Job submission and views: validate a buyer's typed job spec against the public schema and queue it."""

from __future__ import annotations

import json
import uuid
from typing import Any

from contracts.enforcement import evaluate
from contracts.exceptions import ContractsError
from contracts.jobspec import JobSpec, validate_spec
from contracts.policy import JobRequest, Usage
from coordinator.audit.trail import COORDINATOR, Event
from coordinator.context import CoordinatorContext
from coordinator.exceptions import ConflictError, CoordinatorError, NotFoundError, PolicyViolationError
from coordinator.faults import CoordinatorFault
from coordinator.services import contracting
from coordinator.store.tables import Job, JobState


def submit_job(
    context: CoordinatorContext,
    buyer_id: str,
    spec: JobSpec,
    contract_id: str,
    epsilon: float | None = None,
    purpose: str | None = None,
) -> Job:
    """Enforce the contract, validate, and queue; a refused job leaves an audit entry and nothing else."""
    try:
        return _submit_under_contract(context, buyer_id, spec, contract_id, epsilon, purpose)
    except (CoordinatorError, ContractsError) as error:
        refusal = {
            "code": error.code,
            "reason": str(error),
            "spec": spec.model_dump(mode="json"),
            **error.details,
        }
        subjects = {"participant": buyer_id, "contract": contract_id}
        context.audit.record(buyer_id, Event.JOB_REFUSED, subjects, refusal)
        raise


def _submit_under_contract(
    context: CoordinatorContext,
    buyer_id: str,
    spec: JobSpec,
    contract_id: str,
    epsilon: float | None,
    purpose: str | None,
) -> Job:
    contract = contracting.load(context, contract_id)
    if contract.buyer != buyer_id:
        raise NotFoundError(f"no contract {contract_id}", code="contract_not_found")
    row = context.store.contract(contract_id)
    request = JobRequest(
        spec=spec,
        buyer=buyer_id,
        purpose=purpose or contract.purpose,
        region=contract.region,
        factories=len(contract.provider_ids),
        epsilon=epsilon,
    )
    decision = evaluate(contract, request, Usage(jobs_run=row.jobs_run, epsilon_spent=row.epsilon_spent),
                        context.clock())  # fmt: skip
    misbehaving = context.fault in (CoordinatorFault.SKIP_POLICY, CoordinatorFault.IGNORE_REVOCATION)
    if not decision.allowed and not misbehaving:
        first = decision.reasons[0]
        raise PolicyViolationError(
            f"the job breaks the contract: {first.message}",
            details={
                "constraint": first.constraint,
                "reasons": [r.model_dump(mode="json") for r in decision.reasons],
            },
        )
    validate_spec(spec, contract.terms.dataset_schema)
    now = context.clock()
    job = context.store.add_job_under_contract(
        Job(job_id="job_" + uuid.uuid4().hex, buyer_id=buyer_id, contract_id=contract_id, kind=spec.kind,
            spec_json=spec.model_dump_json(), state=JobState.QUEUED, created_at=now, updated_at=now),
        epsilon or 0.0,
    )  # fmt: skip
    subjects = {"job": job.job_id, "participant": buyer_id, "contract": contract_id}
    context.audit.record(buyer_id, Event.JOB_SUBMITTED, subjects, {"spec": spec.model_dump(mode="json")})
    spent = {"jobs_run": row.jobs_run + 1, "epsilon_spent": row.epsilon_spent + (epsilon or 0.0)}
    budget_subjects = {"contract": contract_id, "participant": buyer_id}
    context.audit.record(COORDINATOR, Event.BUDGET_SPENT, budget_subjects, spent)
    context.wake(context.jobs_queued)
    return job


def visible_job(context: CoordinatorContext, job_id: str, participant_id: str, is_operator: bool) -> Job:
    """The job if this principal may see it; a buyer sees only its own jobs (others look absent)."""
    job = context.store.job(job_id)
    if not is_operator and job.buyer_id != participant_id:
        raise NotFoundError(f"no job {job_id}", code="job_not_found")
    return job


def job_result(job: Job) -> dict[str, Any]:
    if job.state != JobState.SUCCEEDED or job.result_json is None:
        raise ConflictError(
            f"job {job.job_id} has no result (state {job.state})",
            code="result_not_available",
            details={"state": job.state, "reason": job.reason},
        )
    result: dict[str, Any] = json.loads(job.result_json)
    return result
