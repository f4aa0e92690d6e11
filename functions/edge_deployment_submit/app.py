"""JSON documents under edge-deployments/<DeviceFleetName>/ → Edge Manager-shaped records."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from dropzone import aws, cold_start
from dropzone.observability import logger, metrics, tracer
from dropzone.sqs_batch import process_sqs_batch
from dropzone.workflows.edge.deployment_submit import EdgeDeployments

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@cache
def default_deployments(client: aws.ClientSource = aws.client) -> EdgeDeployments:
    return EdgeDeployments.from_env(client)


@cold_start.released
@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(
    event: dict[str, Any], context: LambdaContext, deployments: EdgeDeployments | None = None
) -> dict[str, list[dict[str, str]]]:
    deployments = deployments or default_deployments()
    return process_sqs_batch(event, deployments.handle_record)
