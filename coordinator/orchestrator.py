"""The job loop: claim queued jobs from the store, run them, persist the outcome."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

from coordinator.audit.trail import COORDINATOR, Event
from coordinator.context import CoordinatorContext
from coordinator.exceptions import CoordinatorError
from coordinator.job_run import JobRun
from coordinator.run_channel import RunFailed
from coordinator.tables import Job, JobState

log = logging.getLogger(__name__)
POLL_SECONDS = 1.0


class Orchestrator:
    def __init__(self, ctx: CoordinatorContext, max_concurrent: int = 4) -> None:
        self.ctx = ctx
        self._running: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(max_concurrent)
        self._stopping = False

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
            task.add_done_callback(self._running.discard)

    async def stop(self) -> None:
        """Stop claiming; interrupted runs stay RUNNING and are requeued at the next start."""
        self._stopping = True
        for task in list(self._running):
            task.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)

    async def _run(self, job: Job) -> None:
        run = JobRun(self.ctx, job)
        audit, subjects = self.ctx.audit, {"job": job.job_id, "participant": job.buyer_id}
        try:
            log.info("job %s (%s) started, attempt %d", job.job_id, job.kind, job.attempts)
            audit.record(COORDINATOR, Event.JOB_STARTED, subjects, {"attempt": job.attempts})
            outcome = await run.execute()
            self.ctx.store.finish_job(
                job.job_id, JobState.SUCCEEDED, self.ctx.clock(),
                result_json=json.dumps(outcome.result), contributors=outcome.contributors,
            )  # fmt: skip
            summary = {"contributors": outcome.contributors, "participants": run.participants}
            audit.record(COORDINATOR, Event.JOB_SUCCEEDED, subjects, summary)
            log.info("job %s succeeded with %d contributors", job.job_id, outcome.contributors)
        except (RunFailed, CoordinatorError) as failure:
            log.warning("job %s failed: %s", job.job_id, failure)
            self.ctx.store.finish_job(job.job_id, JobState.FAILED, self.ctx.clock(), reason=str(failure))
            audit.record(COORDINATOR, Event.JOB_FAILED, subjects, {"reason": str(failure)})
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
