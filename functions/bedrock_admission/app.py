"""Submit queued batch jobs while their model has free slots.

Started asynchronously ({"model_id": ...}) when a job is queued or ends, and on a
schedule (any other event: every model) as a backstop.
"""

from __future__ import annotations

from dataclasses import asdict
from functools import cache
from typing import TYPE_CHECKING, Any

from dropzone import aws, cold_start
from dropzone.observability import logger, metrics, tracer
from dropzone.workflows.bedrock.admission import BedrockAdmission

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@cache
def default_admission(client: aws.ClientSource = aws.client) -> BedrockAdmission:
    return BedrockAdmission.from_env(client)


@cold_start.released
@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(
    event: dict[str, Any], context: LambdaContext, admission: BedrockAdmission | None = None
) -> dict[str, int]:
    model_id = event.get("model_id") if isinstance(event.get("model_id"), str) else None
    return asdict((admission or default_admission()).admit(model_id))
