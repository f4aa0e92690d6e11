"""SigV4 verification: requests signed by botocore, and by an unmodified `sagemaker-edge`
client, verify; every way a caller can get it wrong is rejected with AWS's code, status and
a message that never gives away the secret key or the signature computed from it."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest, AWSResponse, HTTPHeaders
from botocore.credentials import Credentials

from dropzone.workflows.edge.sigv4 import (
    MAX_SKEW,
    HttpRequest,
    SignatureRejected,
    canonical_request,
    parse_authorization,
    signing_key,
    verify,
)

NOW = datetime(2026, 12, 6, 10, 46, tzinfo=UTC)
ACCESS_KEY_ID = "DZEAKIDEXAMPLE000001"
SECRET = "dz/Edge+Secret0123456789abcdefghijklmnopq="
REGION = "us-east-1"
SERVICE = "sagemaker"
URL = "https://edge.example.com/devices/cam%201/caf%C3%A9~x?b=2&a=1&a=0&c=x%20y&flag"
BODY = b'{"DeviceName": "cam-1", "DeviceFleetName": "line-cameras"}'

MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your key and signing method."
)


# -- signing and receiving, as a client and a server would ------------------------------------


def _received(request: Any) -> HttpRequest:
    """The request as an HTTP server receives it: raw path and query, lower-cased names."""
    parts = urlsplit(request.url)
    headers = {
        name.lower(): value.decode() if isinstance(value, bytes) else str(value)
        for name, value in request.headers.items()
    }
    headers.setdefault("host", parts.netloc)
    body = request.body or b""
    return HttpRequest(
        method=request.method,
        path=parts.path,
        query=parts.query,
        headers=headers,
        body=body.encode() if isinstance(body, str) else body,
    )


def _sign(
    *,
    url: str = URL,
    body: bytes = BODY,
    headers: dict[str, str] | None = None,
    params: list[tuple[str, str]] | None = None,
    secret: str = SECRET,
    region: str = REGION,
    service: str = SERVICE,
    at: datetime = NOW,
) -> HttpRequest:
    """A request signed by botocore's own SigV4 signer at `at`."""
    pairs: Any = params or {}  # botocore takes a list of pairs too (repeated keys); stubs don't
    request = AWSRequest(
        method="POST",
        url=url,
        data=body,
        params=pairs,
        headers=headers or {"Content-Type": "application/x-amz-json-1.1"},
    )
    signer = SigV4Auth(Credentials(ACCESS_KEY_ID, secret), service, region)
    with mock.patch("botocore.auth.get_current_datetime", return_value=at.replace(tzinfo=None)):
        signer.add_auth(request)
    return _received(request.prepare())


def _check(request: HttpRequest) -> None:
    authorization = parse_authorization(request)
    verify(request, authorization, SECRET, region=REGION, service=SERVICE, now=NOW)


def _with_headers(request: HttpRequest, **changes: str | None) -> HttpRequest:
    headers = dict(request.headers)
    for name, value in changes.items():
        name = name.replace("_", "-")
        if value is None:
            del headers[name]
        else:
            headers[name] = value
    return dataclasses.replace(request, headers=headers)


def _edit_authorization(request: HttpRequest, old: str, new: str) -> HttpRequest:
    assert old in request.headers["authorization"]
    return _with_headers(request, authorization=request.headers["authorization"].replace(old, new))


def _without_signature(request: HttpRequest) -> HttpRequest:
    kept, _, _ = request.headers["authorization"].partition(", Signature=")
    return _with_headers(request, authorization=kept)


def _computed_signature(request: HttpRequest) -> str:
    """The signature the verifier computes with the right secret, for this request."""
    authorization = parse_authorization(request)
    amz_date = request.headers["x-amz-date"]
    scope = f"{authorization.date}/{authorization.region}/{authorization.service}/aws4_request"
    digest = hashlib.sha256(canonical_request(request, authorization.signed_headers).encode())
    string_to_sign = f"AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{digest.hexdigest()}"
    key = signing_key(SECRET, authorization.date, authorization.region, authorization.service)
    return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()


# -- accepted ----------------------------------------------------------------------------------


