"""SageMaker async success / error notifications (SNS → SQS) → SUCCEEDED / FAILED."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from dropzone import aws, cold_start
from dropzone.observability import logger, metrics, tracer
from dropzone.sqs_batch import process_sqs_batch
from dropzone.workflows.sagemaker.result import SageMakerResults

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@cache
def default_results(client: aws.ClientSource = aws.client) -> SageMakerResults:
    return SageMakerResults.from_env(client)


@cold_start.released
@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(
    event: dict[str, Any], context: LambdaContext, results: SageMakerResults | None = None
) -> dict[str, list[dict[str, str]]]:
    results = results or default_results()
    return process_sqs_batch(event, results.handle_record)
