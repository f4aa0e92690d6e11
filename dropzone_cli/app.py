"""The argument parser and the dispatch of `dropzone` commands."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dropzone_cli.common import (
    ClientFactory,
    CliError,
    SamConfig,
    Target,
    aws_error_message,
    boto3_clients,
    project_root,
)
from dropzone_cli.render import FORMATS, Printer

if TYPE_CHECKING:
    from dropzone_cli.stack import DeployedStack

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

    edge = commands.add_parser(
        "edge", help="edge deployment answers", description="Edge deployment records."
    )
    edge_commands = edge.add_subparsers(dest="edge_command", metavar="ACTION", required=True)
    deployments = edge_commands.add_parser(
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
    deployments.add_argument("--fleet", required=True, help="device fleet name")
    deployments.add_argument("--device", required=True, help="device name")
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


def run(argv: list[str] | None, *, clients: ClientFactory | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help, or a usage error argparse has printed
        return exit_.code if isinstance(exit_.code, int) else 2
    try:
        code = _dispatch(args, clients, Printer(args.output))
        sys.stdout.flush()  # here, where a reader that went away is caught
        return code
    except BrokenPipeError:
        return _reader_went_away()
    except CliError as error:
        print(f"dropzone: error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("dropzone: interrupted", file=sys.stderr)
        return 130
    except Exception as error:
        message = _aws_problem(error, local="local" in vars(args) or "local_state" in vars(args))
        if message is None:
            raise
        print(f"dropzone: error: {message}", file=sys.stderr)
        return 1


SIGPIPE_STATUS = 141  # 128 + SIGPIPE, what a shell reports for a process the signal ended


def _reader_went_away() -> int:
    """Standard output's reader closed it (`dropzone jobs list | head -1`): stop quietly.
    What is still buffered can never be written, so standard output is pointed at
    /dev/null, where the interpreter's last flush cannot fail."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # not a real file: nothing to flush
        pass
    return SIGPIPE_STATUS


def _aws_problem(error: Exception, *, local: bool) -> str | None:
    """A one-line account of an AWS SDK failure, or None for anything else."""
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        NoCredentialsError,
        NoRegionError,
    )

    if isinstance(error, NoCredentialsError):
        hint = " (for a local run saved by `dropzone demo --keep`, use --local)" if local else ""
        return "no AWS credentials found: pass --profile, or configure the AWS_* environment" + hint
    if isinstance(error, NoRegionError):
        return "no AWS region: pass --region, or set region in samconfig.toml or AWS_REGION"
    if isinstance(error, ClientError):
        return aws_error_message(error)
    if isinstance(error, BotoCoreError):
        return str(error)
    return None


def _config(args: argparse.Namespace) -> tuple[Path, SamConfig]:
    config_file = args.config_file or project_root() / "samconfig.toml"
    return config_file, SamConfig.load(config_file, args.config_env)


def _target(args: argparse.Namespace, clients: ClientFactory | None) -> Target:
    config_file, config = _config(args)
    stack_name = args.stack or config.stack_name
    if not stack_name:
        raise CliError(f"no stack: pass --stack, or set stack_name in {config_file}")
    region = args.region or config.region
    return Target(stack_name, region, clients or boto3_clients(region, args.profile))


def _stack(args: argparse.Namespace, clients: ClientFactory | None) -> Any:
    from dropzone_cli.stack import DeployedStack

    return DeployedStack(_target(args, clients))


def _jobs_source(args: argparse.Namespace, clients: ClientFactory | None) -> Any:
    from dropzone_cli.jobs import LocalJobs, RemoteJobs

    state = _local_state(args)
    if state is not None:
        return LocalJobs(state)
    stack = _stack(args, clients)
    s3 = stack.target.client("s3") if args.jobs_command == "result" else None
    return RemoteJobs(stack.jobs_table(), stack.target.client("dynamodb"), s3)


def _local_state(args: argparse.Namespace) -> Any:
    """The saved local run --local or --state-dir asks for; None for a deployed stack."""
    if not (args.local or args.state_dir):
        return None
    if getattr(args, "stack", None):
        raise CliError("--stack and --local exclude each other")
    from dropzone_local.state import StateError, default_state_dir, load

    try:
        return load(args.state_dir or default_state_dir(project_root()))
    except StateError as error:
        raise CliError(str(error), exit_code=1) from error


