from __future__ import annotations

import boto3
import pytest
from botocore.stub import ANY, Stubber

from dropzone.errors import RetryLater, TransientError, UnreadableMessage
from dropzone.sqs_batch import SqsMessage, process_sqs_batch, queue_url
from tests.support.events import load_event


def _event(*bodies: str) -> dict[str, object]:
    template = load_event("sagemaker_submit.json")["Records"][0]
    records = []
    for index, body in enumerate(bodies):
        record = dict(template, messageId=f"m-{index}", body=body)
        record["attributes"] = {**template["attributes"], "ApproximateReceiveCount": str(index + 1)}
        records.append(record)
    return {"Records": records}


def test_only_the_messages_that_raised_are_reported() -> None:
    seen: list[SqsMessage] = []

    def handle(message: SqsMessage) -> None:
        seen.append(message)
        if message.body == "bad":
            raise ValueError("nope")

    result = process_sqs_batch(_event("ok", "bad", "ok", "bad"), handle)
    assert result == {"batchItemFailures": [{"itemIdentifier": "m-1"}, {"itemIdentifier": "m-3"}]}
    assert [m.receive_count for m in seen] == [1, 2, 3, 4]


def test_an_empty_batch_reports_nothing() -> None:
    assert process_sqs_batch({"Records": []}, lambda _m: None) == {"batchItemFailures": []}


@pytest.mark.parametrize("attributes", [{}, None])
def test_missing_receive_count_defaults_to_one(attributes: object) -> None:
    record = {"messageId": "x", "body": "b", "attributes": attributes}
    assert SqsMessage.from_record(record).receive_count == 1


def test_a_retry_later_failure_hides_its_message_for_the_delay_it_asks() -> None:
    sqs = boto3.client("sqs", region_name="eu-west-1")
    event = _event("ok", "later", "broken")
    for record in event["Records"]:
        record["eventSourceARN"] = "arn:aws:sqs:eu-west-1:123456789012:dropzone-SubmitQueue"

    def handle(message: SqsMessage) -> None:
        if message.body == "later":
            raise RetryLater("quota", delay_seconds=900)
        if message.body == "broken":
            raise TransientError("throttled")

    with Stubber(sqs) as stubber:
        stubber.add_response(
            "change_message_visibility",
            {},
            {
                "QueueUrl": "https://sqs.eu-west-1.amazonaws.com/123456789012/dropzone-SubmitQueue",
                "ReceiptHandle": event["Records"][1]["receiptHandle"],
                "VisibilityTimeout": 900,
            },
        )
        result = process_sqs_batch(event, handle, client={"sqs": sqs}.__getitem__)
        stubber.assert_no_pending_responses()  # only the RetryLater record was postponed
    assert result == {"batchItemFailures": [{"itemIdentifier": "m-1"}, {"itemIdentifier": "m-2"}]}


def test_an_unreadable_message_is_shown_again_at_once_for_the_dead_letter_queue() -> None:
    sqs = boto3.client("sqs", region_name="eu-west-1")
    event = _event("garbled", "broken")
    for record in event["Records"]:
        record["eventSourceARN"] = "arn:aws:sqs:eu-west-1:123456789012:dropzone-ResultQueue"

    def handle(message: SqsMessage) -> None:
        if message.body == "garbled":
            raise UnreadableMessage.of("notification", ValueError("x"))
        raise TransientError("throttled")

    with Stubber(sqs) as stubber:
        stubber.add_response(
            "change_message_visibility",
            {},
            {
                "QueueUrl": "https://sqs.eu-west-1.amazonaws.com/123456789012/dropzone-ResultQueue",
                "ReceiptHandle": event["Records"][0]["receiptHandle"],
                "VisibilityTimeout": 0,
            },
        )
        result = process_sqs_batch(event, handle, client={"sqs": sqs}.__getitem__)
        stubber.assert_no_pending_responses()  # the transient failure keeps its timeout
    assert result == {"batchItemFailures": [{"itemIdentifier": "m-0"}, {"itemIdentifier": "m-1"}]}


def test_a_failed_postponement_still_reports_the_message() -> None:
    sqs = boto3.client("sqs", region_name="us-east-1")
    event = _event("later")

    def handle(message: SqsMessage) -> None:
        raise RetryLater("quota", delay_seconds=10**6)  # capped at 12 hours

    with Stubber(sqs) as stubber:
        stubber.add_client_error(
            "change_message_visibility",
            service_error_code="ReceiptHandleIsInvalid",
            expected_params={
                "QueueUrl": ANY,
                "ReceiptHandle": ANY,
                "VisibilityTimeout": 43_200,
            },
        )
        result = process_sqs_batch(event, handle, client={"sqs": sqs}.__getitem__)
    assert result == {"batchItemFailures": [{"itemIdentifier": "m-0"}]}


def test_queue_urls_come_from_the_records_source_arn() -> None:
    endpoint = "https://sqs.cn-north-1.amazonaws.com.cn"
    arn = "arn:aws-cn:sqs:cn-north-1:123456789012:q"
    assert queue_url(arn, endpoint) == f"{endpoint}/123456789012/q"
    assert queue_url("arn:aws:sns:us-east-1:123456789012:t", endpoint) is None
    assert queue_url("", endpoint) is None
