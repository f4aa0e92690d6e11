"""SageMaker async success / error notifications (SNS → SQS) → SUCCEEDED / FAILED."""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.typing import LambdaContext

from dropzone.observability import logger, metrics, tracer
from dropzone.workflows.sagemaker_async import SageMakerResults

processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


@cache
def default_results() -> SageMakerResults:
    return SageMakerResults.from_env()


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(
    event: dict[str, Any], context: LambdaContext, results: SageMakerResults | None = None
) -> PartialItemFailureResponse:
    results = results or default_results()
    return process_partial_response(
        event=event, record_handler=results.handle_record, processor=processor, context=context
    )
