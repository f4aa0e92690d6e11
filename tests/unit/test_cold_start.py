"""The collector during a cold start (dropzone.cold_start): paused through init in Lambda,
init's heap frozen and collection resumed at the handler's first call; untouched elsewhere.

The collector's state is the process's, so each case runs in a fresh interpreter."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dropzone import cold_start

ROOT = Path(__file__).resolve().parents[2]
LAYER = ROOT / "layers" / "dropzone"
LAMBDA = {"AWS_EXECUTION_ENV": "AWS_Lambda_python3.13"}


def run(source: str, environ: dict[str, str]) -> dict[str, object]:
    """Run `source` in a fresh interpreter with the layer on its path; its last line of
    output, as JSON."""
    env = {key: value for key, value in os.environ.items() if key != "AWS_EXECUTION_ENV"}
    result = subprocess.run(
        [sys.executable, "-c", source],
        env={**env, **environ, "PYTHONPATH": f"{LAYER}{os.pathsep}{ROOT}"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    answer: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    return answer


FIRST_AND_SECOND_CALL = """
import gc, json
import dropzone
from dropzone import cold_start
after_import = {"enabled": gc.isenabled(), "frozen": gc.get_freeze_count()}
seen = []

@cold_start.released
def handler(event, context):
    seen.append({"enabled": gc.isenabled(), "frozen": gc.get_freeze_count()})
    if event == "fail":
        raise RuntimeError("the first event failed")
    return event

first = json.loads(__import__("sys").argv[1])
try:
    handler(first, None)
except RuntimeError:
    pass
kept = [object() for _ in range(10)]  # tracked after the first call: not frozen by the second
handler("second", None)
print(json.dumps({"after_import": after_import, "calls": seen, "enabled": gc.isenabled(),
                  "name": handler.__name__}))
"""


def test_in_lambda_import_pauses_the_collector_and_the_first_call_freezes_and_resumes() -> None:
    answer = run(FIRST_AND_SECOND_CALL.replace('__import__("sys").argv[1]', "'\"first\"'"), LAMBDA)
    assert answer["after_import"] == {"enabled": False, "frozen": 0}
    first, second = answer["calls"]  # type: ignore[misc]
    assert first["enabled"] is True and first["frozen"] > 1000  # init's heap, frozen
    # The second call freezes nothing more (frozen objects can still be freed).
    assert second["enabled"] is True and second["frozen"] <= first["frozen"]
    assert answer["enabled"] is True
    assert answer["name"] == "handler"


def test_a_first_event_that_fails_still_resumes_the_collector() -> None:
    answer = run(FIRST_AND_SECOND_CALL.replace('__import__("sys").argv[1]', "'\"fail\"'"), LAMBDA)
    first, second = answer["calls"]  # type: ignore[misc]
    assert first["enabled"] is True and first["frozen"] > 1000
    assert second["enabled"] is True and second["frozen"] <= first["frozen"]
    assert answer["enabled"] is True


@pytest.mark.parametrize(
    "environ",
    [{}, {"AWS_EXECUTION_ENV": "CloudShell"}, {"AWS_LAMBDA_FUNCTION_NAME": "Submit"}],
    ids=["no-variable", "another-service", "lambda-name-only"],
)
def test_outside_lambda_nothing_changes(environ: dict[str, str]) -> None:
    answer = run(FIRST_AND_SECOND_CALL.replace('__import__("sys").argv[1]', "'\"first\"'"), environ)
    assert answer["after_import"] == {"enabled": True, "frozen": 0}
    assert [call["frozen"] for call in answer["calls"]] == [0, 0]  # type: ignore[attr-defined]


def test_a_collector_the_host_paused_stays_paused() -> None:
    source = FIRST_AND_SECOND_CALL.replace('__import__("sys").argv[1]', "'\"first\"'")
    answer = run("import gc; gc.disable()\n" + source, LAMBDA)
    assert answer["after_import"] == {"enabled": False, "frozen": 0}
    assert answer["calls"] == [{"enabled": False, "frozen": 0}] * 2
    assert answer["enabled"] is False


IMPORT_EVERY_FUNCTION = """
import gc, importlib.util, json, pathlib, sys
LIBRARIES = ("boto3", "botocore", "pydantic", "pydantic_core", "aws_lambda_powertools")
late = []  # collections that started once a library had begun to load

