"""The fresh process behind `dropzone invoke` (local): one cold start, one invocation.

Started as `python -m dropzone_cli.lambda_child <invocation.json>` with the function's
CodeUri and layer directories on PYTHONPATH. It brings up an offline LocalCloud (moto and
the model-checked fakes), takes the function's environment as the template resolves it
against that cloud, imports the handler module as Lambda does (a top-level module of
CodeUri), runs it once within its timeout, and writes the outcome to the result file.
Everything the function prints goes to standard error, like its logs.
"""

from __future__ import annotations

import importlib
import json
import os
import resource
import signal
import socket
import sys
import time
import traceback
from pathlib import Path
from types import FrameType
from typing import Any

from dropzone_local.lambda_context import LambdaContext


class _TimedOut(BaseException):
    """Raised in the handler when its timeout passes (a BaseException, so handlers that
    catch Exception cannot swallow it)."""


def _refuse_network() -> None:
    """Offline means offline: any attempt to open a network connection fails."""
    original_connect = socket.socket.connect
    original_connect_ex = socket.socket.connect_ex

    def allowed(sock: socket.socket) -> bool:
        return sock.family == getattr(socket, "AF_UNIX", None)

    def connect(sock: socket.socket, address: Any) -> None:
        if not allowed(sock):
            raise OSError(f"dropzone invoke runs offline: no connection to {address}")
        original_connect(sock, address)

    def connect_ex(sock: socket.socket, address: Any) -> int:
        if not allowed(sock):
            raise OSError(f"dropzone invoke runs offline: no connection to {address}")
        return original_connect_ex(sock, address)

    socket.socket.connect = connect  # type: ignore[method-assign,assignment]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign,assignment]


def _error(error: BaseException, request_id: str) -> dict[str, Any]:
    frames = traceback.extract_tb(error.__traceback__)
    return {
        "errorMessage": str(error),
        "errorType": type(error).__name__,
        "requestId": request_id,
        "stackTrace": traceback.format_list(frames),
    }


def run(spec: dict[str, Any]) -> dict[str, Any]:
    from dropzone_local.cloud import LocalCloud

    outcome: dict[str, Any] = {"result": None, "error": None, "timed_out": False}
    request_id = str(spec["request_id"])
    with LocalCloud(Path(spec["template"]), parameters=spec["parameters"]) as cloud:
        function = cloud.functions.get(spec["logical_id"])
        if function is None:
            return {"setup_error": f"the local cloud has no {spec['logical_id']}"}
        if spec.get("state_dir"):
            from dropzone_local.state import load, seed

            seed(cloud, load(Path(spec["state_dir"])))
        os.environ.update({**function.environment, **spec["overrides"]})
        # moto has no Price List: the stand-in answers the function's own client
        from dropzone.adapters.pricing import price_list_client

        cloud.price_list.attach(price_list_client())
        # the shared logger and metrics were built before the function's environment was set
        from dropzone.observability import logger, metrics

        logger.append_keys(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "dropzone"))
        metrics.service = os.environ.get("POWERTOOLS_SERVICE_NAME", "dropzone")
        metrics.namespace = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "")
        module_name, _, handler_name = str(spec["handler"]).rpartition(".")
        init_started = time.perf_counter()
        handler = getattr(importlib.import_module(module_name), handler_name)
        outcome["init_ms"] = (time.perf_counter() - init_started) * 1000
        context = LambdaContext(
            function_name=spec["logical_id"],
            timeout_seconds=float(spec["timeout_s"]),
            memory_limit_in_mb=int(spec["memory_mb"]),
            region=cloud.region,
            aws_request_id=request_id,
        )

        def expire(_signal: int, _frame: FrameType | None) -> None:
            raise _TimedOut

        signal.signal(signal.SIGALRM, expire)
        started = time.perf_counter()
        signal.setitimer(signal.ITIMER_REAL, float(spec["timeout_s"]))
        try:
            result = handler(spec["event"], context)
        except _TimedOut:
            outcome["timed_out"] = True
            outcome["error"] = {
                "errorType": "Sandbox.Timedout",
                "errorMessage": f"Task timed out after {float(spec['timeout_s']):.2f} seconds",
                "requestId": request_id,
            }
        except Exception as error:  # the function's own failure is its answer
            outcome["error"] = _error(error, request_id)
        else:
            try:
                json.dumps(result)  # Lambda answers JSON: fail here as it would
                outcome["result"] = result
            except (TypeError, ValueError) as error:
                outcome["error"] = {
                    **_error(error, request_id),
                    "errorType": "Runtime.MarshalError",
                }
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        outcome["duration_ms"] = (time.perf_counter() - started) * 1000
    outcome["max_memory_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return outcome


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m dropzone_cli.lambda_child <invocation.json>", file=sys.stderr)
        return 2
    spec = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    sys.stdout = sys.stderr  # the function's prints and logs are not its answer
    _refuse_network()
    front = [spec["code_uri"], *spec["layers"]]  # /var/task, then the layers, as in Lambda
    sys.path[:] = front + [path for path in sys.path if path not in front and path != ""]
    outcome = run(spec)
    Path(spec["result"]).write_text(json.dumps(outcome, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
