"""Scheduled backstop: ask Greengrass about quiet roll-outs; expire edge deployments that
never end."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from dropzone import aws, cold_start
from dropzone.observability import logger, metrics, tracer
from dropzone.workflows.edge.reconcile import EdgeReconciler

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@cache
def default_reconciler(client: aws.ClientSource = aws.client) -> EdgeReconciler:
    return EdgeReconciler.from_env(client)


@cold_start.released
@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(
    event: dict[str, Any], context: LambdaContext, reconciler: EdgeReconciler | None = None
) -> dict[str, Any]:
    def seconds_left() -> float:
        return context.get_remaining_time_in_millis() / 1000.0

    return (reconciler or default_reconciler()).run(seconds_left)
