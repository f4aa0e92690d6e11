"""A stand-in for SageMaker asynchronous endpoints.

moto's InvokeEndpointAsync needs no endpoint, writes to a random bucket and sends no
notification. This fake keeps the real request and response shapes (checked against
botocore's model), knows which endpoints exist, writes outputs or failures where the
endpoint's AsyncInferenceConfig would, and produces the SNS notification message.
"""

from __future__ import annotations

import hashlib
import json
import threading
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from dropzone.clock import iso, utcnow
from dropzone_local.service_model import validate_request, validate_response

SERVICE = "sagemaker-runtime"
OPERATION = "InvokeEndpointAsync"
_FAULT_STATUS = {"ThrottlingException": 400, "ServiceUnavailable": 503, "InternalFailure": 500}


@dataclass(frozen=True)
class FakeEndpoint:
    name: str
    output_bucket: str
    output_prefix: str = "sagemaker-async/outputs/"
    failure_prefix: str = "sagemaker-async/failures/"
    failure_reason: str | None = None  # set: every inference on this endpoint fails


@dataclass
class _Pending:
    endpoint: FakeEndpoint
    request: dict[str, Any]
    response: dict[str, Any]
    received_at: str


@dataclass
class FakeSageMakerRuntime:
    endpoints: dict[str, FakeEndpoint] = field(default_factory=dict)
    account: str = "123456789012"
    region: str = "us-east-1"
    calls: list[dict[str, Any]] = field(default_factory=list)
    faults: deque[str] = field(default_factory=deque)
    _pending: list[_Pending] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add_endpoint(self, endpoint: FakeEndpoint) -> None:
        self.endpoints[endpoint.name] = endpoint

    def inject_faults(self, *error_codes: str) -> None:
        """The next calls fail with these error codes, one each, in order."""
        self.faults.extend(error_codes)

    def invoke_endpoint_async(self, **params: Any) -> dict[str, Any]:
        validate_request(SERVICE, OPERATION, params)
        with self._lock:
            self.calls.append(params)
            fault = self.faults.popleft() if self.faults else None
        if fault:
            raise _client_error(fault, f"injected {fault}", _FAULT_STATUS.get(fault, 500))
        endpoint = self.endpoints.get(params["EndpointName"])
        if endpoint is None:
            raise _client_error(
                "ValidationError",
                f"Endpoint {params['EndpointName']} of account {self.account} not found.",
                400,
            )
        inference_id = params.get("InferenceId") or str(uuid.uuid4())
        response = {
            "InferenceId": inference_id,
            "OutputLocation": f"s3://{endpoint.output_bucket}/{endpoint.output_prefix}{inference_id}.out",
            "FailureLocation": (
                f"s3://{endpoint.output_bucket}/{endpoint.failure_prefix}{inference_id}-error.out"
            ),
        }
        validate_response(SERVICE, OPERATION, response)
        with self._lock:
            self._pending.append(_Pending(endpoint, params, response, iso(utcnow())))
        answer: dict[str, Any] = {**response, "ResponseMetadata": {"HTTPStatusCode": 202}}
        return answer

    @property
    def pending(self) -> int:
        return len(self._pending)

    def run_pending(
        self, s3_client: Any, read_object: Callable[[str, str], bytes] | None = None
    ) -> list[dict[str, Any]]:
        """Process every accepted inference; return the SNS messages the endpoint sends.
        Inputs are read with `read_object(bucket, key)` if given, else with GetObject."""
        with self._lock:
            work, self._pending = self._pending, []
        read = read_object or (lambda bucket, key: _get(s3_client, bucket, key))
        return [self._run(item, s3_client, read) for item in work]

    def _run(
        self, item: _Pending, s3_client: Any, read: Callable[[str, str], bytes]
    ) -> dict[str, Any]:
        request, response, endpoint = item.request, item.response, item.endpoint
        input_bucket, _, input_key = request["InputLocation"][5:].partition("/")
        body = read(input_bucket, input_key)
        message: dict[str, Any] = {
            "awsRegion": self.region,
            "eventTime": iso(utcnow()),
            "receivedTime": item.received_at,
            "requestParameters": {
                "accept": request.get("Accept", "application/json"),
                "contentType": request.get("ContentType", "application/octet-stream"),
                "endpointName": endpoint.name,
                "inputLocation": request["InputLocation"],
            },
            "inferenceId": response["InferenceId"],
            "eventVersion": "1.0",
            "eventSource": "aws:sagemaker",
            "eventName": "InferenceResult",
        }
        if endpoint.failure_reason:
            _put(s3_client, response["FailureLocation"], endpoint.failure_reason.encode())
            message.update(
                invocationStatus="Failed",
                failureReason=endpoint.failure_reason,
                responseParameters={"contentType": "text/plain"},
            )
            return message
        output = {
            "endpoint": endpoint.name,
            "inferenceId": response["InferenceId"],
            "inputBytes": len(body),
            "inputSha256": hashlib.sha256(body).hexdigest(),
        }
        _put(s3_client, response["OutputLocation"], json.dumps(output).encode())
        message.update(
            invocationStatus="Completed",
            responseParameters={
                "contentType": "application/json",
                "outputLocation": response["OutputLocation"],
            },
        )
        return message


def _get(s3_client: Any, bucket: str, key: str) -> bytes:
    body: bytes = s3_client.get_object(Bucket=bucket, Key=key)["Body"].read()
    return body


def _put(s3_client: Any, uri: str, body: bytes) -> None:
    bucket, _, key = uri[5:].partition("/")
    s3_client.put_object(Bucket=bucket, Key=key, Body=body)


def _client_error(code: str, message: str, status: int) -> ClientError:
    error: dict[str, Any] = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(
        error,  # type: ignore[arg-type]
        OPERATION,
    )
