"""Scheduled backstop: settle SUBMITTED inferences whose notification never came."""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from dropzone import aws
from dropzone.observability import logger, metrics, tracer
from dropzone.workflows.sagemaker.reconcile import SageMakerReconciler


@cache
def default_reconciler(client: aws.ClientSource = aws.client) -> SageMakerReconciler:
    return SageMakerReconciler.from_env(client)


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(
    event: dict[str, Any], context: LambdaContext, reconciler: SageMakerReconciler | None = None
) -> dict[str, int]:
    return (reconciler or default_reconciler()).run().as_dict()
