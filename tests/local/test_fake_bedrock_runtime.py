"""FakeBedrockRuntime: on-demand InvokeModel and Converse, checked against botocore's model."""

from __future__ import annotations

import json
import math
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError, ParamValidationError
from botocore.retries.standard import (
    RetryContext,
    RetryEventAdapter,
    StandardRetryConditions,
    ThrottlingErrorDetector,
)
from botocore.stub import Stubber

from dropzone.adapters.bedrock import Backpressure
from dropzone.adapters.bedrock_runtime import (
    BedrockRuntime,
    CountTokensRefused,
    CountTokensUnsupported,
)
from dropzone.workflows.bedrock.calibration import calibrate
from dropzone_local.bedrock_runtime import (
    CONVERSE,
    COUNT_OVERHEAD,
    COUNT_TOKENS,
    INVOKE,
    SERVICE,
    UNSUPPORTED_COUNT_MESSAGE,
    FakeBedrockRuntime,
    stand_in_count,
)
from dropzone_local.cloud import LocalCloud
from dropzone_local.record_faults import (
    CONTENT_FILTERED_MESSAGE,
    MALFORMED_MESSAGE,
    THROTTLING_MESSAGE,
    Fault,
    RecordFaults,
)
from dropzone_local.service_model import error_codes, error_status, operation

CLAUDE = "anthropic.claude-3-haiku-20240307-v1:0"
NOVA = "amazon.nova-lite-v1:0"
TITAN = "amazon.titan-text-express-v1"
LLAMA = "meta.llama3-8b-instruct-v1:0"
OTHER = "cohere.command-r-v1:0"


@dataclass
class Seconds:
    """A clock in seconds that stands still until the test moves it."""

    now: float = 1_000.0

    def __call__(self) -> float:
        return self.now


def _fake(**options: Any) -> FakeBedrockRuntime:
    return FakeBedrockRuntime(clock=Seconds(), **options)


def _claude(text: str = "Hello", **extra: Any) -> dict[str, Any]:
    return {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 256,
        "messages": [{"role": "user", "content": [{"type": "text", "text": text}]}],
        **extra,
    }


def _messages(text: str = "Hello") -> list[dict[str, Any]]:
    return [{"role": "user", "content": [{"text": text}]}]


def _invoke(fake: FakeBedrockRuntime, body: dict[str, Any], model: str = CLAUDE) -> Any:
    response = fake.invoke_model(modelId=model, body=json.dumps(body))
    return json.loads(response["body"].read())


def _code(error: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    response: Any = error.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def _real_client() -> Any:
    return boto3.client("bedrock-runtime", region_name="us-east-1")


_ANSWERS: dict[str, dict[str, Any]] = {
    "invoke_model": {"body": b"{}", "contentType": "application/json"},
    "converse": {
        "output": {"message": {"role": "assistant", "content": [{"text": "x"}]}},
        "stopReason": "end_turn",
        "usage": {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2},
        "metrics": {"latencyMs": 1},
    },
}


def _stubbed(method: str) -> tuple[Any, Stubber]:
    """botocore's own client, with one answer to `method` queued."""
    real = _real_client()
    stubber = Stubber(real)
    stubber.add_response(method, _ANSWERS[method])
    return real, stubber


# -- requests ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("invoke_model", {"body": b"{}"}),  # modelId missing
        ("invoke_model", {"modelId": CLAUDE, "body": 42}),  # a number for a blob
        ("invoke_model", {"modelId": CLAUDE, "body": b"{}", "prompt": "hi"}),  # unknown member
        ("converse", {"modelId": NOVA, "messages": {"role": "user"}}),  # a dict for a list
        ("converse", {"modelId": NOVA, "messages": [{"role": "user"}]}),  # content missing
        ("converse", {"modelId": NOVA, "messages": _messages(), "temperature": 0.5}),
        (
            "converse",
            {"modelId": NOVA, "messages": _messages(), "inferenceConfig": {"maxTokens": 0}},
        ),  # below the model's minimum
    ],
)
def test_a_request_the_client_refuses_never_reaches_the_fake(
    method: str, params: dict[str, Any]
) -> None:
    # Given
    (real, stubber), fake = _stubbed(method), _fake()
    # When / Then: botocore's own client refuses it the same way
    with stubber, pytest.raises(ParamValidationError):
        getattr(real, method)(**params)
    with pytest.raises(ParamValidationError):
        getattr(fake, method)(**params)
    assert fake.calls == []


