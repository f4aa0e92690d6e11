"""Bad input ends the same way in every workflow: a report, then REJECTED."""

from __future__ import annotations

from typing import Any

from dropzone.adapters.s3 import S3
from dropzone.clock import iso, utcnow
from dropzone.errors import InvalidInput
from dropzone.models.jobs import Job, JobStatus
from dropzone.observability import logger, metrics
from dropzone.store.ledger import Ledger, TransitionResult

REPORTS_PREFIX = "reports/"


def report_key(job: Job) -> str:
    return f"{REPORTS_PREFIX}{job.kind}/{job.job_id}.json"


def reject(
    job: Job,
    invalid: InvalidInput,
    *,
    ledger: Ledger,
    s3: S3,
    results_bucket: str,
    details: dict[str, Any] | None = None,
) -> TransitionResult:
    """Write the JSON error report to the results bucket, then mark the job REJECTED.
    `details` (a Bedrock upload's estimate, say) go on the job and into the report.

    The report goes first: if writing it fails, the job stays as it was and the delivery
    is retried, so a REJECTED job always has its report.
    """
    report = {
        "job_id": job.job_id,
        "kind": job.kind,
        "status": JobStatus.REJECTED,
        "source": job.source.model_dump(exclude_none=True),
        "target": job.target,
        "reason": invalid.message,
        "problems": [problem.as_dict() for problem in invalid.problems],
        "rejected_at": iso(utcnow()),
        **(details or {}),
    }
    location = s3.put_json(results_bucket, report_key(job), report)
    result = ledger.transition(
        job.job_id,
        job.kind,
        JobStatus.REJECTED,
        message=invalid.message,
        updates={**(details or {}), "report_location": location},
    )
    logger.info(
        "job rejected",
        extra={
            "job_id": job.job_id,
            "kind": job.kind,
            "reason": invalid.message,
            "report": location,
        },
    )
    metrics.add_metric(name="JobsRejected", unit="Count", value=1)
    return result


def rejected(
    job: Job,
    invalid: InvalidInput,
    *,
    ledger: Ledger,
    s3: S3,
    results_bucket: str,
    details: dict[str, Any] | None = None,
) -> Job:
    """`reject`, returning the job as it now stands (as it was, when another delivery had
    already moved it on)."""
    result = reject(
        job, invalid, ledger=ledger, s3=s3, results_bucket=results_bucket, details=details
    )
    return result.job or job
