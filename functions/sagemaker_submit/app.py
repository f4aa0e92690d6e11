"""S3 uploads under sagemaker-async/<EndpointName>/ → tracked asynchronous inferences."""

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
from dropzone.workflows.sagemaker_async import SageMakerSubmitter

processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


@cache
def default_submitter() -> SageMakerSubmitter:
    return SageMakerSubmitter.from_env()


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(
    event: dict[str, Any], context: LambdaContext, submitter: SageMakerSubmitter | None = None
) -> PartialItemFailureResponse:
    submitter = submitter or default_submitter()
    return process_partial_response(
        event=event, record_handler=submitter.handle_record, processor=processor, context=context
    )
