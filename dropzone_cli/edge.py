"""`dropzone edge deployments`: the GetDeployments answer Dropzone gives one device."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from dropzone.errors import ConfigurationError
from dropzone.models.jobs import Job, JobKind
from dropzone_cli.common import CliError
from dropzone_cli.render import Printer

if TYPE_CHECKING:
    from dropzone.store.devices import DeviceRecord
    from dropzone.workflows.edge.answers import EdgeAnswers
    from dropzone_cli.stack import DeployedStack
    from dropzone_local.state import LocalState

# Environment variables EdgeAnswers.from_env reads, and the stack output that names each.
ENVIRONMENT_FROM_OUTPUTS = {
    "JOBS_TABLE": "JobsTableName",
    "EDGE_DEVICES_TABLE": "EdgeDevicesTableName",
    "RESULTS_BUCKET": "ResultsBucketName",
}
# The stack outputs the answer is read from when a stack or region is named.
TABLE_OUTPUTS = ("JobsTableName", "EdgeDevicesTableName")


def deployments(
    args: argparse.Namespace, stack: Callable[[], DeployedStack], printer: Printer
) -> int:
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
    printer.json(answers.get_deployments(device_name=args.device, fleet_name=args.fleet))
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


class _SavedLedger:
    """The saved run's ledger, read as EdgeAnswers reads a Ledger."""

    def __init__(self, state: LocalState) -> None:
        self._jobs = {job.job_id: job for job in state.jobs()}

    def get_many(self, job_ids: list[str]) -> list[Job]:
        return [self._jobs[job_id] for job_id in job_ids if job_id in self._jobs]


class _SavedDevices:
    """Device records as the run's deployment records left them: a device is registered
    by every edge deployment record of its fleet that names it (the saved run keeps the
    ledger, not the devices table)."""

    def __init__(self, state: LocalState) -> None:
        self._jobs = [job for job in state.jobs() if job.kind is JobKind.EDGE_DEPLOYMENT]

    def get(self, fleet: str, device: str) -> DeviceRecord | None:
        from dropzone.store.devices import DeviceRecord, Registration, device_key
        from dropzone.workflows.edge.rules import devices_of

        ids = sorted(
            job.job_id for job in self._jobs if job.target == fleet and device in devices_of(job)
        )
        if not ids:
            return None
        return DeviceRecord(
            device_key=device_key(fleet, device),
            fleet=fleet,
            device_name=device,
            registration=Registration.REGISTERED,
            deployment_ids=ids,
        )

    def forget_deployments(self, fleet: str, device: str, deployment_ids: list[str]) -> None:
        """Nothing to forget: the saved run is read-only."""


def local_deployments(state: LocalState, printer: Printer, *, fleet: str, device: str) -> int:
    """GetDeployments as the saved run's records answer it."""
    from dropzone.workflows.edge.answers import EdgeAnswers

    answers = EdgeAnswers(cast(Any, _SavedLedger(state)), cast(Any, _SavedDevices(state)))
    printer.json(answers.get_deployments(device_name=device, fleet_name=fleet))
    return 0
