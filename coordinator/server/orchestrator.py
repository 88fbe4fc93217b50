"""The job loop: claim queued jobs from the store, run them, persist the outcome."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
from typing import Any

from contracts.jobspec import JobKind
from coordinator.audit.trail import COORDINATOR, Event
from coordinator.exceptions import CoordinatorError
from coordinator.server.extract_run import ExtractRun
from coordinator.server.job_run import JobRun
from coordinator.server.run_channel import RunFailed
from coordinator.server.runtime import ServerContext
from coordinator.store.tables import Job, JobState

log = logging.getLogger(__name__)
POLL_SECONDS = 1.0


class Orchestrator:
    def __init__(self, ctx: ServerContext, max_concurrent: int = 4) -> None:
        self.ctx = ctx
        self._running: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(max_concurrent)
        self._stopping = False
        self._by_job: dict[str, tuple[asyncio.Task[None], str | None]] = {}
        self._revoked_jobs: set[str] = set()
        ctx.on_revoked.append(self.cancel_contract)

    async def run(self) -> None:
        while not self._stopping:
            await self._slots.acquire()
            job = self.ctx.store.claim_next_job(self.ctx.settings.instance_id, self.ctx.clock())
            if job is None:
                self._slots.release()
                self.ctx.jobs_queued.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.ctx.jobs_queued.wait(), POLL_SECONDS)
                continue
            task = asyncio.create_task(self._run(job))
            self._running.add(task)
            self._by_job[job.job_id] = (task, job.contract_id)
            task.add_done_callback(self._running.discard)
            task.add_done_callback(functools.partial(self._forget, job.job_id))

    def _forget(self, job_id: str, _task: asyncio.Task[None]) -> None:
        self._by_job.pop(job_id, None)
        self._revoked_jobs.discard(job_id)

    def cancel_contract(self, contract_id: str) -> None:
        """A revoked contract stops its jobs: queued ones are cancelled, running ones interrupted."""
        reason = f"contract {contract_id} was revoked"
        for job_id in self.ctx.store.cancel_queued_jobs(contract_id, reason, self.ctx.clock()):
            self.ctx.audit.record(COORDINATOR, Event.JOB_CANCELLED, {"job": job_id, "contract": contract_id},
                                  {"reason": reason})  # fmt: skip
        for job_id, (task, job_contract) in list(self._by_job.items()):
            if job_contract == contract_id:
                self._revoked_jobs.add(job_id)
                task.cancel()

    async def stop(self) -> None:
        """Stop claiming; interrupted runs stay RUNNING and are requeued at the next start."""
        self._stopping = True
        for task in list(self._running):
            task.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)

    async def _run(self, job: Job) -> None:
        run = ExtractRun(self.ctx, job) if job.kind == JobKind.EXTRACT else JobRun(self.ctx, job)
        audit, subjects = self.ctx.audit, {"job": job.job_id, "participant": job.buyer_id}
        try:
            log.info("job %s (%s) started, attempt %d", job.job_id, job.kind, job.attempts)
            audit.record(COORDINATOR, Event.JOB_STARTED, subjects, {"attempt": job.attempts})
            outcome = await run.execute()
            self.ctx.store.finish_job(
                job.job_id, JobState.SUCCEEDED, self.ctx.clock(),
                result_json=json.dumps(outcome.result), contributors=outcome.contributors,
            )  # fmt: skip
            if outcome.receipt is not None:
                receipt_subjects = {**subjects, "contract": job.contract_id or ""}
                audit.record(COORDINATOR, Event.EXTRACT_RELEASED, receipt_subjects, outcome.receipt)
            summary = {"contributors": outcome.contributors, "participants": run.participants}
            audit.record(COORDINATOR, Event.JOB_SUCCEEDED, subjects, summary)
            log.info("job %s succeeded with %d contributors", job.job_id, outcome.contributors)
        except (RunFailed, CoordinatorError) as failure:
            log.warning("job %s failed: %s", job.job_id, failure)
            # The reason leads with the machine-readable code; the details never hold a data value.
            reason = f"{failure.code}: {failure}" if isinstance(failure, RunFailed) else str(failure)
            self.ctx.store.finish_job(job.job_id, JobState.FAILED, self.ctx.clock(), reason=reason)
            failed: dict[str, Any] = {"reason": reason, "code": failure.code}
            if isinstance(failure, RunFailed) and failure.details:
                failed["details"] = failure.details
            audit.record(COORDINATOR, Event.JOB_FAILED, subjects, failed)
        except asyncio.CancelledError:
            if job.job_id not in self._revoked_jobs:
                raise  # shutting down: the job stays RUNNING and is requeued at the next start
            reason = f"contract {job.contract_id} was revoked"
            log.warning("job %s cancelled: %s", job.job_id, reason)
            self.ctx.store.finish_job(job.job_id, JobState.CANCELLED, self.ctx.clock(), reason=reason)
            audit.record(COORDINATOR, Event.JOB_CANCELLED, subjects, {"reason": reason})
            run.abort(reason)
        except Exception as error:  # a bug must fail the job visibly, not leave it RUNNING forever
            log.exception("job %s crashed", job.job_id)
            reason = f"internal error: {error}"
            self.ctx.store.finish_job(job.job_id, JobState.FAILED, self.ctx.clock(), reason=reason)
            audit.record(COORDINATOR, Event.JOB_FAILED, subjects, {"reason": reason})
        finally:
            self._record_refusals(job, run)
            state = self.ctx.store.job(job.job_id).state
            if state != JobState.RUNNING:
                run.notify_finished(state)
            self._slots.release()

    def _record_refusals(self, job: Job, run: JobRun) -> None:
        for pid, reason in sorted((run.channel.refusals if run.channel else {}).items()):
            self.ctx.audit.record(pid, Event.NODE_REFUSED, {"job": job.job_id, "participant": pid},
                                  {"reason": reason})  # fmt: skip
