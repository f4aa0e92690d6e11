"""Every function, driven through its handler with its file from events/."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from dropzone.adapters.sagemaker_runtime import SageMakerRuntime
from dropzone.models.jobs import JobStatus
from dropzone.settings.sagemaker import SageMakerSubmitSettings
from dropzone.workflows.sagemaker.submit import SageMakerSubmitter
from dropzone_local.sagemaker import FakeEndpoint, FakeSageMakerRuntime
from functions.sagemaker_reconcile import app as reconcile_app
from functions.sagemaker_result import app as result_app
from functions.sagemaker_submit import app as submit_app
from functions.status_publisher import app as publisher_app
from tests.support.events import load_event
from tests.support.fixtures import Stack

EVENT_INFERENCE_ID = "dz-0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c"


@pytest.fixture
def function_env(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Stack:
    monkeypatch.setenv("JOBS_TABLE", stack.table_name)
    monkeypatch.setenv("RESULTS_BUCKET", stack.results_bucket)
    for factory in (
        submit_app.default_submitter,
        result_app.default_results,
        reconcile_app.default_reconciler,
        publisher_app.default_publisher,
    ):
        factory.cache_clear()  # type: ignore[attr-defined]
    return stack


def _submit_event_for_upload(stack: Stack) -> tuple[dict[str, Any], str]:
    event = load_event("sagemaker_submit.json")
    body = json.loads(event["Records"][0]["body"])
    key = body["detail"]["object"]["key"].replace("+", " ")
    put = stack.s3_client.put_object(
        Bucket=body["detail"]["bucket"]["name"], Key=key, Body=b'{"rows": [[1, 2, 3]]}'
    )
    body["detail"]["object"]["version-id"] = put["VersionId"]
    event["Records"][0]["body"] = json.dumps(body)
    return event, key


def test_submit_handler(function_env: Stack, lambda_context: Any) -> None:
    stack = function_env
    event, key = _submit_event_for_upload(stack)
    fake = FakeSageMakerRuntime()
    fake.add_endpoint(FakeEndpoint("churn-model", stack.results_bucket))
    submitter = SageMakerSubmitter(
        settings=SageMakerSubmitSettings.from_env(),
        ledger=stack.ledger(),
        s3=stack.s3(),
        runtime=SageMakerRuntime(fake),  # type: ignore[arg-type]
    )
    result = submit_app.handler(event, lambda_context, submitter=submitter)
    assert result == {"batchItemFailures": []}
    assert len(fake.calls) == 1
    assert fake.calls[0]["InputLocation"] == f"s3://{stack.dropzone_bucket}/{key}"


def test_submit_handler_built_from_the_environment(
    function_env: Stack, lambda_context: Any
) -> None:
    # moto's InvokeEndpointAsync accepts any endpoint, which is enough to check the wiring
    event, _key = _submit_event_for_upload(function_env)
    result = submit_app.handler(event, lambda_context)
    assert result == {"batchItemFailures": []}
    jobs = function_env.dynamodb.scan(TableName=function_env.table_name)["Items"]
    assert [item["status"]["S"] for item in jobs] == ["SUBMITTED"]


def test_submit_handler_reports_a_poison_message_as_a_batch_item_failure(
    function_env: Stack, lambda_context: Any
) -> None:
    event = load_event("sagemaker_submit.json")
    event["Records"][0]["body"] = "this is not an S3 event"
    result = submit_app.handler(event, lambda_context)
    assert result == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}


def _seed_submitted_job(stack: Stack) -> None:
    ledger = stack.ledger()
    from dropzone.models.jobs import Job, JobKind, SourceObject

    ledger.create(
        Job(
            job_id=EVENT_INFERENCE_ID,
            kind=JobKind.SAGEMAKER_ASYNC,
            status=JobStatus.ACCEPTED,
            source=SourceObject(
                bucket="dropzone-drop", key="sagemaker-async/churn-model/2026/11/input 0001.json"
            ),
            target="churn-model",
            created_at="",
            updated_at="",
        ),
        lease_owner="x",
        lease_seconds=60,
    )
    ledger.transition(
        EVENT_INFERENCE_ID,
        JobKind.SAGEMAKER_ASYNC,
        JobStatus.SUBMITTED,
        updates={"inference_id": EVENT_INFERENCE_ID},
    )


@pytest.mark.parametrize(
    ("event_file", "expected"),
    [
        ("sagemaker_result.json", JobStatus.SUCCEEDED),
        ("sagemaker_result_error.json", JobStatus.FAILED),
    ],
)
def test_result_handler(
    function_env: Stack, lambda_context: Any, event_file: str, expected: JobStatus
) -> None:
    _seed_submitted_job(function_env)
    result = result_app.handler(load_event(event_file), lambda_context)
    assert result == {"batchItemFailures": []}
    job = function_env.ledger().get(EVENT_INFERENCE_ID)
    assert job is not None and job.status is expected


def test_reconcile_handler(function_env: Stack, lambda_context: Any) -> None:
    _seed_submitted_job(function_env)
    summary = reconcile_app.handler(load_event("sagemaker_reconcile.json"), lambda_context)
    # Just submitted: inside the grace period, so nothing is examined yet
    assert summary == {"examined": 0, "succeeded": 0, "failed": 0, "expired": 0, "unresolved": 0}


def test_status_publisher_handler_delivers_to_an_ordinary_rule(
    function_env: Stack, lambda_context: Any
) -> None:
    # Given a user's rule on Dropzone's status events, delivering to their queue
    sqs = boto3.client("sqs", region_name="us-east-1")
    events = boto3.client("events", region_name="us-east-1")
    queue_url = sqs.create_queue(QueueName="my-subscriber")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    events.put_rule(
        Name="dropzone-submitted",
        EventPattern=json.dumps(
            {
                "source": ["dropzone"],
                "detail-type": ["Dropzone Job Status Change"],
                "detail": {"status": ["SUBMITTED"]},
            }
        ),
    )
    events.put_targets(Rule="dropzone-submitted", Targets=[{"Id": "q", "Arn": queue_arn}])
    # When the publisher handles the stream batch from events/
    result = publisher_app.handler(load_event("status_publisher.json"), lambda_context)
    # Then the SUBMITTED change reaches the subscriber, and only it
    assert result == {"batchItemFailures": []}
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
    assert len(messages) == 1
    delivered = json.loads(messages[0]["Body"])
    assert delivered["detail"]["status"] == "SUBMITTED"
    assert delivered["detail"]["previous_status"] == "ACCEPTED"
    assert delivered["detail"]["job_id"] == EVENT_INFERENCE_ID
