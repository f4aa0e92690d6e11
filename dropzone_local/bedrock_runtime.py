"""A stand-in for Amazon Bedrock on-demand inference (the `bedrock-runtime` client's
`invoke_model` and `converse`) and token counting (`count_tokens`).

moto has no Bedrock. `FakeBedrockRuntime` answers both operations in the real request and
response shapes (both checked against botocore's model, constraints included), raises the
model's own exception classes (`fake.exceptions.ThrottlingException` is what
`client.exceptions.ThrottlingException` is) with the model's HTTP statuses, and has a
client's `meta` (region, endpoint, service model), so code written against a boto3 client
runs on it unchanged.

Answers are fake and deterministic: the text comes from a hash of the request's content;
the input tokens an answer reports are what CountTokens counts for the same input (as
Bedrock documents for the real service), and the output tokens len(json) // 4 of the
answer. InvokeModel answers in the
provider's own body shape, chosen by the model id (a cross-region profile prefix and an ARN
are looked through): Anthropic's Messages API, Amazon Titan Text, Amazon Nova, Meta Llama,
and `{"outputText": ...}` for anything else. Converse answers a ConverseResponse.

CountTokens answers `{"inputTokens": n}` for an Anthropic Claude model named by its bare
foundation-model id (or its foundation-model ARN) and refuses every other model id, an
inference profile's among them, with the service's ValidationException. The count is a
stand-in, not Claude's tokenizer: the characters of the input's text (every `text` member,
`content` or `system` given as a plain string, Llama's and Mistral's `prompt`, Titan's
`inputText`) divided by 3.5, rounded up, plus
`COUNT_OVERHEAD` for the request's framing. An InvokeModel body is checked as InvokeModel
checks it; Converse messages as Converse does.

Faults, all deterministic and safe to use from several threads:
- `inject_faults(*codes, operation=None)`: the next calls fail with these codes, in order.
  Without an operation they are for InvokeModel and Converse; CountTokens answers only
  faults injected for it by name, so counting never spends a fault meant for inference.
- `throttle_above_per_second=N`: per model id, a call beyond N let through within one
  second of `clock` is refused with ThrottlingException (refused calls do not count).
  CountTokens has a window of its own per model id, as it has a quota of its own.
  `clock` returns seconds (a float) or a datetime; the default is Dropzone's clock, which
  the local cloud moves.
- `record_faults` (a `RecordFaults`, shared with `FakeBedrock` in the local cloud): a record
  fails as its rule says, counted per record content across batch jobs and on-demand calls.
  The content is the InvokeModel body (parsed), or the Converse request without `modelId`,
  which is what a batch record's modelInput holds for each invocation type. CountTokens
  never fails by a record's fault: it does not run the model.
- `record_fails`: a record (`{"modelInput": content}`) it picks fails every call as
  malformed input; by default the one whose content has `"fail": true`, as in batch jobs.
- `latency`: seconds each answered call takes, spent by calling `sleep` (by default a
  function that returns at once, so nothing waits for real) outside the fake's lock.

`calls` records every call that reached the service (operation, model id, request, the
clock's time, and the error it answered); requests botocore refuses before sending
(ParamValidationError) never do. `calls_per_model()` and `call_times()` sum them up: the
inference calls, or those of the operation they are given (CountTokens only by name).

Service behaviour reproduced here, and where it is a reading rather than a fact:
- The client checks types, required members and minimums; the service enforces maximums,
  patterns and enums with ValidationException, as here.
- botocore's model requires neither `body` (InvokeModel) nor `messages` (Converse), since a
  prompt from Prompt management may stand in for them. Without one, and for a model id that
  is not a prompt ARN, the service refuses the call with ValidationException.
- An InvokeModel body that is not a JSON object, or that lacks a member its family needs
  (Anthropic: anthropic_version, max_tokens, messages; Titan Text: inputText; Nova:
  messages; Llama: prompt), is "Malformed input request" (ValidationException). Unconfirmed:
  a contentType other than application/json, or an accept other than it or `*/*`, is
  refused the same way.
- A Converse conversation must start with a user message and alternate roles.
"""

from __future__ import annotations

import copy
import io
import json
import math
import re
import threading
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from itertools import pairwise
from typing import Any

