"""An upload whose jobs have all ended → a retry round for its retryable records, or its
result file and final status.

Started asynchronously ({"upload_id": ...}) whenever one of an upload's jobs ends, and by
the reconciler for uploads whose jobs ended a while ago.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from dropzone import aws, cold_start
from dropzone.observability import logger, metrics, tracer
from dropzone.workflows.bedrock.finish import BedrockFinisher

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@cache
def default_finisher(client: aws.ClientSource = aws.client) -> BedrockFinisher:
    return BedrockFinisher.from_env(client)


@cold_start.released
@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(
    event: dict[str, Any], context: LambdaContext, finisher: BedrockFinisher | None = None
) -> dict[str, str]:
    return (finisher or default_finisher()).handle(event)
