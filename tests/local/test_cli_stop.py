"""`dropzone stop` (jobs in moto's table, Bedrock Stubbed) and `dropzone edge deployments`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from dropzone.models.jobs import Job, JobKind, JobStatus, SourceObject
from dropzone.store.ledger import Ledger
from dropzone_cli import main
from tests.support.cli import REGION, STACK, StubbedClients, stack_description
from tests.support.fixtures import Stack, create_table

BEDROCK = JobKind.BEDROCK_BATCH
RUNNING_ID = "dz-" + "1" * 40
QUEUED_ID = "dz-" + "2" * 40
SAGEMAKER_ID = "dz-" + "3" * 40
PARENT_ID = "dz-" + "4" * 40
DONE_ID = "dz-" + "5" * 40
JOB_ARN = f"arn:aws:bedrock:{REGION}:123456789012:model-invocation-job/abc123"
REMOTE = ["--stack", STACK, "--region", REGION]


def _create(ledger: Ledger, job_id: str, kind: JobKind = BEDROCK, **extra: Any) -> None:
    ledger.create(
        Job(
            job_id=job_id,
            kind=kind,
            status=JobStatus.ACCEPTED,
            source=SourceObject(bucket="drop", key="bedrock-batch/m/b/x.jsonl", version_id="v"),
            target="anthropic.claude-3-haiku-20240307-v1:0",
            created_at="",
            updated_at="",
            **extra,
        )
    )


@pytest.fixture
def ledger(stack: Stack) -> Ledger:
    ledger = stack.ledger()
    _create(ledger, RUNNING_ID)
    ledger.transition(RUNNING_ID, BEDROCK, JobStatus.QUEUED)
    ledger.transition(RUNNING_ID, BEDROCK, JobStatus.SUBMITTED, updates={"job_arn": JOB_ARN})
    ledger.transition(RUNNING_ID, BEDROCK, JobStatus.RUNNING, service_status="InProgress")
    _create(ledger, QUEUED_ID)
    ledger.transition(QUEUED_ID, BEDROCK, JobStatus.QUEUED)
    _create(ledger, SAGEMAKER_ID, JobKind.SAGEMAKER_ASYNC)
    _create(ledger, PARENT_ID, children=[RUNNING_ID, QUEUED_ID])
    ledger.transition(PARENT_ID, BEDROCK, JobStatus.SUBMITTED)
    _create(ledger, DONE_ID)
    ledger.transition(DONE_ID, BEDROCK, JobStatus.FAILED, message="no")
    return ledger


@pytest.fixture
def aws(stack: Stack) -> StubbedClients:
    clients = StubbedClients("cloudformation", "bedrock", real={"dynamodb": stack.dynamodb})
    clients["cloudformation"].add_response(
        "describe_stacks",
        stack_description({"JobsTableName": stack.table_name}),
        expected_params={"StackName": STACK},
    )
    return clients


def test_a_running_bedrock_job_is_stopped_by_its_arn(
    ledger: Ledger, aws: StubbedClients, capsys: pytest.CaptureFixture[str]
) -> None:
    aws["bedrock"].add_response(
        "stop_model_invocation_job", {}, expected_params={"jobIdentifier": JOB_ARN}
    )
    with aws.active():
        code = main(["stop", RUNNING_ID, *REMOTE], clients=aws)
    assert code == 0
    assert f"stop requested for job {RUNNING_ID}: {JOB_ARN}" in capsys.readouterr().out
    job = ledger.get(RUNNING_ID)
    assert job is not None and job.status is JobStatus.RUNNING  # Bedrock's event settles it


@pytest.mark.parametrize(
    ("job_id", "code", "message"),
    [
        (SAGEMAKER_ID, 2, "is a sagemaker_async job: only bedrock_batch jobs can be stopped"),
        (QUEUED_ID, 1, "is QUEUED: Bedrock has no job for it yet"),
        (DONE_ID, 1, "has already ended: FAILED"),
        (
            PARENT_ID,
            2,
            f"split into 2 Bedrock jobs; stop the parts that are SUBMITTED or "
            f"RUNNING one by one: {RUNNING_ID} RUNNING, {QUEUED_ID} QUEUED",
        ),
        ("dz-" + "9" * 40, 1, "no job dz-9999"),
    ],
)
def test_jobs_that_cannot_be_stopped_are_refused_without_calling_bedrock(
    ledger: Ledger,
    aws: StubbedClients,
    capsys: pytest.CaptureFixture[str],
    job_id: str,
    code: int,
    message: str,
) -> None:
    with aws.active():
        assert main(["stop", job_id, *REMOTE], clients=aws) == code
    assert message in capsys.readouterr().err


def test_bedrock_refusing_is_a_clear_error(
    ledger: Ledger, aws: StubbedClients, capsys: pytest.CaptureFixture[str]
) -> None:
    aws["bedrock"].add_client_error(
        "stop_model_invocation_job",
        service_error_code="ResourceNotFoundException",
        service_message="no such job",
        http_status_code=404,
        expected_params={"jobIdentifier": JOB_ARN},
    )
    with aws.active():
        assert main(["stop", RUNNING_ID, *REMOTE], clients=aws) == 1
    assert f"Bedrock has no job {JOB_ARN}" in capsys.readouterr().err


EDGE_ENVIRONMENT = ("JOBS_TABLE", "EDGE_DEVICES_TABLE", "RESULTS_BUCKET", "AWS_DEFAULT_REGION")


@pytest.fixture
def edge(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """The stack's devices table; the edge environment restored after the test; the
    (device, fleet) pairs GetDeployments was asked about."""
    from dropzone.workflows.edge.answers import EdgeAnswers

    create_table(stack.dynamodb, "EdgeDevicesTable", "dropzone-devices")
    for name in EDGE_ENVIRONMENT:
        monkeypatch.setenv(name, os.environ.get(name, ""))  # undone after the test
    for name in EDGE_ENVIRONMENT[:3]:
        monkeypatch.delenv(name)
    asked: list[tuple[str, str]] = []
    original = EdgeAnswers.get_deployments

    def recorded(self: EdgeAnswers, device_name: str, fleet_name: str) -> dict[str, Any]:
        asked.append((device_name, fleet_name))
        return original(self, device_name, fleet_name)

    monkeypatch.setattr(EdgeAnswers, "get_deployments", recorded)
    return asked


def _edge_outputs(stack: Stack) -> dict[str, str]:
    return {
        "JobsTableName": stack.table_name,
        "EdgeDevicesTableName": "dropzone-devices",
        "ResultsBucketName": stack.results_bucket,
    }


def _edge_clients(stack: Stack, outputs: dict[str, str], name: str = STACK) -> StubbedClients:
    aws = StubbedClients("cloudformation", real={"dynamodb": stack.dynamodb})
    aws["cloudformation"].add_response(
        "describe_stacks",
        stack_description(outputs, name=name),
        expected_params={"StackName": name},
    )
    return aws


EDGE = ["edge", "deployments", "--fleet", "line-1", "--device", "cam-7"]


def test_edge_deployments_reads_the_stack_tables(
    stack: Stack, edge: list[tuple[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    aws = _edge_clients(stack, _edge_outputs(stack))
    with aws.active():
        code = main([*EDGE, *REMOTE], clients=aws)
    assert code == 0, capsys.readouterr().err
    assert capsys.readouterr().out.strip() == '{\n  "Deployments": []\n}'
    assert edge == [("cam-7", "line-1")]


def test_an_explicit_stack_wins_over_the_environment(
    stack: Stack,
    edge: list[tuple[str, str]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given an environment naming another deployment's tables (absent here)
    for name in EDGE_ENVIRONMENT[:3]:
        monkeypatch.setenv(name, f"other-{name.lower().replace('_', '-')}")
    aws = _edge_clients(stack, _edge_outputs(stack))
    with aws.active():
        code = main([*EDGE, *REMOTE], clients=aws)
    assert code == 0, capsys.readouterr().err
    assert capsys.readouterr().out.strip() == '{\n  "Deployments": []\n}'
    assert edge == [("cam-7", "line-1")]


def test_an_explicit_region_reads_the_configured_stack_not_the_environment(
    stack: Stack,
    edge: list[tuple[str, str]],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name in EDGE_ENVIRONMENT[:3]:
        monkeypatch.setenv(name, f"other-{name.lower().replace('_', '-')}")
    config = tmp_path / "samconfig.toml"
    config.write_text('version = 0.1\n[default.deploy.parameters]\nstack_name = "dz-edge"\n')
    aws = _edge_clients(stack, _edge_outputs(stack), name="dz-edge")
    with aws.active():
        code = main([*EDGE, "--region", REGION, "--config-file", str(config)], clients=aws)
    assert code == 0, capsys.readouterr().err
    assert edge == [("cam-7", "line-1")]


def test_a_named_stack_without_the_edge_tables_is_refused(
    stack: Stack, edge: list[tuple[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    outputs = {k: v for k, v in _edge_outputs(stack).items() if k != "EdgeDevicesTableName"}
    aws = _edge_clients(stack, outputs)
    with aws.active():
        code = main([*EDGE, *REMOTE], clients=aws)
    assert code == 1
    assert f"stack {STACK} has no output EdgeDevicesTableName" in capsys.readouterr().err
    assert edge == []


def test_without_stack_or_region_the_environment_names_the_tables(
    stack: Stack,
    edge: list[tuple[str, str]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name, value in _environment(stack).items():
        monkeypatch.setenv(name, value)
    aws = StubbedClients("cloudformation")  # asked nothing
    with aws.active():
        code = main(EDGE, clients=aws)
    assert code == 0, capsys.readouterr().err
    assert edge == [("cam-7", "line-1")]


def _environment(stack: Stack) -> dict[str, str]:
    return {
        "JOBS_TABLE": stack.table_name,
        "EDGE_DEVICES_TABLE": "dropzone-devices",
        "RESULTS_BUCKET": stack.results_bucket,
    }