def test_a_conversation_without_messages_passes_the_client_and_is_refused_by_the_service() -> None:
    # Given: the model leaves `messages` optional (a managed prompt may stand in for it)
    (real, stubber), fake = _stubbed("converse"), _fake()
    with stubber:
        real.converse(modelId=NOVA)
    # When
    with pytest.raises(ClientError) as error:
        fake.converse(modelId=NOVA)
    # Then
    assert _code(error) == ("ValidationException", 400)
    assert isinstance(error.value, fake.exceptions.ValidationException)
    assert "must start with a user message" in str(error.value)
    assert [(call.operation, call.error) for call in fake.calls] == [
        (CONVERSE, "ValidationException")
    ]


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (
            lambda f: f.converse(
                modelId=NOVA, messages=_messages(), inferenceConfig={"temperature": 1.5}
            ),
            "less than or equal to 1",
        ),
        (lambda f: f.invoke_model(modelId="not a model id", body=b"{}"), "regular expression"),
        (
            lambda f: f.converse(
                modelId=NOVA, messages=[{"role": "assistant", "content": [{"text": "hi"}]}]
            ),
            "must start with a user message",
        ),
        (
            lambda f: f.converse(modelId=NOVA, messages=_messages() + _messages()),
            "must alternate between user and assistant",
        ),
        (lambda f: f.invoke_model(modelId=CLAUDE, body=b"not json"), "Malformed input request"),
        (lambda f: f.invoke_model(modelId=CLAUDE, body=b"[1]"), "expected type: JSONObject"),
        (
            lambda f: f.invoke_model(modelId=CLAUDE, body=json.dumps({"messages": []})),
            "required key [anthropic_version] not found",
        ),
        (
            lambda f: f.invoke_model(modelId=TITAN, body=json.dumps({"prompt": "x"})),
            "required key [inputText] not found",
        ),
        (lambda f: f.invoke_model(modelId=CLAUDE), "the body is missing"),
        (
            lambda f: f.invoke_model(
                modelId=OTHER, body=b"{}", contentType="text/plain", accept="application/json"
            ),
            "contentType text/plain",
        ),
    ],
)
def test_the_service_refuses_what_the_client_lets_through(
    call: Callable[[FakeBedrockRuntime], Any], expected: str
) -> None:
    fake = _fake()
    with pytest.raises(ClientError) as error:
        call(fake)
    assert _code(error) == ("ValidationException", 400)
    assert expected in str(error.value)
    assert len(fake.calls) == 1


