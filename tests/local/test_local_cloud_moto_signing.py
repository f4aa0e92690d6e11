"""Requests to moto signed at a lower cost get moto's answers as if signed for real: the
same calls, on moto alone and with the cheaper signer, give the same answers and errors
(two accounts, chosen by the access key), carry the same headers with the same values but
for the signature, and leave presigned URLs and requests to any other host signed for
real. Under LocalCloud the edge endpoint still accepts a good signature and refuses a bad
one, and the signer is botocore's again once LocalCloud exits."""

from __future__ import annotations

import io
from collections.abc import Callable
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import botocore.auth
import pytest
from botocore.awsrequest import AWSResponse, HTTPHeaders
from botocore.config import Config
from botocore.exceptions import ClientError
from moto import mock_aws

from dropzone_local import LocalCloud
from dropzone_local.edge_endpoint import LocalEdge, http_event
from dropzone_local.moto_signing import (
    UNCOMPUTED_SIGNATURE,
    moto_answers_unchecked,
    requests_to_moto_signed_at_lower_cost,
)
from dropzone_local.state import save

REGION = "us-east-1"
OTHER_ACCOUNT = "111111111111"
QUIET = {"POWERTOOLS_LOG_LEVEL": "CRITICAL", "POWERTOOLS_METRICS_DISABLED": "true"}
# Values moto draws or stamps afresh for each call, whichever way it is signed (UserId: an
# assumed role's id).
DRAWN = {"ResponseMetadata", "LastModified", "MessageId", "ReceiptHandle", "EventId", "UserId"}
SIGNED_AT = datetime(2025, 3, 4, 5, 6, 7)
STREAMED = b"chunk" * 4000  # a file-like body: sent aws-chunked, its checksum trailing
X_MD5 = "nT4xRT6KjfCcN+KaPaZkFQ=="  # Content-MD5 of b"x"


@pytest.fixture
def fixed_signing_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: SIGNED_AT)


def _stable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in value.items() if k not in DRAWN}
    if isinstance(value, list):
        return [_stable(v) for v in value]
    if hasattr(value, "read"):
        return value.read()
    return value


def _watched(client: Any, requests: list[dict[str, str]]) -> Any:
    """The client, each signed request's headers added to `requests` as sent."""

    def seen(request: Any, **_: Any) -> None:
        headers = request.headers.items()
        requests.append({k: v.decode() if isinstance(v, bytes) else str(v) for k, v in headers})

    client.meta.events.register_last("request-created", seen)
    return client


def _calls(clients: dict[str, Any], other: dict[str, Any]) -> list[Callable[[], Any]]:
    s3, ddb, sqs, sns, events, sts = (
        clients[n] for n in ("s3", "dynamodb", "sqs", "sns", "events", "sts")
    )
    key = {"Key": {"id": {"S": "1"}}}
    table = {
        "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
        "BillingMode": "PAY_PER_REQUEST",
    }
    entry = {"Source": "s", "DetailType": "d", "Detail": "{}"}

    def queue() -> str:
        return str(sqs.get_queue_url(QueueName="work")["QueueUrl"])

    return [
        lambda: sts.get_caller_identity(),
        lambda: s3.create_bucket(Bucket="drop"),
        lambda: s3.put_object(Bucket="drop", Key="in/a b+c", Body=b"{}", Metadata={"m": "1"}),
        lambda: s3.put_object(Bucket="drop", Key="in/streamed", Body=io.BytesIO(STREAMED)),
        lambda: s3.put_object(Bucket="drop", Key="in/md5", Body=b"x", ContentMD5=X_MD5),
        lambda: s3.head_object(Bucket="drop", Key="in/a b+c"),
        lambda: s3.get_object(Bucket="drop", Key="in/streamed"),
        lambda: s3.list_objects_v2(Bucket="drop", Prefix="in/", MaxKeys=5),
        lambda: s3.get_object(Bucket="drop", Key="missing"),
        lambda: ddb.create_table(TableName="jobs", **table)["TableDescription"]["TableArn"],
        lambda: ddb.put_item(TableName="jobs", Item={"id": {"S": "1"}, "n": {"N": "2"}}),
        lambda: ddb.get_item(TableName="jobs", **key),
        lambda: ddb.get_item(TableName="absent", **key),
        lambda: sqs.create_queue(QueueName="work"),
        lambda: sqs.send_message(QueueUrl=queue(), MessageBody="hello"),
        lambda: sqs.receive_message(QueueUrl=queue(), MaxNumberOfMessages=10),
        lambda: sqs.get_queue_attributes(QueueUrl=queue(), AttributeNames=["QueueArn"]),
        lambda: sns.create_topic(Name="done"),
        lambda: events.put_events(Entries=[entry]),
        # another account, chosen by the assumed role's access key in the Credential scope
        lambda: other["sts"].get_caller_identity(),
        lambda: other["sqs"].create_queue(QueueName="work"),
        lambda: other["s3"].list_buckets()["Buckets"],
        lambda: other["sns"].create_topic(Name="done"),
    ]


