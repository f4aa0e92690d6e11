"""A Bedrock upload's work, finished end to end on LocalCloud: one result file per upload,
in input order, whatever parts, retry rounds, on-demand calls or deadline produced it."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import dropzone.observability  # noqa: F401 - Powertools' tracer, before sockets are blocked
from dropzone.models.jobs import Job, JobStatus
from dropzone_local.cloud import LocalCloud
from dropzone_local.record_faults import Fault
from tests.support.bedrock import MODEL, record

QUIET = {"POWERTOOLS_LOG_LEVEL": "CRITICAL", "POWERTOOLS_METRICS_DISABLED": "true"}
KEY = f"bedrock-batch/{MODEL}/reviews/in.jsonl"
# throttled once: 120 records, enough for a batch job of their own (Bedrock's minimum is 100)
RETRYABLE = {index for index in range(1200) if index % 10 == 5}
# refused for good (HTTP 400): 7 records
FINAL = {index for index in range(1200) if index % 151 == 9} - RETRYABLE


def upload_body(count: int, *, ids: bool = True) -> bytes:
    lines = []
    for index in range(count):
        item = record(record_id=f"r{index:05d}" if ids else None)
        item["modelInput"]["messages"][0]["content"][0]["text"] = f"review #{index}"
        if index in RETRYABLE:
            item["modelInput"]["dz_fault"] = "throttle-once"
        elif index in FINAL:
            item["modelInput"]["dz_fault"] = "malformed"
        lines.append(json.dumps(item))
    return ("\n".join(lines) + "\n").encode()


def _upload(cloud: LocalCloud) -> Job:
    (upload,) = [job for job in cloud.jobs() if job.parent_id is None]
    return upload


def _result(cloud: LocalCloud, upload: Job) -> list[dict[str, Any]]:
    body = cloud.read_object(upload.output_location or "")
    return [json.loads(line) for line in body.splitlines()]


def _cloud(**parameters: str) -> LocalCloud:
    cloud = LocalCloud(function_environment=QUIET, parameters=parameters)
    cloud.record_faults.add("throttle-once", Fault.throttling())
    cloud.record_faults.add("malformed", Fault.malformed_input())
    return cloud


SPLIT = {"BedrockMaxRecordsPerFile": "500"}


def _check_split_upload(cloud: LocalCloud, *, ids: bool) -> None:
    upload = _upload(cloud)
    assert upload.status is JobStatus.PARTIALLY_SUCCEEDED
    assert upload.message == (
        f"{1200 - len(FINAL)} of 1200 records succeeded, {len(FINAL)} failed (after 1 retry round)"
    )
    jobs = {job.job_id: job for job in cloud.jobs() if job.parent_id == upload.job_id}
    parts = [job_id for job_id in jobs if "-p" in job_id and "-r" not in job_id]
    assert len(parts) == 3
    (retry,) = [job for job_id, job in jobs.items() if "-r1-p" in job_id]
    assert retry.counts["input_records"] == len(RETRYABLE)  # only what may pass on a retry
    lines = _result(cloud, upload)
    assert [line["line"] for line in lines] == list(range(1, 1201))
    if ids:
        assert [line["recordId"] for line in lines] == [f"r{index:05d}" for index in range(1200)]
    else:
        assert all("recordId" not in line for line in lines)
    for index, line in enumerate(lines):
        if index in FINAL:
            assert line["error"]["code"] == 400 and line["error"]["attempts"] == 1
        else:
            assert "modelOutput" in line, index
    assert cloud.queue_depth("BedrockFinishDLQUrl") == 0


def test_a_split_upload_with_retryable_and_final_failures_ends_in_one_result() -> None:
    with _cloud(**SPLIT) as cloud:
        cloud.put_object(KEY, upload_body(1200))
        cloud.run_until_idle()
        cloud.advance(timedelta(minutes=5))  # the retry round waits for admission's schedule
        _check_split_upload(cloud, ids=True)


def test_the_same_upload_without_record_ids_ends_in_one_result() -> None:
    with _cloud(**SPLIT) as cloud:
        cloud.put_object(KEY, upload_body(1200, ids=False))
        cloud.run_until_idle()
        cloud.advance(timedelta(minutes=5))
        _check_split_upload(cloud, ids=False)


ON_DEMAND = {"BedrockOnDemand": "Enabled", "BedrockOnDemandRecordsPerSecond": "1000"}


def test_a_forty_record_upload_is_finished_on_demand() -> None:
    with _cloud(**ON_DEMAND) as cloud:
        body = b"".join(
            json.dumps(record(record_id=f"s{index}")).encode() + b"\n" for index in range(40)
        )
        cloud.put_object(KEY, body)
        cloud.run_until_idle()
        upload = _upload(cloud)
        assert upload.status is JobStatus.SUCCEEDED
        assert cloud.bedrock.create_calls == []
        assert cloud.bedrock_runtime.calls_per_model(answered_only=True) == {MODEL: 40}
        lines = _result(cloud, upload)
        assert [line["recordId"] for line in lines] == [f"s{index}" for index in range(40)]
        assert all(line["modelOutput"]["content"] for line in lines)


def test_an_upload_whose_deadline_passes_while_its_job_runs_is_finished_on_demand() -> None:
    with _cloud(**ON_DEMAND) as cloud:
        # Given an upload due in 20 minutes, whose batch job Bedrock keeps running
        cloud.slow("bedrock", 1000)
        body = b"".join(
            json.dumps(record(record_id=f"d{index}")).encode() + b"\n" for index in range(150)
        )
        cloud.put_object(KEY, body, metadata={"deadline": "20"})
        cloud.run_until_idle()
        (part,) = [job for job in cloud.jobs() if job.parent_id]
        assert part.status is JobStatus.RUNNING
        # When the clock passes the deadline and the reconciler runs
        cloud.advance(timedelta(minutes=35))
        # Then the job was stopped, and every record still unanswered ran on demand
        assert cloud.bedrock.stop_calls
        upload = _upload(cloud)
        assert upload.status is JobStatus.SUCCEEDED, upload.message
        on_demand = cloud.bedrock_runtime.calls_per_model(answered_only=True)[MODEL]
        assert 0 < on_demand < 150  # the stopped job kept what it had answered
        lines = _result(cloud, upload)
        assert [line["recordId"] for line in lines] == [f"d{index}" for index in range(150)]