from botocore.client import ClientMeta
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.hooks import HierarchicalEmitter
from botocore.response import StreamingBody

from dropzone import aws
from dropzone.clock import utcnow
from dropzone_local.record_faults import (
    EXCEPTION_BY_STATUS,
    MALFORMED_MESSAGE,
    THROTTLING_MESSAGE,
    Fault,
    RecordFaults,
    fails_when_flagged,
    record_key,
)
from dropzone_local.service_fake import InjectedFaults
from dropzone_local.service_model import (
    check_constraints,
    client_error,
    client_exceptions,
    error_codes,
    service_model,
    validate_request,
    validate_response,
    with_metadata,
)

SERVICE = "bedrock-runtime"
INVOKE = "InvokeModel"
CONVERSE = "Converse"
COUNT_TOKENS = "CountTokens"
OPERATIONS = (INVOKE, CONVERSE)  # inference: what an unscoped fault or count is about
JSON_TYPE = "application/json"

# The stand-in count: characters of text per token, and the tokens of a request's framing.
CHARACTERS_PER_TOKEN = 3.5
COUNT_OVERHEAD = 10
UNSUPPORTED_COUNT_MESSAGE = "The provided model doesn't support counting tokens."

FIRST_MESSAGE = (
    "A conversation must start with a user message. Try again with a conversation that "
    "starts with a user message."
)
ALTERNATE_MESSAGE = (
    "A conversation must alternate between user and assistant roles. Make sure the "
    "conversation alternates between user and assistant roles and try again."
)

# The members each family's InvokeModel body needs, in the order the service reports them.
_FAMILIES: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("anthropic", ("anthropic.claude",), ("anthropic_version", "max_tokens", "messages")),
    ("titan-text", ("amazon.titan-text",), ("inputText",)),
    ("nova", ("amazon.nova",), ("messages",)),
    ("llama", ("meta.llama",), ("prompt",)),
)
_NOT_TEXT = ("amazon.nova-canvas", "amazon.nova-reel", "amazon.nova-sonic")
_PROFILE = re.compile(r"^(?:us|us-gov|eu|apac|jp|au|ca|global)\.")
_VERSION = re.compile(r"-v\d+(?::\d+)?$")

Moment = float | datetime


@dataclass(frozen=True)
class RuntimeCall:
    """One request that reached the service: its operation, model id, parameters, the
    clock's time, and the error code it answered (None: answered)."""

    operation: str
    model_id: str
    params: dict[str, Any]
    at: Moment
    error: str | None = None


def _no_sleep(seconds: float) -> None:
    """The default `sleep`: latency is noted, never waited for."""


