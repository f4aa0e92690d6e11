"""Packaging requests under model-packaging/<ProjectName>/ → Lookout for Vision packaging jobs."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from dropzone import aws, cold_start
from dropzone.observability import logger, metrics, tracer
from dropzone.sqs_batch import process_sqs_batch
from dropzone.workflows.packaging.submit import PackagingSubmitter

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@cache
def default_submitter(client: aws.ClientSource = aws.client) -> PackagingSubmitter:
    return PackagingSubmitter.from_env(client)


@cold_start.released
@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(
    event: dict[str, Any], context: LambdaContext, submitter: PackagingSubmitter | None = None
) -> dict[str, list[dict[str, str]]]:
    submitter = submitter or default_submitter()
    return process_sqs_batch(event, submitter.handle_record, client=submitter.client)