def test_a_botocore_signed_request_with_an_encoded_path_and_repeated_query_keys_verifies() -> None:
    request = _sign()
    assert request.path == "/devices/cam%201/caf%C3%A9~x"
    assert request.query == "b=2&a=1&a=0&c=x%20y&flag"
    _check(request)


def test_query_parameters_botocore_encodes_itself_verify() -> None:
    params = [("tag", "b/c"), ("tag", "a~"), ("name", "café"), ("Z", "1")]
    request = _sign(url="https://edge.example.com/GetDeployments", params=params)
    assert request.query == "tag=b%2Fc&tag=a~&name=caf%C3%A9&Z=1"
    _check(request)


def test_the_canonical_request_is_botocores() -> None:
    raw = AWSRequest(
        method="POST",
        url="https://edge.example.com/a/./b/../c//d%2Fe/?y=2&x=3&x=1",
        data=BODY,
        headers={"Content-Type": "  application/json  ", "X-Amz-Date": "20261206T104600Z"},
    )
    signer = SigV4Auth(Credentials(ACCESS_KEY_ID, SECRET), SERVICE, REGION)
    signed = ["content-type", "host", "x-amz-date"]
    ours = canonical_request(_received(raw), list(reversed(signed)))
    assert ours == signer.canonical_request(raw)
    assert ours.splitlines()[:3] == ["POST", "/a/c/d%252Fe/", "x=1&x=3&y=2"]


def test_the_signing_key_is_the_documented_derivation() -> None:
    # AWS's published example: secret, 20120215, us-east-1, iam
    key = signing_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20120215", "us-east-1", "iam")
    assert key.hex() == "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"


def test_the_signature_is_accepted_in_upper_case() -> None:
    request = _sign()
    signature = parse_authorization(request).signature
    _check(_edit_authorization(request, signature, signature.upper()))


def test_a_signature_exactly_max_skew_away_verifies() -> None:
    _check(_sign(at=NOW - MAX_SKEW))
    _check(_sign(at=NOW + MAX_SKEW))


def test_a_matching_content_sha256_header_verifies() -> None:
    body_hash = hashlib.sha256(BODY).hexdigest()
    headers = {"Content-Type": "application/json", "X-Amz-Content-SHA256": body_hash}
    _check(_sign(headers=headers))


def test_the_parsed_authorization_names_the_credential_and_its_scope() -> None:
    authorization = parse_authorization(_sign())
    assert authorization.access_key_id == ACCESS_KEY_ID
    assert (authorization.date, authorization.region, authorization.service) == (
        "20261206",
        REGION,
        SERVICE,
    )
    assert authorization.signed_headers == ("content-type", "host", "x-amz-date")


# -- an unmodified sagemaker-edge client -------------------------------------------------------


class _Body:
    def __init__(self, content: bytes) -> None:
        self._content = content

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._content


def _stock_client_request(operation: str, **params: Any) -> HttpRequest:
    client = boto3.client(
        "sagemaker-edge",
        endpoint_url="http://127.0.0.1:9",
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET,
    )
    captured: list[Any] = []

    def answer(request: Any, **_: Any) -> Any:
        captured.append(request)
        headers = HTTPHeaders()
        headers["content-type"] = "application/json"
        return AWSResponse(request.url, 200, headers, _Body(b"{}"))

    client.meta.events.register("before-send", answer)
    with mock.patch("botocore.auth.get_current_datetime", return_value=NOW.replace(tzinfo=None)):
        getattr(client, operation)(**params)
    (request,) = captured
    return _received(request)


STOCK_CALLS = [
    ("get_deployments", {"DeviceName": "cam-1", "DeviceFleetName": "line-cameras"}),
    ("get_device_registration", {"DeviceName": "cam-1", "DeviceFleetName": "line-cameras"}),
    (
        "send_heartbeat",
        {
            "AgentVersion": "1.0",
            "DeviceName": "cam-1",
            "DeviceFleetName": "line-cameras",
            "Models": [{"ModelName": "detector", "ModelVersion": "1"}],
        },
    ),
]


@pytest.mark.parametrize(("operation", "params"), STOCK_CALLS, ids=[c[0] for c in STOCK_CALLS])
def test_a_stock_sagemaker_edge_client_request_verifies(
    operation: str, params: dict[str, Any]
) -> None:
    request = _stock_client_request(operation, **params)
    assert request.method == "POST"
    assert json.loads(request.body)["DeviceName"] == "cam-1"
    assert parse_authorization(request).service == SERVICE
    _check(request)


