"""The argument parser of `dropzone`: its commands, their options and their help."""

from __future__ import annotations

import argparse
from pathlib import Path

from dropzone_cli.parser_edge import add_edge
from dropzone_cli.parser_invoke import add_invoke
from dropzone_cli.render import FORMATS

DESCRIPTION = """\
Operate a Dropzone deployment: read the job ledger, run or invoke functions, check the
stack's health, redrive dead-letter queues, stop Bedrock batch jobs and see what the
Bedrock daily budget holds.

Remote commands act on a deployed stack: --stack, else stack_name in samconfig.toml
(environment --config-env); region from --region, else samconfig.toml, else the AWS
environment; credentials from --profile, else the AWS environment. `jobs`, `budget`,
`edge deployments` and `dashboard` read a saved local run instead with --local (see
`dropzone demo --keep`); they never fall back to local state on their own, so an answer
always says which ledger it came from. `invoke` runs locally unless given --remote or
--stack. Every command prints --output table (for people: fitted to the terminal,
coloured on a terminal unless NO_COLOR is set), json (the data) or text (tab-separated).
"""

EPILOG = """\
examples:
  dropzone demo --keep && dropzone jobs list --local --status REJECTED
  dropzone jobs list --kind bedrock_batch --status RUNNING --stack dropzone-prod
  dropzone jobs show dz-b6eb16e9202c
  dropzone jobs watch --local && dropzone jobs summary --local --output json
  dropzone jobs result dz-b6eb16e9202c -o results.jsonl
  dropzone invoke SageMakerSubmitFunction -e events/sagemaker_submit.json
  dropzone invoke BedrockAdmissionFunction --remote --type Event -e events/bedrock_admission.json
  dropzone doctor
  dropzone redrive SageMakerSubmitDLQ
  dropzone stop dz-3d383a696a3e5f7b20c4a9d18e6f3b2a7c5d9e01-p002
  dropzone budget --stack dropzone-prod
"""

KINDS = ("sagemaker_async", "bedrock_batch", "model_packaging", "edge_deployment")
STATUSES = (
    "ACCEPTED",
    "QUEUED",
    "SUBMITTED",
    "RUNNING",
    "SUCCEEDED",
    "PARTIALLY_SUCCEEDED",
    "FAILED",
    "STOPPED",
    "EXPIRED",
    "REJECTED",
)


def _remote_options() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("deployed stack")
    group.add_argument(
        "--stack",
        metavar="NAME",
        help="CloudFormation stack name (default: stack_name in samconfig.toml)",
    )
    group.add_argument(
        "--config-env",
        default="default",
        metavar="ENV",
        help="samconfig.toml environment to read stack_name and region from (default: default)",
    )
    group.add_argument(
        "--config-file",
        type=Path,
        metavar="PATH",
        help="samconfig.toml to read (default: the one at the project root)",
    )
    return parent


def _common_options() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("output and AWS")
    group.add_argument(
        "--output",
        choices=FORMATS,
        default="table",
        help="table (fitted to the terminal), json (the data) or text (tab-separated); "
        "default: table",
    )
    group.add_argument(
        "--json", dest="output", action="store_const", const="json", help="--output json"
    )
    group.add_argument("--profile", help="AWS profile for a deployed stack (default: AWS_PROFILE)")
    group.add_argument(
        "--region",
        help="AWS region (default: samconfig.toml, else AWS_REGION / the profile's region)",
    )
    return parent


def _local_options() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("local state")
    group.add_argument(
        "--local",
        action="store_true",
        help="read the local run saved by `dropzone demo --keep` instead of a stack",
    )
    group.add_argument(
        "--state-dir",
        type=Path,
        metavar="DIR",
        help="where the local run was saved (implies --local; default: .dropzone/local/)",
    )
    return parent


