"""The `sagemaker-edge` rest-json protocol, as the edge endpoint speaks it.

In: an API Gateway HTTP API event (payload format 2.0), or the same shape from `dropzone
edge serve --local`. Out: the response API Gateway sends back. Every operation is
`POST /<OperationName>` with a JSON body; an error carries its code in the
`x-amzn-ErrorType` header and `{"Message": ...}` in the body, which botocore turns into
the model's exception (`InternalServiceException`, the one the model names) or a
ClientError with the code (the errors every AWS service shares).

Pure: no I/O here.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from typing import Any

from dropzone.workflows.edge.sigv4 import HttpRequest

SIGNING_NAME = "sagemaker"  # the service model's signingName: what clients sign for
OPERATIONS = {
    "/GetDeployments": "GetDeployments",
    "/GetDeviceRegistration": "GetDeviceRegistration",
    "/SendHeartbeat": "SendHeartbeat",
}
# A heartbeat goes the way of an EventBridge heartbeat, whose events are at most 256 KiB.
MAX_BODY_BYTES = 256 * 1024
MAX_MESSAGE_CHARS = 1000

INTERNAL = "InternalServiceException"  # the model's one error shape
VALIDATION = "ValidationException"
DENIED = "AccessDeniedException"
UNRECOGNIZED = "UnrecognizedClientException"
UNKNOWN_OPERATION = "UnknownOperationException"
SERIALIZATION = "SerializationException"


class EndpointError(Exception):
    """An answer other than 200: an AWS error code, an HTTP status and a message safe to
    show the caller."""

    def __init__(self, code: str, message: str, status: int) -> None:
        super().__init__(message)
        self.code = code
        self.message = message[:MAX_MESSAGE_CHARS]
        self.status = status

    @property
    def refused_caller(self) -> bool:
        """Not authenticated or not allowed (401/403), as opposed to a bad request."""
        return self.status in (401, 403)


def request_from_event(event: Mapping[str, Any]) -> HttpRequest:
    context = event.get("requestContext")
    http = context.get("http") if isinstance(context, Mapping) else None
    if not isinstance(http, Mapping) or not isinstance(http.get("method"), str):
        raise EndpointError(
            SERIALIZATION, "the event is not an API Gateway HTTP API (2.0) request", 400
        )
    raw_headers = event.get("headers") or {}
    headers = {str(name).lower(): str(value) for name, value in raw_headers.items()}
    text = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            body = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError) as error:
            raise EndpointError(SERIALIZATION, "the body is not valid base64", 400) from error
    else:
        body = str(text).encode("utf-8")
    return HttpRequest(
        method=str(http["method"]).upper(),
        path=str(event.get("rawPath") or http.get("path") or "/"),
        query=str(event.get("rawQueryString") or ""),
        headers=headers,
        body=body,
    )


_CLAIMED_KEY = re.compile(r"Credential=([A-Za-z0-9]{1,128})/")


def claimed_access_key_id(request: HttpRequest) -> str:
    """The access key id the Authorization header names, verified or not ("" if none):
    what a log line may say about who a refused request claimed to be."""
    found = _CLAIMED_KEY.search(request.headers.get("authorization", ""))
    return found.group(1)[:20] if found else ""


def operation_of(request: HttpRequest) -> str:
    operation = OPERATIONS.get(request.path)
    if request.method != "POST" or operation is None:
        routes = ", ".join(f"POST {path}" for path in OPERATIONS)
        raise EndpointError(
            UNKNOWN_OPERATION,
            f"{request.method[:10]} {request.path[:100]} is not an operation here; "
            f"this endpoint answers {routes}",
            404,
        )
    return operation


def body_object(request: HttpRequest) -> dict[str, Any]:
    if len(request.body) > MAX_BODY_BYTES:
        raise EndpointError(
            VALIDATION,
            f"the request body is {len(request.body)} bytes; at most {MAX_BODY_BYTES}",
            400,
        )
    try:
        body = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError) as error:
        raise EndpointError(SERIALIZATION, "the request body is not JSON", 400) from error
    if not isinstance(body, dict):
        raise EndpointError(SERIALIZATION, "the request body is not a JSON object", 400)
    return body


def json_response(body: Mapping[str, Any], request_id: str) -> dict[str, Any]:
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json", "x-amzn-RequestId": request_id},
        "body": json.dumps(body, separators=(",", ":")),
        "isBase64Encoded": False,
    }


def error_response(error: EndpointError, request_id: str) -> dict[str, Any]:
    return {
        "statusCode": error.status,
        "headers": {
            "Content-Type": "application/json",
            "x-amzn-RequestId": request_id,
            "x-amzn-ErrorType": error.code,
        },
        "body": json.dumps({"Message": error.message}),
        "isBase64Encoded": False,
    }
