"""An upload split into several jobs ends with its jobs' tokens summed, its record counts
from its result file, and its own input figures as submit recorded them."""

from __future__ import annotations

from dropzone.models.jobs import Job, JobKind, JobStatus, SourceObject
from dropzone.workflows.bedrock.results import ResultCounts
from dropzone.workflows.bedrock.rounds import upload_outcome

SOURCE = SourceObject(bucket="drop", key="bedrock-batch/m.x/b/in.jsonl", version_id="v1")


def _job(job_id: str, status: JobStatus, counts: dict[str, int]) -> Job:
    return Job(
        job_id=job_id,
        kind=JobKind.BEDROCK_BATCH,
        status=status,
        source=SOURCE,
        target="anthropic.claude-3-haiku-20240307-v1:0",
        created_at="2026-01-01T00:00:00Z",
        updated_at="2026-01-01T00:00:00Z",
        counts=counts,
    )


def _part(job_id: str, records: int, input_tokens: int, output_tokens: int) -> Job:
    counts = {
        "input_records": records,
        "input_bytes": records * 100,
        "total_records": records,
        "succeeded_records": records,
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
    }
    return _job(job_id, JobStatus.SUCCEEDED, counts)


def test_a_split_uploads_tokens_are_the_sum_of_its_jobs_and_its_input_is_counted_once() -> None:
    # Given an upload of 250 records split into three jobs, then one retry job
    upload = _job("u", JobStatus.SUBMITTED, {"input_records": 250, "input_bytes": 25_000})
    jobs = [
        _part("u-p001", 100, 1_000, 400),
        _part("u-p002", 100, 1_100, 500),
        _part("u-p003", 50, 600, 200),
        _part("u-r1-p001", 1, 10, 4),
    ]
    # When it ends with its result file's counts
    outcome = upload_outcome(upload, jobs, ResultCounts(250, 249, 1, 0), rounds=1)
    # Then every token any of its jobs spent is counted, input tokens as well as output
    assert outcome.counts["input_tokens"] == 2_710
    assert outcome.counts["output_tokens"] == 1_104
    # And its input figures are the file's, not added up again from its jobs' shares
    assert outcome.counts["input_records"] == 250
    assert outcome.counts["input_bytes"] == 25_000
    assert outcome.counts["succeeded_records"] == 249
    assert outcome.counts["failed_records"] == 1
    assert outcome.status is JobStatus.PARTIALLY_SUCCEEDED
