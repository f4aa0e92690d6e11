"""Cold start plus first event of every function, against a bare handler doing the same AWS work.

    python benchmarks/cold.py record <function>   # untimed: one recording, JSON on stdout

Two steps, so that neither side pays for the stand-in for AWS inside its clock:

1. record (untimed, this script). As `dropzone invoke` does: an offline LocalCloud (moto and
   the model-checked stand-ins) provisions template.yaml and its nested stacks, the function
   gets its environment as the template resolves it against that cloud, its app.py is loaded
   and its handler run once with its events/<function>.json. Every AWS call it makes, from
   its import to its answer, is written down: the service, the operation, the parameters it
   passed and the answer the local cloud gave, as HTTP (status, headers, body) or, for the
   stand-ins that answer before the request is sent, as the parsed response.

2. replay (timed, run.py spawns the children from CHILD_SOURCE). A fresh interpreter with
   the function's environment answers each request, in order, with the recorded HTTP
   answer from a botocore before-send hook, so botocore still builds, signs and sends every
   request and parses every answer, and nothing leaves the process.
     function  imports functions/<function>/app.py and calls handler(event, context): init
               plus the first event, Powertools, tracing and pydantic included;
     baseline  imports boto3, creates the same clients with dropzone.aws.RETRY_CONFIG and
               makes the same calls, in order, with the same parameters (an error answer is
               caught and ignored): the AWS work of that first event, nothing else.
"""

from __future__ import annotations

import base64
import json
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULT_MARKER = "dropzone-bench-result "

# Parameters that create each function its Condition would leave out by default.
OPTIONAL_FUNCTIONS = [
    "EdgeManagerSync=Enabled",
    "EdgeEndpoint=Enabled",
    "BedrockOnDemand=Enabled",
    "BedrockPriceRefresh=Enabled",
]


def function_names() -> list[str]:
    """Every function of the stack, by its directory under functions/."""
    return sorted(path.parent.name for path in (ROOT / "functions").glob("*/app.py"))


# -- JSON for parameters and answers (bytes and timestamps survive the round trip) -----------


