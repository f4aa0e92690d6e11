"""`Edge Agent Heartbeat` events → device records and edge deployment status."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from dropzone import aws, cold_start
from dropzone.observability import logger, metrics, tracer
from dropzone.sqs_batch import process_sqs_batch
from dropzone.workflows.edge.heartbeat import HeartbeatProcessor

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@cache
def default_processor(client: aws.ClientSource = aws.client) -> HeartbeatProcessor:
    return HeartbeatProcessor.from_env(client)


@cold_start.released
@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(
    event: dict[str, Any], context: LambdaContext, processor: HeartbeatProcessor | None = None
) -> dict[str, list[dict[str, str]]]:
    processor = processor or default_processor()
    return process_sqs_batch(event, processor.handle_record)
