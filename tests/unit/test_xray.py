"""The tracer's provider: X-Ray subsegment documents, sent to the daemon without the X-Ray SDK."""

from __future__ import annotations

import copy
import json
import re
import socket
import sys
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from aws_lambda_powertools import Tracer
from botocore.awsrequest import AWSResponse
from botocore.client import BaseClient
from botocore.stub import Stubber

from dropzone.xray import DaemonSender, NoSegment, XRayDaemon
from dropzone.xray_documents import (
    DAEMON_HEADER,
    MAX_DOCUMENT_BYTES,
    Subsegment,
    TraceContext,
    encode,
    parse_daemon_address,
    parse_trace_header,
)

ROOT = "1-6745e2a0-0123456789abcdef01234567"
HEADER = f"Root={ROOT};Parent=53995c3f42cd8ad8;Sampled=1"
ID = re.compile(r"[0-9a-f]{16}")
TRACE_ID = re.compile(r"1-[0-9a-f]{8}-[0-9a-f]{24}")


class Daemon:
    """Collects what the provider sends, as the daemon would receive it."""

    def __init__(self) -> None:
        self.datagrams: list[bytes] = []

    def __call__(self, datagram: bytes) -> None:
        self.datagrams.append(datagram)

    @property
    def documents(self) -> list[dict[str, Any]]:
        out = []
        for datagram in self.datagrams:
            header, _, body = datagram.partition(b"\n")
            assert header + b"\n" == DAEMON_HEADER
            document = json.loads(body)
            assert_subsegment_document(document)
            out.append(document)
        return out


def assert_subsegment_document(document: dict[str, Any]) -> None:
    """X-Ray's rules for a subsegment sent on its own."""
    assert ID.fullmatch(document["id"]), document
    assert ID.fullmatch(document["parent_id"]), document
    assert TRACE_ID.fullmatch(document["trace_id"]), document
    assert document["type"] == "subsegment"
    assert 1 <= len(document["name"]) <= 200
    assert document["start_time"] <= document["end_time"]


def provider(
    daemon: Daemon, header: str | None = HEADER + ";Lineage=a87bd80c:1", enabled: bool = True
) -> XRayDaemon:
    environ = {"_X_AMZN_TRACE_ID": header} if header is not None else {}
    return XRayDaemon(enabled=enabled, send=daemon, environ=environ)


@pytest.fixture
def tracer_config() -> Iterator[None]:
    """Powertools keeps the tracer's configuration on the class: leave it as found."""
    saved = copy.copy(Tracer._config)
    yield
    Tracer._config = saved


# -- the trace header and the daemon's address ------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (HEADER, TraceContext(ROOT, "53995c3f42cd8ad8", True)),
        (
            f"Sampled=0;Parent=53995c3f42cd8ad8;Root={ROOT}",
            TraceContext(ROOT, "53995c3f42cd8ad8", False),
        ),
        (
            f"Root={ROOT};Lineage=a87bd80c:0;Parent=53995c3f42cd8ad8;Sampled=1;Self=1-x",
            TraceContext(ROOT, "53995c3f42cd8ad8", True, ("Lineage=a87bd80c:0", "Self=1-x")),
        ),
        (f"Root={ROOT};Parent=53995c3f42cd8ad8", TraceContext(ROOT, "53995c3f42cd8ad8", False)),
        (f"Root={ROOT};Sampled=1", None),
        ("Parent=53995c3f42cd8ad8;Sampled=1", None),
        ("", None),
        (None, None),
    ],
)
def test_trace_header(header: str | None, expected: TraceContext | None) -> None:
    assert parse_trace_header(header) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, ("127.0.0.1", 2000)),
        ("169.254.79.129:2000", ("169.254.79.129", 2000)),
        ("udp:10.0.0.1:2001 tcp:10.0.0.1:2000", ("10.0.0.1", 2001)),
        ("tcp:10.0.0.1:2000 udp:10.0.0.2:2002", ("10.0.0.2", 2002)),
    ],
)
def test_daemon_address(value: str | None, expected: tuple[str, int]) -> None:
    assert parse_daemon_address(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "localhost",
        "host:port",
        "host:0",
        ":2000",
        "udp:a:1 udp:b:2",
        "udp:a:1 x:b:2",
        "a:1 b:2 c:3",
    ],
)
def test_daemon_address_that_is_not_one_is_refused_by_name(value: str) -> None:
    with pytest.raises(ValueError, match="AWS_XRAY_DAEMON_ADDRESS"):
        parse_daemon_address(value)


