"""JSON documents under edge-deployments/<DeviceFleetName>/ → Edge Manager-shaped records."""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from dropzone import aws
from dropzone.observability import logger, metrics, tracer
from dropzone.sqs_batch import process_sqs_batch
from dropzone.workflows.edge.deployment_submit import EdgeDeployments


@cache
def default_deployments(client: aws.ClientSource = aws.client) -> EdgeDeployments:
    return EdgeDeployments.from_env(client)


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(
    event: dict[str, Any], context: LambdaContext, deployments: EdgeDeployments | None = None
) -> dict[str, list[dict[str, str]]]:
    deployments = deployments or default_deployments()
    return process_sqs_batch(event, deployments.handle_record)
