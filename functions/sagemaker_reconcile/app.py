"""Scheduled backstop: settle SUBMITTED inferences whose notification never came."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from dropzone import aws, cold_start
from dropzone.observability import logger, metrics, tracer
from dropzone.workflows.sagemaker.reconcile import SageMakerReconciler

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@cache
def default_reconciler(client: aws.ClientSource = aws.client) -> SageMakerReconciler:
    return SageMakerReconciler.from_env(client)


@cold_start.released
@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(
    event: dict[str, Any], context: LambdaContext, reconciler: SageMakerReconciler | None = None
) -> dict[str, int]:
    return (reconciler or default_reconciler()).run().as_dict()
