"""`dropzone invoke`: run a function locally in a fresh process, or Invoke it in AWS."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from dropzone_cli.common import CliError, aws_error_message, print_json, read_json_file
from dropzone_cli.render import Printer
from dropzone_cli.stack import FUNCTION_TYPE, DeployedStack, StackUnavailable

SYNC_PAYLOAD_LIMIT = 6 * 1024 * 1024  # RequestResponse and DryRun
ASYNC_PAYLOAD_LIMIT = 1024 * 1024  # Event
CLIENT_CONTEXT_LIMIT = 3583  # bytes of base64
INVOCATION_TYPES = ("RequestResponse", "Event", "DryRun")
EXPECTED_STATUS = {"RequestResponse": 200, "Event": 202, "DryRun": 204}

_NAME = r"[a-zA-Z0-9_.-]{1,64}"
_QUALIFIER = r"\$LATEST|[a-zA-Z0-9_-]{1,128}"
_FULL_ARN = re.compile(
    rf"^(arn:aws[a-zA-Z-]*:lambda:[a-z]{{2}}(?:-gov)?-[a-z]+-\d+:\d{{12}}:function:{_NAME})"
    rf"(?::({_QUALIFIER}))?$"
)
_PARTIAL_ARN = re.compile(rf"^(\d{{12}}:function:{_NAME})(?::({_QUALIFIER}))?$")
_PLAIN = re.compile(rf"^({_NAME})(?::({_QUALIFIER}))?$")
_LOGICAL_ID = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")


# -- remote --------------------------------------------------------------------------------


@dataclass(frozen=True)
class FunctionRef:
    """What Lambda's FunctionName and Qualifier will be."""

    name: str
    qualifier: str | None
    logical_id: str | None = None


def parse_function_name(text: str) -> tuple[str, str | None]:
    """(name or ARN without its qualifier, qualifier) for every form Lambda accepts: a
    name, name:qualifier, a partial ARN (123456789012:function:name) or a full ARN."""
    for pattern in (_FULL_ARN, _PARTIAL_ARN, _PLAIN):
        match = pattern.match(text)
        if match:
            return match.group(1), match.group(2)
    raise CliError(
        f"{text!r} is not a function name, name:qualifier, partial ARN "
        "(123456789012:function:name) or function ARN"
    )


def arn_region(text: str) -> str | None:
    """The region a full function ARN names; None for any other form."""
    match = _FULL_ARN.match(text)
    return match.group(1).split(":")[3] if match else None


def resolve_function(
    stack: DeployedStack | None, text: str, qualifier: str | None = None
) -> FunctionRef:
    """A function reference from any accepted form, including the template's logical id
    (looked up in the stack with DescribeStackResource). ARNs and partial ARNs never
    touch the stack. A name is taken as it is when there is no stack to look it up in,
    or the stack does not exist or cannot be read."""
    name, own_qualifier = parse_function_name(text)
    if own_qualifier and qualifier and own_qualifier != qualifier:
        raise CliError(
            f"the function {text} names qualifier {own_qualifier} but --qualifier is {qualifier}"
        )
    qualifier = own_qualifier or qualifier
    if not _LOGICAL_ID.match(name):
        return FunctionRef(name, qualifier)
    if stack is None:
        print(
            f"note: no stack configured; {name} is invoked as a function name",
            file=sys.stderr,
        )
        return FunctionRef(name, qualifier)
    try:
        resource = stack.resource(name)
    except StackUnavailable as error:
        print(f"note: {name} not looked up as a logical id ({error})", file=sys.stderr)
        return FunctionRef(name, qualifier)
    if resource is None:
        return FunctionRef(name, qualifier)
    if resource.resource_type != FUNCTION_TYPE:
        raise CliError(
            f"{name} in stack {stack.name} is a {resource.resource_type}, not a function"
        )
    return FunctionRef(resource.physical_id, qualifier, logical_id=name)


