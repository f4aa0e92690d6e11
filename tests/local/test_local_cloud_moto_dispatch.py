"""LocalCloud's cheaper dispatch in moto answers as moto does: the same calls to DynamoDB,
S3 (versioned and encrypted objects, metadata, ranges, missing keys), SQS, SNS and
EventBridge, run against moto alone and against moto with the dispatch in place, give the
same status, headers and parsed answers, and the same errors. Only what moto draws at
random (ids, receipt handles, version ids) and the clock's readings are masked. The
patterns a URL is tried against match it where all of moto's do, each backend's routes
are moto's, and moto's own paths are back once the dispatch is left."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from dropzone_local.moto_dispatch import (
    RouteTables,
    ServiceIndex,
    dispatch_at_lower_cost,
    literal_text,
)
from dropzone_local.moto_environ import requests_built_directly
from dropzone_local.moto_requests import requests_at_lower_cost
from tests.support.moto_tables import job_table

BUCKET = "dispatch-bucket"
SERVICES = ("dynamodb", "s3", "sqs", "sns", "events")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:?\d\d)?")
_RANDOM_KEYS = {"ReceiptHandle", "VersionId", "RequestId", "HostId", "EventId", "Signature"}
_RANDOM_KEYS |= {"SigningCertURL"}
_RANDOM_HEADERS = {"date", "x-amzn-requestid", "x-amz-request-id", "x-amz-id-2", "last-modified"}
_RANDOM_HEADERS |= {"x-amz-version-id", "x-amz-crc32"}
_CLOCK_KEYS = {"SentTimestamp", "ApproximateFirstReceiveTimestamp", "CreatedTimestamp"}
_CLOCK_KEYS |= {"LastModifiedTimestamp", "Timestamp"}


def masked(value: Any, key: str = "") -> Any:
    """The answer with what is random or read from the clock replaced by its kind."""
    if key in _RANDOM_KEYS or key in _CLOCK_KEYS:
        return f"<{key}: {type(value).__name__}>"
    if isinstance(value, dict) and "MD5OfBody" in value:  # of a body that may hold ids
        assert (
            value["MD5OfBody"]
            == hashlib.md5(value["Body"].encode(), usedforsecurity=False).hexdigest()
        )
        value = {**value, "MD5OfBody": "<md5 of the body>"}
    if isinstance(value, dict):
        dropped = _RANDOM_HEADERS if key == "HTTPHeaders" else set()
        return {k: masked(v, k) for k, v in value.items() if k not in dropped}
    if isinstance(value, list):
        return [masked(item) for item in value]
    if isinstance(value, datetime):
        return "<time>"
    if isinstance(value, bytes):
        return masked(value.decode("utf-8", "replace"))
    if isinstance(value, str):
        if value.startswith("{"):
            try:
                return ("json", masked(json.loads(value)))
            except ValueError:
                pass
        return _TIME.sub("<time>", _UUID.sub("<uuid>", value))
    return value


def _answer(call: Callable[[], Any]) -> Any:
    try:
        response = call()
    except ClientError as error:
        return ("error", masked(error.response))
    if response is None:  # a helper that returns nothing
        return ("ok", None)
    if "Body" in response:
        response["Body"] = response["Body"].read()
    return ("ok", masked(response))


def _calls(clients: dict[str, Any]) -> list[Callable[[], Any]]:
    ddb, s3, sqs, sns, events = (clients[name] for name in SERVICES)
    key = {"job_id": {"S": "job-1"}}
    item = {**key, "status": {"S": "ACCEPTED"}, "n": {"N": "1"}, "b": {"B": b"\x00\x01"}}
    queue = "https://sqs.us-east-1.amazonaws.com/123456789012/dispatch"
    meta = {"owner": "dropzone", "my_key": "under_score", "Mixed-Case": "x"}
    sse = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": "alias/dropzone"}
    encryption = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}
    topic = "arn:aws:sns:us-east-1:123456789012:dispatch"
    entry = {"Source": "dropzone", "DetailType": "Job", "Detail": json.dumps({"a": 1})}
    return [
        lambda: job_table(ddb, "jobs"),
        lambda: ddb.describe_table(TableName="jobs"),
        lambda: ddb.put_item(TableName="jobs", Item=item),
        lambda: ddb.get_item(TableName="jobs", Key=key),
        lambda: ddb.get_item(TableName="jobs", Key={"job_id": {"S": "none"}}),
        lambda: ddb.update_item(
            TableName="jobs",
            Key=key,
            UpdateExpression="SET #s = :s ADD n :one",
            ConditionExpression="#s = :was",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":s": {"S": "DONE"}, ":one": {"N": "1"}, ":was": {"S": "X"}},
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        ),
        lambda: ddb.get_item(TableName="missing", Key=key),
        lambda: ddb.query(
            TableName="jobs",
            KeyConditionExpression="job_id = :k",
            ExpressionAttributeValues={":k": {"S": "job-1"}},
        ),
        lambda: s3.create_bucket(Bucket=BUCKET),
        lambda: s3.put_bucket_versioning(
            Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"}
        ),
        lambda: s3.put_bucket_encryption(
            Bucket=BUCKET, ServerSideEncryptionConfiguration=encryption
        ),
        lambda: s3.get_bucket_encryption(Bucket=BUCKET),
        lambda: s3.put_object(Bucket=BUCKET, Key="in/a.bin", Body=b"x" * 1000, Metadata=meta),
        lambda: s3.put_object(Bucket=BUCKET, Key="in/a.bin", Body=b"second", **sse),
        lambda: s3.put_object(Bucket=BUCKET, Key="odd key/ü%2F+=&.txt", Body="text"),
        lambda: s3.put_object(Bucket=BUCKET, Key="empty", Body=b""),
        lambda: s3.put_object(
            Bucket=BUCKET, Key="typed.json", Body=b"{}", ContentType="application/json"
        ),
        lambda: s3.head_object(Bucket=BUCKET, Key="in/a.bin"),
        lambda: s3.get_object(Bucket=BUCKET, Key="in/a.bin"),
        lambda: s3.get_object(Bucket=BUCKET, Key="in/a.bin", Range="bytes=1-3"),
        lambda: s3.get_object(Bucket=BUCKET, Key="odd key/ü%2F+=&.txt"),
        lambda: s3.get_object(Bucket=BUCKET, Key="empty"),
        lambda: s3.head_object(Bucket=BUCKET, Key="typed.json"),
        lambda: s3.head_object(Bucket=BUCKET, Key="missing"),
        lambda: s3.get_object(Bucket=BUCKET, Key="missing"),
        lambda: s3.get_object(Bucket="no-such-bucket", Key="k"),
        lambda: s3.list_object_versions(Bucket=BUCKET, Prefix="in/"),
        lambda: s3.list_objects_v2(Bucket=BUCKET),
        lambda: sqs.create_queue(QueueName="dispatch"),
        lambda: sqs.send_message(QueueUrl=queue, MessageBody="one"),
        lambda: sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=0),
        lambda: sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=0),
        lambda: sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["All"]),
        lambda: sqs.delete_message_batch(
            QueueUrl=queue, Entries=[{"Id": "a", "ReceiptHandle": "not-a-handle"}]
        ),
        lambda: sqs.get_queue_attributes(QueueUrl=queue + "-missing", AttributeNames=["All"]),
        lambda: sns.create_topic(Name="dispatch"),
        lambda: sns.subscribe(
            TopicArn=topic, Protocol="sqs", Endpoint="arn:aws:sqs:us-east-1:123456789012:dispatch"
        ),
        lambda: sns.publish(TopicArn=topic, Message="hello", Subject="s"),
        lambda: sns.publish(TopicArn=topic + "-missing", Message="hello"),
        lambda: events.put_rule(Name="r", EventPattern=json.dumps({"source": ["dropzone"]})),
        lambda: events.put_targets(
            Rule="r", Targets=[{"Id": "q", "Arn": "arn:aws:sqs:us-east-1:123456789012:dispatch"}]
        ),
        lambda: events.put_events(Entries=[entry, {**entry, "Source": "other"}]),
        lambda: sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=0),
    ]


def _answers(cheaper: bool) -> list[Any]:
    with ExitStack() as stack:
        stack.enter_context(mock_aws())
        if cheaper:
            stack.enter_context(dispatch_at_lower_cost())
        clients = {name: boto3.client(name, region_name="us-east-1") for name in SERVICES}
        return [_answer(call) for call in _calls(clients)]


def test_every_call_is_answered_as_moto_answers_it() -> None:
    expected = _answers(cheaper=False)
    answers = _answers(cheaper=True)
    for number, (answer, moto_s) in enumerate(zip(answers, expected, strict=True)):
        assert (number, answer) == (number, moto_s)
    outcomes = [answer[0] for answer in expected]
    # the failed condition, the missing table, keys (head, get), bucket, queue and topic
    assert outcomes.count("error") == 7
    latest, part, odd = (expected[n][1] for n in (18, 19, 20))
    assert (latest["Body"], latest["ServerSideEncryption"]) == ("second", "aws:kms")
    assert (part["Body"], part["ResponseMetadata"]["HTTPStatusCode"]) == ("eco", 206)
    assert odd["Body"] == "text"


def test_the_service_index_leaves_out_only_patterns_that_cannot_match() -> None:
    """For URLs of every service moto knows, and odd ones, the patterns tried match the
    URL exactly where moto's patterns, all tried in turn, match it, in moto's order."""
    from moto.backend_index import backend_url_patterns

    texts = {literal_text(pattern) or "" for _, pattern in backend_url_patterns}
    hosts = [
        f"{text}{tail}"
        for text in texts
        for tail in ("", "us-east-1.amazonaws.com", ".x.amazonaws.com.cn")
    ]
    hosts += ["bucket.s3.amazonaws.com", "s3-control.us-east-1.amazonaws.com", "localhost:5000"]
    hosts += ["abc.execute-api.eu-west-1.amazonaws.com", "123.ddb.us-east-1.amazonaws.com", ""]
    urls = [
        f"{scheme}{host}{path}"
        for scheme in ("https://", "http://", "ftp://", "")
        for host in hosts
        for path in ("", "/", "/k/x.amazonaws.com")
    ]
    index = ServiceIndex()
    for url in urls:
        every = [service for service, pattern in backend_url_patterns if pattern.match(url)]
        tried = [service for service, pattern in index.candidates(url) if pattern.match(url)]
        assert tried == every, url
    assert sum(bool(index.candidates(url)) for url in urls) > len(urls) / 2


@pytest.mark.parametrize(
    ("pattern", "text"),
    [
        (r"https?://dynamodb\.(.+)\.amazonaws\.com", "dynamodb."),
        (r"https?://s3(?!(-control|tables))(.*)\.amazonaws.com", "s3"),
        (r"https?://ab?c", "a"),  # the b is optional
        (r"https?://a|https?://b", None),  # two alternatives
        (r"https?://(.+)\.ddb\.", ""),
        (r"http://s3\.", None),
        (r"(?i)https?://s3", None),
    ],
)
def test_the_literal_text_of_a_pattern(pattern: str, text: str | None) -> None:
    assert literal_text(re.compile(pattern)) == text
    assert literal_text(re.compile(r"https?://s3", re.IGNORECASE)) is None


@pytest.mark.parametrize("setting", [None, "MOTO_S3_CUSTOM_ENDPOINTS", "MOTO_ENABLE_ISO_REGIONS"])
def test_each_backend_s_routes_are_moto_s(
    setting: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.backends import get_backend

    values = {"MOTO_S3_CUSTOM_ENDPOINTS": "https://s3.example.internal"}
    tables = RouteTables()
    with mock_aws(), requests_at_lower_cost():
        backends = [get_backend(name)["123456789012"] for name in SERVICES]
        backends = [b["us-east-1"] if "us-east-1" in b else b["aws"] for b in backends]
        for _ in range(2):  # built, then from the table
            for backend in backends:
                expected = [(url, handler) for url, handler in backend.urls.items()]
                routes = [(p.pattern, handler) for p, handler in tables.routes(backend)]
                assert routes == expected
            if setting is not None:
                monkeypatch.setenv(setting, values.get(setting, "true"))


@contextmanager
def _builders() -> Iterator[list[Any]]:
    """The paths of the requests werkzeug's EnvironBuilder builds meanwhile."""
    from werkzeug.test import EnvironBuilder

    built: list[Any] = []
    original = EnvironBuilder.__init__

    def counted(self: Any, *args: Any, **kwargs: Any) -> None:
        built.append(kwargs.get("path"))
        original(self, *args, **kwargs)

    EnvironBuilder.__init__ = counted  # type: ignore[method-assign]
    try:
        yield built
    finally:
        EnvironBuilder.__init__ = original  # type: ignore[method-assign]


