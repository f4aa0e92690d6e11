"""`dropzone budget`: the daily budget's window of a saved local run (the admission function
run by the local cloud, with the budget the template passes it) and of a deployed stack
(moto's tables, CloudFormation stubbed)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import dropzone.observability  # noqa: F401 - Powertools' tracer, before sockets are blocked
from dropzone.clock import iso, utcnow
from dropzone.models.jobs import Job, JobKind, JobStatus, SourceObject
from dropzone.store.spend import DAY, SpendWindow
from dropzone.workflows.bedrock.budget import minute_after
from dropzone_cli import main
from dropzone_local import state
from dropzone_local.cloud import LocalCloud
from tests.support.bedrock import jsonl
from tests.support.cli import REGION, STACK, StubbedClients, stack_description
from tests.support.clock import ManualClock
from tests.support.fixtures import Stack


@pytest.fixture(autouse=True)
def _wide(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tables as wide as their rows, so that every table here is checked whole."""
    monkeypatch.setenv("COLUMNS", "250")


MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
QUIET = {"POWERTOOLS_LOG_LEVEL": "CRITICAL", "POWERTOOLS_METRICS_DISABLED": "true"}
FIRST, SECOND = "dz-" + "1" * 40 + "-p001", "dz-" + "2" * 40 + "-p001"
REMOTE = ["--stack", STACK, "--region", REGION]


def _queued(job_id: str, high: float | None, input_uri: str) -> Job:
    return Job(
        job_id=job_id,
        kind=JobKind.BEDROCK_BATCH,
        status=JobStatus.QUEUED,
        source=SourceObject(bucket="drop", key=f"bedrock-batch/{MODEL}/b/{job_id}.jsonl"),
        target=MODEL,
        options={"input_uri": input_uri, "invocation_type": "InvokeModel", "timeout_hours": 24},
        estimate={
            "records": 100,
            "input_tokens": 10_000,
            "max_output_tokens": 6_400,
            "mode": "batch",
            "price": "known" if high is not None else "unknown",
            "low_usd": None if high is None else high / 10,
            "high_usd": high,
            "prices_checked": "2026-11-30",
            "calibration": None,
        },
        created_at="",
        updated_at="",
    )


