"""Ledger stream → `Dropzone Job Status Change` events on EventBridge."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from dropzone import aws, cold_start
from dropzone.observability import logger, metrics, tracer
from dropzone.workflows.status.publisher import StatusPublisher

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@cache
def default_publisher(client: aws.ClientSource = aws.client) -> StatusPublisher:
    return StatusPublisher.from_env(client)


@cold_start.released
@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(
    event: dict[str, Any], context: LambdaContext, publisher: StatusPublisher | None = None
) -> dict[str, list[dict[str, str]]]:
    return (publisher or default_publisher()).publish(event)
