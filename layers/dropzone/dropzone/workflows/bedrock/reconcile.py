"""In-flight jobs without news → GetModelInvocationJob; leaked slots freed.

The scheduled backstop: quiet jobs are asked about one by one, quiet uploads are handed to
their finishing step (which acts only once all their jobs have ended), and slots held by
ended or unknown jobs are freed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from dropzone import aws
from dropzone.clock import utcnow
from dropzone.errors import TransientError
from dropzone.models.jobs import JobStatus
from dropzone.observability import logger, metrics
from dropzone.settings.bedrock import BedrockSettings
from dropzone.workflows.bedrock.finish import wake_finish
from dropzone.workflows.bedrock.rounds import deadline_passed
from dropzone.workflows.bedrock.rules import KIND
from dropzone.workflows.bedrock.state import BedrockTracker
from dropzone.workflows.job_metrics import emit_oldest_in_flight


@dataclass
class BedrockReconciler:
    settings: BedrockSettings
    tracker: BedrockTracker
    clock: Callable[[], datetime] = utcnow

    @classmethod
    def from_env(cls, client: aws.ClientSource = aws.client) -> BedrockReconciler:
        settings = BedrockSettings.from_env()
        return cls(settings, BedrockTracker.from_settings(settings, client))

    def run(self) -> dict[str, int]:
        """Free leaked slots first, then refresh each quiet job on its own, so that one
        unreadable job cannot stop the sweep; errors fail the run at the end (retried,
        alarmed)."""
        ledger = self.tracker.ledger
        freed = self._free_leaked_slots()
        stopped = self._stop_late_jobs()
        quiet_since = self.clock() - timedelta(minutes=self.settings.reconcile_grace_minutes)
        refreshed = errors = 0
        for status in (JobStatus.SUBMITTED, JobStatus.RUNNING):
            for job in ledger.by_state(KIND, status, updated_before=quiet_since):
                try:
                    if job.children:  # an upload: finished once all its jobs have ended
                        wake_finish(self.tracker.invoker, self.settings, job.job_id)
                        continue
                    self.tracker.refresh(job, missing_is_final=True)
                    refreshed += 1
                except Exception as error:  # isolate: the next job still gets its turn
                    errors += 1
                    logger.warning(
                        "could not reconcile job",
                        extra={"job_id": job.job_id, "error": repr(error)[:500]},
                    )
        summary = {
            "refreshed": refreshed,
            "slots_freed": freed,
            "stopped_late": stopped,
            "errors": errors,
        }
        logger.info("bedrock reconciliation finished", extra=summary)
        if freed:
            metrics.add_metric(name="BedrockSlotsRecovered", unit="Count", value=freed)
        emit_oldest_in_flight(ledger, KIND, self.clock())
        if errors:
            raise TransientError(f"reconciliation finished with {errors} errors: {summary}")
        return summary

    def _stop_late_jobs(self) -> int:
        """Stop every batch job whose upload's deadline has passed: Bedrock keeps what it
        has answered, and the upload's finishing runs the rest on demand. A job not yet
        submitted is left to admission, which ends it instead of submitting it."""
        ledger, bedrock, now = self.tracker.ledger, self.tracker.bedrock, self.clock()
        stopped = 0
        for status in (JobStatus.SUBMITTED, JobStatus.RUNNING):
            for job in ledger.by_state(KIND, status):
                arn = (job.model_extra or {}).get("job_arn")
                if not arn or job.service_status == "Stopping" or not deadline_passed(job, now):
                    continue
                try:
                    bedrock.stop_job(str(arn))
                except Exception as error:  # one job's refusal must not stop the sweep
                    logger.warning(
                        "could not stop a job past its deadline",
                        extra={"job_id": job.job_id, "error": repr(error)[:500]},
                    )
                    continue
                ledger.annotate(job.job_id, KIND, status, service_status="Stopping")
                stopped += 1
        if stopped:
            metrics.add_metric(name="BedrockJobsStoppedAtDeadline", unit="Count", value=stopped)
        return stopped

    def _free_leaked_slots(self) -> int:
        ledger, slots = self.tracker.ledger, self.tracker.slots
        freed = 0
        for model_id in slots.models():
            for holder in slots.holders(model_id):
                holding = ledger.get(holder)
                if holding is None or holding.status.is_terminal:
                    slots.release(model_id, holder)
                    freed += 1
        return freed