# -- rejected ----------------------------------------------------------------------------------

INCOMPLETE = ("IncompleteSignatureException", 400)
INVALID = ("InvalidSignatureException", 403)
OTHER_BODY_HASH = hashlib.sha256(BODY + b" ").hexdigest()

REJECTIONS: list[tuple[str, Callable[[], HttpRequest], tuple[str, int], str]] = [
    (
        "missing Authorization header",
        lambda: _with_headers(_sign(), authorization=None),
        ("MissingAuthenticationTokenException", 403),
        "Missing Authentication Token",
    ),
    (
        "wrong algorithm",
        lambda: _edit_authorization(_sign(), "AWS4-HMAC-SHA256 ", "AWS4-HMAC-SHA512 "),
        INCOMPLETE,
        "Unsupported authorization algorithm: only 'AWS4-HMAC-SHA256' is accepted.",
    ),
    (
        "Credential without its terminator",
        lambda: _edit_authorization(_sign(), "/sagemaker/aws4_request", "/sagemaker"),
        INCOMPLETE,
        "Credential should be '<access key id>/<YYYYMMDD>/<region>/<service>/aws4_request', "
        "not 4 slash-separated parts.",
    ),
    (
        "Credential with a wrong terminator",
        lambda: _edit_authorization(_sign(), "/aws4_request", "/aws5_request"),
        INCOMPLETE,
        "Credential should be scoped with a valid terminator: 'aws4_request'.",
    ),
    (
        "Credential with a malformed date",
        lambda: _edit_authorization(_sign(), "/20261206/", "/2026-12-06/"),
        INCOMPLETE,
        "Credential should be scoped to a date in the format YYYYMMDD.",
    ),
    (
        "no Signature parameter",
        lambda: _without_signature(_sign()),
        INCOMPLETE,
        "Authorization header requires 'Signature' parameter.",
    ),
    (
        "an unknown parameter",
        lambda: _edit_authorization(_sign(), ", Signature=", ", Sig="),
        INCOMPLETE,
        "Authorization header parameters should be 'Credential', 'SignedHeaders' and "
        "'Signature', each once, separated by commas.",
    ),
    (
        "a malformed Signature",
        lambda: _edit_authorization(_sign(), "Signature=", "Signature=zz"),
        INCOMPLETE,
        "Signature should be 64 hexadecimal characters.",
    ),
    (
        "missing X-Amz-Date",
        lambda: _with_headers(_sign(), x_amz_date=None),
        INCOMPLETE,
        "Authorization header requires existence of a 'X-Amz-Date' header.",
    ),
    (
        "malformed X-Amz-Date",
        lambda: _with_headers(_sign(), x_amz_date="2026-12-06T10:46:00Z"),
        INCOMPLETE,
        "X-Amz-Date must be in ISO-8601 basic format, e.g. 20261206T101500Z.",
    ),
    (
        "host not signed",
        lambda: _edit_authorization(
            _sign(), "content-type;host;x-amz-date", "content-type;x-amz-date"
        ),
        INCOMPLETE,
        "'host' must be a 'SignedHeader' in the AWS Authorization.",
    ),
    (
        "x-amz-date not signed",
        lambda: _edit_authorization(_sign(), "content-type;host;x-amz-date", "content-type;host"),
        INCOMPLETE,
        "'x-amz-date' must be a 'SignedHeader' in the AWS Authorization.",
    ),
    (
        "a signed header absent",
        lambda: _with_headers(_sign(), content_type=None),
        INCOMPLETE,
        "Signed headers are not in the request: content-type.",
    ),
    (
        "wrong service",
        lambda: _sign(service="execute-api"),
        INVALID,
        "Credential should be scoped to correct service: 'sagemaker'.",
    ),
    (
        "wrong region",
        lambda: _sign(region="eu-west-1"),
        INVALID,
        "Credential should be scoped to a valid region, not 'eu-west-1'.",
    ),
    (
        "scope date not the X-Amz-Date's date",
        lambda: _edit_authorization(_sign(), "/20261206/", "/20261205/"),
        INVALID,
        "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from "
        "HTTP: '20261205' != '20261206', from '20261206T104600Z'.",
    ),
    (
        "16 minutes early",
        lambda: _sign(at=NOW - timedelta(minutes=16)),
        INVALID,
        "Signature expired: 20261206T103000Z is now earlier than 20261206T103100Z "
        "(20261206T104600Z - 15 min.)",
    ),
    (
        "16 minutes late",
        lambda: _sign(at=NOW + timedelta(minutes=16)),
        INVALID,
        "Signature not yet current: 20261206T110200Z is still later than 20261206T110100Z "
        "(20261206T104600Z + 15 min.)",
    ),
    (
        "body changed by one byte",
        lambda: dataclasses.replace(_sign(), body=BODY.replace(b"cam-1", b"cam-2")),
        INVALID,
        MISMATCH,
    ),
    (
        "a signed header's value changed",
        lambda: _with_headers(_sign(), content_type="application/json"),
        INVALID,
        MISMATCH,
    ),
    (
        "path changed",
        lambda: dataclasses.replace(_sign(), path="/devices/cam%202/caf%C3%A9~x"),
        INVALID,
        MISMATCH,
    ),
    (
        "query changed",
        lambda: dataclasses.replace(_sign(), query="b=2&a=1&c=x%20y&flag"),
        INVALID,
        MISMATCH,
    ),
    (
        "wrong secret",
        lambda: _sign(secret=SECRET[:-1] + "!"),
        INVALID,
        MISMATCH,
    ),
    (
        "bad x-amz-content-sha256",
        lambda: _sign(
            headers={"Content-Type": "application/json", "X-Amz-Content-SHA256": OTHER_BODY_HASH}
        ),
        INVALID,
        "The provided 'x-amz-content-sha256' header does not match what was computed.",
    ),
    (
        "unsigned payload",
        lambda: _sign(
            headers={"Content-Type": "application/json", "X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"}
        ),
        INVALID,
        "The provided 'x-amz-content-sha256' header does not match what was computed.",
    ),
]