def test_botocore_s_requests_are_built_directly() -> None:
    with _builders() as built:
        _answers(cheaper=True)
    assert built == []


def test_a_multipart_request_without_a_body_is_left_to_werkzeug() -> None:
    """werkzeug writes a form with a boundary drawn at random for it."""
    from moto.core.request import Request

    call: dict[str, Any] = {
        "method": "POST",
        "base_url": "https://s3.amazonaws.com",
        "path": "/bucket",
        "query_string": "",
        "data": b"",
        "headers": [("Content-Type", "multipart/form-data")],
    }
    with requests_built_directly(), _builders() as built:
        request = Request.from_values(**call)
        assert Request.from_values(**{**call, "data": b"x"}).get_data() == b"x"
    assert built == ["/bucket"]
    assert request.mimetype == "multipart/form-data"


def test_moto_s_own_paths_are_back_after_the_local_cloud() -> None:
    from moto.core import botocore_stubber, responses
    from moto.core.request import Request
    from moto.moto_api._internal.moto_random import MotoRandom
    from moto.sqs import models

    def current() -> list[Any]:
        return [
            vars(botocore_stubber.BotocoreStubber)["process_request"],
            Request.from_values,
            "from_values" in vars(Request),
            responses.method_names_from_class,
            models.generate_receipt_handle,
            vars(MotoRandom)["get_random_string"],
        ]

    before = current()
    with dispatch_at_lower_cost():
        during = current()
    assert current() == before
    assert all(a != b for a, b in zip(before, during, strict=True) if not isinstance(a, bool))
