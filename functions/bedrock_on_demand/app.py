"""Bedrock batch records run on demand (SQS) → InvokeModel or Converse → their answers."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from dropzone import aws, cold_start
from dropzone.observability import logger, metrics, tracer
from dropzone.sqs_batch import process_sqs_batch
from dropzone.workflows.bedrock.on_demand import BedrockOnDemand

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@cache
def default_worker(client: aws.ClientSource = aws.client) -> BedrockOnDemand:
    return BedrockOnDemand.from_env(client)


@cold_start.released
@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(
    event: dict[str, Any], context: LambdaContext, worker: BedrockOnDemand | None = None
) -> dict[str, list[dict[str, str]]]:
    worker = worker or default_worker()
    try:
        return process_sqs_batch(event, worker.handle_record)
    finally:
        worker.end_touched_jobs()