def build_parser() -> argparse.ArgumentParser:
    common = _common_options()
    remote, local = _remote_options(), _local_options()
    parser = argparse.ArgumentParser(
        prog="dropzone",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"dropzone {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    remote = argparse.ArgumentParser(add_help=False, parents=[common, remote])

    jobs = commands.add_parser(
        "jobs",
        help="list jobs, show one with its history, fetch a Bedrock result",
        description="Read the job ledger.",
    )
    jobs_commands = jobs.add_subparsers(dest="jobs_command", metavar="ACTION", required=True)
    listing = jobs_commands.add_parser(
        "list",
        parents=[remote, local],
        help="list jobs, most recently updated first",
        description=(
            "List jobs, most recently updated first. With --kind and/or --status a deployed "
            "ledger is read through its by-state index (one query per kind and status); "
            "without either, the table is scanned."
        ),
    )
    listing.add_argument("--kind", choices=KINDS, help="only jobs of this kind")
    listing.add_argument(
        "--status", type=str.upper, choices=STATUSES, help="only jobs in this status"
    )
    listing.add_argument(
        "--limit",
        type=_non_negative,
        default=100,
        help="show at most this many jobs (default: 100; 0 for all)",
    )
    show = jobs_commands.add_parser(
        "show",
        parents=[remote, local],
        help="show one job and its history",
        description="Show one job, its parts and its status history.",
    )
    show.add_argument("job_id", metavar="JOB_ID", help=JOB_ID_HELP)
    result = jobs_commands.add_parser(
        "result",
        parents=[remote, local],
        help="fetch a Bedrock upload's result file",
        description=(
            "Fetch a Bedrock upload's result file: one line per input record, in input order, "
            "with its modelOutput or its error. A part's id stands for its upload. The upload "
            "must have ended (a REJECTED one has none); a saved local run keeps result files "
            "up to 16 MiB. With -o, FILE is replaced only once the whole file has arrived."
        ),
    )
    result.add_argument("job_id", metavar="JOB_ID", help=JOB_ID_HELP)
    result.add_argument(
        "-o", "--out-file", metavar="FILE", help="write to FILE, not standard output"
    )
    _overview_commands(jobs_commands, [remote, local])

    demo = commands.add_parser(
        "demo",
        parents=[common],
        help="run the offline demo on the local cloud",
        description=(
            "Drop the demo's files into a local Dropzone (moto and model-checked stand-ins) "
            "and follow every job to its end. Exit 0 only if every job ends as expected."
        ),
    )
    demo.add_argument(
        "--keep",
        action="store_true",
        help="save the ledger, status events and buckets for `dropzone jobs list --local`",
    )
    demo.add_argument(
        "--state-dir",
        type=Path,
        metavar="DIR",
        help="where --keep saves (default: .dropzone/local/)",
    )

    add_invoke(commands, remote)

    commands.add_parser(
        "doctor",
        parents=[remote],
        help="check a deployed stack: status, outputs, DLQs, alarms, every function",
        description=(
            "Check a deployed stack: its status is a completed deployment, the expected "
            "outputs exist, every dead-letter queue is empty, none of its alarms is in "
            "ALARM, and every function accepts a DryRun invoke. Exit 1 on any failure."
        ),
    )

    redrive = commands.add_parser(
        "redrive",
        parents=[remote],
        help="send a dead-letter queue's messages back; list DLQs without QUEUE",
        description=(
            "Without QUEUE: list the stack's dead-letter queues and their depth. With QUEUE: "
            "an SQS queue's DLQ is redriven by an SQS message move task back to its source "
            "queue; EventDeliveryDLQ messages are sent to the target named in their "
            "TARGET_ARN attribute, and asynchronous invocation records are invoked again; "
            "each is deleted only after its send succeeded."
        ),
    )
    redrive.add_argument(
        "queue", nargs="?", metavar="QUEUE", help="the DLQ's logical id, name or URL"
    )
    redrive.add_argument(
        "--rate",
        type=_positive,
        metavar="N",
        help="messages per second for an SQS message move task (default: SQS's own pace)",
    )

    stop = commands.add_parser(
        "stop",
        parents=[remote],
        help="stop a running Bedrock batch job",
        description=(
            "Stop a bedrock_batch job that is SUBMITTED or RUNNING (StopModelInvocationJob on "
            "the job ARN the ledger keeps). Dropzone records STOPPED once Bedrock reports it."
        ),
    )
    stop.add_argument("job_id", metavar="JOB_ID", help=JOB_ID_HELP)

    commands.add_parser(
        "budget",
        parents=[remote, local],
        help="the Bedrock daily budget: spend of the last 24 h, room, jobs waiting",
        description=(
            "Show the Bedrock daily budget (BedrockDailyBudgetUsd): what the jobs of the last "
            "24 hours spent or hold at their upper estimate, the room left, when spend next "
            "ages out, that spend by model, and the QUEUED jobs waiting for room, oldest "
            "first, with when each would go if nothing else changed."
        ),
    )

    add_edge(commands, remote, local)
    _dashboard_command(commands, [common, local])
    completion = commands.add_parser(
        "completion",
        parents=[common],
        help="print a shell completion script",
        description=(
            "Print a completion script for bash or zsh. Load it in the current shell with "
            "`source <(dropzone completion bash)`, or add that line to ~/.bashrc "
            "(~/.zshrc for zsh)."
        ),
    )
    completion.add_argument("shell", choices=("bash", "zsh"))
    return parser


JOB_ID_HELP = (
    "a job id, a unique leading part of one, or a short id as tables print it (dz-9d3befc…-p001)"
)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("dropzone")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown (not installed)"


def _overview_commands(
    jobs_commands: argparse._SubParsersAction[argparse.ArgumentParser],
    parents: list[argparse.ArgumentParser],
) -> None:
    watch = jobs_commands.add_parser(
        "watch",
        parents=parents,
        help="list jobs and refresh them until every one has ended",
        description=(
            "The jobs `jobs list` would show, read again every --interval seconds until "
            "every one of them has ended. On a terminal the table is redrawn in place; "
            "otherwise each job is printed once and again whenever its status or message "
            "changes (JSON Lines with --output json)."
        ),
    )
    watch.add_argument("--kind", choices=KINDS, help="only jobs of this kind")
    watch.add_argument(
        "--status", type=str.upper, choices=STATUSES, help="only jobs in this status"
    )
    watch.add_argument(
        "--limit", type=_non_negative, default=20, help="watch at most this many (default: 20)"
    )
    watch.add_argument(
        "--interval",
        type=_seconds,
        default=5.0,
        metavar="SECONDS",
        help="seconds between two reads (default: 5)",
    )
    summary = jobs_commands.add_parser(
        "summary",
        parents=parents,
        help="count jobs by workflow and status",
        description="Count the ledger's jobs (parts included) by workflow and status.",
    )
    summary.add_argument("--kind", choices=KINDS, help="only jobs of this kind")


def _seconds(text: str) -> float:
    """A positive number of seconds, as an argparse type."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds above 0")
    return value


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def _dashboard_command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    parents: list[argparse.ArgumentParser],
) -> None:
    dashboard = commands.add_parser(
        "dashboard",
        parents=parents,
        help="render the stack's dashboard as a static HTML page",
        description=(
            "Render the widgets of the dashboard the template deploys as a static HTML "
            "page with charts, from the metrics a saved local run recorded (--local)."
        ),
    )
    dashboard.add_argument(
        "--html", type=Path, required=True, metavar="FILE", help="the page to write"
    )
