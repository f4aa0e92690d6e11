"""The job record and the one status vocabulary shared by every workflow."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import ConfigDict, Field

from dropzone.models.base import Model


class JobKind(StrEnum):
    SAGEMAKER_ASYNC = "sagemaker_async"
    BEDROCK_BATCH = "bedrock_batch"
    MODEL_PACKAGING = "model_packaging"
    EDGE_DEPLOYMENT = "edge_deployment"


class JobStatus(StrEnum):
    ACCEPTED = "ACCEPTED"
    QUEUED = "QUEUED"
    SUBMITTED = "SUBMITTED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    PARTIALLY_SUCCEEDED = "PARTIALLY_SUCCEEDED"
    FAILED = "FAILED"
    STOPPED = "STOPPED"
    EXPIRED = "EXPIRED"
    REJECTED = "REJECTED"

    @property
    def rank(self) -> int:
        return _RANK[self]

    @property
    def is_terminal(self) -> bool:
        return self.rank == _TERMINAL_RANK

    def can_move_to(self, new: JobStatus) -> bool:
        """Forward only; terminal is final; REJECTED only before anything was submitted."""
        if self.is_terminal or new.rank <= self.rank:
            return False
        if new is JobStatus.REJECTED:
            return self in _REJECTABLE
        if new is JobStatus.EXPIRED:
            return self in _EXPIRABLE
        return True

    def predecessors(self) -> list[JobStatus]:
        """Every status from which a job may move to this one."""
        return [status for status in JobStatus if status.can_move_to(self)]


_TERMINAL_RANK = 4
_RANK = {
    JobStatus.ACCEPTED: 0,
    JobStatus.QUEUED: 1,
    JobStatus.SUBMITTED: 2,
    JobStatus.RUNNING: 3,
    JobStatus.SUCCEEDED: _TERMINAL_RANK,
    JobStatus.PARTIALLY_SUCCEEDED: _TERMINAL_RANK,
    JobStatus.FAILED: _TERMINAL_RANK,
    JobStatus.STOPPED: _TERMINAL_RANK,
    JobStatus.EXPIRED: _TERMINAL_RANK,
    JobStatus.REJECTED: _TERMINAL_RANK,
}
_REJECTABLE = frozenset({JobStatus.ACCEPTED, JobStatus.QUEUED})
_EXPIRABLE = frozenset({JobStatus.SUBMITTED, JobStatus.RUNNING})


class SourceObject(Model):
    """The S3 object that caused a job."""

    model_config = ConfigDict(frozen=True)

    bucket: str
    key: str
    version_id: str | None = None
    etag: str | None = None
    size: int | None = None

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


class Transition(Model):
    status: JobStatus
    at: str
    service_status: str | None = None
    message: str | None = None


class Job(Model):
    """One job of any workflow, as the ledger stores it."""

    model_config = ConfigDict(extra="allow")

    job_id: str
    kind: JobKind
    status: JobStatus
    source: SourceObject
    target: str
    created_at: str
    updated_at: str
    service_status: str | None = None
    service_ref: str | None = None
    parent_id: str | None = None
    inference_id: str | None = None
    output_location: str | None = None
    failure_location: str | None = None
    report_location: str | None = None
    message: str | None = None
    deadline_at: str | None = None
    options: dict[str, Any] = Field(default={})
    counts: dict[str, int] = Field(default={})
    # Bedrock batch: what the job was estimated to cost at intake, and what it cost once it
    # ended (see dropzone.workflows.bedrock.estimate)
    estimate: dict[str, Any] | None = None
    cost: dict[str, Any] | None = None
    children: list[str] = Field(default=[])
    history: list[Transition] = Field(default=[])
    ignored_events: int = 0
