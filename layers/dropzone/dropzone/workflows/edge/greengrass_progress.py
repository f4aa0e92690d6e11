"""Recording a core device's result on its Greengrass roll-out, and settling the roll-out.

Status events and the scheduled reconciler record device results and settle roll-outs the
same way, by the rules of dropzone.workflows.edge.greengrass_rules.
"""

from __future__ import annotations

from typing import Any

from dropzone.models.jobs import Job, JobStatus
from dropzone.observability import metrics
from dropzone.store.ledger import Ledger
from dropzone.workflows.edge import KIND
from dropzone.workflows.edge.greengrass_rules import DEVICES_ATTRIBUTE, progress_of


def record_device(ledger: Ledger, job_id: str, device: str, entry: dict[str, Any]) -> Job | None:
    """Keep a core device's result on its roll-out; None when the entry is no newer than the
    one already kept (a duplicate or reordered report)."""
    return ledger.record_entry(
        job_id, KIND, list(JobStatus), attribute=DEVICES_ATTRIBUTE, key=device, entry=entry
    )


def settle(ledger: Ledger, job: Job, service_status: str) -> Job:
    """Derive a roll-out job's status from its devices' results (idempotent)."""
    progress = progress_of(job)
    if job.status.is_terminal or not progress.decided:
        if job.status is JobStatus.SUBMITTED:
            moved = ledger.transition(
                job.job_id,
                KIND,
                JobStatus.RUNNING,
                service_status=service_status,
                message=progress.waiting_message(),
                updates={"counts": progress.counts},
            )
            return moved.job or job
        updates: dict[str, Any] = {"counts": progress.counts}
        if job.status.is_terminal:  # the outcome stands; late reports add to the counts
            service_status = job.service_status or service_status
        else:
            updates["message"] = progress.waiting_message()
        return (
            ledger.annotate(
                job.job_id, KIND, job.status, service_status=service_status, updates=updates
            )
            or job
        )
    result = ledger.transition(
        job.job_id,
        KIND,
        progress.outcome(),
        service_status=service_status,
        message=progress.outcome_message(),
        updates={"counts": progress.counts},
    )
    metrics.add_metric(name="GreengrassDeploymentsSettled", unit="Count", value=1)
    return result.job or job