def invoke_remote(
    lambda_client: Any,
    stack: DeployedStack | None,
    printer: Printer,
    function: str,
    *,
    event_path: str | None,
    invocation_type: str,
    tail: bool,
    client_context: str | None,
    qualifier: str | None,
) -> int:
    """Lambda Invoke with `lambda_client`; `stack` (if any) resolves a logical id."""
    sync = invocation_type == "RequestResponse"
    if tail and not sync:
        raise CliError(
            f"--tail needs --type RequestResponse (Lambda returns no log for {invocation_type})"
        )
    request: dict[str, Any] = {"InvocationType": invocation_type}
    if client_context is not None:
        request["ClientContext"] = encode_client_context(client_context, invocation_type)
    if event_path is not None:
        request["Payload"] = read_payload(event_path, invocation_type)
    if tail:
        request["LogType"] = "Tail"
    ref = resolve_function(stack, function, qualifier)
    request["FunctionName"] = ref.name
    if ref.qualifier:
        request["Qualifier"] = ref.qualifier
    try:
        response = lambda_client.invoke(**request)
    except ClientError as error:
        raise CliError(aws_error_message(error), exit_code=1) from error
    return print_invoke_response(response, ref, printer)


def encode_client_context(text: str, invocation_type: str) -> str:
    if invocation_type != "RequestResponse":
        raise CliError(
            "--client-context needs --type RequestResponse "
            f"(Lambda ignores it for {invocation_type})"
        )
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise CliError(
            f"--client-context: not JSON ({error.msg} at column {error.colno})"
        ) from error
    if not isinstance(value, dict):
        raise CliError("--client-context: must be a JSON object")
    encoded = base64.b64encode(json.dumps(value, separators=(",", ":")).encode()).decode()
    if len(encoded) > CLIENT_CONTEXT_LIMIT:
        raise CliError(
            f"--client-context: {len(encoded):,} bytes once base64-encoded; "
            f"Lambda accepts at most {CLIENT_CONTEXT_LIMIT:,}"
        )
    return encoded


def read_payload(path: str, invocation_type: str) -> bytes:
    try:
        payload = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as error:
        raise CliError(f"event {path}: {error.strerror or error}") from error
    limit = ASYNC_PAYLOAD_LIMIT if invocation_type == "Event" else SYNC_PAYLOAD_LIMIT
    if len(payload) > limit:
        raise CliError(
            f"event {path}: {len(payload):,} bytes; Lambda accepts at most {limit:,} bytes "
            f"for {invocation_type} invocations"
        )
    try:
        json.loads(payload)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CliError(f"event {path}: not JSON ({error})") from error
    return payload


def print_invoke_response(
    response: dict[str, Any], ref: FunctionRef, printer: Printer | None = None
) -> int:
    named = ref.name + (f":{ref.qualifier}" if ref.qualifier else "")
    if ref.logical_id:
        named += f" ({ref.logical_id})"
    if printer is not None and printer.output != "table":
        return _invoke_record(response, named, printer)
    print(f"Function: {named}")
    print(f"StatusCode: {response.get('StatusCode')}")
    if response.get("ExecutedVersion"):
        print(f"ExecutedVersion: {response['ExecutedVersion']}")
    if response.get("FunctionError"):
        print(f"FunctionError: {response['FunctionError']}")
    stream = response.get("Payload")
    body = stream.read() if stream is not None else b""
    if body:
        print("Payload:")
        try:
            print_json(json.loads(body))
        except (json.JSONDecodeError, UnicodeDecodeError):
            print(body.decode("utf-8", errors="replace"))
    if response.get("LogResult"):
        print("Log tail:")
        print(base64.b64decode(response["LogResult"]).decode("utf-8", errors="replace").rstrip())
    return 1 if response.get("FunctionError") else 0