def _run(cheaply: bool) -> tuple[list[Any], list[dict[str, str]]]:
    requests: list[dict[str, str]] = []
    with ExitStack() as stack:
        stack.enter_context(mock_aws())
        if cheaply:
            stack.enter_context(requests_to_moto_signed_at_lower_cost())
        services = ("s3", "dynamodb", "sqs", "sns", "events", "sts")
        clients = {n: _watched(boto3.client(n, region_name=REGION), requests) for n in services}
        role = f"arn:aws:iam::{OTHER_ACCOUNT}:role/other"
        keys = clients["sts"].assume_role(RoleArn=role, RoleSessionName="other")["Credentials"]
        other = {
            n: _watched(
                boto3.client(
                    n,
                    region_name=REGION,
                    aws_access_key_id=keys["AccessKeyId"],
                    aws_secret_access_key=keys["SecretAccessKey"],
                    aws_session_token=keys["SessionToken"],
                ),
                requests,
            )
            for n in ("sts", "sqs", "s3", "sns")
        }
        answers: list[Any] = []
        for call in _calls(clients, other):
            try:
                answers.append(_stable(call()))
            except ClientError as error:
                answers.append(("error", error.response["Error"]))
        drawn = {keys["AccessKeyId"]: "<other key>", keys["SessionToken"]: "<other token>"}
        return answers, [_replaced(headers, drawn) for headers in requests]


def _replaced(headers: dict[str, str], drawn: dict[str, str]) -> dict[str, str]:
    """The headers, with the assumed role's access key and token (drawn by moto) named."""
    for value, name in drawn.items():
        headers = {k: v.replace(value, name) for k, v in headers.items()}
    return headers


def _but_the_signature(headers: dict[str, str]) -> dict[str, str]:
    kept = {k: v for k, v in headers.items() if k != "amz-sdk-invocation-id"}  # a fresh uuid
    kept["Authorization"] = headers["Authorization"].rsplit("Signature=", 1)[0]
    # botocore lists the features a call used (m/...) in no fixed order
    words = kept["User-Agent"].split()
    kept["User-Agent"] = " ".join(
        "m/" + ",".join(sorted(w[2:].split(","))) if w.startswith("m/") else w for w in words
    )
    return kept


@pytest.mark.usefixtures("fixed_signing_time")
def test_moto_answers_as_it_does_to_requests_signed_for_real() -> None:
    real_answers, real_requests = _run(cheaply=False)
    answers, requests = _run(cheaply=True)
    assert answers == real_answers
    assert [_but_the_signature(r) for r in requests] == [
        _but_the_signature(r) for r in real_requests
    ]
    assert [list(r) for r in requests] == [list(r) for r in real_requests]  # names, in order
    assert all(r["Authorization"].endswith(f"Signature={UNCOMPUTED_SIGNATURE}") for r in requests)
    assert not any(UNCOMPUTED_SIGNATURE in r["Authorization"] for r in real_requests)
    # the calls did what they say, in both accounts
    assert real_answers[0]["Account"] == "123456789012"
    assert real_answers[6]["Body"] == STREAMED  # an aws-chunked upload, decoded
    assert real_answers[8][1]["Code"] == "NoSuchKey"
    assert real_answers[19]["Account"] == OTHER_ACCOUNT
    assert f"/{OTHER_ACCOUNT}/work" in real_answers[20]["QueueUrl"]
    assert real_answers[21] == []  # the other account has no buckets
    streamed = requests[4]  # the streamed upload's request, after assume_role and two calls
    assert streamed["X-Amz-Content-SHA256"] == "STREAMING-UNSIGNED-PAYLOAD-TRAILER"


