"""What a Dropzone function sees in Lambda, reproduced for a local interpreter.

Shared by run.py (which spawns the interpreters) and warm.py (one of them). Standard library
only, plus `packaging` to read dependency metadata in the parent process.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"
BLOCKED_ENV = "DROPZONE_BENCH_BLOCKED"
TRACE_HEADER = "Root=1-6745e2a0-0123456789abcdef01234567;Parent=53995c3f42cd8ad8;Sampled=1"


@dataclass(frozen=True)
class Function:
    name: str  # directory under functions/
    factory: str  # the module's functools.cache'd default_*() collaborator factory
    service_name: str  # POWERTOOLS_SERVICE_NAME in template.yaml
    logical_id: str
    env: dict[str, str] = field(default_factory=dict)  # the function's own variables
    expected_clients: tuple[str, ...] = ()  # boto3 clients its collaborator should build

    @property
    def path(self) -> Path:
        return ROOT / "functions" / self.name / "app.py"

    @property
    def module(self) -> str:
        return f"functions.{self.name}.app"


FUNCTIONS = (
    Function(
        "sagemaker_submit",
        "default_submitter",
        "sagemaker-submit",
        "SageMakerSubmitFunction",
        {
            "RESULTS_BUCKET": "dropzone-results",
            "SAGEMAKER_ASYNC_PREFIX": "sagemaker-async/",
            "DEFAULT_REQUEST_TTL_SECONDS": "21600",
            "DEFAULT_INVOCATION_TIMEOUT_SECONDS": "900",
        },
        ("dynamodb", "s3", "sagemaker-runtime"),
    ),
    Function(
        "sagemaker_result",
        "default_results",
        "sagemaker-result",
        "SageMakerResultFunction",
        {"RESULT_MAX_RECEIVES": "3"},
        ("dynamodb",),
    ),
    Function(
        "sagemaker_reconcile",
        "default_reconciler",
        "sagemaker-reconcile",
        "SageMakerReconcileFunction",
        {
            "RECONCILE_GRACE_MINUTES": "30",
            "DEFAULT_REQUEST_TTL_SECONDS": "21600",
            "DEFAULT_INVOCATION_TIMEOUT_SECONDS": "900",
        },
        ("dynamodb", "s3"),
    ),
    Function(
        "status_publisher",
        "default_publisher",
        "status-publisher",
        "StatusPublisherFunction",
        {"EVENT_BUS_NAME": "default"},
        ("events",),
    ),
)
BY_NAME = {function.name: function for function in FUNCTIONS}

# Modules the Python runtime's bootstrap (awslambdaric) has already imported when it imports
# the handler module; imported before the clock starts in every cold-init child.
RUNTIME_PREIMPORTS = (
    "importlib.util",
    "json",
    "logging",
    "traceback",
    "warnings",
)

TRACING_NOTE = {
    "deployed": (
        "as deployed (template Tracing: Active): LAMBDA_TASK_ROOT is set and "
        "POWERTOOLS_TRACE_DISABLED is unset, so the tracer's provider (dropzone.xray) patches "
        "botocore at import and, the trace header being sampled, sends the handler's and each "
        "AWS call's subsegment to AWS_XRAY_DAEMON_ADDRESS (127.0.0.1:2000), exactly as in "
        "Lambda. No daemon listens there: the UDP sends are fire-and-forget, so they cost "
        "what they cost in Lambda."
    ),
    "off": (
        "disabled (POWERTOOLS_TRACE_DISABLED=true): the tracer's provider patches nothing and "
        "its subsegments are no-ops."
    ),
}


def lambda_env(
    function: Function, *, tracing: str = "deployed", invoke: bool = False
) -> dict[str, str]:
    """The environment Lambda gives `function` (template.yaml Globals + the function's own
    variables + the runtime's reserved variables), with fake credentials. `invoke` adds what
    the runtime sets per invocation (the X-Ray trace header)."""
    env = {
        name: os.environ[name]
        for name in ("PATH", "HOME", "TMPDIR", "SYSTEMROOT")
        if name in os.environ
    }
    env.update(
        {
            # reserved runtime variables
            "LANG": "en_US.UTF-8",
            "TZ": ":UTC",
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "ASIAFAKEFAKEFAKEFAKE",
            "AWS_SECRET_ACCESS_KEY": "fake-secret-access-key",
            "AWS_SESSION_TOKEN": "fake-session-token",
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
            "AWS_LAMBDA_FUNCTION_NAME": f"dropzone-{function.logical_id}",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/dropzone/{function.logical_id}",
            "AWS_LAMBDA_LOG_STREAM_NAME": "2026/11/25/[$LATEST]0123456789abcdef",
            "AWS_LAMBDA_LOG_FORMAT": "JSON",
            "AWS_LAMBDA_LOG_LEVEL": "INFO",
            "LAMBDA_TASK_ROOT": str(function.path.parent),
            "LAMBDA_RUNTIME_DIR": "/var/runtime",
            "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
            "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000",
            # no shared config / credentials files exist in Lambda; never read the host's
            "AWS_CONFIG_FILE": str(ROOT / "benchmarks" / "no-such-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(ROOT / "benchmarks" / "no-such-aws-credentials"),
            "AWS_EC2_METADATA_DISABLED": "true",
            # template.yaml Globals (LogLevel parameter default INFO)
            "POWERTOOLS_SERVICE_NAME": function.service_name,
            "POWERTOOLS_METRICS_NAMESPACE": "Dropzone",
            "POWERTOOLS_LOG_LEVEL": "INFO",
            "JOBS_TABLE": "dropzone-JobsTable",
            "JOB_RETENTION_DAYS": "90",
            BLOCKED_ENV: ",".join(sorted(blocked_top_level_modules())),
        }
    )
    env.update(function.env)
    if tracing == "off":
        env["POWERTOOLS_TRACE_DISABLED"] = "true"
    elif tracing != "deployed":
        raise ValueError(f"tracing must be 'deployed' or 'off', not {tracing!r}")
    if invoke:
        env["_X_AMZN_TRACE_ID"] = TRACE_HEADER
    return env


# -- "only what the layer ships" -------------------------------------------------------------
#
# The .venv also holds the dev tools (moto, requests, pytest, ...). Lambda does not, and X-Ray's
# patch_all() imports every supported library it can find (requests among them), so a plain
# venv interpreter would pay imports the deployed function never pays. Every child therefore
# refuses top-level imports of distributions outside dropzone's runtime dependency closure.

GUARD_SOURCE = f"""
import os as _os, sys as _sys
class _LayerOnly:
    blocked = frozenset(filter(None, _os.environ.get({BLOCKED_ENV!r}, "").split(",")))
    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if path is None and name in cls.blocked:
            raise ModuleNotFoundError(f"No module named {{name!r}} (not in the layer)", name=name)
        return None
_sys.meta_path.insert(0, _LayerOnly)
"""


def install_guard() -> None:
    exec(GUARD_SOURCE, {})  # noqa: S102 - our own constant source, shared with the -c children


def _canonical(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def runtime_distributions(root: str = "dropzone") -> set[str]:
    """dropzone plus everything it needs at run time (extras and markers honoured)."""
    from packaging.requirements import Requirement

    seen: set[tuple[str, frozenset[str]]] = set()
    names: set[str] = set()
    pending: list[tuple[str, frozenset[str]]] = [(root, frozenset())]
    while pending:
        name, extras = pending.pop()
        if (_canonical(name), extras) in seen:
            continue
        seen.add((_canonical(name), extras))
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        names.add(_canonical(name))
        for text in dist.requires or []:
            requirement = Requirement(text)
            marker = requirement.marker
            if marker is not None and not any(
                marker.evaluate({"extra": extra}) for extra in (extras or {""})
            ):
                continue
            pending.append((requirement.name, frozenset(requirement.extras)))
    return names


def _top_level_names(dist: metadata.Distribution) -> set[str]:
    names: set[str] = set()
    for file in dist.files or []:
        parts = file.parts
        first = parts[0]
        if first in ("..", "__pycache__") or first.endswith((".dist-info", ".data", ".pth")):
            continue
        if len(parts) == 1:
            if file.suffix not in (".py", ".so", ".pyd"):
                continue
            first = first.split(".", 1)[0]
        names.add(first)
    return names


_BLOCKED: set[str] | None = None


def blocked_top_level_modules() -> set[str]:
    global _BLOCKED
    if _BLOCKED is None:
        keep = runtime_distributions()
        allowed: set[str] = set(sys.stdlib_module_names)
        other: set[str] = set()
        for dist in metadata.distributions():
            names = _top_level_names(dist)
            if _canonical(dist.metadata["Name"]) in keep:
                allowed |= names
            else:
                other |= names
        _BLOCKED = {name for name in other - allowed if name.isidentifier()}
    return _BLOCKED
