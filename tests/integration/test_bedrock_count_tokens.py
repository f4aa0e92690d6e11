"""The bedrock-runtime adapter's CountTokens on botocore's own client: the request it sends
for each invocation type, checked by Stubber against the service model, and each error the
service answers mapped to what the calibration does with it."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import EndpointConnectionError
from botocore.stub import Stubber

from dropzone import aws
from dropzone.adapters.bedrock import Backpressure
from dropzone.adapters.bedrock_runtime import (
    COUNT_TOKENS_CONFIG,
    BedrockRuntime,
    CountTokensDenied,
    CountTokensRefused,
    CountTokensUnsupported,
    counting_client,
)
from dropzone.errors import TransientError
from dropzone.workflows.bedrock.calibration import calibrate

CLAUDE = "anthropic.claude-3-haiku-20240307-v1:0"
IMAGE = b"\x89PNG\r\n\x1a\n-not-really-an-image"


def _client() -> Any:
    return boto3.client("bedrock-runtime", region_name="us-east-1", config=COUNT_TOKENS_CONFIG)


@pytest.fixture
def stubbed() -> Iterator[tuple[BedrockRuntime, Stubber]]:
    client = _client()
    with Stubber(client) as stubber:
        yield BedrockRuntime(client), stubber


def _claude_body() -> dict[str, Any]:
    return {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 512,
        "system": "Answer briefly.",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Hello"}]}],
    }


# -- requests --------------------------------------------------------------------------------


def test_an_invoke_model_record_is_counted_as_its_json_body(
    stubbed: tuple[BedrockRuntime, Stubber],
) -> None:
    # Given
    runtime, stubber = stubbed
    body = _claude_body()
    stubber.add_response(
        "count_tokens",
        {"inputTokens": 21},
        {"modelId": CLAUDE, "input": {"invokeModel": {"body": json.dumps(body).encode()}}},
    )
    # When
    tokens = runtime.count_tokens(CLAUDE, "InvokeModel", body)
    # Then
    assert tokens == 21
    stubber.assert_no_pending_responses()


def test_a_converse_record_is_counted_by_the_members_count_tokens_reads_with_media_as_bytes(
    stubbed: tuple[BedrockRuntime, Stubber],
) -> None:
    # Given: a Converse request without modelId, as a JSONL record holds it
    runtime, stubber = stubbed
    image = {"format": "png", "source": {"bytes": base64.b64encode(IMAGE).decode()}}
    model_input: dict[str, Any] = {
        "system": [{"text": "Answer briefly."}],
        "messages": [{"role": "user", "content": [{"text": "What is this?"}, {"image": image}]}],
        "inferenceConfig": {"maxTokens": 300, "temperature": 0.2},
        "additionalModelRequestFields": {"top_k": 40, "note": "a document: left as it is"},
        "requestMetadata": {"batch": "b1"},
    }
    expected = {
        "system": [{"text": "Answer briefly."}],
        "messages": [
            {
                "role": "user",
                "content": [
                    {"text": "What is this?"},
                    {"image": {"format": "png", "source": {"bytes": IMAGE}}},
                ],
            }
        ],
        "additionalModelRequestFields": {"top_k": 40, "note": "a document: left as it is"},
    }
    stubber.add_response(
        "count_tokens",
        {"inputTokens": 1_612},
        {"modelId": CLAUDE, "input": {"converse": expected}},
    )
    # When
    tokens = runtime.count_tokens(CLAUDE, "Converse", model_input)
    # Then
    assert tokens == 1_612
    assert model_input["messages"][0]["content"][1]["image"] == image  # the record untouched
    stubber.assert_no_pending_responses()


def test_media_that_is_not_base64_is_refused_without_a_call(
    stubbed: tuple[BedrockRuntime, Stubber],
) -> None:
    runtime, _ = stubbed
    image = {"format": "png", "source": {"bytes": "not base64!"}}
    model_input = {"messages": [{"role": "user", "content": [{"image": image}]}]}
    with pytest.raises(CountTokensRefused, match="not base64"):
        runtime.count_tokens(CLAUDE, "Converse", model_input)


def test_an_input_botocore_refuses_is_a_refused_record(
    stubbed: tuple[BedrockRuntime, Stubber],
) -> None:
    runtime, stubber = stubbed
    stubber.add_response("count_tokens", {"inputTokens": 1})
    with pytest.raises(CountTokensRefused, match="botocore refused"):
        runtime.count_tokens(CLAUDE, "Converse", {"messages": {"role": "user"}})


def test_an_unknown_invocation_type_is_a_mistake_of_the_caller(
    stubbed: tuple[BedrockRuntime, Stubber],
) -> None:
    runtime, _ = stubbed
    with pytest.raises(ValueError, match="InvokeModelWithResponseStream"):
        runtime.count_tokens(CLAUDE, "InvokeModelWithResponseStream", {})


# -- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "status", "message", "raised"),
    [
        (
            "ValidationException",
            400,
            "The provided model doesn't support counting tokens.",
            CountTokensUnsupported,
        ),
        (
            "ValidationException",
            400,
            "The model does not support counting tokens",
            CountTokensUnsupported,
        ),
        ("ResourceNotFoundException", 404, "Model not found.", CountTokensUnsupported),
        (
            "ValidationException",
            400,
            "Malformed input request: #: required key [messages] not found",
            CountTokensRefused,
        ),
        (
            "AccessDeniedException",
            403,
            "not authorized to perform bedrock:CountTokens",
            CountTokensDenied,
        ),
        ("ThrottlingException", 429, "Too many requests, please wait.", Backpressure),
        ("ServiceUnavailableException", 503, "Service unavailable.", Backpressure),
        ("InternalServerException", 500, "Internal error.", TransientError),
    ],
)
def test_each_answer_of_the_service_is_mapped_to_what_the_calibration_does_with_it(
    stubbed: tuple[BedrockRuntime, Stubber],
    code: str,
    status: int,
    message: str,
    raised: type[Exception],
) -> None:
    # Given
    runtime, stubber = stubbed
    stubber.add_client_error(
        "count_tokens", service_error_code=code, service_message=message, http_status_code=status
    )
    # When
    with pytest.raises(raised) as error:
        runtime.count_tokens(CLAUDE, "InvokeModel", _claude_body())
    # Then
    assert type(error.value) is raised
    assert message in str(error.value)
    assert isinstance(error.value, TransientError) is (raised in (Backpressure, TransientError))


def test_a_lost_connection_is_transient() -> None:
    client = _client()

    def unreachable(**_: Any) -> None:
        raise EndpointConnectionError(
            endpoint_url="https://bedrock-runtime.us-east-1.amazonaws.com"
        )

    client.meta.events.register("before-send.bedrock-runtime.CountTokens", unreachable)
    with pytest.raises(TransientError, match="Could not connect"):
        BedrockRuntime(client).count_tokens(CLAUDE, "InvokeModel", _claude_body())


# -- the client ------------------------------------------------------------------------------


class _Body:
    def __init__(self, content: bytes) -> None:
        self._content = content

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._content


def test_a_throttle_reaches_the_caller_after_one_attempt_with_no_botocore_retry() -> None:
    # Given: the service answers every attempt with a throttle
    client = _client()
    attempts: list[str] = []

    def throttled(request: Any, **_: Any) -> AWSResponse:
        attempts.append(request.url)
        body = json.dumps({"message": "Too many requests"}).encode()
        headers = {"x-amzn-ErrorType": "ThrottlingException", "content-type": "application/json"}
        return AWSResponse(request.url, 429, headers, _Body(body))

    client.meta.events.register("before-send.bedrock-runtime.CountTokens", throttled)
    # When
    with pytest.raises(Backpressure):
        BedrockRuntime(client).count_tokens(CLAUDE, "InvokeModel", _claude_body())
    # Then
    endpoint = "https://bedrock-runtime.us-east-1.amazonaws.com"
    assert attempts == [f"{endpoint}/model/{quote(CLAUDE, safe='')}/count-tokens"]


def test_the_counting_client_has_a_short_timeout_and_one_attempt() -> None:
    counting_client.cache_clear()
    try:
        client = counting_client()
        assert counting_client() is client
        assert client.meta.service_model.service_name == "bedrock-runtime"
        assert (client.meta.config.connect_timeout, client.meta.config.read_timeout) == (2, 10)
        assert client.meta.config.retries == {"mode": "standard", "total_max_attempts": 1}
    finally:
        counting_client.cache_clear()


def test_production_gets_the_counting_client_and_other_sources_their_own() -> None:
    # Given: a source of clients such as the local cloud's, and production's
    counting_client.cache_clear()
    own, asked = _client(), []

    def source(service: str) -> Any:
        asked.append(service)
        return own

    try:
        # When
        with Stubber(own) as local, Stubber(counting_client()) as production:
            local.add_response("count_tokens", {"inputTokens": 1})
            production.add_response("count_tokens", {"inputTokens": 2})
            from_local = BedrockRuntime.for_counting(source).count_tokens(
                CLAUDE, "InvokeModel", _claude_body()
            )
            from_production = BedrockRuntime.for_counting(aws.client).count_tokens(
                CLAUDE, "InvokeModel", _claude_body()
            )
        # Then
        assert (from_local, from_production) == (1, 2)
        assert asked == ["bedrock-runtime"]
    finally:
        counting_client.cache_clear()


# -- an upload's calibration, end to end -----------------------------------------------------


def test_an_upload_is_calibrated_until_the_first_throttle(
    stubbed: tuple[BedrockRuntime, Stubber],
) -> None:
    # Given: three sampled records; the second call is throttled
    runtime, stubber = stubbed
    stubber.add_response("count_tokens", {"inputTokens": 30})
    stubber.add_client_error(
        "count_tokens", service_error_code="ThrottlingException", http_status_code=429
    )
    samples = [(_claude_body(), "InvokeModel", 20)] * 3
    # When
    calibration = calibrate(
        samples, lambda model_input, kind: runtime.count_tokens(CLAUDE, kind, model_input)
    )
    # Then
    stubber.assert_no_pending_responses()
    assert (calibration.sampled, calibration.estimated, calibration.counted) == (1, 20, 30)
    assert calibration.ratio == 1.5
    assert calibration.note is not None and "throttled" in calibration.note
