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
import dropzone
collections = [generation["collections"] for generation in gc.get_stats()]
for app in sorted(pathlib.Path(sys.argv[1]).glob("*/app.py")):
    spec = importlib.util.spec_from_file_location(f"fn_{app.parent.name}", app)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
print(json.dumps({"enabled": gc.isenabled(),
                  "collections": [g["collections"] for g in gc.get_stats()],
                  "before": collections}))
"""


def test_importing_every_function_in_lambda_runs_no_collection() -> None:
    source = IMPORT_EVERY_FUNCTION.replace("sys.argv[1]", repr(str(ROOT / "functions")))
    answer = run(source, LAMBDA)
    assert answer["enabled"] is False
    assert answer["collections"] == answer["before"]


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