@dataclass(kw_only=True)
class FakeBedrockRuntime:
    account: str = "123456789012"
    region: str = "us-east-1"
    record_faults: RecordFaults = field(default_factory=RecordFaults)
    record_fails: Callable[[dict[str, Any]], bool] = fails_when_flagged
    clock: Callable[[], Moment] = utcnow
    throttle_above_per_second: int | None = None  # per model id; None: no limit
    latency: float = 0.0  # seconds each answered call takes, spent through `sleep`
    sleep: Callable[[float], None] = _no_sleep

    calls: list[RuntimeCall] = field(default_factory=list, init=False)
    # The client's modeled exception classes; Any because the stubs type them as None.
    exceptions: Any = field(init=False, repr=False)
    meta: ClientMeta = field(init=False, repr=False)
    _faults: InjectedFaults = field(init=False, repr=False)
    _count_faults: InjectedFaults = field(init=False, repr=False)
    _admitted: dict[str, deque[float]] = field(default_factory=dict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        self.exceptions = client_exceptions(SERVICE)
        self.meta = ClientMeta(
            events=HierarchicalEmitter(),
            client_config=Config(region_name=self.region),
            endpoint_url=f"https://bedrock-runtime.{self.region}.amazonaws.com",
            service_model=service_model(SERVICE),
            method_to_api_mapping={
                "invoke_model": INVOKE,
                "converse": CONVERSE,
                "count_tokens": COUNT_TOKENS,
            },
            partition="aws",
        )
        self._faults = InjectedFaults(SERVICE)
        self._count_faults = InjectedFaults(SERVICE)

    # -- test controls -------------------------------------------------------------------

    def inject_faults(self, *error_codes: str, operation: str | None = None) -> None:
        """The next calls (of `operation`, or of either inference operation) fail with these
        error codes, one call each, in order."""
        with self._lock:
            if operation == COUNT_TOKENS:
                self._count_faults.add(error_codes, operation, (COUNT_TOKENS,))
            else:
                self._faults.add(error_codes, operation, OPERATIONS)

    def calls_per_model(
        self, operation: str | None = None, *, answered_only: bool = False
    ) -> Counter[str]:
        """How many calls (of `operation`, or of both inference operations) each model id
        received."""
        with self._lock:
            calls = list(self.calls)
        return Counter(
            call.model_id
            for call in calls
            if _of(call, operation) and not (answered_only and call.error is not None)
        )

    def call_times(self, model_id: str | None = None, operation: str | None = None) -> list[Moment]:
        """The clock's time of each call (to `model_id` / of `operation`, or of both
        inference operations), in call order."""
        with self._lock:
            calls = list(self.calls)
        return [
            call.at
            for call in calls
            if (model_id is None or call.model_id == model_id) and _of(call, operation)
        ]

    # -- the API -------------------------------------------------------------------------

    def invoke_model(self, **params: Any) -> dict[str, Any]:
        validate_request(SERVICE, INVOKE, params)
        if hasattr(params.get("body"), "read"):  # a file: what botocore would send
            params = {**params, "body": params["body"].read()}
        content = self._serve(INVOKE, params, self._invoke_input)
        self._wait()
        model_id = str(params["modelId"])
        body, input_tokens, output_tokens = invoke_answer(model_id, content)
        data = json.dumps(body).encode()
        response: dict[str, Any] = {
            "body": StreamingBody(io.BytesIO(data), len(data)),
            "contentType": JSON_TYPE,
        }
        for echoed in ("performanceConfigLatency", "serviceTier"):
            if echoed in params:
                response[echoed] = params[echoed]
        validate_response(SERVICE, INVOKE, response, constraints=True)
        answer = with_metadata(response)
        answer["ResponseMetadata"]["HTTPHeaders"] = {
            "content-type": JSON_TYPE,
            "content-length": str(len(data)),
            "x-amzn-bedrock-input-token-count": str(input_tokens),
            "x-amzn-bedrock-output-token-count": str(output_tokens),
            "x-amzn-bedrock-invocation-latency": str(self._latency_ms()),
        }
        return answer

    def converse(self, **params: Any) -> dict[str, Any]:
        validate_request(SERVICE, CONVERSE, params)
        content = self._serve(CONVERSE, params, self._converse_input)
        self._wait()
        response, _, _ = converse_answer(content)
        response["metrics"] = {"latencyMs": self._latency_ms()}
        for echoed in ("performanceConfig", "serviceTier"):
            if echoed in params:
                response[echoed] = copy.deepcopy(params[echoed])
        validate_response(SERVICE, CONVERSE, response, constraints=True)
        return with_metadata(response)

    def count_tokens(self, **params: Any) -> dict[str, Any]:
        validate_request(SERVICE, COUNT_TOKENS, params)
        content = self._serve(COUNT_TOKENS, params, self._count_input)
        response = {"inputTokens": stand_in_count(content)}
        validate_response(SERVICE, COUNT_TOKENS, response, constraints=True)
        return with_metadata(response)

    # -- inside the service --------------------------------------------------------------

    def _serve(
        self,
        operation_name: str,
        params: dict[str, Any],
        read: Callable[[dict[str, Any]], dict[str, Any]],
    ) -> dict[str, Any]:
        """Record the call, then answer an injected fault, the rate limit, the model's
        constraints, the request's meaning and the record's faults, in that order, as the
        service looks at them. Returns the record's content."""
        model_id = str(params["modelId"])
        with self._lock:
            now = self.clock()
            index = len(self.calls)
            self.calls.append(RuntimeCall(operation_name, model_id, copy.deepcopy(params), now))
            counting = operation_name == COUNT_TOKENS
            try:
                fault = (self._count_faults if counting else self._faults).take(operation_name)
                if fault is not None:
                    raise self._error(operation_name, fault, f"injected {fault}")
                window = f"{COUNT_TOKENS} {model_id}" if counting else model_id
                self._throttle(operation_name, window, now)
                problems = check_constraints(SERVICE, operation_name, params)
                if problems is not None:
                    raise self._error(operation_name, "ValidationException", problems)
                content = read(params)
                if not counting:
                    self._record_fault(operation_name, content)
            except ClientError as error:
                self.calls[index] = replace(self.calls[index], error=aws.error_code(error))
                raise
        return content

    def _throttle(self, operation_name: str, key: str, now: Moment) -> None:
        if self.throttle_above_per_second is None:
            return
        seconds = now.timestamp() if isinstance(now, datetime) else float(now)
        window = self._admitted.setdefault(key, deque())
        while window and window[0] <= seconds - 1.0:
            window.popleft()
        if len(window) >= self.throttle_above_per_second:
            raise self._error(operation_name, "ThrottlingException", THROTTLING_MESSAGE)
        window.append(seconds)

    def _invoke_input(self, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("contentType", JSON_TYPE) != JSON_TYPE:
            raise self._malformed(INVOKE, f"contentType {params['contentType']} is not supported")
        if params.get("accept", JSON_TYPE) not in (JSON_TYPE, "*/*"):
            raise self._malformed(INVOKE, f"accept {params['accept']} is not supported")
        return self._invoke_body(INVOKE, str(params["modelId"]), params.get("body"))

    def _invoke_body(self, operation_name: str, model_id: str, raw: Any) -> dict[str, Any]:
        if raw is None:
            raise self._malformed(operation_name, "the body is missing")
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise self._malformed(operation_name, "the body is not valid JSON") from None
        if not isinstance(body, dict):
            raise self._malformed(
                operation_name, f"#: expected type: JSONObject, found: {_json_type(body)}"
            )
        for key in _family(model_id)[1]:
            if key not in body:
                raise self._malformed(operation_name, f"#: required key [{key}] not found")
        return body

    def _converse_input(
        self, params: dict[str, Any], operation_name: str = CONVERSE
    ) -> dict[str, Any]:
        messages = params.get("messages") or []
        if not messages and ":prompt/" not in str(params["modelId"]):
            raise self._error(operation_name, "ValidationException", FIRST_MESSAGE)
        if messages and messages[0]["role"] != "user":
            raise self._error(operation_name, "ValidationException", FIRST_MESSAGE)
        roles = [message["role"] for message in messages]
        if any(first == second for first, second in pairwise(roles)):
            raise self._error(operation_name, "ValidationException", ALTERNATE_MESSAGE)
        return {key: value for key, value in params.items() if key != "modelId"}

    def _count_input(self, params: dict[str, Any]) -> dict[str, Any]:
        """The content to count: an InvokeModel body, or the Converse members, once the
        model is one that counts."""
        model_id = str(params["modelId"])
        if not counts_tokens(model_id):
            raise self._error(COUNT_TOKENS, "ValidationException", UNSUPPORTED_COUNT_MESSAGE)
        request = params["input"]
        if "invokeModel" in request:
            raw = request["invokeModel"]["body"]
            if hasattr(raw, "read"):  # a file: what botocore would send
                raw = raw.read()
            return self._invoke_body(COUNT_TOKENS, model_id, raw)
        conversation = {"modelId": model_id, **request["converse"]}
        return self._converse_input(conversation, COUNT_TOKENS)

    def _record_fault(self, operation_name: str, content: dict[str, Any]) -> None:
        fault = self.record_faults.attempt(content)
        if fault is None and self.record_fails({"modelInput": content}):
            fault = Fault.malformed_input()
        if fault is None:
            return
        code = fault.error_code
        if code not in error_codes(SERVICE, operation_name):  # e.g. a quota on Converse
            code = EXCEPTION_BY_STATUS.get(fault.code, "ValidationException")
        raise self._error(operation_name, code, fault.message)

    def _wait(self) -> None:
        if self.latency > 0:
            self.sleep(self.latency)

    def _latency_ms(self) -> int:
        return round(self.latency * 1000)

    def _malformed(self, operation_name: str, reason: str) -> ClientError:
        message = MALFORMED_MESSAGE.replace("request,", f"request: {reason},", 1)
        return self._error(operation_name, "ValidationException", message)

    def _error(self, operation_name: str, code: str, message: str) -> ClientError:
        return client_error(SERVICE, operation_name, code, message, message=message)


# -- answers ---------------------------------------------------------------------------------


def base_model_id(model_id: str) -> str:
    """The foundation model id inside an ARN or a cross-region inference profile id."""
    model = model_id.rsplit("/", 1)[-1] if model_id.startswith("arn:") else model_id
    return _PROFILE.sub("", model, count=1)


def counts_tokens(model_id: str) -> bool:
    """Whether CountTokens counts for this model id: an Anthropic Claude model by its bare
    id or its foundation-model ARN; never an inference profile."""
    if model_id.startswith("arn:"):
        if ":foundation-model/" not in model_id:
            return False
        model_id = model_id.rsplit("/", 1)[-1]
    return model_id.startswith("anthropic.claude")


def stand_in_count(content: dict[str, Any]) -> int:
    """The stand-in's token count of a request's content (see the module's docstring)."""
    characters = sum(len(text) for text in _texts(content))
    return math.ceil(characters / CHARACTERS_PER_TOKEN) + COUNT_OVERHEAD


# the members that hold a request's text, in the shapes of Bedrock's models
_TEXT_MEMBERS = frozenset({"text", "content", "system", "prompt", "inputText"})


def _texts(value: Any, key: str = "") -> Iterator[str]:
    if isinstance(value, str):
        if key in _TEXT_MEMBERS:
            yield value
    elif isinstance(value, dict):
        for name, item in value.items():
            yield from _texts(item, name)
    elif isinstance(value, list):
        for item in value:
            yield from _texts(item)


def _of(call: RuntimeCall, operation: str | None) -> bool:
    """Whether `call` is of `operation`, or of inference when None."""
    return call.operation == operation if operation is not None else call.operation in OPERATIONS


def _family(model_id: str) -> tuple[str, tuple[str, ...]]:
    base = base_model_id(model_id)
    if base.startswith(_NOT_TEXT):
        return "other", ()
    for name, prefixes, needs in _FAMILIES:
        if base.startswith(prefixes):
            return name, needs
    return "other", ()


def invoke_answer(model_id: str, content: dict[str, Any]) -> tuple[dict[str, Any], int, int]:
    """The provider's response body, and its input and output token counts."""
    text = _answer_text(content)
    tokens_in, tokens_out = stand_in_count(content), _tokens(text)
    family, _ = _family(model_id)
    body: dict[str, Any]
    if family == "anthropic":
        body = {
            "id": f"msg_bdrk_{record_key(content)[:24]}",
            "type": "message",
            "role": "assistant",
            "model": _VERSION.sub("", base_model_id(model_id).removeprefix("anthropic.")),
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": tokens_in, "output_tokens": tokens_out},
        }
    elif family == "titan-text":
        body = {
            "inputTextTokenCount": tokens_in,
            "results": [
                {"tokenCount": tokens_out, "outputText": text, "completionReason": "FINISH"}
            ],
        }
    elif family == "nova":  # Nova's InvokeModel body has Converse's shape
        body = _converse_body(text, tokens_in, tokens_out)
    elif family == "llama":
        body = {
            "generation": text,
            "prompt_token_count": tokens_in,
            "generation_token_count": tokens_out,
            "stop_reason": "stop",
        }
    else:
        body = {"outputText": text}
    return body, tokens_in, tokens_out


def converse_answer(content: dict[str, Any]) -> tuple[dict[str, Any], int, int]:
    """A Converse response's output, stop reason and usage, and its token counts (what a
    Converse batch job writes as a record's modelOutput, with its metrics)."""
    text = _answer_text(content)
    tokens_in, tokens_out = stand_in_count(content), _tokens(text)
    return _converse_body(text, tokens_in, tokens_out), tokens_in, tokens_out


def _converse_body(text: str, tokens_in: int, tokens_out: int) -> dict[str, Any]:
    return {
        "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
        "stopReason": "end_turn",
        "usage": {
            "inputTokens": tokens_in,
            "outputTokens": tokens_out,
            "totalTokens": tokens_in + tokens_out,
        },
    }


def _answer_text(content: dict[str, Any]) -> str:
    return f"Fake answer {record_key(content)[:16]}."


def _tokens(value: Any) -> int:
    return len(json.dumps(value, default=str)) // 4


def _json_type(value: Any) -> str:
    return "JSONArray" if isinstance(value, list) else type(value).__name__