@pytest.mark.parametrize(
    ("build", "expected", "message"),
    [case[1:] for case in REJECTIONS],
    ids=[case[0] for case in REJECTIONS],
)
def test_a_rejected_request_says_why(
    build: Callable[[], HttpRequest], expected: tuple[str, int], message: str
) -> None:
    with pytest.raises(SignatureRejected) as rejected:
        _check(build())
    assert (rejected.value.code, rejected.value.status) == expected
    assert rejected.value.message == message


@pytest.mark.parametrize("build", [case[1] for case in REJECTIONS], ids=[c[0] for c in REJECTIONS])
def test_no_rejection_gives_away_the_secret_or_the_computed_signature(
    build: Callable[[], HttpRequest],
) -> None:
    request = build()
    with pytest.raises(SignatureRejected) as rejected:
        _check(request)
    said = f"{rejected.value.message} {rejected.value}"
    assert SECRET not in said
    if "authorization" in request.headers and "x-amz-date" in request.headers:
        try:
            computed = _computed_signature(request)
        except SignatureRejected:  # nothing can be computed for a request this incomplete
            return
        assert computed not in said
        assert computed.upper() not in said


def test_a_request_signed_with_the_right_secret_carries_the_computed_signature() -> None:
    # The check above compares against the right value: for an intact request it is the one sent
    request = _sign()
    assert _computed_signature(request) == parse_authorization(request).signature


def test_a_verifier_given_an_unparsed_incomplete_request_still_rejects_it() -> None:
    request = _sign()
    authorization = parse_authorization(request)
    stripped = _with_headers(request, host=None)
    with pytest.raises(SignatureRejected) as rejected:
        verify(stripped, authorization, SECRET, region=REGION, service=SERVICE, now=NOW)
    assert rejected.value.code == "IncompleteSignatureException"
    assert rejected.value.message == "Signed headers are not in the request: host."


def test_now_must_be_timezone_aware() -> None:
    request = _sign()
    authorization = parse_authorization(request)
    with pytest.raises(ValueError, match="timezone-aware"):
        verify(
            request,
            authorization,
            SECRET,
            region=REGION,
            service=SERVICE,
            now=NOW.replace(tzinfo=None),
        )
