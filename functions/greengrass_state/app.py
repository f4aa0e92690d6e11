"""Greengrass V2 deployment status events (EventBridge → SQS) → edge deployment jobs."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from dropzone import aws, cold_start
from dropzone.observability import logger, metrics, tracer
from dropzone.sqs_batch import process_sqs_batch
from dropzone.workflows.edge.greengrass_state import GreengrassStateHandler

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@cache
def default_state(client: aws.ClientSource = aws.client) -> GreengrassStateHandler:
    return GreengrassStateHandler.from_env(client)


@cold_start.released
@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(
    event: dict[str, Any], context: LambdaContext, state: GreengrassStateHandler | None = None
) -> dict[str, list[dict[str, str]]]:
    state = state or default_state()
    return process_sqs_batch(event, state.handle_record)