# -- answers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "body", "text_of"),
    [
        (CLAUDE, _claude(), lambda answer: answer["content"][0]["text"]),
        (f"us.{CLAUDE}", _claude(), lambda answer: answer["content"][0]["text"]),
        (
            f"arn:aws:bedrock:us-east-1::foundation-model/{NOVA}",
            {"messages": _messages()},
            lambda answer: answer["output"]["message"]["content"][0]["text"],
        ),
        (TITAN, {"inputText": "Hello"}, lambda answer: answer["results"][0]["outputText"]),
        (LLAMA, {"prompt": "Hello"}, lambda answer: answer["generation"]),
        (OTHER, {"message": "Hello"}, lambda answer: answer["outputText"]),
    ],
)
def test_invoke_model_answers_in_the_providers_own_shape(
    model: str, body: dict[str, Any], text_of: Callable[[dict[str, Any]], str]
) -> None:
    # Given
    fake = _fake()
    tokens_in = stand_in_count(body)  # what CountTokens counts for the same input
    # When
    response = fake.invoke_model(modelId=model, body=json.dumps(body).encode(), accept="*/*")
    answer = json.loads(response["body"].read())
    # Then
    assert response["contentType"] == "application/json"
    text = text_of(answer)
    assert text.startswith("Fake answer ")
    headers = response["ResponseMetadata"]["HTTPHeaders"]
    assert headers["x-amzn-bedrock-input-token-count"] == str(tokens_in)
    assert headers["x-amzn-bedrock-output-token-count"] == str(len(json.dumps(text)) // 4)
    assert _invoke(fake, body, model) == answer  # deterministic
    assert _invoke(fake, {**body, "other": 1}, model) != answer  # from the input


def test_the_families_answer_with_their_documented_members() -> None:
    fake = _fake()
    claude = _invoke(fake, _claude())
    assert set(claude) >= {"id", "type", "role", "content", "stop_reason", "usage"}
    assert (claude["type"], claude["role"], claude["stop_reason"]) == (
        "message",
        "assistant",
        "end_turn",
    )
    assert set(claude["usage"]) == {"input_tokens", "output_tokens"}
    titan = _invoke(fake, {"inputText": "Hi"}, TITAN)
    assert set(titan) == {"inputTextTokenCount", "results"}
    assert set(titan["results"][0]) == {"tokenCount", "outputText", "completionReason"}
    nova = _invoke(fake, {"messages": _messages()}, NOVA)
    assert set(nova) == {"output", "stopReason", "usage"}
    assert nova["output"]["message"]["role"] == "assistant"
    usage = nova["usage"]
    assert usage["totalTokens"] == usage["inputTokens"] + usage["outputTokens"]
    llama = _invoke(fake, {"prompt": "Hi"}, LLAMA)
    assert set(llama) == {
        "generation",
        "prompt_token_count",
        "generation_token_count",
        "stop_reason",
    }


def test_answers_are_what_botocores_own_client_accepts() -> None:
    # Given
    fake, real = _fake(latency=0.125), _real_client()
    conversation = fake.converse(modelId=NOVA, messages=_messages(), system=[{"text": "Be"}])
    invocation = fake.invoke_model(modelId=CLAUDE, body=json.dumps(_claude()))
    # When: botocore's stubber checks each against the output shape
    stubber = Stubber(real)
    stubber.add_response(
        "converse", {k: v for k, v in conversation.items() if k != "ResponseMetadata"}
    )
    stubber.add_response(
        "invoke_model", {k: v for k, v in invocation.items() if k != "ResponseMetadata"}
    )
    with stubber:
        real.converse(modelId=NOVA, messages=_messages())
        real.invoke_model(modelId=CLAUDE, body=b"{}")
    # Then
    assert conversation["stopReason"] == "end_turn"
    assert conversation["metrics"] == {"latencyMs": 125}
    usage = conversation["usage"]
    assert usage["totalTokens"] == usage["inputTokens"] + usage["outputTokens"] > 0


def test_the_fake_looks_like_a_client() -> None:
    fake = FakeBedrockRuntime(region="eu-west-1")
    assert fake.meta.region_name == "eu-west-1"
    assert fake.meta.service_model.service_name == SERVICE
    assert fake.meta.endpoint_url == "https://bedrock-runtime.eu-west-1.amazonaws.com"
    assert fake.meta.method_to_api_mapping == {
        "invoke_model": INVOKE,
        "converse": CONVERSE,
        "count_tokens": COUNT_TOKENS,
    }
    assert all(hasattr(fake.exceptions, code) for code in error_codes(SERVICE, INVOKE))


# -- injected errors -----------------------------------------------------------------------

_RETRYABLE = {
    "ThrottlingException",
    "InternalServerException",
    "ServiceUnavailableException",
    "ModelNotReadyException",
}


def _retry_context(operation_name: str, error: ClientError) -> RetryContext:
    status = error.response["ResponseMetadata"]["HTTPStatusCode"]
    return RetryContext(
        attempt_number=1,
        operation_model=operation(SERVICE, operation_name),
        parsed_response=dict(error.response),
        http_response=AWSResponse(
            "https://bedrock-runtime.us-east-1.amazonaws.com", status, {}, None
        ),
    )


@pytest.mark.parametrize("code", sorted(error_codes(SERVICE, INVOKE)))
def test_each_injected_error_is_the_models_class_and_status_and_retried_as_botocore_would(
    code: str,
) -> None:
    # Given
    fake = _fake()
    fake.inject_faults(code)
    # When
    with pytest.raises(ClientError) as error:
        fake.invoke_model(modelId=CLAUDE, body=json.dumps(_claude()))
    # Then
    assert _code(error) == (code, error_status(SERVICE, INVOKE, code))
    assert isinstance(error.value, getattr(fake.exceptions, code))
    context = _retry_context(INVOKE, error.value)
    assert StandardRetryConditions().is_retryable(context) is (code in _RETRYABLE)
    throttling = ThrottlingErrorDetector(RetryEventAdapter())
    assert throttling.is_throttling_error_from_context(context) is (code == "ThrottlingException")
    assert fake.calls[-1].error == code
    assert _invoke(fake, _claude())  # the fault is spent


def test_the_statuses_are_the_models() -> None:
    statuses = {code: error_status(SERVICE, INVOKE, code) for code in error_codes(SERVICE, INVOKE)}
    assert statuses == {
        "AccessDeniedException": 403,
        "ResourceNotFoundException": 404,
        "ThrottlingException": 429,
        "ModelTimeoutException": 408,
        "InternalServerException": 500,
        "ServiceUnavailableException": 503,
        "ValidationException": 400,
        "ServiceQuotaExceededException": 400,
        "ModelNotReadyException": 429,
        "ModelErrorException": 424,
    }


def test_injected_faults_come_in_order_and_can_be_kept_to_one_operation() -> None:
    # Given
    fake = _fake()
    fake.inject_faults("ModelTimeoutException", operation=CONVERSE)
    fake.inject_faults("ThrottlingException", "ServiceUnavailableException")
    seen = []
    # When
    for call in (
        lambda: fake.invoke_model(modelId=CLAUDE, body=json.dumps(_claude())),
        lambda: fake.converse(modelId=NOVA, messages=_messages()),
        lambda: fake.converse(modelId=NOVA, messages=_messages()),
        lambda: fake.converse(modelId=NOVA, messages=_messages()),
    ):
        try:
            call()
            seen.append(None)
        except ClientError as error:
            seen.append(error.response["Error"]["Code"])
    # Then
    assert seen == [
        "ThrottlingException",
        "ModelTimeoutException",
        "ServiceUnavailableException",
        None,
    ]
    with pytest.raises(ValueError, match="never raises"):
        fake.inject_faults("ServiceQuotaExceededException", operation=CONVERSE)
    with pytest.raises(ValueError, match="never raises"):
        fake.inject_faults("ConflictException")


# -- the rate limit ------------------------------------------------------------------------


def test_calls_above_the_rate_are_throttled_until_the_clock_moves() -> None:
    # Given
    clock = Seconds(2_000.0)
    fake = FakeBedrockRuntime(clock=clock, throttle_above_per_second=3)
    outcomes: list[str] = []

    def call(model: str = NOVA) -> None:
        try:
            fake.converse(modelId=model, messages=_messages())
            outcomes.append("ok")
        except fake.exceptions.ThrottlingException as error:
            code, status = _code_of(error)
            outcomes.append(f"{code} {status}")

    # When: five calls within one second, then one to another model, then a second later
    for _ in range(5):
        call()
    call(model=f"us.{NOVA}")
    clock.now += 0.5
    call()
    clock.now += 0.5
    call()
    call()
    # Then
    throttled = "ThrottlingException 429"
    assert outcomes == ["ok"] * 3 + [throttled] * 2 + ["ok", throttled, "ok", "ok"]
    assert fake.calls_per_model() == {NOVA: 8, f"us.{NOVA}": 1}
    assert fake.calls_per_model(answered_only=True) == {NOVA: 5, f"us.{NOVA}": 1}
    assert fake.call_times(NOVA) == [2_000.0] * 5 + [2_000.5, 2_001.0, 2_001.0]
    assert [call.error for call in fake.calls].count("ThrottlingException") == 3


def _code_of(error: ClientError) -> tuple[str, int]:
    response: Any = error.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


# -- latency and the record of calls -------------------------------------------------------


def test_latency_is_spent_through_the_injected_sleep_only_on_answered_calls() -> None:
    # Given
    slept: list[float] = []
    fake = _fake(latency=1.5, sleep=slept.append)
    fake.inject_faults("ThrottlingException")
    # When
    with pytest.raises(ClientError):
        fake.converse(modelId=NOVA, messages=_messages())
    conversation = fake.converse(modelId=NOVA, messages=_messages())
    invocation = fake.invoke_model(modelId=CLAUDE, body=json.dumps(_claude()))
    # Then
    assert slept == [1.5, 1.5]
    assert conversation["metrics"]["latencyMs"] == 1500
    assert invocation["ResponseMetadata"]["HTTPHeaders"]["x-amzn-bedrock-invocation-latency"] == (
        "1500"
    )


def test_the_default_sleep_never_waits() -> None:
    fake = FakeBedrockRuntime(latency=3_600.0)  # an hour, were it real
    assert fake.converse(modelId=NOVA, messages=_messages())["metrics"]["latencyMs"] == 3_600_000


def test_every_call_is_recorded_with_its_model_request_and_time() -> None:
    # Given
    clock = Seconds(10.0)
    fake = FakeBedrockRuntime(clock=clock)
    body = json.dumps(_claude())
    messages = _messages()
    # When
    fake.invoke_model(modelId=CLAUDE, body=body)
    clock.now = 11.25
    fake.converse(modelId=NOVA, messages=messages)
    messages[0]["content"][0]["text"] = "changed afterwards"
    # Then
    assert [(c.operation, c.model_id, c.at, c.error) for c in fake.calls] == [
        (INVOKE, CLAUDE, 10.0, None),
        (CONVERSE, NOVA, 11.25, None),
    ]
    assert fake.calls[0].params == {"modelId": CLAUDE, "body": body}
    assert fake.calls[1].params["messages"] == _messages()  # a copy, as it was sent
    assert fake.calls_per_model(INVOKE) == {CLAUDE: 1}
    assert fake.call_times(operation=CONVERSE) == [11.25]


# -- per-record faults on demand -----------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "code", "status"),
    [
        (Fault.throttling(), "ThrottlingException", 429),
        (Fault.model_timeout(), "ModelTimeoutException", 408),
        (Fault.internal_error(), "InternalServerException", 500),
        (Fault.service_unavailable(), "ServiceUnavailableException", 503),
        (Fault.malformed_input(), "ValidationException", 400),
        (Fault.content_filtered(), "ValidationException", 400),
        (Fault(424, "The model returned an error."), "ModelErrorException", 424),
        (
            Fault(429, "Model is not ready.", exception="ModelNotReadyException"),
            "ModelNotReadyException",
            429,
        ),
    ],
)
def test_a_faulted_record_raises_its_exception_on_demand(
    fault: Fault, code: str, status: int
) -> None:
    # Given
    fake = _fake(record_faults=RecordFaults({"bad": fault}))
    # When
    with pytest.raises(ClientError) as invoked:
        fake.invoke_model(modelId=CLAUDE, body=json.dumps(_claude(dz_fault="bad")))
    with pytest.raises(ClientError) as conversed:
        fake.converse(modelId=NOVA, messages=_messages(), requestMetadata={"dz_fault": "bad"})
    # Then
    assert _code(invoked) == _code(conversed) == (code, status)
    assert isinstance(invoked.value, getattr(fake.exceptions, code))
    assert invoked.value.response["Error"]["Message"] == fault.message


