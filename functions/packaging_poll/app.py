"""Scheduled: describe unfinished packaging jobs within the service's rate limit."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from dropzone import aws, cold_start
from dropzone.observability import logger, metrics, tracer
from dropzone.workflows.packaging.poll import PackagingPoller

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@cache
def default_poller(client: aws.ClientSource = aws.client) -> PackagingPoller:
    return PackagingPoller.from_env(client)


@cold_start.released
@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(
    event: dict[str, Any], context: LambdaContext, poller: PackagingPoller | None = None
) -> dict[str, Any]:
    def seconds_left() -> float:
        return context.get_remaining_time_in_millis() / 1000.0

    return (poller or default_poller()).run(seconds_left)
