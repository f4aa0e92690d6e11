"""`dropzone redrive`: SQS message move tasks, and resend-then-delete for EventBridge and
asynchronous-invocation DLQs, on Stubbed real clients."""

from __future__ import annotations

import json
from typing import Any

import pytest

from dropzone_cli import main
from tests.support.cli import (
    REGION,
    STACK,
    StubbedClients,
    function_arn,
    queue_arn,
    queue_url,
    resource_summaries,
)


@pytest.fixture(autouse=True)
def _wide(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tables as wide as their rows, so that every table here is checked whole."""
    monkeypatch.setenv("COLUMNS", "250")


SUBMIT_QUEUE = "dz-SageMakerSubmitQueue"
SUBMIT_DLQ = "dz-SageMakerSubmitDLQ"
EVENT_DLQ = "dz-EventDeliveryDLQ"
ADMISSION_DLQ = "dz-BedrockAdmissionDLQ"
ADMISSION = "dz-BedrockAdmissionFunction-1"
RECONCILE = "dz-SageMakerReconcileFunction-1"
RESOURCES = [
    ("SageMakerSubmitQueue", queue_url(SUBMIT_QUEUE), "AWS::SQS::Queue"),
    ("SageMakerSubmitDLQ", queue_url(SUBMIT_DLQ), "AWS::SQS::Queue"),
    ("EventDeliveryDLQ", queue_url(EVENT_DLQ), "AWS::SQS::Queue"),
    ("BedrockAdmissionDLQ", queue_url(ADMISSION_DLQ), "AWS::SQS::Queue"),
    ("BedrockAdmissionFunction", ADMISSION, "AWS::Lambda::Function"),
    ("SageMakerReconcileFunction", RECONCILE, "AWS::Lambda::Function"),
]
REMOTE = ["--stack", STACK, "--region", REGION]
RECEIVE = {
    "MaxNumberOfMessages": 10,
    "VisibilityTimeout": 120,
    "MessageAttributeNames": ["All"],
    "AttributeNames": ["All"],
    "WaitTimeSeconds": 2,
}


@pytest.fixture
def aws() -> StubbedClients:
    clients = StubbedClients("cloudformation", "sqs", "lambda")
    clients["cloudformation"].add_response(
        "list_stack_resources", resource_summaries(RESOURCES), expected_params={"StackName": STACK}
    )
    return clients


def _expect_made_visible(aws: StubbedClients, queue: str, *handles: str) -> None:
    """The redrive makes these messages visible again, in this order."""
    for handle in handles:
        aws["sqs"].add_response(
            "change_message_visibility",
            {},
            expected_params={
                "QueueUrl": queue_url(queue),
                "ReceiptHandle": handle,
                "VisibilityTimeout": 0,
            },
        )


def _message(number: int, body: str, attributes: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "MessageId": f"m-{number}",
        "ReceiptHandle": f"r-{number}",
        "Body": body,
        "MessageAttributes": {
            name: {"DataType": "String", "StringValue": value}
            for name, value in (attributes or {}).items()
        },
    }


def _no_sources(aws: StubbedClients, name: str) -> None:
    aws["sqs"].add_response(
        "list_dead_letter_source_queues",
        {"queueUrls": []},
        expected_params={"QueueUrl": queue_url(name)},
    )


def test_without_a_queue_the_dlqs_are_listed_with_messages_in_every_state(
    aws: StubbedClients, capsys: pytest.CaptureFixture[str]
) -> None:
    depths = {
        SUBMIT_DLQ: ("4", "0", "0"),
        EVENT_DLQ: ("0", "2", "0"),
        ADMISSION_DLQ: ("1", "0", "3"),
    }
    names = (
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed",
    )
    for name, depth in depths.items():
        aws["sqs"].add_response(
            "get_queue_attributes",
            {"Attributes": dict(zip(names, depth, strict=True))},
            expected_params={"QueueUrl": queue_url(name), "AttributeNames": list(names)},
        )
    with aws.active():
        code = main(["redrive", *REMOTE], clients=aws)
    lines = capsys.readouterr().out.splitlines()
    assert code == 0
    assert lines[0].split() == ["QUEUE", "MESSAGES", "IN", "FLIGHT", "DELAYED", "URL"]
    rows = {line.split()[0]: tuple(line.split()[1:4]) for line in lines[1:4]}
    assert rows == {
        "SageMakerSubmitDLQ": ("4", "0", "0"),
        "EventDeliveryDLQ": ("0", "2", "0"),
        "BedrockAdmissionDLQ": ("1", "0", "3"),
    }


def test_a_queue_dlq_is_redriven_by_a_message_move_task(
    aws: StubbedClients, capsys: pytest.CaptureFixture[str]
) -> None:
    aws["sqs"].add_response(
        "list_dead_letter_source_queues",
        {"queueUrls": [queue_url(SUBMIT_QUEUE)]},
        expected_params={"QueueUrl": queue_url(SUBMIT_DLQ)},
    )
    aws["sqs"].add_response(
        "get_queue_attributes",
        {"Attributes": {"QueueArn": queue_arn(SUBMIT_DLQ)}},
        expected_params={"QueueUrl": queue_url(SUBMIT_DLQ), "AttributeNames": ["QueueArn"]},
    )
    aws["sqs"].add_response(
        "start_message_move_task",
        {"TaskHandle": "task-1"},
        expected_params={"SourceArn": queue_arn(SUBMIT_DLQ), "MaxNumberOfMessagesPerSecond": 50},
    )
    with aws.active():
        code = main(["redrive", "SageMakerSubmitDLQ", "--rate", "50", *REMOTE], clients=aws)
    out = capsys.readouterr().out
    assert code == 0
    assert f"moving its messages back to {SUBMIT_QUEUE}" in out
    assert "task handle: task-1" in out


def test_event_delivery_messages_go_to_their_target_then_are_deleted(
    aws: StubbedClients, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given an undelivered S3 event for the submit queue and a missed schedule run
    s3_event = json.dumps({"source": "aws.s3", "detail-type": "Object Created"})
    schedule = json.dumps({"source": "aws.scheduler"})
    _no_sources(aws, EVENT_DLQ)
    aws["sqs"].add_response(
        "receive_message",
        {
            "Messages": [
                _message(
                    1, s3_event, {"RULE_ARN": "arn:rule", "TARGET_ARN": queue_arn(SUBMIT_QUEUE)}
                ),
                _message(2, schedule, {"TARGET_ARN": function_arn(RECONCILE)}),
            ]
        },
        expected_params={"QueueUrl": queue_url(EVENT_DLQ), **RECEIVE},
    )
    # Then each is sent first, and deleted only after
    aws["sqs"].add_response(
        "send_message",
        {"MessageId": "new-1"},
        expected_params={"QueueUrl": queue_url(SUBMIT_QUEUE), "MessageBody": s3_event},
    )
    aws["sqs"].add_response(
        "delete_message",
        {},
        expected_params={"QueueUrl": queue_url(EVENT_DLQ), "ReceiptHandle": "r-1"},
    )
    aws["lambda"].add_response(
        "invoke",
        {"StatusCode": 202},
        expected_params={
            "FunctionName": function_arn(RECONCILE),
            "InvocationType": "Event",
            "Payload": schedule.encode(),
        },
    )
    aws["sqs"].add_response(
        "delete_message",
        {},
        expected_params={"QueueUrl": queue_url(EVENT_DLQ), "ReceiptHandle": "r-2"},
    )
    aws["sqs"].add_response(
        "receive_message", {}, expected_params={"QueueUrl": queue_url(EVENT_DLQ), **RECEIVE}
    )
    # When
    with aws.active():
        code = main(["redrive", "EventDeliveryDLQ", *REMOTE], clients=aws)
    assert code == 0
    assert "2 messages sent back and deleted" in capsys.readouterr().out


def test_nothing_is_deleted_when_the_send_fails(
    aws: StubbedClients, capsys: pytest.CaptureFixture[str]
) -> None:
    body = json.dumps({"source": "aws.s3"})
    _no_sources(aws, EVENT_DLQ)
    aws["sqs"].add_response(
        "receive_message",
        {
            "Messages": [
                _message(1, body, {"TARGET_ARN": queue_arn(SUBMIT_QUEUE)}),
                _message(2, body, {"TARGET_ARN": queue_arn(SUBMIT_QUEUE)}),
            ]
        },
        expected_params={"QueueUrl": queue_url(EVENT_DLQ), **RECEIVE},
    )
    aws["sqs"].add_client_error(
        "send_message",
        service_error_code="AccessDenied",
        service_message="not allowed",
        http_status_code=403,
        expected_params={"QueueUrl": queue_url(SUBMIT_QUEUE), "MessageBody": body},
    )
    # No delete: the run stops, and both messages are made visible again.
    _expect_made_visible(aws, EVENT_DLQ, *("r-1", "r-2"))
    with aws.active():
        code = main(["redrive", "EventDeliveryDLQ", *REMOTE], clients=aws)
    out = capsys.readouterr().out
    assert code == 1
    assert "0 messages sent back and deleted" in out
    assert "stopped: message m-1: send failed: SendMessage: AccessDenied" in out


def test_targets_outside_the_stack_and_stream_records_stay_put(
    aws: StubbedClients, capsys: pytest.CaptureFixture[str]
) -> None:
    stream_failure = json.dumps(
        {"requestContext": {"condition": "RetryAttemptsExhausted"}, "DDBStreamBatchInfo": {}}
    )
    _no_sources(aws, EVENT_DLQ)
    aws["sqs"].add_response(
        "receive_message",
        {
            "Messages": [
                _message(1, "{}", {"TARGET_ARN": queue_arn("someone-elses-queue")}),
                _message(2, stream_failure),
            ]
        },
        expected_params={"QueueUrl": queue_url(EVENT_DLQ), **RECEIVE},
    )
    aws["sqs"].add_response(
        "receive_message", {}, expected_params={"QueueUrl": queue_url(EVENT_DLQ), **RECEIVE}
    )
    _expect_made_visible(aws, EVENT_DLQ, *("r-1", "r-2"))
    with aws.active():
        code = main(["redrive", "EventDeliveryDLQ", *REMOTE], clients=aws)
    out = capsys.readouterr().out
    assert code == 1
    assert "is not a queue of stack" in out
    assert "points at stream positions" in out


def test_a_pass_ends_when_a_message_set_aside_comes_round_again(
    aws: StubbedClients, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a message the redrive leaves in place, received again once its visibility ran out
    body = json.dumps({"source": "aws.s3"})
    elsewhere = {"TARGET_ARN": queue_arn("someone-elses-queue")}
    _no_sources(aws, EVENT_DLQ)
    aws["sqs"].add_response(
        "receive_message",
        {"Messages": [_message(1, body, elsewhere)]},
        expected_params={"QueueUrl": queue_url(EVENT_DLQ), **RECEIVE},
    )
    again = {**_message(1, body, elsewhere), "ReceiptHandle": "r-1-again"}
    aws["sqs"].add_response(
        "receive_message",
        {"Messages": [_message(2, body, {"TARGET_ARN": queue_arn(SUBMIT_QUEUE)}), again]},
        expected_params={"QueueUrl": queue_url(EVENT_DLQ), **RECEIVE},
    )
    aws["sqs"].add_response(
        "send_message",
        {"MessageId": "new-2"},
        expected_params={"QueueUrl": queue_url(SUBMIT_QUEUE), "MessageBody": body},
    )
    aws["sqs"].add_response(
        "delete_message",
        {},
        expected_params={"QueueUrl": queue_url(EVENT_DLQ), "ReceiptHandle": "r-2"},
    )
    # Then no further receive: the set-aside message is released by its newest handle
    _expect_made_visible(aws, EVENT_DLQ, "r-1-again")
    with aws.active():
        code = main(["redrive", "EventDeliveryDLQ", *REMOTE], clients=aws)
    out = capsys.readouterr().out
    assert code == 1
    assert "1 messages sent back and deleted" in out
    assert out.count("left in the queue: message m-1: target") == 1


def test_a_failed_release_is_reported_after_the_summary(
    aws: StubbedClients, capsys: pytest.CaptureFixture[str]
) -> None:
    body = json.dumps({"source": "aws.s3"})
    _no_sources(aws, EVENT_DLQ)
    aws["sqs"].add_response(
        "receive_message",
        {
            "Messages": [
                _message(1, body, {"TARGET_ARN": queue_arn(SUBMIT_QUEUE)}),
                _message(2, body, {"TARGET_ARN": queue_arn("someone-elses-queue")}),
            ]
        },
        expected_params={"QueueUrl": queue_url(EVENT_DLQ), **RECEIVE},
    )
    aws["sqs"].add_response(
        "send_message",
        {"MessageId": "new-1"},
        expected_params={"QueueUrl": queue_url(SUBMIT_QUEUE), "MessageBody": body},
    )
    aws["sqs"].add_response(
        "delete_message",
        {},
        expected_params={"QueueUrl": queue_url(EVENT_DLQ), "ReceiptHandle": "r-1"},
    )
    aws["sqs"].add_response(
        "receive_message", {}, expected_params={"QueueUrl": queue_url(EVENT_DLQ), **RECEIVE}
    )
    aws["sqs"].add_client_error(
        "change_message_visibility",
        service_error_code="ReceiptHandleIsInvalid",
        service_message="The receipt handle has expired.",
        http_status_code=400,
        expected_params={
            "QueueUrl": queue_url(EVENT_DLQ),
            "ReceiptHandle": "r-2",
            "VisibilityTimeout": 0,
        },
    )
    with aws.active():
        code = main(["redrive", "EventDeliveryDLQ", *REMOTE], clients=aws)
    out = capsys.readouterr().out
    assert code == 1
    assert "1 messages sent back and deleted" in out
    assert "left in the queue: message m-2: target" in out
    assert "still hidden: message m-2: ChangeMessageVisibility: ReceiptHandleIsInvalid" in out


def test_a_failed_delete_after_a_send_stops_the_pass_and_is_reported(
    aws: StubbedClients, capsys: pytest.CaptureFixture[str]
) -> None:
    body = json.dumps({"source": "aws.s3"})
    target = {"TARGET_ARN": queue_arn(SUBMIT_QUEUE)}
    _no_sources(aws, EVENT_DLQ)
    aws["sqs"].add_response(
        "receive_message",
        {"Messages": [_message(1, body, target), _message(2, body, target)]},
        expected_params={"QueueUrl": queue_url(EVENT_DLQ), **RECEIVE},
    )
    aws["sqs"].add_response(
        "send_message",
        {"MessageId": "new-1"},
        expected_params={"QueueUrl": queue_url(SUBMIT_QUEUE), "MessageBody": body},
    )
    aws["sqs"].add_client_error(
        "delete_message",
        service_error_code="AccessDenied",
        service_message="not allowed",
        http_status_code=403,
        expected_params={"QueueUrl": queue_url(EVENT_DLQ), "ReceiptHandle": "r-1"},
    )
    _expect_made_visible(aws, EVENT_DLQ, "r-2")
    with aws.active():
        code = main(["redrive", "EventDeliveryDLQ", *REMOTE], clients=aws)
    out = capsys.readouterr().out
    assert code == 1
    assert "0 messages sent back and deleted" in out
    assert "stopped: message m-1: sent, but not deleted (DeleteMessage: AccessDenied" in out


def test_failed_async_invocations_are_invoked_again(
    aws: StubbedClients, capsys: pytest.CaptureFixture[str]
) -> None:
    record = {
        "version": "1.0",
        "requestContext": {
            "requestId": "x",
            "functionArn": f"{function_arn(ADMISSION)}:$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": 3,
        },
        "requestPayload": {"model_id": "anthropic.claude-3-haiku-20240307-v1:0"},
        "responseContext": {"statusCode": 200, "functionError": "Unhandled"},
        "responsePayload": {"errorMessage": "boom"},
    }
    _no_sources(aws, ADMISSION_DLQ)
    aws["sqs"].add_response(
        "receive_message",
        {"Messages": [_message(1, json.dumps(record))]},
        expected_params={"QueueUrl": queue_url(ADMISSION_DLQ), **RECEIVE},
    )
    aws["lambda"].add_response(
        "invoke",
        {"StatusCode": 202},
        expected_params={
            "FunctionName": function_arn(ADMISSION),
            "InvocationType": "Event",
            "Payload": json.dumps(record["requestPayload"]).encode(),
        },
    )
    aws["sqs"].add_response(
        "delete_message",
        {},
        expected_params={"QueueUrl": queue_url(ADMISSION_DLQ), "ReceiptHandle": "r-1"},
    )
    aws["sqs"].add_response(
        "receive_message", {}, expected_params={"QueueUrl": queue_url(ADMISSION_DLQ), **RECEIVE}
    )
    with aws.active():
        code = main(["redrive", "BedrockAdmissionDLQ", *REMOTE], clients=aws)
    assert code == 0
    assert "1 messages sent back and deleted" in capsys.readouterr().out


def test_an_unknown_queue_names_the_dlqs(
    aws: StubbedClients, capsys: pytest.CaptureFixture[str]
) -> None:
    with aws.active():
        code = main(["redrive", "SageMakerSubmitQueue", *REMOTE], clients=aws)
    assert code == 2
    assert "its DLQs: SageMakerSubmitDLQ, EventDeliveryDLQ, BedrockAdmissionDLQ" in (
        capsys.readouterr().err
    )
