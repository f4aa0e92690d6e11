"""SageMaker asynchronous inference notifications, as SNS delivers them to SQS."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dropzone.errors import InvalidInput


class _RequestParameters(BaseModel):
    endpoint_name: str | None = Field(default=None, alias="endpointName")
    input_location: str | None = Field(default=None, alias="inputLocation")


class _ResponseParameters(BaseModel):
    output_location: str | None = Field(default=None, alias="outputLocation")
    failure_location: str | None = Field(default=None, alias="failureLocation")


class AsyncInferenceNotification(BaseModel):
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
    """Accept an SNS envelope (the default) or a raw-delivered message."""
    try:
        payload: Any = json.loads(body)
        if isinstance(payload, dict) and payload.get("Type") == "Notification":
            payload = json.loads(payload["Message"])
        return AsyncInferenceNotification.model_validate(payload)
    except (ValueError, KeyError, TypeError, ValidationError) as error:
        raise InvalidInput.single(
            "notification", f"not a SageMaker async notification: {error}"
        ) from error