def test_a_record_fails_for_as_many_runs_as_its_fault_says() -> None:
    # Given
    faults = RecordFaults(
        {
            "throttle-once": Fault.throttling(),
            "timeout-twice": Fault.model_timeout(times=2),
            "filtered": Fault.content_filtered(),
            lambda model_input: "poison" in json.dumps(model_input): Fault.internal_error(),
        }
    )
    fake = _fake(record_faults=faults)

    def runs(body: dict[str, Any], count: int = 4) -> list[str | None]:
        outcomes: list[str | None] = []
        for _ in range(count):
            try:
                _invoke(fake, body)
                outcomes.append(None)
            except ClientError as error:
                outcomes.append(error.response["Error"]["Code"])
        return outcomes

    # When / Then
    assert runs(_claude(dz_fault="throttle-once")) == ["ThrottlingException", None, None, None]
    assert runs(_claude(dz_fault="timeout-twice")) == ["ModelTimeoutException"] * 2 + [None] * 2
    assert runs(_claude(dz_fault="filtered")) == ["ValidationException"] * 4
    assert runs(_claude("poison apple")) == ["InternalServerException", None, None, None]
    assert runs(_claude(dz_fault="unknown marker"), 1) == [None]
    assert faults.attempts(_claude(dz_fault="timeout-twice")) == 4