def _invoke_record(response: dict[str, Any], named: str, printer: Printer) -> int:
    stream = response.get("Payload")
    body = stream.read() if stream is not None else b""
    try:
        payload: Any = json.loads(body) if body else None
    except (json.JSONDecodeError, UnicodeDecodeError):
        payload = body.decode("utf-8", errors="replace")
    log = response.get("LogResult")
    printer.record(
        {
            "function": named,
            "status_code": response.get("StatusCode"),
            "executed_version": response.get("ExecutedVersion"),
            "function_error": response.get("FunctionError"),
            "payload": payload,
            "log_tail": base64.b64decode(log).decode("utf-8", errors="replace") if log else None,
        }
    )
    return 1 if response.get("FunctionError") else 0


# -- local ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class LocalFunctionSpec:
    """A function as template.yaml describes it: its own properties over Globals."""

    logical_id: str
    handler: str
    code_uri: Path
    layers: tuple[Path, ...]
    memory_mb: int
    timeout_s: int
    runtime: str
    variables: tuple[str, ...]


def load_template(template_path: Path) -> dict[str, Any]:
    try:
        from dropzone_local.template import load_template as load
    except ImportError as error:  # PyYAML is a development dependency
        raise CliError(
            f"local invoke needs the project's development tools ({error.name} is missing): "
            "run `uv sync` in the checkout"
        ) from error
    try:
        return load(template_path)
    except FileNotFoundError as error:
        raise CliError(f"{template_path}: no such template (see --template)") from error
    except ValueError as error:
        raise CliError(str(error)) from error


def local_function(template: dict[str, Any], template_path: Path, name: str) -> LocalFunctionSpec:
    """The function `name` (a logical id, or its functions/ directory name)."""
    functions = {
        logical_id: resource
        for logical_id, resource in template["Resources"].items()
        if resource.get("Type") == "AWS::Serverless::Function"
    }
    globals_ = template.get("Globals", {}).get("Function", {})
    by_directory = {
        Path(
            str(resource.get("Properties", {}).get("CodeUri", globals_.get("CodeUri", ".")))
        ).name: logical_id
        for logical_id, resource in functions.items()
    }
    logical_id = name if name in functions else by_directory.get(name.rstrip("/").split("/")[-1])
    if logical_id is None:
        known = ", ".join(f"{lid} ({directory})" for directory, lid in sorted(by_directory.items()))
        raise CliError(f"no function {name!r} in {template_path.name}; functions: {known}")
    properties = functions[logical_id].get("Properties", {})

    def setting(key: str, default: Any) -> Any:
        return _parameter_value(template, properties.get(key, globals_.get(key, default)))

    root = template_path.parent
    layers = [*globals_.get("Layers", []), *properties.get("Layers", [])]
    variables = {
        **globals_.get("Environment", {}).get("Variables", {}),
        **properties.get("Environment", {}).get("Variables", {}),
    }
    return LocalFunctionSpec(
        logical_id=logical_id,
        handler=str(setting("Handler", "app.handler")),
        code_uri=(root / str(setting("CodeUri", "."))).resolve(),
        layers=tuple(_layer_dir(template, root, layer) for layer in layers),
        memory_mb=int(setting("MemorySize", 128)),
        timeout_s=int(setting("Timeout", 3)),
        runtime=str(setting("Runtime", "")),
        variables=tuple(variables),
    )


def _require_condition(
    template: dict[str, Any], logical_id: str, parameters: dict[str, str], region: str
) -> None:
    """Refuse a function its Condition leaves out of the stack, naming the condition."""
    condition = template["Resources"][logical_id].get("Condition")
    if condition is None:
        return
    from dropzone_local.intrinsics import Resolver

    values = {
        name: str(parameters.get(name, spec.get("Default", "")))
        for name, spec in template.get("Parameters", {}).items()
    }

    def no_resources(name: str, *_: str) -> str:
        raise CliError(f"condition {condition} refers to resource {name}; cannot evaluate it")

    resolver = Resolver(
        template,
        parameters=values,
        pseudo={"AWS::Region": region, "AWS::Partition": "aws"},
        ref=no_resources,
        get_att=no_resources,
    )
    if not resolver.condition(condition):
        raise CliError(
            f"{logical_id} exists only when its condition {condition} holds, and with these "
            "parameters it does not: set them with --parameter-overrides NAME=VALUE"
        )


