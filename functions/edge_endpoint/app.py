"""The Edge Manager-compatible endpoint: `sagemaker-edge` requests from the HTTP API."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from dropzone import aws, cold_start
from dropzone.observability import logger, metrics, tracer
from dropzone.workflows.edge.endpoint import EdgeEndpoint

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@cache
def default_endpoint(client: aws.ClientSource = aws.client) -> EdgeEndpoint:
    return EdgeEndpoint.from_env(client)


@cold_start.released
@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)  # answers stay out of traces
def handler(
    event: dict[str, Any], context: LambdaContext, endpoint: EdgeEndpoint | None = None
) -> dict[str, Any]:
    return (endpoint or default_endpoint()).handle(event)