def test_a_record_is_its_content_not_its_bytes() -> None:
    # Given
    faults = RecordFaults({"throttle-once": Fault.throttling()})
    fake = _fake(record_faults=faults)
    body = _claude(dz_fault="throttle-once")
    # When: the same content, written another way
    with pytest.raises(fake.exceptions.ThrottlingException):
        fake.invoke_model(modelId=CLAUDE, body=json.dumps(body))
    again = fake.invoke_model(
        modelId=f"us.{CLAUDE}", body=json.dumps(body, sort_keys=True, indent=2)
    )
    # Then
    assert json.loads(again["body"].read())["content"]
    assert faults.attempts(dict(reversed(list(body.items())))) == 2


def test_a_record_flagged_to_fail_fails_on_demand_as_malformed_input() -> None:
    fake = _fake()
    for _ in range(2):
        with pytest.raises(fake.exceptions.ValidationException) as error:
            _invoke(fake, _claude(fail=True))
        assert error.value.response["Error"]["Message"] == MALFORMED_MESSAGE


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        ({"code": 418, "message": "teapot"}, "no bedrock-runtime error"),
        ({"code": 429, "message": "x", "times": 0}, "times is 1 or more"),
        ({"code": 400, "message": "x", "exception": "ConflictException"}, "no bedrock-runtime"),
    ],
)
def test_a_fault_the_service_could_not_raise_is_refused(
    arguments: dict[str, Any], problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        Fault(**arguments)


def test_the_usual_faults_carry_the_services_codes_and_messages() -> None:
    assert Fault.throttling().output_error() == {
        "errorCode": 429,
        "errorMessage": THROTTLING_MESSAGE,
    }
    assert Fault.content_filtered().output_error() == {
        "errorCode": 400,
        "errorMessage": CONTENT_FILTERED_MESSAGE,
    }
    assert [f.times for f in (Fault.throttling(), Fault.malformed_input())] == [1, None]
    assert {
        f.code for f in (Fault.model_timeout(), Fault.internal_error(), Fault.service_unavailable())
    } == {408, 500, 503}


# -- several threads -----------------------------------------------------------------------


def test_calls_from_many_threads_at_once_are_all_recorded_and_counted_exactly() -> None:
    # Given: every call waits, in its latency, until all the threads are inside the fake
    threads, rounds = 8, 5
    inside = threading.Barrier(threads)
    fake = _fake(latency=0.5, sleep=lambda _: inside.wait(timeout=10))
    models = (NOVA, f"us.{NOVA}")

    def work(index: int) -> None:
        for turn in range(rounds):
            fake.converse(modelId=models[index % 2], messages=_messages(f"{index}/{turn}"))

    # When
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(work, range(threads)))
    # Then
    assert len(fake.calls) == threads * rounds
    assert fake.calls_per_model() == {NOVA: 20, f"us.{NOVA}": 20}
    texts = {call.params["messages"][0]["content"][0]["text"] for call in fake.calls}
    assert len(texts) == threads * rounds
    assert not inside.broken