# -- documents ----------------------------------------------------------------------------------


def test_annotations_x_ray_cannot_index_are_left_out() -> None:
    subsegment = Subsegment("work", ROOT, "53995c3f42cd8ad8")
    subsegment.put_annotation("ColdStart", True)
    subsegment.put_annotation("jobs_2", 3)
    subsegment.put_annotation("job-id", "x")  # hyphen
    subsegment.put_annotation("", "x")
    subsegment.put_annotation("a" * 501, "x")
    subsegment.put_annotation("listed", ["a"])  # not a scalar
    subsegment.put_annotation("ratio", float("nan"))  # JSON has no NaN
    subsegment.put_annotation("big", float("inf"))
    subsegment.put_annotation("text", "x" * 1200)  # kept to 1,000 characters
    subsegment.put_metadata("response", {"ok": 1}, "svc")
    subsegment.put_metadata("mine", 1, "AWS.reserved")
    subsegment.close()
    document = subsegment.document()
    assert_subsegment_document(document)
    assert document["annotations"] == {"ColdStart": True, "jobs_2": 3, "text": "x" * 1000}
    assert document["metadata"] == {"svc": {"response": {"ok": 1}}}


@pytest.mark.parametrize(
    ("status", "flags"),
    [
        (200, {}),
        (404, {"error": True}),
        (429, {"error": True, "throttle": True}),
        (503, {"fault": True}),
    ],
)
def test_http_status_sets_x_rays_flags(status: int, flags: dict[str, bool]) -> None:
    subsegment = Subsegment("dynamodb", ROOT, "53995c3f42cd8ad8", "aws")
    subsegment.put_http_status(status)
    document = subsegment.document()
    assert document["http"] == {"response": {"status": status}}
    assert {
        key: document[key] for key in ("error", "fault", "throttle") if key in document
    } == flags


def test_an_exception_is_recorded_once_and_named_by_id_above() -> None:
    child = Subsegment("child", ROOT, "53995c3f42cd8ad8")
    parent = Subsegment("parent", ROOT, "53995c3f42cd8ad8")
    try:
        raise KeyError("job-1")
    except KeyError as err:
        child.add_exception(err)
        parent.add_exception(err)
    recorded = child.document()
    assert recorded["fault"] is True
    (throwable,) = recorded["cause"]["exceptions"]
    assert throwable["type"] == "KeyError" and throwable["message"] == "'job-1'"
    assert (
        throwable["stack"][0]["label"] == "test_an_exception_is_recorded_once_and_named_by_id_above"
    )
    assert parent.document()["cause"] == throwable["id"]


@pytest.mark.parametrize(
    "metadata",
    [
        {("a", "b"): 1},  # keys that are not strings
        {"ratio": float("nan")},
        "cycle",
    ],
)
def test_metadata_that_is_not_json_is_left_out(metadata: Any) -> None:
    if metadata == "cycle":
        metadata = {}
        metadata["self"] = metadata
    subsegment = Subsegment("work", ROOT, "53995c3f42cd8ad8")
    subsegment.put_annotation("kept", 1)
    subsegment.put_metadata("response", metadata)
    datagram = encode(subsegment.document())
    assert datagram is not None
    sent = json.loads(datagram.partition(b"\n")[2])
    assert "metadata" not in sent and sent["annotations"] == {"kept": 1}