def watch(phase, info):
    if phase == "start" and any(name in sys.modules for name in LIBRARIES):
        late.append(info["generation"])

gc.callbacks.append(watch)
import dropzone
collections = [generation["collections"] for generation in gc.get_stats()]
for app in sorted(pathlib.Path(sys.argv[1]).glob("*/app.py")):
    spec = importlib.util.spec_from_file_location(f"fn_{app.parent.name}", app)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
print(json.dumps({"enabled": gc.isenabled(),
                  "collections": [g["collections"] for g in gc.get_stats()],
                  "before": collections, "late": late,
                  "loaded": all(name in sys.modules for name in LIBRARIES)}))
"""


def test_importing_every_function_in_lambda_runs_no_collection() -> None:
    source = IMPORT_EVERY_FUNCTION.replace("sys.argv[1]", repr(str(ROOT / "functions")))
    answer = run(source, LAMBDA)
    assert answer["loaded"] is True
    assert answer["enabled"] is False
    assert answer["late"] == []  # none while dropzone, boto3, Powertools or pydantic load
    assert answer["collections"] == answer["before"]


IMPORTED_AGAIN = """
import gc, importlib, json, sys
import dropzone
from dropzone import cold_start

@cold_start.released
def handler(event, context):
    return gc.isenabled()

first = handler(None, None)
importlib.reload(dropzone)
after_reload = gc.isenabled()
for name in [name for name in sys.modules if name == "dropzone" or name.startswith("dropzone.")]:
    del sys.modules[name]
import dropzone
print(json.dumps({"first": first, "after_reload": after_reload, "after_import": gc.isenabled()}))
"""


def test_importing_dropzone_again_after_the_first_call_leaves_the_collector_running() -> None:
    assert run(IMPORTED_AGAIN, LAMBDA) == {
        "first": True,
        "after_reload": True,
        "after_import": True,
    }


THREADS = """
import gc, json, threading
import dropzone
from dropzone import cold_start

in_freeze, go, second_moved = threading.Event(), threading.Event(), threading.Event()
freezes = []
real_freeze = gc.freeze

def held_freeze():  # the first thread stays inside the release until the second has moved
    freezes.append(threading.current_thread().name)
    in_freeze.set()
    go.wait()
    real_freeze()

gc.freeze = held_freeze

class WatchedLock:
    def __init__(self):
        self.lock = threading.Lock()
    def __enter__(self):
        if threading.current_thread().name == "second":
            second_moved.set()  # about to wait for the first thread's release
        self.lock.acquire()
    def __exit__(self, *exc):
        self.lock.release()

cold_start._releasing = WatchedLock()
seen = {}

@cold_start.released
def handler(event, context):
    seen[event] = gc.isenabled()
    if event == "second":
        second_moved.set()

first = threading.Thread(target=handler, args=("first", None), name="first")
first.start()
in_freeze.wait()
second = threading.Thread(target=handler, args=("second", None), name="second")
second.start()
second_moved.wait()  # the second thread waits for the release, or (wrongly) ran already
go.set()
first.join()
second.join()
print(json.dumps({"seen": seen, "freezes": freezes, "enabled": gc.isenabled()}))
"""


def test_a_handler_called_from_two_threads_releases_once_before_either_event() -> None:
    answer = run(THREADS, LAMBDA)
    assert answer == {
        "seen": {"first": True, "second": True},
        "freezes": ["first"],
        "enabled": True,
    }


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("AWS_Lambda_python3.13", True),
        ("AWS_Lambda_python3.12", True),
        ("AWS_Lambda_rapid", True),
        ("", False),
        ("AWS_ECS_FARGATE", False),
        ("aws_lambda_python3.13", False),
    ],
)
def test_a_lambda_runtime_is_known_by_its_execution_env(value: str, expected: bool) -> None:
    assert cold_start.in_lambda({"AWS_EXECUTION_ENV": value}) is expected
    assert cold_start.in_lambda({}) is False