def test_the_rate_limit_and_record_faults_hold_across_threads() -> None:
    # Given: eight threads released together, each with the same record
    threads = 8
    start = threading.Barrier(threads)
    faults = RecordFaults({"throttle-once": Fault.throttling()})
    fake = _fake(record_faults=faults, throttle_above_per_second=6)
    body = json.dumps(_claude(dz_fault="throttle-once"))

    def call(_: int) -> str:
        start.wait(timeout=10)
        try:
            fake.invoke_model(modelId=CLAUDE, body=body)
        except fake.exceptions.ThrottlingException as error:
            return str(error.response["Error"]["Message"])
        return "ok"

    # When
    with ThreadPoolExecutor(threads) as pool:
        outcomes = list(pool.map(call, range(threads)))
    # Then: six let through by the rate, of which the record's first run fails
    assert Counter(outcomes) == {"ok": 5, THROTTLING_MESSAGE: 3}
    assert faults.attempts(json.loads(body)) == 6
    assert len(fake.calls) == threads


# -- the local cloud -----------------------------------------------------------------------


def test_the_local_cloud_hands_functions_the_runtime_stand_in_sharing_record_faults() -> None:
    with LocalCloud(function_environment={"POWERTOOLS_LOG_LEVEL": "CRITICAL"}) as cloud:
        # Given
        runtime = cloud.function_client("bedrock-runtime")
        cloud.record_faults.add("throttle-once", Fault.throttling())
        cloud.inject_faults("bedrock-runtime", "ServiceUnavailableException")
        # When
        with pytest.raises(runtime.exceptions.ServiceUnavailableException):
            runtime.converse(modelId=NOVA, messages=_messages())
        with pytest.raises(runtime.exceptions.ThrottlingException):
            runtime.invoke_model(
                modelId=NOVA,
                body=json.dumps({"messages": _messages(), "dz_fault": "throttle-once"}),
            )
        # Then
        assert runtime is cloud.bedrock_runtime
        assert cloud.bedrock.record_faults is cloud.record_faults
        assert cloud.bedrock_runtime.record_faults is cloud.record_faults
        assert runtime.meta.region_name == cloud.region
        assert len(runtime.calls) == 2


# -- CountTokens -----------------------------------------------------------------------------


def _stand_in(*texts: str) -> int:
    """The stand-in's count: the text's characters / 3.5, rounded up, plus the overhead."""
    return math.ceil(sum(len(text) for text in texts) / 3.5) + COUNT_OVERHEAD


def _invoke_input(body: dict[str, Any]) -> dict[str, Any]:
    return {"invokeModel": {"body": json.dumps(body).encode()}}


@pytest.mark.parametrize("model", [CLAUDE, f"arn:aws:bedrock:us-east-1::foundation-model/{CLAUDE}"])
def test_count_tokens_counts_an_invoke_model_body_for_a_claude_model(model: str) -> None:
    # Given
    fake = _fake()
    body = _claude("How many tokens is this?", system="Be brief.")
    # When
    answer = fake.count_tokens(modelId=model, input=_invoke_input(body))
    # Then
    assert answer["inputTokens"] == _stand_in("How many tokens is this?", "Be brief.")
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert fake.count_tokens(modelId=model, input=_invoke_input(body)) == answer  # deterministic


def test_count_tokens_counts_a_conversation_and_its_system_prompt_but_not_media_bytes() -> None:
    fake = _fake()
    image = {"image": {"format": "png", "source": {"bytes": b"\x89PNG" * 100}}}
    conversation = {
        "system": [{"text": "Answer in French."}],
        "messages": [{"role": "user", "content": [{"text": "What is shown?"}, image]}],
    }
    answer = fake.count_tokens(modelId=CLAUDE, input={"converse": conversation})
    assert answer["inputTokens"] == _stand_in("Answer in French.", "What is shown?")


