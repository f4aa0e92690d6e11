"""The pure rules of an upload's rounds: which record errors are worth another try, where a
round's jobs and the result file are staged, and the upload's final status.

Round 0 is the upload's parts. Each later round re-runs the records whose latest answer was
a retryable error, or no answer, as new jobs with their own derived ids (so duplicate or
reordered events never start a round twice), up to `BedrockRecordRetries` rounds.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dropzone.models.jobs import Job, JobStatus
from dropzone.workflows.bedrock.results import NOT_ANSWERED, UNREADABLE, ResultCounts
from dropzone.workflows.bedrock.rules import KIND, OUTPUTS_PREFIX

RESULTS_PREFIX = "bedrock-batch/results/"
JOB_REJECTED = "JobRejected"
# The errorCode of a failed record in a batch output is an HTTP status. These may succeed
# on another try: timeouts, throttling and service errors; so may a record no job
# answered, or whose answer could not be read. Anything else (400 validation, 403, 404,
# 422 content filtered ...) is final the first time.
RETRYABLE_HTTP_CODES = frozenset({408, 424, 429, 500, 502, 503, 504})
RETRYABLE_CODES = frozenset({NOT_ANSWERED, UNREADABLE})
# Token and record counts a part reports, summed into its upload's
SUMMED_COUNTS = ("input_tokens", "output_tokens")


ON_DEMAND = "on_demand"  # a job's options.mode: its records run on demand, not in a batch job


def child_job(
    upload: Job,
    job_id: str,
    *,
    on_demand: bool,
    results_bucket: str,
    message: str,
    options: dict[str, Any],
    counts: dict[str, int],
    estimate: dict[str, Any] | None = None,
) -> Job:
    """A job of an upload (a part, or a retry round's): QUEUED for admission, or, run on
    demand, SUBMITTED at once with its output folder (where its answers are written)."""
    if on_demand:
        options = {**options, "mode": ON_DEMAND}
    return Job(
        job_id=job_id,
        kind=KIND,
        status=JobStatus.SUBMITTED if on_demand else JobStatus.QUEUED,
        service_status="OnDemand" if on_demand else None,
        output_location=(f"s3://{results_bucket}/{OUTPUTS_PREFIX}{job_id}/" if on_demand else None),
        source=upload.source,
        target=upload.target,
        parent_id=upload.job_id,
        message=message,
        options=options,
        counts=counts,
        estimate=estimate,
        created_at="",
        updated_at="",
    )


def records(count: int) -> str:
    return f"{count} record" if count == 1 else f"{count} records"


def is_retryable(code: object) -> bool:
    if isinstance(code, int) and not isinstance(code, bool):
        return code in RETRYABLE_HTTP_CODES
    return code in RETRYABLE_CODES


def round_of(job: Job) -> int:
    return int(job.options.get("round", 0))


def round_job_id(upload_id: str, round_number: int, part: int, *, on_demand: bool = False) -> str:
    """A round's job: `-r<round>-pNNN` for a batch job, `-r<round>-dNNN` on demand."""
    return f"{upload_id}-r{round_number}-{'d' if on_demand else 'p'}{part:03d}"


def round_part_key(staging_prefix: str, upload_id: str, round_number: int, part: int) -> str:
    """A round's part, in its own folder (with the media its records name)."""
    return f"{staging_prefix}{upload_id}/round-{round_number}-part-{part:03d}/input.jsonl"


def round_lines_key(staging_prefix: str, upload_id: str, round_number: int, part: int) -> str:
    return f"{staging_prefix}{upload_id}/round-{round_number}.part-{part:03d}.lines"


def result_key(upload_id: str) -> str:
    return f"{RESULTS_PREFIX}{upload_id}.jsonl"


def not_answered_error(child: Job) -> tuple[str, str]:
    """The error a record gets from a job that held it but did not answer it."""
    if child.status is JobStatus.REJECTED:
        return JOB_REJECTED, f"job {child.job_id} was rejected: {child.message or ''}".strip()
    return NOT_ANSWERED, f"job {child.job_id} ended {child.status} without answering this record"


def split_round(lines: Sequence[int], part_records: int) -> list[list[int]]:
    """A round's records in parts of at most `part_records`, as even as possible."""
    if not lines:
        return []
    parts = -(-len(lines) // part_records)
    size = -(-len(lines) // parts)
    return [list(lines[start : start + size]) for start in range(0, len(lines), size)]


@dataclass(frozen=True)
class UploadOutcome:
    status: JobStatus
    counts: dict[str, int]
    message: str


def upload_outcome(
    upload: Job, children: Iterable[Job], result: ResultCounts, rounds: int, note: str = ""
) -> UploadOutcome:
    """The upload's final status, counts and message, from its result file."""
    if result.succeeded == result.records:
        status = JobStatus.SUCCEEDED
    elif result.succeeded == 0:
        status = JobStatus.FAILED
    else:
        status = JobStatus.PARTIALLY_SUCCEEDED
    counts = dict(upload.counts)
    counts.update(result.as_counts())
    jobs = list(children)
    for name in SUMMED_COUNTS:
        values = [child.counts[name] for child in jobs if name in child.counts]
        if values:
            counts[name] = sum(values)
    counts["jobs"] = len(jobs)
    counts["retry_rounds"] = rounds
    failed = result.failed + result.not_answered
    message = f"{result.succeeded} of {result.records} records succeeded"
    if failed:
        message += f", {failed} failed"
    if rounds:
        message += f" (after {rounds} retry {'round' if rounds == 1 else 'rounds'})"
    if note:
        message += f"; {note}"
    return UploadOutcome(status, counts, message)


def deadline_passed(upload: Job, now: datetime) -> bool:
    deadline = upload.options.get("deadline")
    return bool(deadline) and datetime.fromisoformat(str(deadline)) <= now


def on_demand_records(children: Iterable[Job]) -> int:
    """The records an upload's jobs have run on demand, over all its rounds."""
    return sum(
        int(child.counts.get("input_records", 0))
        for child in children
        if child.options.get("mode") == ON_DEMAND
    )


def not_retried(count: int) -> str:
    verb = "was" if count == 1 else "were"
    return f"{records(count)} that may succeed on another try {verb} not retried"


def joined(first: str, second: str) -> str:
    """Two notes as one message."""
    return f"{first}; {second}" if first and second else first or second
