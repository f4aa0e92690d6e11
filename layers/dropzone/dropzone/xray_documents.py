"""X-Ray's documents, pure: the trace header, the daemon's address, a subsegment and the
datagram that carries it (dropzone.xray sends them)."""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import time
import traceback
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.tracing.base import BaseSegment

TRACE_HEADER_ENV = "_X_AMZN_TRACE_ID"
DAEMON_ADDRESS_ENV = "AWS_XRAY_DAEMON_ADDRESS"
DEFAULT_DAEMON = ("127.0.0.1", 2000)
TRACE_HTTP_HEADER = "X-Amzn-Trace-Id"
DAEMON_HEADER = b'{"format": "json", "version": 1}\n'
MAX_DOCUMENT_BYTES = 64_000  # header included: within UDP's 65,507-byte payload
MAX_NAME = 200
MAX_ANNOTATION_VALUE = 1000
MAX_STACK_FRAMES = 10
_ANNOTATION_KEY = re.compile(r"[A-Za-z0-9_]{1,500}")


@dataclass(frozen=True)
class TraceContext:
    """What Lambda's trace header says about the current invocation. `passed_on` holds
    its other fields (`Lineage`, which Lambda's recursive loop detection counts, ...), in
    their order, for the header of each request made in the trace."""

    root: str
    parent: str
    sampled: bool
    passed_on: tuple[str, ...] = ()

    def header_for(self, parent: str) -> str:
        """The header for a request made inside subsegment `parent`."""
        fields = [f"Root={self.root}", f"Parent={parent}", "Sampled=1", *self.passed_on]
        return ";".join(fields)


def parse_trace_header(value: str | None) -> TraceContext | None:
    """`Root=1-...;Parent=...;Sampled=1[;...]` (any order), or None when the header lacks
    a root or a parent."""
    fields: dict[str, str] = {}
    passed_on: list[str] = []
    for part in (value or "").split(";"):
        key, _, item = part.strip().partition("=")
        if key and item:
            fields[key] = item
            if key not in ("Root", "Parent", "Sampled"):
                passed_on.append(f"{key}={item}")
    if "Root" not in fields or "Parent" not in fields:
        return None
    return TraceContext(
        fields["Root"], fields["Parent"], fields.get("Sampled") == "1", tuple(passed_on)
    )


def parse_daemon_address(value: str | None) -> tuple[str, int]:
    """`host:port`, or `udp:host:port tcp:host:port` in either order; the UDP address.

    Raises ValueError for anything else, naming the variable."""
    if not value:
        return DEFAULT_DAEMON
    parts = value.split()
    if len(parts) == 2:
        udp = [part[4:] for part in parts if part.startswith("udp:")]
        if len(udp) != 1 or not any(part.startswith("tcp:") for part in parts):
            raise ValueError(
                f"{DAEMON_ADDRESS_ENV} {value!r}: expected 'udp:host:port tcp:host:port'"
            )
        parts = udp
    host, _, port = parts[0].rpartition(":") if len(parts) == 1 else ("", "", "")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{DAEMON_ADDRESS_ENV} {value!r}: expected 'host:port'")
    return host, int(port)


def new_id() -> str:
    return os.urandom(8).hex()


def _message(exception: BaseException) -> str:
    try:
        return str(exception)
    except Exception:  # an exception whose __str__ fails: its type says what it was
        return f"<{type(exception).__name__} without a message>"


def _throwable(exception: BaseException, remote: bool) -> dict[str, Any]:
    frames = traceback.extract_tb(exception.__traceback__)[-MAX_STACK_FRAMES:]
    return {
        "id": new_id(),
        "message": _message(exception),
        "type": type(exception).__name__,
        "remote": remote,
        "stack": [
            {"path": frame.filename, "line": frame.lineno, "label": frame.name}
            for frame in reversed(frames)
        ],
    }