Handler = Callable[[argparse.Namespace, "ClientFactory | None", Printer], int]


def _dispatch(args: argparse.Namespace, clients: ClientFactory | None, printer: Printer) -> int:
    handlers: dict[str, Handler] = {
        "jobs": _jobs,
        "demo": _demo,
        "invoke": _invoke,
        "doctor": _doctor,
        "redrive": _redrive,
        "stop": _stop,
        "budget": _budget,
        "edge": _edge,
        "dashboard": _dashboard,
        "completion": _completion,
    }
    return handlers[args.command](args, clients, printer)


def _jobs(args: argparse.Namespace, clients: ClientFactory | None, printer: Printer) -> int:
    from dropzone_cli import overview
    from dropzone_cli.jobs import job_result, list_jobs, show_job

    source = _jobs_source(args, clients)
    command = args.jobs_command
    if command == "list":
        return list_jobs(source, printer, kind=args.kind, status=args.status, limit=args.limit)
    if command == "result":
        return job_result(source, printer, args.job_id, output=args.out_file)
    if command == "summary":
        return overview.summary(source, printer, kind=args.kind)
    if command == "watch":
        return overview.watch(
            source,
            printer,
            kind=args.kind,
            status=args.status,
            limit=args.limit,
            interval=args.interval,
        )
    return show_job(source, printer, args.job_id)


def _demo(args: argparse.Namespace, clients: ClientFactory | None, printer: Printer) -> int:
    try:
        from dropzone_local import demo
    except ImportError as error:
        raise CliError(
            f"the demo needs the project's development tools ({error.name} is missing): "
            "run `uv sync` in the checkout"
        ) from error
    argv = []
    if args.keep:
        argv.append("--keep")
        from dropzone_local.state import default_state_dir

        argv += ["--state-dir", str(args.state_dir or default_state_dir(project_root()))]
    elif args.state_dir:
        raise CliError("--state-dir goes with --keep")
    if printer.output != "json":
        return demo.main(argv)
    return _demo_as_json(demo.main, argv, printer)


def _demo_as_json(run_demo: Callable[[list[str]], int], argv: list[str], printer: Printer) -> int:
    """The demo's narration goes to standard error; standard output gets its outcome and
    the jobs it left, read back from the state it saved (kept only with --keep)."""
    import contextlib
    import tempfile

    from dropzone_local.state import load

    with tempfile.TemporaryDirectory(prefix="dropzone-demo-") as scratch:
        if "--keep" not in argv:
            argv = ["--keep", "--state-dir", scratch]
        with contextlib.redirect_stdout(sys.stderr):
            code = run_demo(argv)
        state = load(Path(argv[argv.index("--state-dir") + 1]))
        jobs = [job.model_dump(mode="json", exclude_none=True) for job in state.jobs()]
    printer.json({"passed": code == 0, "jobs": jobs})
    return code


def _invoke(args: argparse.Namespace, clients: ClientFactory | None, printer: Printer) -> int:
    from dropzone_cli import invoke

    if args.remote or args.stack:
        if (
            args.env_vars
            or args.parameter_overrides
            or args.template
            or args.local_state
            or args.state_dir
        ):
            raise CliError(
                "--env-vars, --parameter-overrides, --template and --local-state apply to "
                "local invocations"
            )
        return invoke.invoke_remote(
            *_invoke_target(args, clients),
            printer,
            args.function,
            event_path=args.event,
            invocation_type=args.invocation_type or "RequestResponse",
            tail=args.tail,
            client_context=args.client_context,
            qualifier=args.qualifier,
        )
    remote_only = [
        flag
        for flag, given in (
            ("--type", args.invocation_type),
            ("--tail", args.tail),
            ("--client-context", args.client_context),
            ("--qualifier", args.qualifier),
        )
        if given
    ]
    if remote_only:
        raise CliError(f"{', '.join(remote_only)} apply to --remote invocations")
    region = args.region or "us-east-1"
    state_dir = None
    if args.local_state or args.state_dir:
        from dropzone_local.state import StateError, default_state_dir, load

        state_dir = (args.state_dir or default_state_dir(project_root())).resolve()
        try:
            load(state_dir)  # refused here, before a process starts, when there is none
        except StateError as error:
            raise CliError(str(error), exit_code=1) from error
    return invoke.invoke_local(
        printer,
        args.function,
        state_dir=state_dir,
        event_path=args.event,
        template_path=args.template or project_root() / "template.yaml",
        env_vars_path=args.env_vars,
        parameter_overrides=args.parameter_overrides,
        region=region,
    )


