"""Bedrock runtime's CountTokens: the exact input tokens a model would be charged for a
record, without running the model (the call itself is free).

The count is a calibration, never part of intake's work, so its client is its own: a short
timeout and a single attempt (`COUNT_TOKENS_CONFIG`). botocore does not retry it, so a
throttle or a slow answer reaches the caller at once, which stops counting for the upload
instead of waiting through backoff. The worst case for an upload is its few calls, each
bounded by the connect and read timeouts.

On-demand finishing (workflows/bedrock/on_demand.py) calls InvokeModel and Converse on the
shared client of `dropzone.aws`, whose read timeout suits a model's answer.
"""

from __future__ import annotations

import base64
import binascii
import json
from functools import cache
from typing import Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError
from botocore.model import Shape

from dropzone import aws
from dropzone.adapters.bedrock import Backpressure
from dropzone.errors import TransientError

SERVICE = "bedrock-runtime"
INVOKE_MODEL, CONVERSE = "InvokeModel", "Converse"
# The members of a Converse request that CountTokens reads (ConverseTokensRequest); the
# others (inferenceConfig, guardrailConfig, ...) change the answer, not the input's tokens.
CONVERSE_MEMBERS = ("messages", "system", "toolConfig", "additionalModelRequestFields")

# CountTokens only tokenizes: it answers in well under a second. Two seconds to connect and
# ten to read bound a call; one attempt (no botocore retry) keeps a throttle from turning
# into seconds of backoff inside intake.
COUNT_TOKENS_CONFIG = Config(
    connect_timeout=2,
    read_timeout=10,
    retries={"mode": "standard", "total_max_attempts": 1},
)

_BACKPRESSURE = frozenset({"ThrottlingException", "ServiceUnavailableException"})
# A model that cannot count answers ValidationException, as a malformed request does; only
# its message ("The provided model doesn't support counting tokens.") tells them apart.


class CountTokensUnsupported(Exception):
    """The model cannot count tokens here: an unsupported model, an inference profile id,
    or a model the region does not have. No record of the upload will count either."""


class CountTokensDenied(Exception):
    """The caller may not call CountTokens (AccessDeniedException): the role lacks
    bedrock:CountTokens on the model, or an SCP denies it."""


class CountTokensRefused(Exception):
    """The service (or botocore, before sending) refused this record's input; another
    record may still count."""


@cache
def counting_client() -> Any:
    """The container's bedrock-runtime client for CountTokens, created on first use."""
    return aws.default_session().client(SERVICE, config=COUNT_TOKENS_CONFIG)  # type: ignore[call-overload]


class BedrockRuntime:
    """CountTokens on a bedrock-runtime client (by default, `counting_client()`)."""

    def __init__(self, client: Any = None) -> None:
        self._given = client

    @property
    def _client(self) -> Any:
        """The client, the container's counting client created on first use: an upload of a
        model that cannot count, or a cold start, never pays for building it."""
        return self._given or counting_client()

    @classmethod
    def for_counting(cls, client: aws.ClientSource) -> BedrockRuntime:
        """For a function's factory: production's source (`aws.client`) gets the counting
        client with its short timeout; any other source (the local cloud's) is asked for its
        bedrock-runtime client."""
        return cls(None if client is aws.client else client(SERVICE))

    def count_tokens(self, model_id: str, invocation_type: str, model_input: dict[str, Any]) -> int:
        """The input tokens `model_id` counts for one record's modelInput, read as its
        invocation type reads it: an InvokeModel body, or a Converse request without modelId
        (whose base64 media become the bytes the API sends)."""
        request = {"modelId": model_id, "input": self._input(invocation_type, model_input)}
        try:
            response = self._client.count_tokens(**request)
        except ClientError as error:
            raise _classify(error, model_id) from error
        except ParamValidationError as error:
            raise CountTokensRefused(f"CountTokens: botocore refused the input: {error}") from error
        except BotoCoreError as error:  # no connection, a timeout
            raise TransientError(f"CountTokens on {model_id} failed: {error}") from error
        return int(response["inputTokens"])

    def _input(self, invocation_type: str, model_input: dict[str, Any]) -> dict[str, Any]:
        if invocation_type == INVOKE_MODEL:
            return {"invokeModel": {"body": json.dumps(model_input).encode()}}
        if invocation_type == CONVERSE:
            request = {key: model_input[key] for key in CONVERSE_MEMBERS if key in model_input}
            operation = self._client.meta.service_model.operation_model("CountTokens")
            shape = operation.input_shape.members["input"].members["converse"]
            try:
                return {"converse": blobs_as_bytes(request, shape)}
            except binascii.Error as error:
                raise CountTokensRefused(
                    f"CountTokens: media that is not base64: {error}"
                ) from error
        raise ValueError(f"no CountTokens input for invocation type {invocation_type!r}")


def blobs_as_bytes(value: Any, shape: Shape) -> Any:
    """`value` with every blob member's base64 string (as a JSONL record holds media)
    decoded to the bytes botocore sends; everything else as it is. Documents are left
    alone: they take any JSON."""
    kind = shape.type_name
    if kind == "blob" and isinstance(value, str):
        return base64.b64decode(value, validate=True)
    if kind == "structure" and isinstance(value, dict) and not shape.metadata.get("document"):
        members: dict[str, Shape] = getattr(shape, "members", {})
        return {
            key: blobs_as_bytes(item, members[key]) if key in members else item
            for key, item in value.items()
        }
    if kind == "list" and isinstance(value, list):
        member: Shape = getattr(shape, "member")  # noqa: B009 - ListShape only
        return [blobs_as_bytes(item, member) for item in value]
    if kind == "map" and isinstance(value, dict):
        value_shape: Shape = getattr(shape, "value")  # noqa: B009 - MapShape only
        return {key: blobs_as_bytes(item, value_shape) for key, item in value.items()}
    return value


def bytes_as_base64(value: Any) -> Any:
    """`value` with every bytes value (a blob in a response, such as redacted reasoning)
    as its base64 string, as a JSONL answer holds it; everything else as it is."""
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, dict):
        return {key: bytes_as_base64(item) for key, item in value.items()}
    if isinstance(value, list):
        return [bytes_as_base64(item) for item in value]
    return value


def _classify(error: ClientError, model_id: str) -> Exception:
    code = aws.error_code(error)
    detail = str(error.response.get("Error", {}).get("Message", code))
    if code in _BACKPRESSURE:
        return Backpressure(f"CountTokens on {model_id}: {code}: {detail}")
    if code == "AccessDeniedException":
        return CountTokensDenied(f"CountTokens on {model_id} denied: {detail}")
    if code == "ResourceNotFoundException" or (
        code == "ValidationException" and _says_unsupported(detail)
    ):
        return CountTokensUnsupported(f"{model_id} cannot count tokens: {detail}")
    if code == "ValidationException":
        return CountTokensRefused(f"CountTokens refused the input: {detail}")
    return TransientError(f"CountTokens on {model_id} failed with {code}: {detail}")


def _says_unsupported(message: str) -> bool:
    words = message.lower().replace("n't", " not")
    return "not support" in words and "count" in words