def test_a_plain_string_prompt_counts_as_text() -> None:
    fake = _fake()
    body = {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 10,
        "messages": [{"role": "user", "content": "x" * 35}],
    }
    assert fake.count_tokens(modelId=CLAUDE, input=_invoke_input(body))["inputTokens"] == 20


@pytest.mark.parametrize(
    "model",
    [
        f"us.{CLAUDE}",
        f"arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.{CLAUDE}",
        NOVA,
        TITAN,
        LLAMA,
    ],
)
def test_count_tokens_refuses_a_model_that_cannot_count_as_the_service_does(model: str) -> None:
    # Given
    fake = _fake()
    # When
    with pytest.raises(ClientError) as error:
        fake.count_tokens(modelId=model, input={"converse": {"messages": _messages()}})
    # Then
    assert _code(error) == ("ValidationException", 400)
    assert isinstance(error.value, fake.exceptions.ValidationException)
    assert error.value.response["Error"]["Message"] == UNSUPPORTED_COUNT_MESSAGE
    assert [(c.operation, c.model_id, c.error) for c in fake.calls] == [
        (COUNT_TOKENS, model, "ValidationException")
    ]


@pytest.mark.parametrize(
    "params",
    [
        {"input": {"converse": {"messages": _messages()}}},  # modelId missing
        {"modelId": CLAUDE},  # input missing
        {"modelId": CLAUDE, "input": {}},  # neither member of the union
        {
            "modelId": CLAUDE,
            "input": {"invokeModel": {"body": b"{}"}, "converse": {"messages": _messages()}},
        },  # both
        {"modelId": CLAUDE, "input": {"invokeModel": {}}},  # body missing
        {"modelId": CLAUDE, "input": {"converse": {"messages": _messages()}}, "extra": 1},
    ],
)
def test_a_count_the_client_refuses_never_reaches_the_fake(params: dict[str, Any]) -> None:
    # Given
    real, fake = _real_client(), _fake()
    stubber = Stubber(real)
    stubber.add_response("count_tokens", {"inputTokens": 1})
    # When / Then: botocore's own client refuses it the same way
    with stubber, pytest.raises(ParamValidationError):
        real.count_tokens(**params)
    with pytest.raises(ParamValidationError):
        fake.count_tokens(**params)
    assert fake.calls == []


@pytest.mark.parametrize(
    ("count_input", "expected"),
    [
        (_invoke_input({"messages": []}), "required key [anthropic_version] not found"),
        ({"invokeModel": {"body": b"not json"}}, "the body is not valid JSON"),
        (
            {"converse": {"messages": [{"role": "assistant", "content": [{"text": "hi"}]}]}},
            "must start with a user message",
        ),
        ({"converse": {"messages": _messages() + _messages()}}, "must alternate"),
        ({"converse": {"system": [{"text": "Be brief."}]}}, "must start with a user message"),
    ],
)
def test_count_tokens_refuses_an_input_its_operation_would_refuse(
    count_input: dict[str, Any], expected: str
) -> None:
    fake = _fake()
    with pytest.raises(fake.exceptions.ValidationException) as error:
        fake.count_tokens(modelId=CLAUDE, input=count_input)
    assert expected in str(error.value)
    assert fake.calls[-1].error == "ValidationException"


def test_count_answers_are_what_botocores_own_client_accepts() -> None:
    fake, real = _fake(), _real_client()
    answer = fake.count_tokens(modelId=CLAUDE, input={"converse": {"messages": _messages()}})
    stubber = Stubber(real)
    stubber.add_response(
        "count_tokens", {k: v for k, v in answer.items() if k != "ResponseMetadata"}
    )
    with stubber:
        parsed = real.count_tokens(modelId=CLAUDE, input={"converse": {"messages": _messages()}})
    assert parsed["inputTokens"] == answer["inputTokens"] == _stand_in("Hello")


def test_count_tokens_answers_only_the_faults_injected_for_it() -> None:
    # Given: one fault for any inference call, one for CountTokens by name
    fake = _fake()
    fake.inject_faults("ThrottlingException")
    fake.inject_faults("AccessDeniedException", operation=COUNT_TOKENS)
    count_input = {"converse": {"messages": _messages()}}
    # When
    with pytest.raises(fake.exceptions.AccessDeniedException) as denied:
        fake.count_tokens(modelId=CLAUDE, input=count_input)
    counted = fake.count_tokens(modelId=CLAUDE, input=count_input)
    # Then: the unscoped fault is still there for inference
    assert _code(denied) == ("AccessDeniedException", 403)
    assert counted["inputTokens"] > 0
    with pytest.raises(fake.exceptions.ThrottlingException):
        fake.converse(modelId=CLAUDE, messages=_messages())
    with pytest.raises(ValueError, match="never raises"):
        fake.inject_faults("ModelTimeoutException", operation=COUNT_TOKENS)