def _parameter_value(template: dict[str, Any], value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"Ref"}:
        parameter = template.get("Parameters", {}).get(value["Ref"])
        if parameter is not None and "Default" in parameter:
            return parameter["Default"]
    return value


def _layer_dir(template: dict[str, Any], root: Path, layer: Any) -> Path:
    if isinstance(layer, dict) and set(layer) == {"Ref"}:
        resource = template["Resources"].get(layer["Ref"], {})
        content = resource.get("Properties", {}).get("ContentUri")
        if resource.get("Type") == "AWS::Serverless::LayerVersion" and isinstance(content, str):
            return (root / content).resolve()
    raise CliError(
        f"layer {json.dumps(layer)} is not a layer built from this template; "
        "local invoke cannot fetch layers from AWS"
    )


def read_env_vars(path: str, spec: LocalFunctionSpec) -> dict[str, str]:
    """Overrides from a `sam local invoke --env-vars` file: {"Parameters": {...}} for every
    function and {"<LogicalId>": {...}} for one. As with sam, only variables the template
    declares for the function are overridden."""
    document = read_json_file(path, what="--env-vars")
    if not isinstance(document, dict):
        raise CliError(f"--env-vars {path}: must be a JSON object")
    overrides: dict[str, str] = {}
    for section in ("Parameters", spec.logical_id):
        values = document.get(section, {})
        if not isinstance(values, dict):
            raise CliError(f"--env-vars {path}: {section} must be an object of variables")
        for name, value in values.items():
            if isinstance(value, dict | list) or value is None:
                raise CliError(f"--env-vars {path}: {section}.{name} must be a string or number")
            if name in spec.variables:
                overrides[name] = str(value).lower() if isinstance(value, bool) else str(value)
            else:
                print(
                    f"--env-vars: {name} is not declared for {spec.logical_id}; ignored",
                    file=sys.stderr,
                )
    return overrides


def parse_parameter_overrides(
    template: dict[str, Any], overrides: list[str] | None
) -> dict[str, str]:
    known = template.get("Parameters", {})
    parsed: dict[str, str] = {}
    for item in overrides or []:
        name, equals, value = item.partition("=")
        if not equals or not name:
            raise CliError(f"--parameter-overrides: {item!r} is not Name=Value")
        if name not in known:
            raise CliError(f"--parameter-overrides: the template has no parameter {name}")
        parsed[name] = value
    return parsed


