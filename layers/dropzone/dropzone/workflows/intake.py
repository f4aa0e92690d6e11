"""Claiming an uploaded object: one job per object version, however often delivered."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dropzone.adapters.s3 import S3, ObjectHead, ObjectMissing
from dropzone.errors import InvalidInput, TransientError
from dropzone.ids import job_id_for
from dropzone.models.jobs import Job, JobKind, JobStatus, SourceObject
from dropzone.observability import logger, metrics
from dropzone.store.ledger import Ledger


@dataclass(frozen=True)
class Claim:
    """`job` as recorded; `claimed` is True when this delivery holds its lease and must
    do the work, False when an earlier delivery already did."""

    job: Job
    claimed: bool


def draft_job(source: SourceObject, kind: JobKind, key: str, target: str, **extra: Any) -> Job:
    """The ACCEPTED job an uploaded object asks for, before it is claimed; `key` is the
    first candidate spelling of the object's key (see `candidate_keys`)."""
    return Job(
        job_id=job_id_for(source),
        kind=kind,
        status=JobStatus.ACCEPTED,
        source=source.model_copy(update={"key": key}),
        target=target,
        created_at="",
        updated_at="",
        **extra,
    )


def with_head(source: SourceObject, head: ObjectHead) -> SourceObject:
    """The source as S3 describes it: the spelling of the key that exists, size and ETag."""
    return source.model_copy(update={"key": head.key, "size": head.size, "etag": head.etag})


def claim(ledger: Ledger, draft: Job, *, owner: str, lease_seconds: int) -> Claim:
    """Record the ACCEPTED job, or find it, and take the lease on it.

    Exactly one of racing deliveries creates the record. A delivery that finds the job
    still ACCEPTED takes over only when the holder's lease has run out (the holder
    crashed); while it runs, TransientError sends the delivery back to its queue.

    The conditional create comes first and the record is read only when it already
    exists (the failed condition returns it): one write for a first delivery, the common
    case, rather than a read and a write.
    """
    created = ledger.create(draft, lease_owner=owner, lease_seconds=lease_seconds)
    if created.created:
        metrics.add_metric(name="JobsAccepted", unit="Count", value=1)
        return Claim(created.job, claimed=True)
    existing = created.job
    if existing.status is not JobStatus.ACCEPTED:
        logger.info(
            "duplicate delivery ignored",
            extra={"job_id": existing.job_id, "status": existing.status},
        )
        metrics.add_metric(name="DuplicateDeliveries", unit="Count", value=1)
        return Claim(existing, claimed=False)
    if not ledger.acquire_lease(existing.job_id, owner=owner, lease_seconds=lease_seconds):
        raise TransientError(f"job {existing.job_id} is being handled by another delivery")
    return Claim(existing, claimed=True)


def head_of(s3: S3, source: SourceObject, keys: list[str]) -> ObjectHead:
    """The uploaded object's head, trying each candidate spelling of its key (see
    `candidate_keys`); an object deleted since its upload is bad input."""
    for key in keys:
        try:
            return s3.head(source.bucket, key, source.version_id)
        except ObjectMissing:
            continue
    raise InvalidInput.single(
        "object", f"{source.uri} (version {source.version_id or 'latest'}) no longer exists"
    )
