"""The dispatch of `dropzone` commands (their parser: `dropzone_cli.parser`)."""

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
from dropzone_cli.parser import build_parser
from dropzone_cli.render import Printer

if TYPE_CHECKING:
    from dropzone_cli.stack import DeployedStack


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
    from dropzone_cli import edge_devices
    from dropzone_cli.edge import deployments, local_deployments

    if args.edge_command == "deployments":
        state = _local_state(args)
        if state is not None:
            return local_deployments(state, printer, fleet=args.fleet, device=args.device)
        return deployments(args, lambda: _stack(args, clients), printer)
    state_dir = _local_state_dir(args)
    if args.edge_command == "serve":
        return edge_devices.serve(args, state_dir, printer)
    stack = lambda: _stack(args, clients)  # noqa: E731 - read only when a stack is named
    if args.edge_command == "device":
        return edge_devices.device(args, stack, state_dir, printer)
    return edge_devices.credentials(args, stack, state_dir, printer)


def _local_state_dir(args: argparse.Namespace) -> Path | None:
    """Where the saved local run is, when --local or --state-dir asks for one."""
    if not (args.local or args.state_dir):
        return None
    if getattr(args, "stack", None):
        raise CliError("--stack and --local exclude each other")
    from dropzone_local.state import default_state_dir

    return Path(args.state_dir or default_state_dir(project_root())).resolve()


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
