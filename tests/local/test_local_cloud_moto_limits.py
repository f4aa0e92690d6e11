"""LocalCloud's cheaper checks in moto refuse what moto refuses, with the same errors: the
same DynamoDB calls (items at the 400 KB limit, updates that grow an item in place, too
many clauses, overlapping paths) and SQS sends (delays, FIFO deduplication, size limits)
run against moto alone and with the cheaper paths, and every answer and error compared."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import boto3
from botocore.exceptions import ClientError
from moto import mock_aws

from dropzone_local.moto_expressions import update_expressions_at_lower_cost
from dropzone_local.moto_items import item_sizes_kept_while_written
from dropzone_local.moto_queues import QueueAttributes, sqs_sends_reading_what_they_use
from dropzone_local.moto_requests import requests_at_lower_cost
from tests.support.moto_tables import job_table_on_moto

TABLE = "limits"
LIMIT = 405000  # moto's item size limit
KEY = {"job_id": {"S": "j"}}
# What moto counts for {"job_id": "j"} and a string attribute "blob": names and values
BLOB_AT_LIMIT = LIMIT - len("job_id") - len("j") - len("blob")


@contextmanager
def _cheaper() -> Iterator[None]:
    with (
        update_expressions_at_lower_cost(),
        requests_at_lower_cost(),
        item_sizes_kept_while_written(),
        sqs_sends_reading_what_they_use(),
    ):
        yield


def _string(size: int) -> dict[str, str]:
    return {"S": "x" * size}


def _update(expression: str, values: dict[str, Any], **more: Any) -> dict[str, Any]:
    call: dict[str, Any] = {"TableName": TABLE, "Key": KEY, "UpdateExpression": expression}
    if values:
        call["ExpressionAttributeValues"] = values
    return {**call, "ReturnValues": "ALL_NEW", **more}


def _put(**attributes: Any) -> tuple[str, dict[str, Any]]:
    return ("put_item", {"TableName": TABLE, "Item": {**KEY, **attributes}})


def _dynamodb_calls() -> list[tuple[str, dict[str, Any]]]:
    """Items at the limit, built whole and grown by updates; updates refused for their
    clauses or paths; updates that change values in place between top-level SETs."""
    small, one = _string(1000), {"N": "1"}
    calls = [_put(blob=_string(BLOB_AT_LIMIT + extra)) for extra in (-1, 0, 1, 2)]
    calls += [
        _put(**{f"a{index}": _string(20000) for index in range(19)}),  # built in 19 checks
        _put(**{f"a{index}": _string(20000) for index in range(21)}),  # over, at the 21st
        _put(blob=_string(200000), m={"M": {}}),
        # the map grows in place between two top-level SETs: the second is refused
        (
            "update_item",
            _update("SET a = :s, m.big = :big, b = :s", {":s": small, ":big": _string(204000)}),
        ),
        (
            "update_item",
            _update("SET a = :s, m.big = :big", {":s": small, ":big": _string(150000)}),
        ),
        ("update_item", _update("SET b = :s", {":s": _string(53000)})),  # over now
        ("update_item", _update("REMOVE m SET b = :s", {":s": _string(53000)})),
        _put(blob=_string(200000)),
        # a set created by ADD and grown in place, then a top-level SET
        (
            "update_item",
            _update(
                "ADD tags :big SET b = :s",
                {":big": {"SS": ["y" * 100000, "z" * 100000]}, ":s": _string(6000)},
            ),
        ),
        (
            "update_item",
            _update(
                "ADD tags :big SET b = :s",
                {":big": {"SS": ["y" * 100000, "z" * 100000]}, ":s": _string(4000)},
            ),
        ),
        (
            "update_item",
            _update(
                "DELETE tags :gone SET c = :s",
                {":gone": {"SS": ["y" * 100000]}, ":s": _string(100000)},
            ),
        ),
        _put(blob=small),
        (
            "update_item",
            _update(
                "SET #h = list_append(if_not_exists(#h, :empty), :entry), n = :one ADD seen :one",
                {":empty": {"L": []}, ":entry": {"L": [{"M": {"s": small}}]}, ":one": one},
                ExpressionAttributeNames={"#h": "history"},
            ),
        ),
        ("get_item", {"TableName": TABLE, "Key": KEY}),
    ]
    for expression in _REFUSED:
        values = {name: one for name in (":v", ":w") if name in expression}
        calls.append(("update_item", _update(expression, values)))
    return calls


_REFUSED = (
    "SET a = :v SET b = :v",
    "REMOVE a REMOVE b",
    "ADD a :v ADD b :v",
    "DELETE a :v DELETE b :v",
    "SET a = :v ADD b :v ADD c :v SET d = :v",  # two kinds twice: which one moto names
    "REMOVE a SET b = :v REMOVE c SET d = :v",
    "SET a = :v, a.b = :w",
    "SET a.b = :v REMOVE a",
    "SET a = :v, b = :v, a = :w",
    "SET a[1] = :v, a = :w",
    "SET a = :v, b = if_not_exists(b, :v) ADD a :w",
)


def _run(calls: list[tuple[str, Any]], client: Any) -> list[Any]:
    answers: list[Any] = []
    for operation, params in calls:
        try:
            response = getattr(client, operation)(**params)
        except ClientError as error:
            answers.append(("error", operation, error.response["Error"]))
        else:
            response.pop("ResponseMetadata")
            answers.append(("ok", operation, response))
    return answers


def _dynamodb_answers(paths: Callable[[], Any] | None) -> list[Any]:
    with job_table_on_moto(TABLE, paths) as dynamodb:
        return _run(_dynamodb_calls(), dynamodb)


def test_items_and_updates_are_refused_as_moto_refuses_them() -> None:
    expected = _dynamodb_answers(None)
    assert _dynamodb_answers(_cheaper) == expected
    # and the calls did what they say: the limit met and passed, in place too (moto
    # keeps what an update changed before it was refused)
    outcomes = "".join("+" if answer[0] == "ok" else "-" for answer in expected[:18])
    assert outcomes == "++--+-+---++-+++++"
    assert expected[2][2]["Message"] == "Item size has exceeded the maximum allowed size"
    assert expected[7][2]["Message"] == "Item size to update has exceeded the maximum allowed size"
    history = expected[16][2]["Attributes"]["history"]["L"]
    assert history == [{"M": {"s": _string(1000)}}]
    refused = [answer[2]["Message"] for answer in expected[-len(_REFUSED) :]]
    assert all(answer[0] == "error" for answer in expected[-len(_REFUSED) :])
    assert '"SET" section can only be used once' in refused[0]
    assert '"ADD" section' in refused[4]
    assert '"SET" section' in refused[5]
    assert "Two document paths overlap" in refused[6]


def _sqs_answers(paths: Callable[[], Any] | None) -> list[Any]:
    """Sends to queues of each kind, and what is received and listed after them, with
    what differs from run to run (ids, handles, times) left out."""
    with ExitStack() as stack:
        stack.enter_context(mock_aws())
        if paths is not None:
            stack.enter_context(paths())
        sqs = boto3.client("sqs", region_name="us-east-1")
        dead = sqs.create_queue(QueueName="dead")["QueueUrl"]
        dead_arn = sqs.get_queue_attributes(QueueUrl=dead, AttributeNames=["QueueArn"])
        redrive = json.dumps(
            {"deadLetterTargetArn": dead_arn["Attributes"]["QueueArn"], "maxReceiveCount": "2"}
        )
        queues = {
            "plain": sqs.create_queue(
                QueueName="plain",
                Attributes={"MaximumMessageSize": "1024", "RedrivePolicy": redrive},
            )["QueueUrl"],
            "delayed": sqs.create_queue(QueueName="delayed", Attributes={"DelaySeconds": "600"})[
                "QueueUrl"
            ],
            "fifo": sqs.create_queue(
                QueueName="f.fifo",
                Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"},
            )["QueueUrl"],
            "fifo-ids": sqs.create_queue(
                QueueName="g.fifo",
                Attributes={"FifoQueue": "true", "KmsMasterKeyId": "alias/aws/sqs"},
            )["QueueUrl"],
        }
        calls: list[tuple[str, dict[str, Any]]] = [
            ("send_message", {"QueueUrl": queues["plain"], "MessageBody": "one"}),
            ("send_message", {"QueueUrl": queues["plain"], "MessageBody": "x" * 1025}),
            (
                "send_message",
                {"QueueUrl": queues["plain"], "MessageBody": "d", "DelaySeconds": 901},
            ),
            ("send_message", {"QueueUrl": queues["delayed"], "MessageBody": "later"}),
            (
                "send_message",
                {"QueueUrl": queues["delayed"], "MessageBody": "now", "DelaySeconds": 0},
            ),
            *[
                (
                    "send_message",
                    {"QueueUrl": queues["fifo"], "MessageBody": "same", "MessageGroupId": "g"},
                )
                for _ in range(2)
            ],
            ("send_message", {"QueueUrl": queues["fifo"], "MessageBody": "no group"}),
            (
                "send_message",
                {
                    "QueueUrl": queues["fifo"],
                    "MessageBody": "late",
                    "MessageGroupId": "g",
                    "DelaySeconds": 5,
                },
            ),
            (
                "send_message",
                {"QueueUrl": queues["fifo-ids"], "MessageBody": "no id", "MessageGroupId": "g"},
            ),
            *[
                (
                    "send_message",
                    {
                        "QueueUrl": queues["fifo-ids"],
                        "MessageBody": body,
                        "MessageGroupId": "g",
                        "MessageDeduplicationId": "d1",
                    },
                )
                for body in ("first", "second")
            ],
            (
                "send_message_batch",
                {
                    "QueueUrl": queues["delayed"],
                    "Entries": [
                        {"Id": "a", "MessageBody": "batch a"},
                        {"Id": "b", "MessageBody": "batch b", "DelaySeconds": 0},
                        {"Id": "c", "MessageBody": "batch c", "DelaySeconds": 1000},
                    ],
                },
            ),
            *[
                ("receive_message", {"QueueUrl": url, "MaxNumberOfMessages": 10})
                for url in queues.values()
            ],
            *[
                ("get_queue_attributes", {"QueueUrl": url, "AttributeNames": ["All"]})
                for url in queues.values()
            ],
        ]
        return [_steady(answer) for answer in _run(calls, sqs)]


_VARYING = {
    "MessageId",
    "ReceiptHandle",
    "SequenceNumber",
    "CreatedTimestamp",
    "LastModifiedTimestamp",
}


def _steady(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _steady(item) for key, item in value.items() if key not in _VARYING}
    if isinstance(value, list | tuple):
        return [_steady(item) for item in value]
    return value


def test_sends_answer_and_refuse_as_moto_does() -> None:
    expected = _sqs_answers(None)
    assert _sqs_answers(_cheaper) == expected
    # and the sends did what they say: refused, delayed, deduplicated
    assert [answer[0] for answer in expected[:11]] == [
        "ok",
        "error",
        "error",
        "ok",
        "ok",
        "ok",
        "ok",
        "error",
        "error",
        "error",
        "ok",
    ]
    received = [[m["Body"] for m in answer[2].get("Messages", [])] for answer in expected[13:17]]
    assert received == [["one"], ["now", "batch b"], ["same"], ["first"]]
    assert [entry["Id"] for entry in expected[12][2]["Failed"]] == ["c"]


def test_a_queue_s_attributes_read_one_by_one_are_moto_s() -> None:
    from moto.sqs.models import sqs_backends

    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        sqs.create_queue(QueueName="dead")
        arn = "arn:aws:sqs:us-east-1:123456789012:dead"
        sqs.create_queue(
            QueueName="plain",
            Attributes={
                "RedrivePolicy": json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": "3"}),
                "Policy": '{"Version": "2012-10-17", "Statement": []}',
            },
        )
        sqs.create_queue(
            QueueName="q.fifo", Attributes={"FifoQueue": "true", "KmsMasterKeyId": "key"}
        )
        for queue in sqs_backends["123456789012"]["us-east-1"].queues.values():
            attributes = QueueAttributes(queue)
            assert list(attributes.items()) == list(queue.attributes.items())
            assert attributes.get("ContentBasedDeduplication") == queue.attributes.get(
                "ContentBasedDeduplication"
            )
            assert attributes.get("NoSuchAttribute") is None
