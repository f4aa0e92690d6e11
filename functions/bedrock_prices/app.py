"""Daily: Bedrock prices from the AWS Price List, kept as the price table's refreshed copy."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from dropzone import aws, cold_start
from dropzone.observability import logger, metrics, tracer
from dropzone.workflows.bedrock.price_refresh import PriceRefresh

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@cache
def default_refresher(client: aws.ClientSource = aws.client) -> PriceRefresh:
    return PriceRefresh.from_env(client)


@cold_start.released
@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(
    event: dict[str, Any], context: LambdaContext, refresher: PriceRefresh | None = None
) -> dict[str, Any]:
    return (refresher or default_refresher()).run()
