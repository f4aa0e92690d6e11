from __future__ import annotations

import json
from typing import Any

import pytest

from dropzone.errors import TransientError
from dropzone.models.jobs import Job, JobKind, JobStatus, SourceObject
from dropzone.models.notifications import parse_sns_delivery
from dropzone.settings.sagemaker import SageMakerResultSettings
from dropzone.workflows.sagemaker.result import SageMakerResults
from tests.support.events import load_event
from tests.support.fixtures import Stack

KIND = JobKind.SAGEMAKER_ASYNC


def _results(stack: Stack) -> SageMakerResults:
    return SageMakerResults(SageMakerResultSettings(jobs_table=stack.table_name), stack.ledger())


def _job(
    stack: Stack, job_id: str, *, submitted: bool = True, inference_id: str | None = None
) -> None:
    ledger = stack.ledger()
    ledger.create(
        Job(
            job_id=job_id,
            kind=KIND,
            status=JobStatus.ACCEPTED,
            source=SourceObject(bucket="dropzone-drop", key=f"sagemaker-async/ep/{job_id}.json"),
            target="ep",
            created_at="",
            updated_at="",
        ),
        lease_owner="submitter",
        lease_seconds=60,
    )
    if submitted:
        inference_id = inference_id or job_id
        ledger.transition(
            job_id,
            KIND,
            JobStatus.SUBMITTED,
            updates={
                "inference_id": inference_id,
                "service_ref": f"sagemaker:{inference_id}",
                "failure_location": f"s3://out/{inference_id}-error.out",
            },
        )


def _note(status: str, inference_id: str, **extra: Any) -> Any:
    body = load_event("sagemaker_result.json")["Records"][0]["body"]
    envelope = json.loads(body)
    message = json.loads(envelope["Message"])
    message.update(invocationStatus=status, inferenceId=inference_id, **extra)
    if status == "Failed":
        message["responseParameters"] = {"contentType": "text/plain"}
    envelope["Message"] = json.dumps(message)
    return parse_sns_delivery(json.dumps(envelope))


def test_success_notification_completes_the_job(stack: Stack) -> None:
    _job(stack, "dz-a")
    job = _results(stack).apply(_note("Completed", "dz-a"))
    assert job is not None
    assert job.status is JobStatus.SUCCEEDED
    assert job.service_status == "Completed"
    assert job.output_location is not None and job.output_location.endswith(".out")


def test_error_notification_fails_the_job_with_reason_and_location(stack: Stack) -> None:
    _job(stack, "dz-b")
    job = _results(stack).apply(_note("Failed", "dz-b", failureReason="model raised ValueError"))
    assert job is not None
    assert job.status is JobStatus.FAILED
    assert job.message == "model raised ValueError"
    assert job.failure_location == "s3://out/dz-b-error.out"


def test_duplicates_and_contradicting_late_notifications_never_move_a_job_back(
    stack: Stack,
) -> None:
    _job(stack, "dz-c")
    results = _results(stack)
    results.apply(_note("Completed", "dz-c"))
    results.apply(_note("Completed", "dz-c"))
    results.apply(_note("Failed", "dz-c", failureReason="late"))
    job = stack.ledger().get("dz-c")
    assert job is not None
    assert job.status is JobStatus.SUCCEEDED
    assert job.ignored_events == 2


def test_notification_before_the_submit_was_recorded_keeps_the_final_status(stack: Stack) -> None:
    # Given a job whose InvokeEndpointAsync returned but whose SUBMITTED write is not done
    _job(stack, "dz-d", submitted=False)
    # When the result arrives first
    _results(stack).apply(_note("Completed", "dz-d"))
    # And the submitter records SUBMITTED afterwards
    late_submit = stack.ledger().transition("dz-d", KIND, JobStatus.SUBMITTED)
    # Then the final status stands
    assert not late_submit.applied
    job = stack.ledger().get("dz-d")
    assert job is not None and job.status is JobStatus.SUCCEEDED


def test_custom_inference_ids_are_found_through_the_index(stack: Stack) -> None:
    _job(stack, "dz-e", inference_id="order-42")
    job = _results(stack).apply(_note("Completed", "order-42"))
    assert job is not None and job.job_id == "dz-e" and job.status is JobStatus.SUCCEEDED


def test_unknown_inference_id_is_retried_then_skipped(stack: Stack) -> None:
    results = _results(stack)
    with pytest.raises(TransientError, match="no job yet"):
        results.apply(_note("Completed", "never-seen"), receive_count=1)
    assert results.apply(_note("Completed", "never-seen"), receive_count=3) is None
