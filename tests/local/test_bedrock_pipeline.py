"""Bedrock batch inference end to end, offline, wired by template.yaml."""

from __future__ import annotations

import json

from dropzone.models.jobs import JobStatus
from dropzone_local.cloud import LocalCloud
from tests.support.bedrock import MODEL, jsonl

QUIET = {"POWERTOOLS_LOG_LEVEL": "CRITICAL", "POWERTOOLS_METRICS_DISABLED": "true"}


def test_a_dropped_file_becomes_one_result_file_in_input_order() -> None:
    with LocalCloud(function_environment=QUIET) as cloud:
        # Given a batch input where two records will fail for good
        key = f"bedrock-batch/{MODEL}/reviews/2026-11.jsonl"
        cloud.put_object(key, jsonl(150, failing={7, 70}), metadata={"timeout-hours": "48"})
        # When the pipeline runs: upload → submit → admission (async invoke) → Bedrock →
        # state events → tracker → finish (async invoke)
        cloud.run_until_idle()
        # Then the upload ends with one result line per record, in input order
        (upload,) = [job for job in cloud.jobs() if job.parent_id is None]
        (part,) = [job for job in cloud.jobs() if job.parent_id == upload.job_id]
        assert upload.status is JobStatus.PARTIALLY_SUCCEEDED
        assert upload.message == "148 of 150 records succeeded, 2 failed"
        assert (upload.counts["succeeded_records"], upload.counts["failed_records"]) == (148, 2)
        assert part.status is JobStatus.PARTIALLY_SUCCEEDED
        result = [
            json.loads(line)
            for line in cloud.read_object(upload.output_location or "").splitlines()
        ]
        assert [line["recordId"] for line in result] == [f"r{index:06d}" for index in range(150)]
        failed = [line["recordId"] for line in result if "error" in line]
        assert failed == ["r000007", "r000070"]
        (call,) = cloud.bedrock.create_calls
        assert call["timeoutDurationInHours"] == 48
        assert call["roleArn"].endswith(":role/dropzone-local-BedrockServiceRole")
        statuses = [
            e["detail"]["status"]
            for e in cloud.status_events
            if e["detail"]["job_id"] == upload.job_id
        ]
        assert statuses == ["ACCEPTED", "SUBMITTED", "PARTIALLY_SUCCEEDED"]
        final = next(
            e
            for e in cloud.status_events
            if e["detail"]["status"] == "PARTIALLY_SUCCEEDED"
            and e["detail"]["job_id"] == upload.job_id
        )
        assert final["detail"]["output_location"] == upload.output_location
        assert cloud.queue_depth("BedrockSubmitDLQUrl") == 0


def test_a_large_file_is_split_and_all_parts_run_under_the_slot_limit() -> None:
    parameters = {"BedrockMaxRecordsPerFile": "100", "BedrockMaxJobsPerModel": "2"}
    with LocalCloud(function_environment=QUIET, parameters=parameters) as cloud:
        cloud.put_object(f"bedrock-batch/{MODEL}/big/input.jsonl", jsonl(500))
        cloud.run_until_idle()
        jobs = cloud.jobs()
        parent = next(job for job in jobs if job.children)
        assert len(parent.children) == 5
        assert parent.status is JobStatus.SUCCEEDED
        assert parent.counts["succeeded_records"] == 500
        assert all(job.status is JobStatus.SUCCEEDED for job in jobs)
        assert len(cloud.bedrock.create_calls) == 5
        assert cloud.bedrock_peak_in_flight <= 2


def test_a_bad_file_is_rejected_with_a_report() -> None:
    with LocalCloud(function_environment=QUIET) as cloud:
        cloud.put_object(f"bedrock-batch/{MODEL}/b/bad.jsonl", jsonl(120) + b"[1, 2]\n")
        cloud.run_until_idle()
        (job,) = cloud.jobs()
        assert job.status is JobStatus.REJECTED
        assert job.message is not None and "line 121" in job.message
        report = json.loads(cloud.read_object(job.report_location or ""))
        assert report["problems"][0]["field"] == "line 121"
        assert cloud.bedrock.create_calls == []