def test_counting_is_kept_apart_from_inference_in_the_record_of_calls() -> None:
    # Given
    faults = RecordFaults({"throttle-once": Fault.throttling()})
    fake = _fake(record_faults=faults)
    body = _claude(dz_fault="throttle-once")
    # When: counting the record first spends neither its fault nor an inference call
    fake.count_tokens(modelId=CLAUDE, input=_invoke_input(body))
    with pytest.raises(fake.exceptions.ThrottlingException):
        _invoke(fake, body)
    # Then
    assert fake.calls_per_model() == {CLAUDE: 1}
    assert fake.calls_per_model(COUNT_TOKENS) == {CLAUDE: 1}
    assert fake.call_times(CLAUDE) == [1_000.0]
    assert fake.call_times(CLAUDE, COUNT_TOKENS) == [1_000.0]
    assert faults.attempts(body) == 1


def test_counting_has_a_rate_window_of_its_own() -> None:
    # Given
    fake = _fake(throttle_above_per_second=1)
    count_input = {"converse": {"messages": _messages()}}
    # When
    fake.converse(modelId=CLAUDE, messages=_messages())
    fake.count_tokens(modelId=CLAUDE, input=count_input)
    # Then
    with pytest.raises(fake.exceptions.ThrottlingException) as error:
        fake.count_tokens(modelId=CLAUDE, input=count_input)
    assert _code(error) == ("ThrottlingException", 429)
    with pytest.raises(fake.exceptions.ThrottlingException):
        fake.converse(modelId=CLAUDE, messages=_messages())


# -- the adapter and the calibration on the stand-in -----------------------------------------


def test_the_adapter_counts_both_invocation_types_on_the_stand_in() -> None:
    fake = _fake()
    runtime = BedrockRuntime(fake)
    body = _claude("Count me.")
    image = {"format": "png", "source": {"bytes": "iVBORw0KGgo="}}  # base64, as in a record
    conversation = {
        "messages": [{"role": "user", "content": [{"text": "Count me."}, {"image": image}]}],
        "inferenceConfig": {"maxTokens": 50},
    }
    assert runtime.count_tokens(CLAUDE, INVOKE, body) == _stand_in("Count me.")
    assert runtime.count_tokens(CLAUDE, CONVERSE, conversation) == _stand_in("Count me.")
    sent = fake.calls[-1].params["input"]["converse"]
    assert sent["messages"][0]["content"][1]["image"]["source"]["bytes"] == b"\x89PNG\r\n\x1a\n"
    assert "inferenceConfig" not in sent


def test_the_adapter_reads_the_stand_ins_refusals_as_the_services() -> None:
    fake = _fake()
    runtime = BedrockRuntime(fake)
    with pytest.raises(CountTokensUnsupported):
        runtime.count_tokens(f"us.{CLAUDE}", CONVERSE, {"messages": _messages()})
    with pytest.raises(CountTokensRefused):
        runtime.count_tokens(CLAUDE, INVOKE, {"messages": _messages()})
    fake.inject_faults("ThrottlingException", operation=COUNT_TOKENS)
    with pytest.raises(Backpressure):
        runtime.count_tokens(CLAUDE, CONVERSE, {"messages": _messages()})


def test_an_upload_is_calibrated_on_the_stand_in_within_its_few_calls() -> None:
    # Given: eight sampled records, estimated at four characters a token
    fake = _fake()
    texts = [f"record {n} " * (n + 1) for n in range(8)]
    samples = [
        ({"messages": _messages(text)}, CONVERSE, math.ceil(len(text) / 4)) for text in texts
    ]
    # When
    runtime = BedrockRuntime(fake)
    calibration = calibrate(
        samples,
        lambda model_input, kind: runtime.count_tokens(CLAUDE, kind, model_input),
        max_calls=5,
    )
    # Then
    assert fake.calls_per_model(COUNT_TOKENS) == {CLAUDE: 5}
    assert calibration.sampled == 5
    assert calibration.estimated == sum(tokens for _, _, tokens in samples[:5])
    assert calibration.counted == sum(_stand_in(text) for text in texts[:5])
    assert calibration.ratio == round(calibration.counted / calibration.estimated, 4)
    assert calibration.note is None