# -- a saved local run


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two queued jobs of up to $30 each under a $50 budget: admission submits the first
    and leaves the second waiting."""
    directory = tmp_path_factory.mktemp("state")
    with LocalCloud(
        parameters={"BedrockDailyBudgetUsd": "50"}, function_environment=QUIET
    ) as cloud:
        cloud.slow("bedrock", 100)  # the first job keeps running, holding its estimate
        results = cloud.results_bucket
        cloud.client("s3").put_object(
            Bucket=results, Key="bedrock-batch/staging/in/part.jsonl", Body=jsonl(100)
        )
        uri = f"s3://{results}/bedrock-batch/staging/in/part.jsonl"
        cloud.ledger().create(_queued(FIRST, 30.0, uri))
        cloud.advance(timedelta(seconds=1))  # queued one after the other
        cloud.ledger().create(_queued(SECOND, 30.0, uri))
        cloud.invoke("BedrockAdmissionFunction", {})
        cloud.run_until_idle()
        state.save(cloud, directory)
    return directory


def test_a_saved_run_shows_the_window_and_the_job_waiting(
    saved: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["budget", "--state-dir", str(saved)]) == 0
    out = capsys.readouterr().out
    loaded = state.load(saved)
    held = next(item for item in loaded.slot_items if item["model_id"]["S"] == "spend#window")
    reserved_at = int(held["entries"]["M"][FIRST]["M"]["at"]["N"])
    frees = minute_after(datetime.fromtimestamp(reserved_at, UTC) + DAY)
    lines = out.splitlines()
    assert lines[:4] == [
        "daily budget   $50.00 in any 24 hours (BedrockDailyBudgetUsd)",
        "spent          $30.00 by 1 job in the last 24 h, $30.00 of it held for jobs not yet ended",
        "room           $20.00",
        f"next ages out  {frees} ($30.00)",
    ]
    assert f"from local state saved {loaded.saved_at}" in lines[4]
    (by_model,) = [line for line in lines if line.startswith(MODEL)]
    assert by_model.split() == [MODEL, "1", "$30.00", "$30.00"]
    waiting = loaded.job(SECOND)
    assert waiting is not None and waiting.status is JobStatus.QUEUED
    (row,) = [line for line in lines if line.startswith(SECOND)]
    assert row.split() == [SECOND, MODEL, "$30.00", waiting.updated_at, frees]
    assert "waiting for the daily budget, oldest first (1):" in lines


def test_a_saved_run_as_json(saved: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["budget", "--local", "--state-dir", str(saved), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["cap_usd"], shown["spent_usd"], shown["room_usd"]) == (50.0, 30.0, 20.0)
    assert [(e["job_id"], e["model"], e["usd"], e["held"]) for e in shown["entries"]] == [
        (FIRST, MODEL, 30.0, True)
    ]
    assert shown["by_model"] == [
        {"model": MODEL, "jobs": 1, "spent_usd": 30.0, "held_usd": 30.0, "unknown_price_jobs": 0}
    ]
    (waiting,) = shown["waiting"]
    assert waiting["job_id"] == SECOND and waiting["up_to_usd"] == 30.0
    assert waiting["room_from"] == shown["entries"][0]["ages_out"]
    assert waiting["message"].startswith("waiting for the daily budget: $30.00 spent")


# -- a deployed stack


@pytest.fixture
def aws(stack: Stack) -> StubbedClients:
    clients = StubbedClients("cloudformation", real={"dynamodb": stack.dynamodb})
    clients["cloudformation"].add_response(
        "describe_stacks",
        stack_description(
            {"JobsTableName": stack.table_name, "AdmissionSlotsTableName": stack.slots_table},
            parameters={"BedrockDailyBudgetUsd": "20"},
        ),
        expected_params={"StackName": STACK},
    )
    return clients


def test_a_stack_shows_its_window_by_model_and_its_jobs_waiting_in_turn(
    stack: Stack, aws: StubbedClients, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a window with $12 held for one job and $3 an ended one cost, an hour ago
    hour_ago = utcnow().replace(microsecond=0) - timedelta(hours=1)
    window = SpendWindow(stack.slots_table, stack.dynamodb, clock=lambda: hour_ago)
    window.reserve(FIRST, 12.0, 20.0)
    window.add("dz-ended", 3.0)
    window.reserve("dz-unknown", None, 20.0)
    # and two jobs waiting, oldest first: $9, which fits once the $12 ages out, then $4,
    # which would fit now but goes no sooner than the job ahead of it
    clock = ManualClock()
    ledger = stack.ledger(clock=clock)
    for job_id, high in ((SECOND, 9.0), ("dz-third", 4.0)):
        ledger.create(_queued(job_id, high, "s3://r/staged/in.jsonl"))
        ledger.annotate(
            job_id,
            JobKind.BEDROCK_BATCH,
            JobStatus.QUEUED,
            updates={"message": "waiting for the daily budget: (as written then)"},
        )
        clock.tick(seconds=1)
    ledger.create(_queued("dz-not-waiting", 1.0, "s3://r/staged/in.jsonl"))
    running = _queued(FIRST, 12.0, "s3://r/staged/in.jsonl")
    ledger.create(running.model_copy(update={"status": JobStatus.RUNNING}))
    with aws.active():
        code = main(["budget", *REMOTE, "--json"], clients=aws)
    shown = json.loads(capsys.readouterr().out)
    # Then it shows the window as the table holds it
    assert code == 0
    assert shown["source"] == f"stack {STACK}"
    assert (shown["cap_usd"], shown["spent_usd"], shown["held_usd"]) == (20.0, 15.0, 12.0)
    assert (shown["room_usd"], shown["jobs"], shown["unknown_price_jobs"]) == (5.0, 3, 1)
    assert shown["next_ages_out"] == iso(hour_ago + DAY)
    assert shown["by_model"] == [
        {"model": MODEL, "jobs": 1, "spent_usd": 12.0, "held_usd": 12.0, "unknown_price_jobs": 0},
        {
            "model": "(not in the ledger)",
            "jobs": 2,
            "spent_usd": 3.0,
            "held_usd": 0.0,
            "unknown_price_jobs": 1,
        },
    ]
    # and each waiting job goes when the window has room for it, never before the one ahead
    ages_out = iso(hour_ago + DAY)
    assert [(w["job_id"], w["up_to_usd"], w["room_from"]) for w in shown["waiting"]] == [
        (SECOND, 9.0, ages_out),
        ("dz-third", 4.0, ages_out),
    ]


def test_a_stack_without_a_budget_says_so(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    aws = StubbedClients("cloudformation", real={"dynamodb": stack.dynamodb})
    aws["cloudformation"].add_response(
        "describe_stacks",
        stack_description(
            {"JobsTableName": stack.table_name, "AdmissionSlotsTableName": stack.slots_table},
            parameters={"BedrockDailyBudgetUsd": "0"},
        ),
    )
    with aws.active():
        assert main(["budget", *REMOTE], clients=aws) == 0
    out = capsys.readouterr().out
    assert out.startswith("no daily budget: stack dropzone-test has BedrockDailyBudgetUsd 0")
    assert "no spend is kept in a window" in out
    assert "spent" not in out  # no window: no figure that would read as nothing spent


def test_a_stack_without_the_bedrock_workflow_is_a_clear_error(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    aws = StubbedClients("cloudformation", real={"dynamodb": stack.dynamodb})
    aws["cloudformation"].add_response(
        "describe_stacks", stack_description({"JobsTableName": stack.table_name})
    )
    with aws.active():
        assert main(["budget", *REMOTE], clients=aws) == 2
    assert "no AdmissionSlotsTableName output" in capsys.readouterr().err
    assert main(["budget", "--local", *REMOTE]) == 2
    assert "--stack and --local exclude each other" in capsys.readouterr().err
