"""Which Bedrock records fail, with what error, and for how many runs: one policy that the
batch stand-in (`FakeBedrock`) and the on-demand one (`FakeBedrockRuntime`) share.

    faults = RecordFaults({
        "throttle-once": Fault.throttling(),                # fails its first run only
        "filtered": Fault.content_filtered(),               # fails every run
        lambda model_input: "timeout" in json.dumps(model_input): Fault.model_timeout(times=2),
    })

A rule matches a record by a marker or by a predicate on its modelInput:
- a string key matches a modelInput whose `"dz_fault"` member is that string; a Converse
  request (or a Converse batch record) carries it in `requestMetadata`, since the client
  refuses unknown members: `requestMetadata={"dz_fault": "throttle-once"}`;
- a callable key is called with the modelInput (the InvokeModel body, parsed; or the
  Converse request without `modelId`) and matches when it returns true.
The first rule that matches applies.

A record is its content: runs are counted per hash of the modelInput and nothing else (not
the recordId, the job or the model), so a record run in a batch job, again in a retry job
and then on demand is one record on its third run. Only runs while a rule matches the
record count. `times=1` fails the first run and lets every later one succeed; `times=None`
fails every run. Two identical records in one job are one record run twice.

A fault's `code` is both the `errorCode` of the batch output line and the HTTP status of
the on-demand error; the exception class follows from it (429 → ThrottlingException, 408 →
ModelTimeoutException, 500 → InternalServerException, 503 → ServiceUnavailableException,
400 → ValidationException, 424 → ModelErrorException, 403 → AccessDeniedException, 404 →
ResourceNotFoundException), or is named with `exception=`. AWS documents the batch output
error as `{"errorCode": <number>, "errorMessage": <string>}` and shows only 400 ("bad
request"); using the on-demand HTTP statuses as the batch error codes is a reading. AWS
documents no batch error code for content its filters block: `Fault.content_filtered()` is
400 with the message of the ValidationException the runtime raises for it (as Amazon Nova's
user guide documents it).
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from dropzone_local.service_model import error_codes

SERVICE = "bedrock-runtime"
MARKER = "dz_fault"

# Messages as the runtime words its errors. The content filter's is the ValidationException
# Amazon Nova documents for a prompt its filters block; the model timeout's is unconfirmed.
THROTTLING_MESSAGE = "Too many requests, please wait before trying again."
MODEL_TIMEOUT_MESSAGE = "Model has timed out in processing the request. Try your request again."
INTERNAL_ERROR_MESSAGE = (
    "The system encountered an unexpected error during processing. Try your request again."
)
UNAVAILABLE_MESSAGE = "Bedrock is unable to process your request."
MALFORMED_MESSAGE = "Malformed input request, please reformat your input and try again."
CONTENT_FILTERED_MESSAGE = (
    "This request has been blocked by our content filters. Please adjust your text prompt "
    "to submit a new request."
)

EXCEPTION_BY_STATUS = {
    400: "ValidationException",
    403: "AccessDeniedException",
    404: "ResourceNotFoundException",
    408: "ModelTimeoutException",
    424: "ModelErrorException",
    429: "ThrottlingException",
    500: "InternalServerException",
    503: "ServiceUnavailableException",
}

ModelInput = dict[str, Any]
Predicate = Callable[[ModelInput], bool]
Match = str | Predicate


@dataclass(frozen=True)
class Fault:
    """How a record fails: `code` and `message` as the batch output's `errorCode` and
    `errorMessage` (and the on-demand error's HTTP status and message), for the first
    `times` runs of the record (None: every run)."""

    code: int
    message: str
    times: int | None = 1
    exception: str | None = None  # the on-demand error code; default from `code`

    def __post_init__(self) -> None:
        if self.times is not None and self.times < 1:
            raise ValueError("times is 1 or more, or None for every run")
        known = error_codes(SERVICE, "InvokeModel")
        name = self.error_code
        if name not in known:
            raise ValueError(
                f"no bedrock-runtime error for {self.code}/{self.exception}; name one of "
                f"{sorted(known)} with exception="
            )

    @property
    def error_code(self) -> str:
        """The bedrock-runtime error an on-demand call for this record raises."""
        return self.exception or EXCEPTION_BY_STATUS.get(self.code, "")

    def output_error(self) -> dict[str, Any]:
        """The `error` member of the record's batch output line."""
        return {"errorCode": self.code, "errorMessage": self.message}

    # The usual faults, with the service's codes and messages.

    @classmethod
    def throttling(cls, times: int | None = 1) -> Fault:
        return cls(429, THROTTLING_MESSAGE, times)

    @classmethod
    def model_timeout(cls, times: int | None = 1) -> Fault:
        return cls(408, MODEL_TIMEOUT_MESSAGE, times)

    @classmethod
    def internal_error(cls, times: int | None = 1) -> Fault:
        return cls(500, INTERNAL_ERROR_MESSAGE, times)

    @classmethod
    def service_unavailable(cls, times: int | None = 1) -> Fault:
        return cls(503, UNAVAILABLE_MESSAGE, times)

    @classmethod
    def malformed_input(cls, times: int | None = None) -> Fault:
        return cls(400, MALFORMED_MESSAGE, times)

    @classmethod
    def content_filtered(cls, times: int | None = None) -> Fault:
        """Blocked by the content filters. AWS documents no batch error code for it; 400 is
        the status of the ValidationException the runtime raises for it."""
        return cls(400, CONTENT_FILTERED_MESSAGE, times)


def fails_when_flagged(record: dict[str, Any]) -> bool:
    """Default `record_fails` of the Bedrock stand-ins: the record's modelInput carries
    `"fail": true`. Such a record fails every run as malformed input."""
    model_input = record.get("modelInput")
    return isinstance(model_input, dict) and model_input.get("fail") is True


def marker(model_input: ModelInput) -> str | None:
    """The record's `dz_fault` marker: at the top of the modelInput, or in a Converse
    request's `requestMetadata`."""
    value = model_input.get(MARKER)
    metadata = model_input.get("requestMetadata")
    if value is None and isinstance(metadata, dict):
        value = metadata.get(MARKER)
    return value if isinstance(value, str) else None


def record_key(model_input: ModelInput) -> str:
    """The record's identity: a hash of its modelInput alone. Bytes (a Converse image sent
    on demand) hash as the base64 text a batch record carries them in."""
    text = json.dumps(
        model_input, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_plain
    )
    return hashlib.sha256(text.encode()).hexdigest()


class RecordFaults:
    """The faults records meet, by marker or predicate, counted per record content.
    Thread-safe: batch jobs and on-demand calls from several threads may share one."""

    def __init__(self, rules: Mapping[Match, Fault] | None = None) -> None:
        self._rules: list[tuple[Match, Fault]] = list((rules or {}).items())
        self._runs: Counter[str] = Counter()
        self._lock = threading.Lock()

    def add(self, match: Match, fault: Fault) -> None:
        """One more rule, after those already given."""
        with self._lock:
            self._rules.append((match, fault))

    def rule_for(self, model_input: ModelInput) -> Fault | None:
        """The fault of the first rule matching this record, whatever its runs so far."""
        with self._lock:
            rules = list(self._rules)
        found = marker(model_input)
        for match, fault in rules:  # predicates run outside the lock: they are the caller's
            if match == found if isinstance(match, str) else match(model_input):
                return fault
        return None

    def attempt(self, model_input: ModelInput) -> Fault | None:
        """Count one run of this record, if a rule matches it; the fault it fails with on
        this run, or None. Records no rule matches are not hashed, so big jobs stay cheap."""
        fault = self.rule_for(model_input)
        if fault is None:
            return None
        key = record_key(model_input)
        with self._lock:
            self._runs[key] += 1
            run = self._runs[key]
        return None if fault.times is not None and run > fault.times else fault

    def attempts(self, model_input: ModelInput) -> int:
        """How many times this record has run, in batch jobs and on demand, while a rule
        matched it."""
        with self._lock:
            return self._runs[record_key(model_input)]

    def reset(self) -> None:
        """Forget every run (the rules stay)."""
        with self._lock:
            self._runs.clear()


def _plain(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()
    raise TypeError(f"{type(value).__name__} is not JSON")
