"""The options of `dropzone invoke`: a function run locally without Docker, or invoked in a
deployed stack."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_invoke(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    remote: argparse.ArgumentParser,
) -> None:
    invoke = commands.add_parser(
        "invoke",
        parents=[remote],
        help="run a function locally (no Docker), or Invoke it in a deployed stack",
        description=(
            "Locally (the default): like `sam local invoke` without Docker. The function's "
            "Handler, CodeUri, Layers and Environment come from template.yaml (its own "
            "properties over Globals); it runs once in a fresh Python process with CodeUri "
            "and its layers on sys.path, inside an offline local cloud (moto and stand-ins), "
            "so every AWS call it makes stays on this machine. The result is printed on "
            "standard output; the function's logs and Lambda's START/END/REPORT lines on "
            "standard error. Exit 1 when the function fails or times out.\n\n"
            "With --remote (or --stack): Lambda Invoke on the deployed function. FUNCTION is "
            "a name, name:qualifier, partial ARN (123456789012:function:name), full ARN, or "
            "the template's logical id (looked up in the stack). An ARN needs no stack and "
            "is invoked in its own region. A name is taken as it is when no stack is "
            "configured, or the stack does not exist or may not be read."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    invoke.add_argument(
        "function",
        metavar="FUNCTION",
        help="logical id (SageMakerSubmitFunction) or functions/ directory (sagemaker_submit)"
        "; remotely also a name or ARN",
    )
    invoke.add_argument(
        "-e", "--event", metavar="FILE", help="JSON event file, - for standard input (default: {})"
    )
    invoke.add_argument(
        "--remote", action="store_true", help="invoke the deployed function instead"
    )
    local_group = invoke.add_argument_group("local invocation")
    local_group.add_argument(
        "--env-vars",
        metavar="FILE",
        help='sam-style overrides: {"Parameters": {...}} for every function, '
        '{"<LogicalId>": {...}} for one; only variables the template declares',
    )
    local_group.add_argument(
        "--parameter-overrides",
        nargs="+",
        metavar="NAME=VALUE",
        help="template parameter values for the local cloud",
    )
    local_group.add_argument(
        "--template",
        type=Path,
        metavar="PATH",
        help="template to read (default: template.yaml at the project root)",
    )
    remote_group = invoke.add_argument_group("remote invocation")
    remote_group.add_argument(
        "--type",
        dest="invocation_type",
        choices=("RequestResponse", "Event", "DryRun"),
        default=None,
        help="InvocationType (default: RequestResponse)",
    )
    remote_group.add_argument(
        "--tail",
        action="store_true",
        help="print the last 4 KB of the function's log (RequestResponse only)",
    )
    remote_group.add_argument(
        "--client-context",
        metavar="JSON",
        help="JSON object passed as the context's client_context (RequestResponse only; "
        "at most 3,583 bytes once base64-encoded)",
    )
    remote_group.add_argument(
        "--qualifier", help="version or alias (or give FUNCTION as name:qualifier)"
    )
    local_group.add_argument(
        "--local-state",
        action="store_true",
        help="seed the local cloud with the run `dropzone demo --keep` saved: its ledger, "
        "budget window and bucket objects",
    )
    local_group.add_argument(
        "--state-dir",
        type=Path,
        metavar="DIR",
        help="where that run was saved (default: .dropzone/local/); implies --local-state",
    )