def _invoke_target(
    args: argparse.Namespace, clients: ClientFactory | None
) -> tuple[Any, DeployedStack | None]:
    """(Lambda client, the stack to look a logical id up in or None). A function ARN needs
    no stack, and is invoked in its own region unless --region says otherwise."""
    from dropzone_cli.invoke import arn_region
    from dropzone_cli.stack import DeployedStack

    _, config = _config(args)
    in_arn = arn_region(args.function)
    if in_arn and args.region and args.region != in_arn:
        raise CliError(
            f"the function ARN is in {in_arn} but --region is {args.region}: Lambda invokes "
            "a function only in its own region"
        )
    region = args.region or in_arn or config.region
    make_client = clients or boto3_clients(region, args.profile)
    stack_name = args.stack or config.stack_name
    stack = DeployedStack(Target(stack_name, region, make_client)) if stack_name else None
    return (stack.target.client("lambda") if stack else make_client("lambda")), stack


def _doctor(args: argparse.Namespace, clients: ClientFactory | None, printer: Printer) -> int:
    from dropzone_cli.doctor import doctor

    return doctor(_stack(args, clients), printer)


def _redrive(args: argparse.Namespace, clients: ClientFactory | None, printer: Printer) -> int:
    from dropzone_cli.redrive import list_dlqs, redrive

    stack = _stack(args, clients)
    if args.queue is None:
        if args.rate:
            raise CliError("--rate goes with a QUEUE to redrive")
        return list_dlqs(stack, printer)
    return redrive(stack, args.queue, printer, rate=args.rate)


def _budget(args: argparse.Namespace, clients: ClientFactory | None, printer: Printer) -> int:
    from dropzone_cli.budget import LocalBudget, RemoteBudget, show_budget

    state = _local_state(args)
    if state is not None:
        return show_budget(LocalBudget(state), printer)
    return show_budget(RemoteBudget(_stack(args, clients)), printer)


def _stop(args: argparse.Namespace, clients: ClientFactory | None, printer: Printer) -> int:
    from dropzone_cli.stop import stop

    return stop(_stack(args, clients), args.job_id, printer)


def _edge(args: argparse.Namespace, clients: ClientFactory | None, printer: Printer) -> int:
    from dropzone_cli.edge import deployments, local_deployments

    state = _local_state(args)
    if state is not None:
        return local_deployments(state, printer, fleet=args.fleet, device=args.device)
    return deployments(args, lambda: _stack(args, clients), printer)


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


def _dashboard(args: argparse.Namespace, clients: ClientFactory | None, printer: Printer) -> int:
    if not (args.local or args.state_dir):
        raise CliError("dashboard renders a saved local run: pass --local (or --state-dir)")
    try:
        from dropzone_cli.dashboard import show_dashboard
    except ImportError as error:
        raise CliError(f"the dashboard is not available: {error}", exit_code=1) from error
    from dropzone_local.state import default_state_dir

    state_dir = args.state_dir or default_state_dir(project_root())
    code = int(show_dashboard(state_dir, args.html))
    if printer.output == "json":
        printer.json({"html": str(args.html), "state_dir": str(state_dir)})
    return code


def _completion(args: argparse.Namespace, clients: ClientFactory | None, printer: Printer) -> int:
    from dropzone_cli.completion import script

    text = script(build_parser(), args.shell)
    if printer.output == "json":
        printer.json({"shell": args.shell, "script": text})
    else:
        print(text, end="")
    return 0
