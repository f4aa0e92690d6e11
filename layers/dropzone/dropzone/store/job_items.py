"""Jobs as items of the jobs table, and back: for table reads and stream images alike."""

from __future__ import annotations

from typing import Any

from dropzone.models.jobs import Job, JobKind, JobStatus
from dropzone.store.dynamo_items import item_from_record, record_from_item

# Attributes the ledger keeps on an item for itself; they are not part of a Job.
_INTERNAL = ("state_key", "lease_owner", "lease_until", "expires_at", "last_ignored")


def state_key(kind: JobKind | str, status: JobStatus | str) -> str:
    """The by-state index's key: one kind of job in one status."""
    return f"{kind}#{status}"


def job_to_item(job: Job) -> dict[str, Any]:
    record = job.model_dump(mode="json", exclude_none=True)
    record["state_key"] = state_key(job.kind, job.status)
    return item_from_record(record)


def job_from_item(item: dict[str, Any]) -> Job:
    record = record_from_item(item)
    for name in _INTERNAL:
        record.pop(name, None)
    return Job.model_validate(record)
