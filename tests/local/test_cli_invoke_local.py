"""`dropzone invoke` locally: every function of template.yaml, each in a fresh process, no
Docker, on an offline local cloud; and the runtime's behaviour on a small template."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from dropzone_cli import main
from dropzone_local.template import load_template

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = load_template(ROOT / "template.yaml")
GLOBALS = TEMPLATE.get("Globals", {}).get("Function", {})
FUNCTIONS = sorted(
    logical_id
    for logical_id, resource in TEMPLATE["Resources"].items()
    if resource["Type"] == "AWS::Serverless::Function"
)
REPORT = re.compile(
    r"^REPORT RequestId: (?P<id>[0-9a-f-]{36})\tDuration: \d+\.\d\d ms\t"
    r"Billed Duration: \d+ ms\tMemory Size: (?P<memory>\d+) MB\tMax Memory Used: \d+ MB\t"
    r"Init Duration: \d+\.\d\d ms(?P<status>\tStatus: timeout)?$",
    re.MULTILINE,
)


# Parameter values that create each function its Condition would leave out by default:
# every workflow is on by default; the Edge Manager sync, Bedrock on demand and the Bedrock
# price refresh are not.
CONDITION_PARAMETERS = {
    "SageMakerAsyncEnabled": [],
    "BedrockBatchEnabled": [],
    "ModelPackagingEnabled": [],
    "EdgeDeploymentEnabled": [],
    "EdgeDeploymentEnabledAndEdgeManagerSyncEnabled": ["EdgeManagerSync=Enabled"],
    "EdgeDeploymentEnabledAndEdgeEndpointEnabled": ["EdgeEndpoint=Enabled"],
    "BedrockBatchEnabledAndOnDemandEnabled": ["BedrockOnDemand=Enabled"],
    "BedrockBatchEnabledAndPriceRefreshEnabled": ["BedrockPriceRefresh=Enabled"],
}


def _parameters(logical_id: str) -> list[str]:
    condition = TEMPLATE["Resources"][logical_id].get("Condition")
    if condition is None:
        return []
    assert condition in CONDITION_PARAMETERS, f"add the parameters that enable {condition}"
    overrides = CONDITION_PARAMETERS[condition]
    return ["--parameter-overrides", *overrides] if overrides else []


def _directory(logical_id: str) -> str:
    properties = TEMPLATE["Resources"][logical_id]["Properties"]
    return Path(properties.get("CodeUri", GLOBALS.get("CodeUri", "."))).name


def _memory(logical_id: str) -> int:
    properties = TEMPLATE["Resources"][logical_id]["Properties"]
    return int(properties.get("MemorySize", GLOBALS.get("MemorySize", 128)))


@dataclass(frozen=True)
class Run:
    code: int
    stdout: str
    stderr: str


def _cli(*arguments: str) -> Run:
    """`dropzone …` as an operator runs it: its own process (which starts the function's)."""
    finished = subprocess.run(
        [sys.executable, "-m", "dropzone_cli", *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    return Run(finished.returncode, finished.stdout, finished.stderr)


@pytest.fixture(scope="module")
def every_function() -> dict[str, Run]:
    """Every function invoked once with its events/ file, one fresh process each; two at
    a time per CPU so the whole template takes seconds, not a minute."""

    def invoke(logical_id: str) -> Run:
        event = f"events/{_directory(logical_id)}.json"
        return _cli("invoke", logical_id, "-e", event, *_parameters(logical_id))

    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        return dict(zip(FUNCTIONS, pool.map(invoke, FUNCTIONS), strict=True))


@pytest.mark.parametrize("logical_id", FUNCTIONS)
def test_every_function_runs_locally_with_its_event(
    every_function: dict[str, Run], logical_id: str
) -> None:
    assert (ROOT / "events" / f"{_directory(logical_id)}.json").is_file(), "no sample event"
    run = every_function[logical_id]
    assert run.code == 0, run.stderr[-3000:]
    result = json.loads(run.stdout)  # the handler's answer, alone on standard output
    assert isinstance(result, dict | list | None)
    report = REPORT.search(run.stderr)
    assert report is not None, run.stderr[-3000:]
    assert int(report["memory"]) == _memory(logical_id)
    assert report["status"] is None
    assert f"START RequestId: {report['id']} Version: $LATEST" in run.stderr
    assert f"END RequestId: {report['id']}" in run.stderr


def test_a_function_its_condition_leaves_out_is_refused(
    capsys: pytest.CaptureFixture[str],
) -> None:
    off_by_default = [
        f for f in FUNCTIONS if CONDITION_PARAMETERS.get(TEMPLATE["Resources"][f].get("Condition"))
    ]
    # created only with BedrockOnDemand=Enabled, BedrockPriceRefresh=Enabled,
    # EdgeManagerSync=Enabled and EdgeEndpoint=Enabled
    assert off_by_default == [
        "BedrockOnDemandFunction",
        "BedrockPricesFunction",
        "EdgeEndpointFunction",
        "EdgeSyncFunction",
    ]
    assert main(["invoke", off_by_default[0]]) == 2
    assert "--parameter-overrides" in capsys.readouterr().err
    # A switched-off workflow's functions are refused the same way
    assert (
        main(
            ["invoke", "BedrockSubmitFunction", "--parameter-overrides", "EnableBedrockBatch=false"]
        )
        == 2
    )
    assert "BedrockBatchEnabled" in capsys.readouterr().err


def test_an_unknown_function_lists_the_known_ones(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["invoke", "NoSuchFunction"]) == 2
    err = capsys.readouterr().err
    assert "no function 'NoSuchFunction' in template.yaml" in err
    assert "SageMakerSubmitFunction (sagemaker_submit)" in err


def test_an_unreadable_event_is_a_clear_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"Records": [')
    assert main(["invoke", "SageMakerSubmitFunction", "-e", str(broken)]) == 2
    assert "not JSON (line 1" in capsys.readouterr().err
    assert main(["invoke", "SageMakerSubmitFunction", "-e", str(tmp_path / "none.json")]) == 2
    assert "No such file or directory" in capsys.readouterr().err


# -- the runtime, on a small template of its own ---------------------------------------------

SMALL_TEMPLATE = """\
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Parameters:
  Greeting:
    Type: String
    Default: hello
Globals:
  Function:
    Runtime: python3.13
    Handler: app.handler
    Timeout: 1
    MemorySize: 128
    Layers:
      - !Ref SharedLayer
    Environment:
      Variables:
        GREETING: !Ref Greeting
        MOOD: calm
Resources:
  SharedLayer:
    Type: AWS::Serverless::LayerVersion
    Properties:
      ContentUri: layer/
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions:
        - {AttributeName: id, AttributeType: S}
      KeySchema:
        - {AttributeName: id, KeyType: HASH}
  EchoFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: echo/
      Handler: main.answer
      MemorySize: 192
      Environment:
        Variables:
          TABLE: !Ref Table
  BoomFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: boom/
  SleepyFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: sleepy/
  SetFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: set/
  NetworkFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: network/
"""

HANDLERS = {
    "echo/main.py": """
        import os
        import sys

        import boto3
        import shared

        def answer(event, context):
            item = {"id": {"S": "one"}}
            client = boto3.client("dynamodb")
            client.put_item(TableName=os.environ["TABLE"], Item=item)
            stored = client.get_item(TableName=os.environ["TABLE"], Key=item)["Item"]
            print("a log line")
            return {
                "event": event,
                "greeting": os.environ["GREETING"],
                "mood": os.environ["MOOD"],
                "stored": stored == item,
                "shared": shared.VALUE,
                "path_head": sys.path[:2],
                "function_name": context.function_name,
                "memory": context.memory_limit_in_mb,
                "time_left": 0 < context.get_remaining_time_in_millis() <= 1000,
                "task_root": os.environ["LAMBDA_TASK_ROOT"],
                "has_real_profile": "AWS_PROFILE" in os.environ,
            }
        """,
    "boom/app.py": """
        def handler(event, context):
            raise ValueError("the input has no rows")
        """,
    "sleepy/app.py": """
        import time

        def handler(event, context):
            time.sleep(5)
        """,
    "set/app.py": """
        def handler(event, context):
            return {1, 2}
        """,
    "network/app.py": """
        import socket

        def handler(event, context):
            socket.create_connection(("192.0.2.1", 443), timeout=0.5)
        """,
    "layer/shared.py": """
        VALUE = "from the layer"
        """,
}


@pytest.fixture(scope="module")
def small_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("small")
    (root / "template.yaml").write_text(SMALL_TEMPLATE)
    for name, source in HANDLERS.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))
    (root / "event.json").write_text('{"rows": [1, 2]}')
    return root / "template.yaml"


@pytest.fixture(scope="module")
def failing_runs(small_template: Path) -> dict[str, Run]:
    """The functions that fail, each in its own process, side by side."""
    names = ["BoomFunction", "SleepyFunction", "SetFunction", "NetworkFunction"]
    with ThreadPoolExecutor(max_workers=len(names)) as pool:
        runs = pool.map(lambda name: _cli(*_small(small_template, name)), names)
        return dict(zip(names, runs, strict=True))


def _small(template: Path, function: str, *extra: str) -> list[str]:
    return ["invoke", function, "--template", str(template), *extra]


def test_the_function_gets_its_code_layers_environment_and_a_local_cloud(
    small_template: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an --env-vars file (sam's format) and a parameter override
    monkeypatch.setenv("AWS_PROFILE", "production")  # the caller's shell stays out
    event = str(small_template.parent / "event.json")
    env_vars = small_template.parent / "env.json"
    env_vars.write_text(
        json.dumps({"Parameters": {"MOOD": "bright"}, "EchoFunction": {"NOPE": "1"}})
    )
    overrides = ["--env-vars", str(env_vars), "--parameter-overrides", "Greeting=hi"]
    # When the function is named by its CodeUri directory, in this process's main()
    code = main(_small(small_template, "echo", "-e", event, *overrides))
    # Then
    captured = capsys.readouterr()
    assert code == 0, captured.err
    code_uri = str(small_template.parent / "echo")
    assert json.loads(captured.out) == {
        "event": {"rows": [1, 2]},
        "greeting": "hi",
        "mood": "bright",
        "stored": True,
        "shared": "from the layer",
        "path_head": [code_uri, str(small_template.parent / "layer")],
        "function_name": "EchoFunction",
        "memory": 192,
        "time_left": True,
        "task_root": code_uri,
        "has_real_profile": False,
    }
    assert "a log line" in captured.err
    assert "NOPE is not declared for EchoFunction; ignored" in captured.err
    assert "\tMemory Size: 192 MB\t" in captured.err


def test_a_raising_handler_answers_as_lambda_does(failing_runs: dict[str, Run]) -> None:
    run = failing_runs["BoomFunction"]
    assert run.code == 1
    error = json.loads(run.stdout)
    assert error["errorType"] == "ValueError"
    assert error["errorMessage"] == "the input has no rows"
    assert any("boom/app.py" in frame for frame in error["stackTrace"])
    assert REPORT.search(run.stderr) is not None


def test_the_timeout_is_enforced(failing_runs: dict[str, Run]) -> None:
    run = failing_runs["SleepyFunction"]
    assert run.code == 1
    assert json.loads(run.stdout)["errorMessage"] == "Task timed out after 1.00 seconds"
    report = REPORT.search(run.stderr)
    assert report is not None
    assert report["status"] == "\tStatus: timeout"


def test_an_answer_that_is_not_json_is_a_marshal_error(failing_runs: dict[str, Run]) -> None:
    run = failing_runs["SetFunction"]
    assert run.code == 1
    assert json.loads(run.stdout)["errorType"] == "Runtime.MarshalError"


def test_the_function_cannot_reach_the_network(failing_runs: dict[str, Run]) -> None:
    run = failing_runs["NetworkFunction"]
    assert run.code == 1
    assert "runs offline" in json.loads(run.stdout)["errorMessage"]


def test_env_vars_must_be_flat(small_template: Path, capsys: pytest.CaptureFixture[str]) -> None:
    env_vars = small_template.parent / "env.json"
    env_vars.write_text('{"EchoFunction": {"TABLE": {"Ref": "x"}}}')
    assert main(_small(small_template, "EchoFunction", "--env-vars", str(env_vars))) == 2
    assert "EchoFunction.TABLE must be a string or number" in capsys.readouterr().err