def test_an_exception_whose_message_fails_is_recorded_by_its_type() -> None:
    class Unprintable(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no message")

    subsegment = Subsegment("work", ROOT, "53995c3f42cd8ad8")
    subsegment.add_exception(Unprintable())
    (throwable,) = subsegment.document()["cause"]["exceptions"]
    assert throwable["message"] == "<Unprintable without a message>"


def test_an_exception_raised_again_in_another_trace_is_recorded_there() -> None:
    error = KeyError("job-1")
    first = Subsegment("first", ROOT, "53995c3f42cd8ad8")
    first.add_exception(error)
    later = Subsegment("later", "1-6745e2a1-00000000000000000000beef", "1111111111111111")
    later.add_exception(error)
    assert isinstance(later.cause, dict) and later.cause["exceptions"][0]["type"] == "KeyError"


def test_a_document_too_large_is_sent_without_its_metadata_or_not_at_all() -> None:
    subsegment = Subsegment("big", ROOT, "53995c3f42cd8ad8")
    subsegment.put_metadata("response", "x" * MAX_DOCUMENT_BYTES)
    datagram = encode(subsegment.document())
    assert datagram is not None and len(datagram) <= MAX_DOCUMENT_BYTES
    assert "metadata" not in json.loads(datagram.partition(b"\n")[2])
    subsegment.aws["huge"] = "x" * MAX_DOCUMENT_BYTES
    assert encode(subsegment.document()) is None


# -- the provider -------------------------------------------------------------------------------


def test_nested_subsegments_name_their_parents_and_are_sent_as_each_closes() -> None:
    daemon = Daemon()
    xray = provider(daemon)
    with xray.in_subsegment("## handler") as outer:
        xray.put_annotation("Kind", "sagemaker")
        with xray.in_subsegment("inner") as inner:
            xray.put_metadata("count", 2)
        assert len(daemon.datagrams) == 1
    first, second = daemon.documents
    assert (first["name"], second["name"]) == ("inner", "## handler")
    assert second["parent_id"] == "53995c3f42cd8ad8"  # Lambda's own segment
    assert first["parent_id"] == second["id"] == outer.id  # type: ignore[attr-defined]
    assert first["id"] == inner.id  # type: ignore[attr-defined]
    assert second["annotations"] == {"Kind": "sagemaker"}
    assert first["metadata"] == {"default": {"count": 2}}
    assert {first["trace_id"], second["trace_id"]} == {ROOT}


def test_a_subsegment_that_cannot_be_sent_never_fails_the_invocation_nor_hides_its_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(datagram: bytes) -> None:
        raise RuntimeError("the sender broke")

    xray = XRayDaemon(enabled=True, send=broken, environ={"_X_AMZN_TRACE_ID": HEADER})
    with xray.in_subsegment("## handler"):
        pass
    with pytest.raises(KeyError, match="the handler's own"), xray.in_subsegment("## handler"):
        raise KeyError("the handler's own")
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warnings == ["X-Ray subsegment '## handler' not sent: RuntimeError"] * 2


def test_an_exception_through_a_subsegment_is_recorded_and_raised() -> None:
    daemon = Daemon()
    xray = provider(daemon)
    with pytest.raises(RuntimeError, match="boom"), xray.in_subsegment("## handler"):
        raise RuntimeError("boom")
    (document,) = daemon.documents
    assert document["fault"] is True
    assert document["cause"]["exceptions"][0]["message"] == "boom"


@pytest.mark.parametrize(
    ("header", "enabled"),
    [
        (f"Root={ROOT};Parent=53995c3f42cd8ad8;Sampled=0", True),  # not sampled
        (None, True),  # no trace
        (HEADER, False),  # tracing off
    ],
)
def test_nothing_is_kept_or_sent_unless_tracing_is_on_and_sampled(
    header: str | None, enabled: bool
) -> None:
    daemon = Daemon()
    xray = provider(daemon, header, enabled)
    with xray.in_subsegment("## handler") as segment:
        xray.put_annotation("Kind", "x")
    assert isinstance(segment, NoSegment)
    assert daemon.datagrams == []
    assert xray.trace_header() is None


def test_a_subsegment_left_open_by_another_trace_is_not_a_parent() -> None:
    daemon = Daemon()
    environ = {"_X_AMZN_TRACE_ID": HEADER}
    xray = XRayDaemon(enabled=True, send=daemon, environ=environ)
    with xray.in_subsegment("first invocation"):
        environ["_X_AMZN_TRACE_ID"] = (
            "Root=1-6745e2a1-00000000000000000000beef;Parent=1111111111111111;Sampled=1"
        )
        with xray.in_subsegment("second invocation"):
            pass
    second = daemon.documents[0]
    assert second["parent_id"] == "1111111111111111"
    assert second["trace_id"] == "1-6745e2a1-00000000000000000000beef"


def test_only_botocore_can_be_patched() -> None:
    with pytest.raises(ValueError, match="cannot trace requests"):
        provider(Daemon()).patch(["botocore", "requests"])


@pytest.mark.enable_socket
@pytest.mark.allow_hosts(["127.0.0.1"])
def test_datagrams_reach_the_daemon_over_udp() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as daemon:
        daemon.bind(("127.0.0.1", 0))
        daemon.settimeout(30)
        address = f"127.0.0.1:{daemon.getsockname()[1]}"
        xray = XRayDaemon(
            enabled=True, environ={"_X_AMZN_TRACE_ID": HEADER, "AWS_XRAY_DAEMON_ADDRESS": address}
        )
        with xray.in_subsegment("## handler") as handler:
            pass
        header, _, body = daemon.recv(MAX_DOCUMENT_BYTES).partition(b"\n")
    assert header + b"\n" == DAEMON_HEADER
    assert json.loads(body)["id"] == handler.id  # type: ignore[attr-defined]


@pytest.mark.enable_socket
@pytest.mark.allow_hosts(["127.0.0.1"])
def test_a_send_that_fails_never_fails_the_invocation() -> None:
    sender = DaemonSender(("256.0.0.1", 2000))  # no such address: sendto raises
    sender(DAEMON_HEADER + b"{}")
    xray = XRayDaemon(enabled=True, send=sender, environ={"_X_AMZN_TRACE_ID": HEADER})
    with xray.in_subsegment("## handler"):
        pass


def test_an_address_that_is_not_one_is_logged_once_and_nothing_is_sent(
    caplog: pytest.LogCaptureFixture,
) -> None:
    xray = XRayDaemon(
        enabled=True, environ={"_X_AMZN_TRACE_ID": HEADER, "AWS_XRAY_DAEMON_ADDRESS": "nowhere"}
    )
    for _ in range(2):
        with xray.in_subsegment("## handler"):
            pass
    errors = [record.getMessage() for record in caplog.records if record.levelname == "ERROR"]
    assert errors == [
        "X-Ray subsegments are not sent: AWS_XRAY_DAEMON_ADDRESS 'nowhere': expected 'host:port'"
    ]


# -- Powertools' tracer on this provider --------------------------------------------------------


def test_powertools_handler_subsegment(tracer_config: None) -> None:
    daemon = Daemon()
    tracer = Tracer(service="svc", provider=provider(daemon), disabled=False, auto_patch=False)

    @tracer.capture_lambda_handler
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return {"accepted": event["n"]}

    assert handler({"n": 1}, None) == {"accepted": 1}
    (document,) = daemon.documents
    assert document["name"] == "## handler"
    assert document["annotations"]["Service"] == "svc"
    assert isinstance(document["annotations"]["ColdStart"], bool)
    assert document["metadata"] == {"svc": {"handler response": {"accepted": 1}}}


def test_the_x_ray_sdk_is_not_imported() -> None:
    assert "aws_xray_sdk" not in sys.modules


# -- AWS calls ----------------------------------------------------------------------------------


@pytest.fixture
def traced() -> Iterator[tuple[XRayDaemon, Daemon]]:
    daemon = Daemon()
    xray = provider(daemon)
    original = BaseClient._make_api_call
    xray.patch(["botocore"])
    yield xray, daemon
    xray.unpatch()
    assert BaseClient._make_api_call is original


def client(service: str) -> Any:
    return boto3.client(
        service, region_name="eu-west-1", aws_access_key_id="a", aws_secret_access_key="b"
    )


def test_each_aws_call_is_a_subsegment_of_the_one_it_is_made_in(
    traced: tuple[XRayDaemon, Daemon],
) -> None:
    xray, daemon = traced
    dynamodb = client("dynamodb")
    with Stubber(dynamodb) as stub, xray.in_subsegment("## handler") as handler:
        stub.add_response(
            "get_item",
            {"ResponseMetadata": {"RequestId": "REQ1", "HTTPStatusCode": 200}},
            {"TableName": "jobs", "Key": {"job_id": {"S": "j1"}}},
        )
        stub.add_client_error("put_item", "ConditionalCheckFailedException", http_status_code=400)
        dynamodb.get_item(TableName="jobs", Key={"job_id": {"S": "j1"}})
        with pytest.raises(dynamodb.exceptions.ConditionalCheckFailedException):
            dynamodb.put_item(TableName="jobs", Item={"job_id": {"S": "j1"}})
    got, refused, outer = daemon.documents
    for call in (got, refused):
        assert call["namespace"] == "aws" and call["name"] == "dynamodb"
        assert call["parent_id"] == handler.id  # type: ignore[attr-defined]
    assert got["aws"] == {"operation": "GetItem", "region": "eu-west-1", "request_id": "REQ1"}
    assert got["http"] == {"response": {"status": 200}} and "cause" not in got
    assert refused["aws"]["operation"] == "PutItem"
    assert refused["error"] is True and "fault" not in refused
    (throwable,) = refused["cause"]["exceptions"]
    assert throwable["remote"] is True and throwable["type"] == "ConditionalCheckFailedException"
    assert outer["name"] == "## handler" and "cause" not in outer
    assert "j1" not in json.dumps(daemon.documents)  # parameters are not recorded


def test_the_endpoint_prefix_names_the_service(traced: tuple[XRayDaemon, Daemon]) -> None:
    xray, daemon = traced
    runtime = client("sagemaker-runtime")
    with Stubber(runtime) as stub, xray.in_subsegment("## handler"):
        stub.add_response(
            "invoke_endpoint_async",
            {"InferenceId": "i", "OutputLocation": "s3://b/k"},
            {"EndpointName": "e", "InputLocation": "s3://b/in"},
        )
        runtime.invoke_endpoint_async(EndpointName="e", InputLocation="s3://b/in")
    assert daemon.documents[0]["name"] == "runtime.sagemaker"


def test_requests_carry_the_trace_on_to_the_service(traced: tuple[XRayDaemon, Daemon]) -> None:
    xray, daemon = traced
    events = client("events")
    sent: list[dict[str, str]] = []

    def answer(request: Any, **_: Any) -> AWSResponse:
        sent.append(dict(request.headers))
        return AWSResponse(
            request.url,
            200,
            {"x-amzn-RequestId": "REQ2"},
            _Raw(b'{"Entries":[],"FailedEntryCount":0}'),
        )

    events.meta.events.register("before-send", answer)
    with xray.in_subsegment("## handler"):
        events.put_events(Entries=[{"Source": "s", "DetailType": "d", "Detail": "{}"}])
    call = daemon.documents[0]
    assert call["aws"]["request_id"] == "REQ2"
    header = sent[0]["X-Amzn-Trace-Id"]
    assert header.decode() == f"Root={ROOT};Parent={call['id']};Sampled=1;Lineage=a87bd80c:1"


def test_calls_outside_a_sampled_trace_are_not_traced_or_marked(
    traced: tuple[XRayDaemon, Daemon],
) -> None:
    xray, daemon = traced
    xray._environ = {}  # type: ignore[assignment]  # Lambda gave no trace header
    events = client("events")
    sent: list[dict[str, str]] = []

    def answer(request: Any, **_: Any) -> AWSResponse:
        sent.append(dict(request.headers))
        return AWSResponse(request.url, 200, {}, _Raw(b'{"Entries":[],"FailedEntryCount":0}'))

    events.meta.events.register("before-send", answer)
    events.put_events(Entries=[{"Source": "s", "DetailType": "d", "Detail": "{}"}])
    assert daemon.datagrams == [] and "X-Amzn-Trace-Id" not in sent[0]


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body

    def read(self, *_: Any) -> bytes:
        body, self._body = self._body, b""
        return body
