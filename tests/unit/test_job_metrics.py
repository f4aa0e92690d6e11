from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from dropzone.models.jobs import Job, JobKind, JobStatus, SourceObject
from dropzone.workflows.job_metrics import (
    IN_FLIGHT,
    emit_ended,
    ended_counts,
    oldest_in_flight_seconds,
)


def _job(status: JobStatus, kind: JobKind = JobKind.SAGEMAKER_ASYNC, **fields: Any) -> Job:
    return Job(
        job_id=fields.pop("job_id", "dz-1"),
        kind=kind,
        status=status,
        source=SourceObject(bucket="b", key="k"),
        target="t",
        created_at="2026-12-06T00:00:00.000Z",
        updated_at=fields.pop("updated_at", "2026-12-06T00:00:00.000Z"),
        **fields,
    )


def test_jobs_that_end_are_counted_per_workflow_as_succeeded_or_failed() -> None:
    jobs = [
        _job(JobStatus.SUCCEEDED),
        _job(JobStatus.PARTIALLY_SUCCEEDED),
        _job(JobStatus.EXPIRED),
        _job(JobStatus.FAILED, JobKind.BEDROCK_BATCH),
        _job(JobStatus.STOPPED, JobKind.BEDROCK_BATCH),
        _job(JobStatus.SUCCEEDED, JobKind.BEDROCK_BATCH, parent_id="dz-up"),  # a part
        # a roll-out a packaging job started: an edge job like any other
        _job(JobStatus.SUCCEEDED, JobKind.EDGE_DEPLOYMENT, parent_id="dz-packaging"),
        _job(JobStatus.REJECTED),  # JobsRejected counts it
        _job(JobStatus.RUNNING),  # not ended
    ]
    assert ended_counts(jobs) == {
        ("JobsSucceeded", "sagemaker_async"): 2,
        ("JobsFailed", "sagemaker_async"): 1,
        ("JobsFailed", "bedrock_batch"): 2,
        ("JobsSucceeded", "edge_deployment"): 1,
    }


def test_ended_jobs_are_published_with_the_service_and_kind_dimensions(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "Dropzone/test")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "status-publisher")
    emit_ended([_job(JobStatus.SUCCEEDED), _job(JobStatus.FAILED, JobKind.MODEL_PACKAGING)])
    lines = [json.loads(text) for text in capsys.readouterr().out.splitlines() if text]
    assert [
        (line.get("JobsSucceeded"), line.get("JobsFailed"), line["kind"]) for line in lines
    ] == [
        (None, [1.0], "model_packaging"),
        ([1.0], None, "sagemaker_async"),
    ]
    for line in lines:
        assert line["service"] == "status-publisher"
        (directive,) = line["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == "Dropzone/test"
        assert directive["Dimensions"] == [["service", "kind"]]
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    emit_ended([_job(JobStatus.SUCCEEDED)])
    assert capsys.readouterr().out == ""


def test_the_oldest_in_flight_age_counts_from_the_least_recent_update() -> None:
    now = datetime(2026, 12, 6, 2, 0, tzinfo=UTC)
    jobs = [
        _job(JobStatus.SUBMITTED, updated_at="2026-12-06T01:30:00.000Z"),
        _job(JobStatus.QUEUED, updated_at="2026-12-06T00:00:00.000Z"),
    ]
    assert oldest_in_flight_seconds(jobs, now) == 7200.0
    assert oldest_in_flight_seconds([], now) == 0.0
    assert JobStatus.RUNNING in IN_FLIGHT and not any(status.is_terminal for status in IN_FLIGHT)
