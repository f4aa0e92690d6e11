"""`dropzone edge deployments`: the GetDeployments answer Dropzone gives one device."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from dropzone.errors import ConfigurationError
from dropzone_cli.common import CliError, print_json

if TYPE_CHECKING:
    from dropzone.workflows.edge.answers import EdgeAnswers
    from dropzone_cli.stack import DeployedStack

# Environment variables EdgeAnswers.from_env reads, and the stack output that names each.
ENVIRONMENT_FROM_OUTPUTS = {
    "JOBS_TABLE": "JobsTableName",
    "EDGE_DEVICES_TABLE": "EdgeDevicesTableName",
    "RESULTS_BUCKET": "ResultsBucketName",
}
# The stack outputs the answer is read from when a stack or region is named.
TABLE_OUTPUTS = ("JobsTableName", "EdgeDevicesTableName")


def deployments(args: argparse.Namespace, stack: Callable[[], DeployedStack]) -> int:
    """With --stack or --region, the stack's own tables in its region, whatever the
    environment says; otherwise the tables the environment names, names it lacks being
    taken from the configured stack's outputs."""
    try:
        from dropzone.workflows.edge.answers import EdgeAnswers
    except ImportError as error:
        raise CliError(
            f"edge deployment answers are not available: {error}", exit_code=1
        ) from error
    if args.stack or args.region:
        answers = _from_stack(stack(), EdgeAnswers)
    else:
        answers = _from_environment(stack, EdgeAnswers)
    print_json(answers.get_deployments(device_name=args.device, fleet_name=args.fleet))
    return 0


def _from_stack(deployed: DeployedStack, answers_type: type[EdgeAnswers]) -> EdgeAnswers:
    from dropzone.store.devices import Devices
    from dropzone.store.ledger import Ledger

    missing = [name for name in TABLE_OUTPUTS if not deployed.outputs.get(name)]
    if missing:
        raise CliError(
            f"stack {deployed.name} has no output {', '.join(missing)}: is it a Dropzone "
            "stack with the edge workflow?",
            exit_code=1,
        )
    dynamodb = deployed.target.client("dynamodb")  # in the stack's region
    return answers_type(
        Ledger(deployed.outputs["JobsTableName"], dynamodb),
        Devices(deployed.outputs["EdgeDevicesTableName"], dynamodb),
    )


def _from_environment(
    stack: Callable[[], DeployedStack], answers_type: type[EdgeAnswers]
) -> EdgeAnswers:
    missing = [name for name in ENVIRONMENT_FROM_OUTPUTS if not os.environ.get(name)]
    if missing:
        deployed = stack()
        for name in missing:
            value = deployed.outputs.get(ENVIRONMENT_FROM_OUTPUTS[name])
            if value:
                os.environ[name] = value
        if deployed.target.region:
            os.environ["AWS_DEFAULT_REGION"] = deployed.target.region
    try:
        return answers_type.from_env()
    except (ValueError, ConfigurationError) as error:  # names what is missing or wrong
        raise CliError(f"edge settings: {error}", exit_code=1) from error