def _child_environment(spec: LocalFunctionSpec, region: str) -> dict[str, str]:
    """A fresh environment, as Lambda gives a function: nothing of the caller's shell
    (no credentials, no profile) but what a process needs to start."""
    environment = {
        name: os.environ[name]
        for name in ("PATH", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT", "HOME")
        if name in os.environ
    }
    function_name = spec.logical_id
    environment.update(
        PYTHONPATH=os.pathsep.join(str(path) for path in (spec.code_uri, *spec.layers)),
        PYTHONUNBUFFERED="1",
        PYTHONDONTWRITEBYTECODE="1",
        AWS_SAM_LOCAL="true",
        AWS_REGION=region,
        AWS_DEFAULT_REGION=region,
        AWS_EXECUTION_ENV=f"AWS_Lambda_{spec.runtime}" if spec.runtime else "AWS_Lambda",
        AWS_LAMBDA_FUNCTION_NAME=function_name,
        AWS_LAMBDA_FUNCTION_VERSION="$LATEST",
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE=str(spec.memory_mb),
        AWS_LAMBDA_FUNCTION_TIMEOUT=str(spec.timeout_s),
        AWS_LAMBDA_LOG_GROUP_NAME=f"/aws/lambda/{function_name}",
        LAMBDA_TASK_ROOT=str(spec.code_uri),
        _HANDLER=spec.handler,
        TZ=":UTC",
    )
    return environment


def invoke_local(
    printer: Printer,
    function: str,
    *,
    state_dir: Path | None = None,
    event_path: str | None,
    template_path: Path,
    env_vars_path: str | None,
    parameter_overrides: list[str] | None,
    region: str = "us-east-1",
) -> int:
    template = load_template(template_path)
    spec = local_function(template, template_path, function)
    parameters = parse_parameter_overrides(template, parameter_overrides)
    _require_condition(template, spec.logical_id, parameters, region)
    event: Any = {} if event_path is None else read_json_file(event_path, what="event")
    overrides = read_env_vars(env_vars_path, spec) if env_vars_path else {}
    request_id = str(uuid.uuid4())
    with tempfile.TemporaryDirectory(prefix="dropzone-invoke-") as scratch:
        spec_path = Path(scratch) / "invocation.json"
        result_path = Path(scratch) / "result.json"
        spec_path.write_text(
            json.dumps(
                {
                    "logical_id": spec.logical_id,
                    "handler": spec.handler,
                    "code_uri": str(spec.code_uri),
                    "layers": [str(layer) for layer in spec.layers],
                    "memory_mb": spec.memory_mb,
                    "timeout_s": spec.timeout_s,
                    "template": str(template_path.resolve()),
                    "parameters": parameters,
                    "overrides": overrides,
                    "event": event,
                    "request_id": request_id,
                    "region": region,
                    "result": str(result_path),
                    "state_dir": str(state_dir) if state_dir else None,
                }
            ),
            encoding="utf-8",
        )
        print(f"START RequestId: {request_id} Version: $LATEST", file=sys.stderr)
        try:
            finished = subprocess.run(  # noqa: S603 - our own interpreter and module
                [sys.executable, "-m", "dropzone_cli.lambda_child", str(spec_path)],
                cwd=spec.code_uri,
                env=_child_environment(spec, region),
                capture_output=True,
                text=True,
                timeout=spec.timeout_s + 120,  # the child enforces the function timeout
                check=False,
            )
        except subprocess.TimeoutExpired as error:
            raise CliError(
                f"{spec.logical_id}: the local runtime did not finish", exit_code=1
            ) from error
        if finished.stdout:
            sys.stderr.write(finished.stdout)
        if finished.stderr:
            sys.stderr.write(finished.stderr)
        if not result_path.is_file():
            raise CliError(
                f"{spec.logical_id}: the local runtime stopped before the handler finished "
                f"(exit status {finished.returncode}; its output is above)",
                exit_code=1,
            )
        outcome = json.loads(result_path.read_text(encoding="utf-8"))
    if outcome.get("setup_error"):
        raise CliError(f"{spec.logical_id}: {outcome['setup_error']}", exit_code=1)
    print(f"END RequestId: {request_id}", file=sys.stderr)
    print(report_line(request_id, spec.memory_mb, outcome), file=sys.stderr)
    # the function's answer is JSON already: every --output prints it as it is
    if outcome.get("error") is not None:
        printer.json(outcome["error"])
        return 1
    printer.json(outcome.get("result"))
    return 0


def report_line(request_id: str, memory_mb: int, outcome: dict[str, Any]) -> str:
    duration = float(outcome["duration_ms"])
    parts = [
        f"REPORT RequestId: {request_id}",
        f"Duration: {duration:.2f} ms",
        f"Billed Duration: {max(1, int(-(-duration // 1)))} ms",
        f"Memory Size: {memory_mb} MB",
        f"Max Memory Used: {int(outcome['max_memory_mb'])} MB",
        f"Init Duration: {float(outcome['init_ms']):.2f} ms",
    ]
    if outcome.get("timed_out"):
        parts.append("Status: timeout")
    return "\t".join(parts)
