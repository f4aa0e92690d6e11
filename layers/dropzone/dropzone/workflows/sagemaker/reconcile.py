"""SageMaker asynchronous inference, reconcile: SUBMITTED jobs with no news → look for
their output → SUCCEEDED / FAILED / EXPIRED."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from botocore.exceptions import ClientError

from dropzone import aws
from dropzone.adapters.s3 import S3
from dropzone.clock import iso, utcnow
from dropzone.models.jobs import Job, JobStatus
from dropzone.observability import logger, metrics
from dropzone.settings.sagemaker import SageMakerReconcileSettings
from dropzone.store.ledger import Ledger
from dropzone.workflows.job_metrics import emit_oldest_in_flight
from dropzone.workflows.sagemaker.rules import KIND, failure_message


@dataclass(frozen=True)
class ReconcileSummary:
    examined: int = 0
    succeeded: int = 0
    failed: int = 0
    expired: int = 0
    unresolved: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class SageMakerReconciler:
    settings: SageMakerReconcileSettings
    ledger: Ledger
    s3: S3
    clock: Callable[[], datetime] = utcnow

    @classmethod
    def from_env(cls, client: aws.ClientSource = aws.client) -> SageMakerReconciler:
        settings = SageMakerReconcileSettings.from_env()
        return cls(settings, Ledger.from_settings(settings, client("dynamodb")), S3(client("s3")))

    def run(self) -> ReconcileSummary:
        now = self.clock()
        quiet_since = now - timedelta(minutes=self.settings.reconcile_grace_minutes)
        counts = {"examined": 0, "succeeded": 0, "failed": 0, "expired": 0, "unresolved": 0}
        for job in self.ledger.by_state(KIND, JobStatus.SUBMITTED, updated_before=quiet_since):
            if counts["examined"] >= self.settings.reconcile_batch_limit:
                break
            counts["examined"] += 1
            counts[self._reconcile(job, now)] += 1
        summary = ReconcileSummary(**counts)
        logger.info("reconciliation finished", extra=summary.as_dict())
        for name, value in counts.items():
            if name != "examined" and value:
                metrics.add_metric(name=f"Reconciled{name.capitalize()}", unit="Count", value=value)
        emit_oldest_in_flight(self.ledger, KIND, self.clock())
        return summary

    def _reconcile(self, job: Job, now: datetime) -> str:
        try:
            if job.output_location and self.s3.exists(job.output_location):
                self.ledger.transition(
                    job.job_id,
                    KIND,
                    JobStatus.SUCCEEDED,
                    service_status="Completed",
                    message="output found by reconciliation; no success notification arrived",
                )
                return "succeeded"
            if job.failure_location and self.s3.exists(job.failure_location):
                reason = self.s3.read_text(job.failure_location, max_bytes=1024).strip()
                self.ledger.transition(
                    job.job_id,
                    KIND,
                    JobStatus.FAILED,
                    service_status="Failed",
                    message=failure_message(reason),
                )
                return "failed"
        except (ClientError, ValueError) as error:  # e.g. outputs in a bucket we cannot read
            logger.warning(
                "could not check job outputs", extra={"job_id": job.job_id, "error": repr(error)}
            )
        if job.deadline_at and job.deadline_at < iso(now):
            self.ledger.transition(
                job.job_id,
                KIND,
                JobStatus.EXPIRED,
                message=(
                    f"no output and no failure by {job.deadline_at} "
                    "(request TTL plus invocation timeout)"
                ),
            )
            return "expired"
        return "unresolved"
