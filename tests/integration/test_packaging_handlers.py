"""The packaging and Greengrass functions, driven through their handlers with their files
from events/."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from dropzone.models.jobs import JobKind, JobStatus
from functions.greengrass_state import app as greengrass_app
from functions.packaging_poll import app as poll_app
from functions.packaging_submit import app as submit_app
from tests.support.events import load_event
from tests.support.fixtures import Stack
from tests.support.packaging import PackagingWorld, request_body, world


@pytest.fixture
def w(stack: Stack) -> PackagingWorld:
    return world(stack)


def _submit_event(w: PackagingWorld) -> dict[str, Any]:
    event = load_event("packaging_submit.json")
    s3_event = json.loads(event["Records"][0]["body"])
    key = s3_event["detail"]["object"]["key"]
    source = w.upload(
        request_body(
            GreengrassDeployment={
                "TargetArn": "arn:aws:iot:us-east-1:123456789012:thing/line-3-core"
            }
        ),
        key,
    )
    s3_event["detail"]["bucket"]["name"] = w.stack.dropzone_bucket
    s3_event["detail"]["object"].update(
        {"version-id": source.version_id, "size": source.size, "etag": source.etag}
    )
    event["Records"][0]["body"] = json.dumps(s3_event)
    return event


def test_the_functions_take_a_request_to_a_greengrass_deployment(
    w: PackagingWorld, lambda_context: Any
) -> None:
    # Given an upload event from events/, pointed at an uploaded request
    result = submit_app.handler(_submit_event(w), lambda_context, submitter=w.submitter())
    assert result == {"batchItemFailures": []}
    (job,) = list(w.ledger.by_state(JobKind.MODEL_PACKAGING, JobStatus.SUBMITTED))
    # When the service finishes and the schedule polls
    w.lookoutvision.advance_until_idle()
    w.tick(60)
    summary = poll_app.handler(load_event("packaging_poll.json"), lambda_context, poller=w.poller())
    assert summary["described"] == 1 and summary["errors"] == 0
    final = w.ledger.get(job.job_id)
    assert final is not None and final.status is JobStatus.SUCCEEDED
    (rollout,) = list(w.ledger.by_state(JobKind.EDGE_DEPLOYMENT, JobStatus.SUBMITTED))
    # Then the deployment status event from events/, naming our deployment, settles it
    state = load_event("greengrass_state.json")
    body = json.loads(state["Records"][0]["body"])
    body["detail"]["deploymentId"] = (rollout.model_extra or {})["deployment_id"]
    state["Records"][0]["body"] = json.dumps(body)
    result = greengrass_app.handler(state, lambda_context, state=w.state_handler())
    assert result == {"batchItemFailures": []}
    settled = w.ledger.get(rollout.job_id)
    assert settled is not None and settled.status is JobStatus.FAILED


def test_a_status_event_for_an_unknown_deployment_is_retried(
    w: PackagingWorld, lambda_context: Any
) -> None:
    event = load_event("greengrass_state.json")
    result = greengrass_app.handler(event, lambda_context, state=w.state_handler())
    (failure,) = result["batchItemFailures"]
    assert failure["itemIdentifier"] == event["Records"][0]["messageId"]


def test_a_quota_refusal_is_retried_much_later_than_throttling(
    w: PackagingWorld, lambda_context: Any
) -> None:
    # Given an upload whose message came from the submit queue (no visibility delay of its
    # own), and Lookout for Vision refusing for its concurrent jobs quota
    sqs = boto3.client("sqs", region_name="us-east-1")
    event = _submit_event(w)
    record = event["Records"][0]
    queue_name = record["eventSourceARN"].rsplit(":", 1)[1]
    url = sqs.create_queue(QueueName=queue_name, Attributes={"VisibilityTimeout": "0"})["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody=record["body"])
    (received,) = sqs.receive_message(QueueUrl=url, AttributeNames=["All"])["Messages"]
    record["receiptHandle"] = received["ReceiptHandle"]
    record["attributes"]["ApproximateReceiveCount"] = "2"
    w.lookoutvision.inject_faults(
        "ServiceQuotaExceededException", operation="StartModelPackagingJob"
    )
    # When the submit function handles it
    result = submit_app.handler(event, lambda_context, submitter=w.submitter())
    # Then the message is reported as failed and hidden for 2 x 15 minutes, not redelivered
    # at once (the queue's timeout, here 0) and on to the DLQ within five quick receives
    assert result == {"batchItemFailures": [{"itemIdentifier": record["messageId"]}]}
    assert sqs.receive_message(QueueUrl=url).get("Messages", []) == []
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessagesNotVisible"] == "1"
    # and the job is still ACCEPTED and free for that later delivery
    (job,) = list(w.ledger.by_state(JobKind.MODEL_PACKAGING, JobStatus.ACCEPTED))
    assert (job.model_extra or {}).get("lease_owner") is None
