"""`dropzone edge deployments`: the GetDeployments answer Dropzone gives one device."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from typing import Any

from dropzone.cli.common import CliError, print_json
from dropzone.errors import ConfigurationError

# Environment variables EdgeAnswers.from_env reads, and the stack output that names each.
ENVIRONMENT_FROM_OUTPUTS = {
    "JOBS_TABLE": "JobsTableName",
    "EDGE_DEVICES_TABLE": "EdgeDevicesTableName",
    "RESULTS_BUCKET": "ResultsBucketName",
}


def deployments(args: argparse.Namespace, stack: Callable[[], Any]) -> int:
    try:
        from dropzone.workflows.edge_answers import EdgeAnswers
    except ImportError as error:
        raise CliError(
            f"edge deployment answers are not available: {error}", exit_code=1
        ) from error
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
        answers = EdgeAnswers.from_env()
    except (ValueError, ConfigurationError) as error:  # names what is missing or wrong
        raise CliError(f"edge settings: {error}", exit_code=1) from error
    print_json(answers.get_deployments(device_name=args.device, fleet_name=args.fleet))
    return 0