class Subsegment(BaseSegment):
    """One subsegment of the current trace, sent on its own when it closes."""

    def __init__(
        self, name: str, trace_id: str, parent_id: str, namespace: str | None = None
    ) -> None:
        self.id = new_id()
        self.name = name[:MAX_NAME]
        self.trace_id = trace_id
        self.parent_id = parent_id
        self.namespace = namespace
        self.start_time = time.time()
        self.end_time: float | None = None
        self.annotations: dict[str, str | float | int | bool] = {}
        self.metadata: dict[str, dict[str, Any]] = {}
        self.aws: dict[str, Any] = {}
        self.http_status: int | None = None
        self.fault = False
        self.cause: dict[str, Any] | str | None = None

    def close(self, end_time: float | None = None) -> None:
        self.end_time = time.time() if end_time is None else end_time

    def add_subsegment(self, subsegment: Any) -> None:
        """Children are sent on their own, naming this one as their parent."""

    def remove_subsegment(self, subsegment: Any) -> None:
        """Children are sent on their own: there is nothing to remove."""

    def put_annotation(self, key: str, value: Any) -> None:
        """X-Ray indexes annotations whose key is 1-500 letters, digits or underscores and
        whose value is a string (kept to 1,000 characters), a finite number or a boolean;
        anything else is left out, as the X-Ray SDK leaves it out."""
        if not isinstance(key, str) or not _ANNOTATION_KEY.fullmatch(key):
            return
        if isinstance(value, str):
            self.annotations[key] = value[:MAX_ANNOTATION_VALUE]
        elif isinstance(value, bool | int) or (isinstance(value, float) and math.isfinite(value)):
            self.annotations[key] = value

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        if isinstance(namespace, str) and not namespace.startswith("AWS."):  # AWS.* reserved
            self.metadata.setdefault(namespace, {})[key] = value

    def put_http_status(self, status: int | None) -> None:
        self.http_status = status

    def add_exception(
        self, exception: BaseException, stack: Any = None, remote: bool = False
    ) -> None:
        """Records the exception once per trace: a parent it propagates through names it
        by id."""
        self.fault = True
        recorded = getattr(exception, "_dropzone_xray_id", None)
        if isinstance(recorded, tuple) and recorded[0] == self.trace_id:
            self.cause = recorded[1]
            return
        throwable = _throwable(exception, remote)
        with contextlib.suppress(AttributeError):  # an exception type with __slots__
            exception._dropzone_xray_id = (self.trace_id, throwable["id"])  # type: ignore[attr-defined]
        self.cause = {"working_directory": os.getcwd(), "exceptions": [throwable]}

    def document(self) -> dict[str, Any]:
        """The subsegment as X-Ray's segment document for a subsegment sent on its own."""
        document: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "trace_id": self.trace_id,
            "parent_id": self.parent_id,
            "type": "subsegment",
            "start_time": self.start_time,
            "end_time": self.end_time if self.end_time is not None else time.time(),
        }
        if self.namespace:
            document["namespace"] = self.namespace
        if self.annotations:
            document["annotations"] = self.annotations
        if self.metadata:
            document["metadata"] = self.metadata
        if self.aws:
            document["aws"] = self.aws
        status = self.http_status
        if status is not None:
            document["http"] = {"response": {"status": status}}
            if status == 429:
                document["throttle"] = True
            if 400 <= status < 500:
                document["error"] = True
            elif status >= 500:
                document["fault"] = True
        if self.fault and not document.get("error"):
            document["fault"] = True
        if self.cause is not None:
            document["cause"] = self.cause
        return document


def encode(document: dict[str, Any]) -> bytes | None:
    """The daemon's datagram for `document`. Values JSON lacks (datetimes, exceptions, ...)
    go as their `str`. All of the metadata is left out when it is too large or cannot be
    JSON at all (keys that are not strings, a cycle, NaN or infinity anywhere in it); None
    when even the rest does not fit."""
    for candidate in (document, {k: v for k, v in document.items() if k != "metadata"}):
        try:
            text = json.dumps(candidate, default=str, separators=(",", ":"), allow_nan=False)
        except (TypeError, ValueError, RecursionError):
            continue
        data = DAEMON_HEADER + text.encode()
        if len(data) <= MAX_DOCUMENT_BYTES:
            return data
    return None
