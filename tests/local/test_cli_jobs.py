"""`dropzone jobs list|show`: against a stack's table (moto) and a saved local run."""

from __future__ import annotations

import json
import random
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import dropzone.observability  # noqa: F401 - Powertools' tracer, before sockets are blocked
from dropzone.models.jobs import Job, JobKind, JobStatus, SourceObject
from dropzone.store.ledger import Ledger
from dropzone_cli import main
from dropzone_local import state
from dropzone_local.cloud import LocalCloud
from tests.support.cli import REGION, STACK, StubbedClients, stack_description
from tests.support.fixtures import Stack


@pytest.fixture(autouse=True)
def _wide(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tables as wide as their rows, so that every table here is checked whole."""
    monkeypatch.setenv("COLUMNS", "250")


def _job(job_id: str, kind: JobKind, target: str, key: str) -> Job:
    return Job(
        job_id=job_id,
        kind=kind,
        status=JobStatus.ACCEPTED,
        source=SourceObject(bucket="drop", key=key, version_id="v1", size=10),
        target=target,
        created_at="",
        updated_at="",
    )


ID_A = "dz-" + "a" * 40
ID_B = "dz-" + "b" * 40
ID_C = "dz-" + "c" * 40


@pytest.fixture
def ledger(stack: Stack) -> Ledger:
    """Three jobs: a SageMaker job SUCCEEDED, a Bedrock job RUNNING, a SageMaker job
    REJECTED."""
    ledger = stack.ledger()
    sagemaker, bedrock = JobKind.SAGEMAKER_ASYNC, JobKind.BEDROCK_BATCH
    ledger.create(_job(ID_A, sagemaker, "churn-model", "sagemaker-async/churn-model/a.json"))
    ledger.transition(ID_A, sagemaker, JobStatus.SUBMITTED, service_status="Accepted")
    ledger.transition(ID_A, sagemaker, JobStatus.SUCCEEDED, message="output written")
    ledger.create(_job(ID_B, bedrock, "anthropic.claude", "bedrock-batch/m/b/b.jsonl"))
    ledger.transition(ID_B, bedrock, JobStatus.QUEUED)
    ledger.transition(ID_B, bedrock, JobStatus.SUBMITTED, updates={"job_arn": "arn:job/b"})
    ledger.transition(ID_B, bedrock, JobStatus.RUNNING, service_status="InProgress")
    ledger.create(_job(ID_C, sagemaker, "no-model", "sagemaker-async/no-model/c.json"))
    ledger.transition(ID_C, sagemaker, JobStatus.REJECTED, message="unknown endpoint")
    return ledger


@pytest.fixture
def aws(stack: Stack) -> StubbedClients:
    """CloudFormation stubbed (it names the table); DynamoDB is moto's, every call seen."""
    clients = StubbedClients("cloudformation", real={"dynamodb": stack.dynamodb})
    clients["cloudformation"].add_response(
        "describe_stacks",
        stack_description({"JobsTableName": stack.table_name}),
        expected_params={"StackName": STACK},
    )
    return clients


@pytest.fixture
def dynamodb_calls(stack: Stack) -> list[tuple[str, dict[str, Any]]]:
    calls: list[tuple[str, dict[str, Any]]] = []

    def record(model: Any, params: dict[str, Any], **_: Any) -> None:
        calls.append((model.name, params))

    stack.dynamodb.meta.events.register("provide-client-params.dynamodb.*", record)
    yield calls  # type: ignore[misc]
    stack.dynamodb.meta.events.unregister("provide-client-params.dynamodb.*", record)


REMOTE = ["--stack", STACK, "--region", REGION]


def test_list_with_filters_uses_the_by_state_index(
    ledger: Ledger,
    aws: StubbedClients,
    dynamodb_calls: list[tuple[str, dict[str, Any]]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    with aws.active():
        code = main(
            ["jobs", "list", "--kind", "bedrock_batch", "--status", "running", *REMOTE], clients=aws
        )
    out = capsys.readouterr().out
    assert code == 0
    assert ID_B in out and ID_A not in out and ID_C not in out
    assert [name for name, _ in dynamodb_calls] == ["Query"]
    assert dynamodb_calls[0][1]["IndexName"] == "by-state"
    assert dynamodb_calls[0][1]["ExpressionAttributeValues"] == {
        ":sk": {"S": "bedrock_batch#RUNNING"}
    }


def test_list_by_status_alone_queries_each_kind(
    ledger: Ledger,
    aws: StubbedClients,
    dynamodb_calls: list[tuple[str, dict[str, Any]]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    with aws.active():
        code = main(["jobs", "list", "--status", "SUCCEEDED", "--json", *REMOTE], clients=aws)
    listed = json.loads(capsys.readouterr().out)
    assert code == 0
    assert [job["job_id"] for job in listed] == [ID_A]
    assert listed[0]["history"][-1]["message"] == "output written"
    keys = {params["ExpressionAttributeValues"][":sk"]["S"] for _, params in dynamodb_calls}
    assert keys == {f"{kind}#SUCCEEDED" for kind in JobKind}
    assert {name for name, _ in dynamodb_calls} == {"Query"}


def test_list_without_filters_scans_newest_first(
    ledger: Ledger,
    aws: StubbedClients,
    dynamodb_calls: list[tuple[str, dict[str, Any]]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    with aws.active():
        code = main(["jobs", "list", "--json", *REMOTE], clients=aws)
    listed = json.loads(capsys.readouterr().out)
    assert code == 0
    assert [job["job_id"] for job in listed] == [ID_C, ID_B, ID_A]
    assert {name for name, _ in dynamodb_calls} == {"Scan"}


def test_list_limit_says_more_match(
    ledger: Ledger, aws: StubbedClients, capsys: pytest.CaptureFixture[str]
) -> None:
    with aws.active():
        code = main(
            ["jobs", "list", "--kind", "sagemaker_async", "--limit", "1", *REMOTE], clients=aws
        )
    out = capsys.readouterr().out
    assert code == 0
    assert ID_C in out and ID_A not in out
    assert "1 job (more match" in out


@pytest.mark.parametrize("limit", [3, 0])
def test_list_without_filters_finds_the_newest_in_a_shuffled_scan(
    stack: Stack,
    aws: StubbedClients,
    capsys: pytest.CaptureFixture[str],
    limit: int,
) -> None:
    # Given 9 jobs, one updated a minute after the other, that the scan returns shuffled
    ids = [f"dz-{number:040x}" for number in range(1, 10)]
    start = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
    for minute, job_id in enumerate(ids):
        ledger = stack.ledger(clock=lambda minute=minute: start + timedelta(minutes=minute))
        ledger.create(_job(job_id, JobKind.SAGEMAKER_ASYNC, "m", f"sagemaker-async/m/{job_id}"))
    newest_first = ids[::-1]
    order = list(ids)
    random.Random(7).shuffle(order)
    assert set(order[:3]) != set(newest_first[:3])  # the first items are not the newest

    def shuffled(parsed: dict[str, Any], **_: Any) -> None:
        by_id = {item["job_id"]["S"]: item for item in parsed.get("Items", [])}
        parsed["Items"] = [by_id[job_id] for job_id in order if job_id in by_id]

    stack.dynamodb.meta.events.register("after-call.dynamodb.Scan", shuffled)
    try:
        with aws.active():
            code = main(["jobs", "list", "--json", "--limit", str(limit), *REMOTE], clients=aws)
    finally:
        stack.dynamodb.meta.events.unregister("after-call.dynamodb.Scan", shuffled)
    listed = [job["job_id"] for job in json.loads(capsys.readouterr().out)]
    assert code == 0
    assert listed == (newest_first[:limit] if limit else newest_first)


def test_show_prints_the_record_and_its_history(
    ledger: Ledger, aws: StubbedClients, capsys: pytest.CaptureFixture[str]
) -> None:
    with aws.active():
        code = main(["jobs", "show", ID_B[:12], *REMOTE], clients=aws)  # a leading part
    out = capsys.readouterr().out
    assert code == 0
    assert re.search(rf"^job_id +{ID_B}$", out, re.MULTILINE)
    assert re.search(r"^job_arn +arn:job/b$", out, re.MULTILINE)
    assert "history (4 transitions):" in out
    lines = [line.split() for line in out.splitlines()]
    assert [line[1] for line in lines if line and line[0].startswith("20")] == [
        "ACCEPTED",
        "QUEUED",
        "SUBMITTED",
        "RUNNING",
    ]


def test_show_json_and_a_missing_job(
    ledger: Ledger, aws: StubbedClients, capsys: pytest.CaptureFixture[str]
) -> None:
    aws["cloudformation"].add_response(
        "describe_stacks", stack_description({"JobsTableName": ledger.table_name})
    )
    with aws.active():
        assert main(["jobs", "show", ID_C, "--json", *REMOTE], clients=aws) == 0
        assert json.loads(capsys.readouterr().out)["message"] == "unknown endpoint"
        assert main(["jobs", "show", "dz-" + "f" * 40, *REMOTE], clients=aws) == 1
    assert f"no job dz-{'f' * 40} in table {ledger.table_name}" in capsys.readouterr().err


def test_the_stack_and_region_come_from_samconfig(
    ledger: Ledger, stack: Stack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "samconfig.toml"
    config.write_text(
        'version = 0.1\n[prod.global.parameters]\nstack_name = "dropzone-prod"\n'
        'region = "eu-west-1"\n'
    )
    aws = StubbedClients("cloudformation", real={"dynamodb": stack.dynamodb})
    aws["cloudformation"].add_response(
        "describe_stacks",
        stack_description({"JobsTableName": stack.table_name}, name="dropzone-prod"),
        expected_params={"StackName": "dropzone-prod"},
    )
    with aws.active():
        code = main(
            ["jobs", "list", "--config-file", str(config), "--config-env", "prod"], clients=aws
        )
    assert code == 0
    assert "from table dropzone-jobs" in capsys.readouterr().out


# -- a saved local run -----------------------------------------------------------------------

QUIET = {"POWERTOOLS_LOG_LEVEL": "CRITICAL", "POWERTOOLS_METRICS_DISABLED": "true"}


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A local run with one job that succeeds and one rejected, saved to disk."""
    directory = tmp_path_factory.mktemp("state")
    with LocalCloud(function_environment=QUIET) as cloud:
        cloud.add_endpoint("churn-model")
        cloud.put_object("sagemaker-async/churn-model/in.json", b'{"x": 1}')
        cloud.put_object("sagemaker-async/churn-model/empty.json", b"")
        cloud.run_until_idle()
        state.save(cloud, directory)
    return directory


def test_state_round_trip(saved: Path) -> None:
    loaded = state.load(saved)
    statuses = sorted(str(job.status) for job in loaded.jobs())
    assert statuses == ["REJECTED", "SUCCEEDED"]
    assert len(loaded.status_events) == sum(len(job.history) for job in loaded.jobs())
    dropped = [o for o in loaded.objects if o.key == "sagemaker-async/churn-model/in.json"]
    assert dropped and dropped[0].body == b'{"x": 1}' and dropped[0].size == 8


def test_list_and_show_a_saved_local_run(saved: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["jobs", "list", "--state-dir", str(saved), "--status", "REJECTED"]) == 0
    out = capsys.readouterr().out
    assert "REJECTED" in out and "SUCCEEDED" not in out
    assert "from local state saved" in out
    (rejected,) = [job for job in state.load(saved).jobs() if job.status is JobStatus.REJECTED]
    assert main(["jobs", "show", rejected.job_id, "--local", "--state-dir", str(saved)]) == 0
    out = capsys.readouterr().out
    assert "history (2 transitions):" in out
    assert f"report {rejected.report_location}" in out  # the saved report's body
    assert '"problems"' in out
