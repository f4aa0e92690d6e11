"""The options of `dropzone edge`: the answers devices get, their records and credentials,
and the Edge Manager-compatible endpoint run offline."""

from __future__ import annotations

import argparse

from dropzone_cli.render import FORMATS


def add_edge(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    remote: argparse.ArgumentParser,
    local: argparse.ArgumentParser,
) -> None:
    edge = commands.add_parser(
        "edge",
        help="edge devices: deployments, records, credentials, the local endpoint",
        description="Edge deployment records, device records and device credentials.",
    )
    actions = edge.add_subparsers(dest="edge_command", metavar="ACTION", required=True)
    deployments = actions.add_parser(
        "deployments",
        parents=[remote, local],
        help="what GetDeployments answers a device",
        description=(
            "Print the GetDeployments-shaped answer Dropzone gives DEVICE of FLEET. With "
            "--stack or --region it reads the tables the stack's outputs name, in that "
            "region, whatever the environment says. Without either, it reads the tables "
            "named by the environment (JOBS_TABLE, EDGE_DEVICES_TABLE, RESULTS_BUCKET); "
            "names the environment lacks are taken from the configured stack's outputs. "
            "With --local, the run `dropzone demo --keep` saved answers. The answer is "
            "JSON whatever --output says."
        ),
    )
    _device_options(deployments)
    device = actions.add_parser(
        "device",
        parents=[remote, local],
        help="a device's record: registration, last heartbeat, models, results",
        description=(
            "Print the record Dropzone keeps for DEVICE of FLEET (EdgeDevicesTable): its "
            "registration, its last heartbeat (agent version, metrics, models), its "
            "deployment results and the deployment records that name it. JSON whatever "
            "--output says."
        ),
    )
    _device_options(device)

    credentials = actions.add_parser(
        "credentials",
        help="device credentials for the edge endpoint: create, list, revoke",
        description=(
            "Credentials a device signs its sagemaker-edge requests with, one device each "
            "(JSON, whatever --output says). "
            "The secret key is shown once, when created: Dropzone keeps only the access key "
            "id and derives the secret under the stack's KMS HMAC key. Needs the stack's "
            "EdgeEndpoint=Enabled (locally, --local switches it on)."
        ),
    )
    credential_actions = credentials.add_subparsers(
        dest="credentials_command", metavar="ACTION", required=True
    )
    create = credential_actions.add_parser(
        "create",
        parents=[remote, local],
        help="issue a credential for one device",
        description=(
            "Issue an access key id and secret key for DEVICE of FLEET, printed as JSON "
            "(AccessKeyId, SecretAccessKey, ...). The secret is not kept: store it on the "
            "device now."
        ),
    )
    _device_options(create)
    listing = credential_actions.add_parser(
        "list",
        parents=[remote, local],
        help="a device's credentials, active and revoked (never their secrets)",
        description="List the credentials issued for DEVICE of FLEET, oldest first.",
    )
    _device_options(listing)
    revoke = credential_actions.add_parser(
        "revoke",
        parents=[remote, local],
        help="revoke a credential: its next request is refused",
        description=(
            "Mark ACCESS_KEY_ID revoked. The endpoint reads the credential on every "
            "request, so the next request signed with it gets UnrecognizedClientException."
        ),
    )
    revoke.add_argument("access_key_id", metavar="ACCESS_KEY_ID")

    serve = actions.add_parser(
        "serve",
        parents=[local],
        help="serve the Edge Manager-compatible endpoint on localhost (--local)",
        description=(
            "Run the edge endpoint's own handler over HTTP on localhost, answering from the "
            "run `dropzone demo --keep` saved: point a stock client at it with "
            "endpoint_url and sign with a credential from `dropzone edge credentials "
            "create --local`. Prints the endpoint URL (JSON with --output json), then "
            "serves until interrupted. Heartbeats it takes are written back to the saved "
            "run."
        ),
    )
    serve.add_argument(
        "--port", type=int, default=8080, help="TCP port (0 picks a free one; default 8080)"
    )
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    serve.add_argument(
        "--output",
        choices=FORMATS,
        default="table",
        help="json: the URL and region as one JSON line; otherwise the URL (default: table)",
    )
    serve.add_argument(
        "--json", dest="output", action="store_const", const="json", help="--output json"
    )


def _device_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--fleet", required=True, help="device fleet name")
    parser.add_argument("--device", required=True, help="device name")
