"""`dropzone edge device`, `dropzone edge credentials ...` and `dropzone edge serve`:
device records, device credentials for the edge endpoint, and the endpoint offline."""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from dropzone_cli.common import CliError
from dropzone_cli.render import Printer

if TYPE_CHECKING:
    from dropzone.workflows.edge.credentials import CredentialIssuer
    from dropzone_cli.stack import DeployedStack
    from dropzone_local.edge_endpoint import LocalEdge

ENDPOINT_OUTPUTS = ("EdgeCredentialsTableName", "EdgeCredentialsKeyArn")


def device(
    args: argparse.Namespace,
    stack: Callable[[], DeployedStack],
    state_dir: Path | None,
    printer: Printer,
) -> int:
    from dropzone.store.devices import DeviceRecord, Devices, device_key
    from dropzone.store.dynamo_items import record_from_item

    if state_dir is not None:
        from dropzone_local.state import load

        key = device_key(args.fleet, args.device)
        items = [i for i in load(state_dir).device_items if i["device_key"]["S"] == key]
        record = DeviceRecord.model_validate(record_from_item(items[0])) if items else None
    else:
        deployed = stack()
        _require_outputs(deployed, ("EdgeDevicesTableName",), "the edge workflow")
        devices = Devices(
            deployed.outputs["EdgeDevicesTableName"], deployed.target.client("dynamodb")
        )
        record = devices.get(args.fleet, args.device)
    if record is None:
        raise CliError(
            f"no record of device {args.device!r} of fleet {args.fleet!r}: a device gets one "
            "when a deployment record names it",
            exit_code=1,
        )
    printer.json(record.model_dump(mode="json", exclude_none=True))
    return 0


def credentials(
    args: argparse.Namespace,
    stack: Callable[[], DeployedStack],
    state_dir: Path | None,
    printer: Printer,
) -> int:
    from dropzone.errors import InvalidInput

    with _issuer(stack, state_dir) as issuer:
        try:
            if args.credentials_command == "create":
                issued = issuer.issue(args.fleet, args.device)
                printer.json(issued.as_dict())
                print(
                    "The secret key is shown this once: Dropzone does not keep it.",
                    file=sys.stderr,
                )
            elif args.credentials_command == "list":
                found = issuer.for_device(args.fleet, args.device)
                printer.json({"Credentials": [credential.as_dict() for credential in found]})
            else:
                revoked = issuer.revoke(args.access_key_id)
                if revoked is None:
                    raise CliError(f"no credential {args.access_key_id!r}", exit_code=1)
                printer.json(revoked.as_dict())
        except InvalidInput as invalid:
            raise CliError(invalid.message, exit_code=2) from invalid
    return 0


def serve(args: argparse.Namespace, state_dir: Path | None, printer: Printer) -> int:
    from dropzone_local.edge_endpoint import serve as serve_http

    if state_dir is None:
        raise CliError(
            "edge serve runs the endpoint offline: pass --local (or --state-dir). A deployed "
            "stack's endpoint is at its EdgeEndpointUrl output."
        )

    def ready(url: str) -> None:
        if printer.output == "json":  # one line: a program reads it as the server starts
            region = edge.state.region or "us-east-1"
            print(json.dumps({"endpoint_url": url, "region": region}), flush=True)
        else:
            print(url, flush=True)
        print(f"serving the edge endpoint at {url}; Ctrl-C stops it", file=sys.stderr)
        sys.stdout.flush()

    # Requests that emit no metric (refusals) would each warn of it on standard error.
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    edge = _local_edge(state_dir)
    with edge.running():
        try:
            serve_http(edge, host=args.host, port=args.port, on_ready=ready)
        except OSError as error:
            raise CliError(
                f"cannot listen on {args.host}:{args.port}: {error}", exit_code=1
            ) from error
        except KeyboardInterrupt:
            return 0
    return 0


@contextmanager
def _issuer(
    stack: Callable[[], DeployedStack], state_dir: Path | None
) -> Iterator[CredentialIssuer]:
    if state_dir is not None:
        edge = _local_edge(state_dir)
        with edge.running():
            yield edge.issuer()
            edge.keep_credentials()
        return
    from dropzone.adapters.kms import Kms
    from dropzone.store.edge_credentials import EdgeCredentials
    from dropzone.workflows.edge.credentials import CredentialIssuer, SecretKeys

    deployed = stack()
    _require_outputs(deployed, ENDPOINT_OUTPUTS, "the edge endpoint (EdgeEndpoint=Enabled)")
    yield CredentialIssuer(
        EdgeCredentials(
            deployed.outputs["EdgeCredentialsTableName"], deployed.target.client("dynamodb")
        ),
        SecretKeys(Kms(deployed.target.client("kms")), deployed.outputs["EdgeCredentialsKeyArn"]),
    )


def _local_edge(state_dir: Path) -> LocalEdge:
    from dropzone_local.edge_endpoint import LocalEdge
    from dropzone_local.state import StateError

    try:
        return LocalEdge(state_dir)
    except StateError as error:
        raise CliError(str(error), exit_code=1) from error


def _require_outputs(deployed: DeployedStack, names: tuple[str, ...], what: str) -> None:
    missing = [name for name in names if not deployed.outputs.get(name)]
    if missing:
        raise CliError(
            f"stack {deployed.name} has no output {', '.join(missing)}: is {what} deployed?",
            exit_code=1,
        )
