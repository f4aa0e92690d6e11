"""A stand-in for the Lambda Invoke API that runs the local cloud's functions."""

from __future__ import annotations

import io
import json
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError
from botocore.response import StreamingBody

from dropzone_local.service_model import validate_request, validate_response

SERVICE = "lambda"
MAX_ASYNC_RETRIES = 2  # Lambda retries a failed asynchronous invocation twice


@dataclass
class _Queued:
    function: str
    payload: dict[str, Any]
    attempts: int = 0


@dataclass
class FakeLambda:
    """Invoke for local functions: RequestResponse runs now, Event is queued (and retried
    twice on error, then handed to `on_failure`), DryRun only checks the function exists."""

    resolve: Callable[[str], str | None]
    run: Callable[[str, dict[str, Any]], Any]
    on_failure: Callable[[str, dict[str, Any], Exception], None]
    calls: list[dict[str, Any]] = field(default_factory=list)
    _queue: deque[_Queued] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def invoke(self, **params: Any) -> dict[str, Any]:
        validate_request(SERVICE, "Invoke", params)
        self.calls.append(params)
        name = params["FunctionName"]
        logical_id = self.resolve(name)
        if logical_id is None:
            missing: dict[str, Any] = {
                "Error": {
                    "Code": "ResourceNotFoundException",
                    "Message": f"Function not found: {name}",
                },
                "ResponseMetadata": {"HTTPStatusCode": 404},
            }
            raise ClientError(missing, "Invoke")  # type: ignore[arg-type]
        raw = params.get("Payload", b"{}")
        payload = json.loads(raw.read() if hasattr(raw, "read") else raw or b"{}")
        kind = params.get("InvocationType", "RequestResponse")
        if kind == "DryRun":
            return self._answer(204, b"")
        if kind == "Event":
            with self._lock:
                self._queue.append(_Queued(logical_id, payload))
            return self._answer(202, b"")
        try:
            result = self.run(logical_id, payload)
        except Exception as error:  # a function error is a 200 with FunctionError
            body = json.dumps(
                {"errorMessage": str(error), "errorType": type(error).__name__}
            ).encode()
            return {
                **self._answer(200, body),
                "FunctionError": "Unhandled",
                "ExecutedVersion": "$LATEST",
            }
        return {**self._answer(200, json.dumps(result).encode()), "ExecutedVersion": "$LATEST"}

    @property
    def pending(self) -> int:
        return len(self._queue)

    def run_pending(self) -> int:
        """Run queued asynchronous invocations once each; return how many ran."""
        with self._lock:
            work, self._queue = list(self._queue), deque()
        for item in work:
            try:
                self.run(item.function, item.payload)
            except Exception as error:
                item.attempts += 1
                if item.attempts > MAX_ASYNC_RETRIES:
                    self.on_failure(item.function, item.payload, error)
                else:
                    with self._lock:
                        self._queue.append(item)
        return len(work)

    @staticmethod
    def _answer(status: int, body: bytes) -> dict[str, Any]:
        response = {"StatusCode": status, "Payload": StreamingBody(io.BytesIO(body), len(body))}
        validate_response(SERVICE, "Invoke", {"StatusCode": status})
        return response
