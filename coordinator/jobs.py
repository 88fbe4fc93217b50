"""Job submission and views: validate a buyer's typed job spec against the public schema and queue it."""

from __future__ import annotations

import json
import uuid
from typing import Any

from contracts.exceptions import ContractsError
from contracts.jobspec import JobSpec, validate_spec
from coordinator.audit.trail import Event
from coordinator.context import CoordinatorContext
from coordinator.datasets import dataset_schema
from coordinator.exceptions import ConflictError, CoordinatorError, NotFoundError
from coordinator.tables import Job, JobState


def submit_job(context: CoordinatorContext, buyer_id: str, spec: JobSpec) -> Job:
    """Validate and queue; a refused job leaves an audit entry with the reason and nothing else."""
    try:
        schema, _holders = dataset_schema(context.store, spec.dataset)
        validate_spec(spec, schema)
    except (CoordinatorError, ContractsError) as error:
        refusal = {"code": error.code, "reason": str(error), "spec": spec.model_dump(mode="json")}
        context.audit.record(buyer_id, Event.JOB_REFUSED, {"participant": buyer_id}, refusal)
        raise
    now = context.clock()
    job = context.store.add_job(
        Job(
            job_id="job_" + uuid.uuid4().hex,
            buyer_id=buyer_id,
            kind=spec.kind,
            spec_json=spec.model_dump_json(),
            state=JobState.QUEUED,
            created_at=now,
            updated_at=now,
        )
    )
    context.audit.record(buyer_id, Event.JOB_SUBMITTED, {"job": job.job_id, "participant": buyer_id},
                         {"spec": spec.model_dump(mode="json")})  # fmt: skip
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
