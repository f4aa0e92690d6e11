"""Scheduled, optional: record what SageMaker Edge Manager says about each known device,
continuing where the previous run stopped and within this invocation's time."""

from __future__ import annotations

from dataclasses import asdict
from functools import cache
from typing import TYPE_CHECKING, Any

from dropzone import aws, cold_start
from dropzone.observability import logger, metrics, tracer
from dropzone.workflows.edge.sync import EdgeSync

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@cache
def default_sync(client: aws.ClientSource = aws.client) -> EdgeSync:
    return EdgeSync.from_env(client)


@cold_start.released
@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(
    event: dict[str, Any], context: LambdaContext, sync: EdgeSync | None = None
) -> dict[str, Any]:
    def seconds_left() -> float:
        return context.get_remaining_time_in_millis() / 1000.0

    return asdict((sync or default_sync()).run(seconds_left))