@pytest.mark.usefixtures("fixed_signing_time")
def test_presigned_urls_are_signed_for_real() -> None:
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION, config=Config(signature_version="s3v4"))
        params = {"Bucket": "drop", "Key": "k"}
        real = s3.generate_presigned_url("get_object", Params=params)
        with requests_to_moto_signed_at_lower_cost():
            assert s3.generate_presigned_url("get_object", Params=params) == real
    assert "X-Amz-Signature=" in real and UNCOMPUTED_SIGNATURE not in real


def test_only_hosts_moto_answers_unchecked_are_signed_cheaply(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    unchecked = moto_answers_unchecked()
    url = "https://sqs.us-east-1.amazonaws.com/"
    assert not unchecked(url)  # no mock
    with mock_aws():
        assert unchecked(url)
        assert unchecked("https://drop.s3.amazonaws.com/in/a?x=1")
        assert not unchecked("http://127.0.0.1:8080/GetDeployments")
        assert not unchecked("https://edge.example.test/")
        assert not unchecked("https://amazonaws.com.example.test/")
        settings = pytest.importorskip("moto.settings")
        monkeypatch.setattr(settings, "INITIAL_NO_AUTH_ACTION_COUNT", 2)
        assert not unchecked(url)  # moto's IAM checks verify signatures
        monkeypatch.setattr(settings, "INITIAL_NO_AUTH_ACTION_COUNT", float("inf"))
        config = pytest.importorskip("moto.core.config").default_user_config
        monkeypatch.setitem(config["core"], "passthrough", {"urls": [], "services": ["s3"]})
        assert not unchecked(url)  # some requests reach AWS


def _edge_client(edge: LocalEdge, key: str, secret: str, seen: list[str]) -> Any:
    """A stock sagemaker-edge client at an endpoint URL of its own, answered in-process
    by the local edge endpoint as `dropzone edge serve --local` answers it."""
    client = boto3.client(
        "sagemaker-edge",
        endpoint_url="https://edge.example.test",
        region_name=REGION,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": 1}),
    )

    def send(request: Any, **_: Any) -> AWSResponse:
        url = urlsplit(request.url)
        sent = [
            (k, v.decode() if isinstance(v, bytes) else str(v)) for k, v in request.headers.items()
        ]
        seen.append(dict(sent)["Authorization"])
        headers = [("Host", url.netloc), *sent]
        body = request.body or b""
        event = http_event(request.method, url.path, headers, body, "203.0.113.7")
        answer = edge.answer(event)
        response_headers = HTTPHeaders()
        for name, value in answer["headers"].items():
            response_headers[name] = value
        raw = io.BytesIO(answer["body"].encode())
        raw.stream = lambda **_: iter([raw.getvalue()])  # type: ignore[attr-defined]
        return AWSResponse(request.url, answer["statusCode"], response_headers, raw)

    client.meta.events.register("before-send.sagemaker-edge", send)
    return client


def test_the_edge_endpoint_checks_real_signatures_under_local_cloud(tmp_path: Path) -> None:
    with LocalCloud(function_environment=QUIET) as cloud:
        save(cloud, tmp_path)
    edge = LocalEdge(tmp_path)
    with edge.running() as cloud:
        moto_seen: list[dict[str, str]] = []
        _watched(cloud.client("sqs"), moto_seen).list_queues()
        assert moto_seen[-1]["Authorization"].endswith(UNCOMPUTED_SIGNATURE)
        issued = edge.issuer().issue("line-3", "cam-1")
        key, secret = issued.credential.access_key_id, issued.secret_access_key
        seen: list[str] = []
        good = _edge_client(edge, key, secret, seen)
        answer = good.get_device_registration(DeviceName="cam-1", DeviceFleetName="line-3")
        assert "DeviceRegistration" in answer
        forged = _edge_client(edge, key, secret[::-1], seen)
        with pytest.raises(ClientError) as refused:
            forged.get_device_registration(DeviceName="cam-1", DeviceFleetName="line-3")
        assert refused.value.response["Error"]["Code"] == "InvalidSignatureException"
        assert len(seen) == 2 and not any(UNCOMPUTED_SIGNATURE in s for s in seen)


def test_the_signer_is_botocore_s_again_after_local_cloud() -> None:
    original = vars(botocore.auth.SigV4Auth)["add_auth"]
    with LocalCloud(function_environment=QUIET):
        assert vars(botocore.auth.SigV4Auth)["add_auth"] is not original
    assert vars(botocore.auth.SigV4Auth)["add_auth"] is original