def encode(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return {"__bytes__": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, datetime):
        return {"__datetime__": value.isoformat()}
    if isinstance(value, dict):
        return {str(key): encode(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [encode(item) for item in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if hasattr(value, "read"):  # a stream the caller passed: what it held
        position = value.tell() if hasattr(value, "tell") else None
        data = value.read()
        if position is not None:
            value.seek(position)
        return encode(data if isinstance(data, bytes) else str(data).encode())
    raise TypeError(f"cannot record a {type(value).__name__} parameter")


# Decoding lives in CHILD_SOURCE (the children import nothing of the benchmark's).


# -- 1. record -------------------------------------------------------------------------------


def record(name: str) -> dict[str, Any]:
    import importlib.util

    import boto3

    from dropzone_cli.invoke import load_template, local_function
    from dropzone_local.cloud import LocalCloud
    from dropzone_local.lambda_context import LambdaContext

    template_path = ROOT / "template.yaml"
    spec = local_function(load_template(template_path), template_path, name)
    calls: list[dict[str, Any]] = []
    clients: list[str] = []
    pending: dict[int, dict[str, Any]] = {}
    recording = False

    def note_params(params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        if recording:
            call = {"service": model.service_model.service_name, "operation": model.name}
            call["params"] = encode(params)
            pending[id(context)] = call

    def note_sent(request: Any, **_: Any) -> None:
        if recording and id(request.context) in pending:
            pending[id(request.context)]["sent"] = True

    def note_answer(http_response: Any, parsed: Any, context: dict[str, Any], **_: Any) -> None:
        call = pending.pop(id(context), None)
        if call is None:
            return
        if call.pop("sent", False):
            raw = http_response.raw
            body = raw.getvalue() if hasattr(raw, "getvalue") else http_response.content
            call["http"] = {
                "status": http_response.status_code,
                "headers": dict(http_response.headers),
                "body": base64.b64encode(body).decode(),
            }
        else:  # a stand-in answered before-call: no request was sent
            call["parsed"] = encode(parsed)
        calls.append(call)

    original_client = boto3.session.Session.client

    def client(self: Any, service_name: str, *args: Any, **kwargs: Any) -> Any:
        made = original_client(self, service_name, *args, **kwargs)
        if recording:
            clients.append(service_name)
            made.meta.events.register("before-parameter-build", note_params)
            made.meta.events.register("request-created", note_sent)
            made.meta.events.register("after-call", note_answer)
        return made

    boto3.session.Session.client = client  # type: ignore[method-assign]

    with LocalCloud(template_path) as probe:
        parameters = (
            {}
            if spec.logical_id in probe.functions
            else dict(item.split("=", 1) for item in OPTIONAL_FUNCTIONS)
        )
    with LocalCloud(template_path, parameters=parameters) as cloud:
        function = cloud.functions[spec.logical_id]
        os.environ.update(function.environment)
        # the shared logger and metrics were built before the function's environment was set
        from dropzone.observability import logger, metrics

        logger.append_keys(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "dropzone"))
        metrics.service = os.environ.get("POWERTOOLS_SERVICE_NAME", "dropzone")
        metrics.namespace = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "")
        event = json.loads((ROOT / "events" / f"{name}.json").read_text())
        recording = True
        module_spec = importlib.util.spec_from_file_location(
            f"functions.{name}.app", ROOT / "functions" / name / "app.py"
        )
        assert module_spec is not None and module_spec.loader is not None
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[module_spec.name] = module
        module_spec.loader.exec_module(module)
        if "pricing" in clients or name == "bedrock_prices":
            from dropzone.adapters.pricing import price_list_client

            cloud.price_list.attach(price_list_client())
        context = LambdaContext(
            function_name=spec.logical_id,
            timeout_seconds=float(spec.timeout_s),
            memory_limit_in_mb=spec.memory_mb,
        )
        answer = module.handler(event, context)
        recording = False
    return {
        "function": name,
        "logical_id": spec.logical_id,
        "memory_mb": spec.memory_mb,
        "timeout_s": spec.timeout_s,
        "parameters": parameters,
        "environment": function.environment,
        "clients": sorted(set(clients)),
        "calls": calls,
        "answer": encode(json.loads(json.dumps(answer, default=str))),
    }


# -- 2. replay: the source of every timed child ----------------------------------------------
#
# Formatted with: recording (the file holding a record() run's JSON), side ("function" or
# "baseline"), config (dropzone.aws.RETRY_CONFIG as keywords). Runs after run.py's preamble
# (the layer-only guard and the runtime bootstrap's imports) and sets t0 itself, after
# installing the replay.

CHILD_SOURCE = r'''
import base64 as _b64, io as _io, sys, time
from datetime import datetime as _dt
_REC = json.loads(open({recording!r}).read())
_ANSWERS = list(_REC["calls"])

def _decode(value):
    if isinstance(value, dict):
        if set(value) == {{"__bytes__"}}:
            return _b64.b64decode(value["__bytes__"])
        if set(value) == {{"__datetime__"}}:
            return _dt.fromisoformat(value["__datetime__"])
        return {{key: _decode(item) for key, item in value.items()}}
    if isinstance(value, list):
        return [_decode(item) for item in value]
    return value

def _next(event_name):
    if not _ANSWERS:
        raise RuntimeError(f"replay: no recorded answer left for {{event_name}}")
    call = _ANSWERS.pop(0)
    operation = event_name.rsplit(".", 1)[-1]
    if operation != call["operation"]:
        raise RuntimeError(f"replay: {{event_name}}, but the recording has {{call['operation']}}")
    return call

class _Raw(_io.BytesIO):
    def stream(self, **_):
        data = self.read()
        while data:
            yield data
            data = self.read()

class _Sent:
    status_code = 200
    headers = {{}}
    content = b""

def _answer_sent(request, event_name, **_):
    call = _next(event_name)
    from botocore.awsrequest import AWSResponse, HeadersDict
    http = call["http"]
    return AWSResponse(request.url, http["status"], HeadersDict(http["headers"]),
                       _Raw(_b64.b64decode(http["body"])))

def _answer_call(event_name, **_):
    if _ANSWERS and "parsed" in _ANSWERS[0]:
        return _Sent(), _decode(_next(event_name)["parsed"])
    return None

class _Replay:
    """Appends the replay to botocore's built-in handlers when botocore.handlers loads."""
    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name != "botocore.handlers":
            return None
        sys.meta_path.remove(cls)
        spec = importlib.util.find_spec(name)
        run = spec.loader.exec_module
        def exec_module(module):
            run(module)
            module.BUILTIN_HANDLERS.append(("before-call", _answer_call))
            module.BUILTIN_HANDLERS.append(("before-send", _answer_sent))
        spec.loader.exec_module = exec_module
        return spec
sys.meta_path.insert(0, _Replay)

class _Context:
    def __init__(self, rec):
        self.function_name = rec["logical_id"]
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = rec["memory_mb"]
        self.invoked_function_arn = (
            "arn:aws:lambda:us-east-1:123456789012:function:" + rec["logical_id"])
        self.aws_request_id = "0b6f8a4e-6c1d-4f5e-9a3b-1c2d3e4f5a6b"
        self.log_group_name = "/aws/lambda/" + rec["logical_id"]
        self.log_stream_name = "2026/11/25/[$LATEST]0123456789abcdef"
        self._deadline = time.monotonic() + rec["timeout_s"]
    def get_remaining_time_in_millis(self):
        return int(max(0.0, self._deadline - time.monotonic()) * 1000)

_EVENT = json.loads(open({event!r}).read())
_CONTEXT = _Context(_REC)
if "importtime" in sys._xoptions:
    sys.stderr.write({t0_marker!r} + "\n")
t0, c0 = time.perf_counter(), time.process_time()
if {side!r} == "function":
    spec = importlib.util.spec_from_file_location({module!r}, {path!r})
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    t1 = time.perf_counter()
    module.handler(_EVENT, _CONTEXT)
else:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import ClientError
    config = Config(**{config!r})
    clients = {{name: boto3.client(name, config=config) for name in _REC["clients"]}}
    t1 = time.perf_counter()
    for call in _REC["calls"]:
        client = clients.get(call["service"]) or boto3.client(call["service"], config=config)
        try:
            client._make_api_call(call["operation"], _decode(call["params"]))
        except ClientError:
            pass
t2, c2 = time.perf_counter(), time.process_time()
if _ANSWERS:
    raise RuntimeError(f"replay: {{len(_ANSWERS)}} recorded calls were not made")
sys.stdout.flush()
print({marker!r} + json.dumps({{"total": t2 - t0, "init": t1 - t0, "event": t2 - t1,
                               "cpu": c2 - c0}}), flush=True)
'''


def child_source(
    recording: dict[str, Any], path: Path, side: str, config: dict[str, Any], t0: str
) -> str:
    """The timed child's source; `path` holds the recording, read before the clock starts."""
    name = recording["function"]
    return CHILD_SOURCE.format(
        recording=str(path),
        side=side,
        config=config,
        event=str(ROOT / "events" / f"{name}.json"),
        module=f"functions.{name}.app",
        path=str(ROOT / "functions" / name / "app.py"),
        marker=RESULT_MARKER,
        t0_marker=t0,
    )


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] != "record" or argv[1] not in function_names():
        print(f"usage: python benchmarks/cold.py record {{{','.join(function_names())}}}")
        return 2
    real_stdout = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    sys.stdout = sys.stderr  # the function's logs are not the recording
    os.dup2(sys.stderr.fileno(), 1)
    recording = record(argv[1])
    real_stdout.write(json.dumps(recording) + "\n")
    real_stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
