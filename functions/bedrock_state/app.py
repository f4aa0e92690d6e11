"""Bedrock "Batch Inference Job State Change" events (EventBridge → SQS) → the ledger."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from dropzone import aws, cold_start
from dropzone.observability import logger, metrics, tracer
from dropzone.sqs_batch import process_sqs_batch
from dropzone.workflows.bedrock.state import BedrockTracker

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@cache
def default_tracker(client: aws.ClientSource = aws.client) -> BedrockTracker:
    return BedrockTracker.from_env(client)


@cold_start.released
@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(
    event: dict[str, Any], context: LambdaContext, tracker: BedrockTracker | None = None
) -> dict[str, list[dict[str, str]]]:
    tracker = tracker or default_tracker()
    return process_sqs_batch(event, tracker.handle_record)
