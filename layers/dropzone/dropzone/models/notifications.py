"""SageMaker asynchronous inference notifications, as SNS delivers them to SQS."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import ConfigDict, Field

from dropzone.errors import Problem, UnreadableMessage, decoding_reason
from dropzone.models.base import Model


class _RequestParameters(Model):
    endpoint_name: str | None = Field(default=None, alias="endpointName")
    input_location: str | None = Field(default=None, alias="inputLocation")


class _ResponseParameters(Model):
    output_location: str | None = Field(default=None, alias="outputLocation")
    failure_location: str | None = Field(default=None, alias="failureLocation")


class AsyncInferenceNotification(Model):
    model_config = ConfigDict(populate_by_name=True)

    inference_id: str = Field(alias="inferenceId", min_length=1)
    invocation_status: Literal["Completed", "Failed"] = Field(alias="invocationStatus")
    event_time: str | None = Field(default=None, alias="eventTime")
    failure_reason: str | None = Field(default=None, alias="failureReason")
    request_parameters: _RequestParameters = Field(
        default_factory=lambda: _RequestParameters(), alias="requestParameters"
    )
    response_parameters: _ResponseParameters = Field(
        default_factory=lambda: _ResponseParameters(), alias="responseParameters"
    )


def parse_sns_delivery(body: str) -> AsyncInferenceNotification:
    """Accept an SNS envelope (the default) or a raw-delivered message. Anything else is an
    UnreadableMessage, whose reason names fields and JSON errors, never the content."""
    try:
        payload: Any = json.loads(body)
        if isinstance(payload, dict) and payload.get("Type") == "Notification":
            message = payload.get("Message")
            if not isinstance(message, str):
                raise _refused("the SNS envelope has no Message string")
            payload = json.loads(message)
        return AsyncInferenceNotification.model_validate(payload)
    except (ValueError, RecursionError) as error:  # ValidationError is a ValueError
        raise _refused(decoding_reason(error)) from None


def _refused(reason: str) -> UnreadableMessage:
    reason = f"not a SageMaker async notification: {reason}"
    return UnreadableMessage([Problem("notification", reason)])
