"""`dropzone jobs result`: a Bedrock upload's result file, from a saved local run and from a
deployed stack's results bucket (moto)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

import dropzone.observability  # noqa: F401 - Powertools' tracer, before sockets are blocked
from dropzone.models.jobs import Job, JobKind, JobStatus, SourceObject
from dropzone.workflows.bedrock.estimate import usd
from dropzone_cli import main
from dropzone_local import state
from dropzone_local.cloud import LocalCloud
from tests.support.bedrock import MODEL, jsonl
from tests.support.cli import (
    STACK,
    StubbedClients,
    stack_description,
)
from tests.support.fixtures import Stack


@pytest.fixture(autouse=True)
def _wide(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tables as wide as their rows, so that every table here is checked whole."""
    monkeypatch.setenv("COLUMNS", "250")


QUIET = {"POWERTOOLS_LOG_LEVEL": "CRITICAL", "POWERTOOLS_METRICS_DISABLED": "true"}
REMOTE = ["--stack", STACK, "--region", "us-east-1"]


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A local run with a Bedrock upload of 120 records, one failing, and a SageMaker job."""
    directory = tmp_path_factory.mktemp("state")
    with LocalCloud(function_environment=QUIET) as cloud:
        cloud.put_object(f"bedrock-batch/{MODEL}/reviews/in.jsonl", jsonl(120, failing={5}))
        cloud.put_object("sagemaker-async/churn-model/empty.json", b"")
        cloud.run_until_idle()
        state.save(cloud, directory)
    return directory


def _upload(saved: Path) -> Job:
    (upload,) = [job for job in state.load(saved).jobs() if job.children]
    return upload


def test_the_result_of_a_saved_run_is_written_to_a_file(saved: Path, tmp_path: Path) -> None:
    upload = _upload(saved)
    target = tmp_path / "result.jsonl"
    # a part's id (here a leading part of it) stands for its upload
    part = upload.children[0]
    assert main(["jobs", "result", part, "--state-dir", str(saved), "-o", str(target)]) == 0
    lines = [json.loads(line) for line in target.read_text().splitlines()]
    assert [line["line"] for line in lines] == list(range(1, 121))
    assert [line["recordId"] for line in lines if "error" in line] == ["r000005"]


def test_the_result_goes_to_standard_output_by_default(
    saved: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    upload = _upload(saved)
    assert main(["jobs", "result", upload.job_id[:12], "--local", "--state-dir", str(saved)]) == 0
    out = capsysbinary.readouterr().out
    assert out.count(b"\n") == 120 and out.startswith(b'{"line":1,')


def test_a_failed_fetch_leaves_the_file_as_it_was(saved: Path, tmp_path: Path) -> None:
    target = tmp_path / "keep.txt"
    target.write_text("precious")
    assert (
        main(["jobs", "result", "dz-" + "0" * 40, "--state-dir", str(saved), "-o", str(target)])
        == 1
    )
    assert target.read_text() == "precious"
    assert [path.name for path in tmp_path.iterdir()] == ["keep.txt"]  # nothing left beside


def test_a_fetch_that_breaks_midway_leaves_the_file_as_it_was(
    saved: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dropzone_cli import jobs
    from dropzone_cli.common import CliError

    def broken(*_: object) -> Iterator[bytes]:
        yield b'{"line":1}\n'
        raise CliError("the connection was lost", exit_code=1)

    monkeypatch.setattr(jobs, "_result_chunks", broken)
    target = tmp_path / "keep.txt"
    target.write_text("precious")
    upload = _upload(saved)
    assert (
        main(["jobs", "result", upload.job_id, "--state-dir", str(saved), "-o", str(target)]) == 1
    )
    assert target.read_text() == "precious"
    assert [path.name for path in tmp_path.iterdir()] == ["keep.txt"]


def test_a_job_without_a_result_file_is_refused(
    saved: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (rejected,) = [job for job in state.load(saved).jobs() if job.kind is JobKind.SAGEMAKER_ASYNC]
    assert main(["jobs", "result", rejected.job_id, "--state-dir", str(saved)]) == 2
    assert "not a Bedrock batch upload" in capsys.readouterr().err


def test_the_result_of_a_deployed_stack_is_read_from_its_bucket(
    stack: Stack, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    ledger = stack.ledger()
    upload_id = "dz-" + "e" * 40
    key = f"bedrock-batch/results/{upload_id}.jsonl"
    body = b'{"line":1,"modelOutput":{"text":"hi"}}\n'
    stack.s3_client.put_object(Bucket=stack.results_bucket, Key=key, Body=body)
    ledger.create(
        Job(
            job_id=upload_id,
            kind=JobKind.BEDROCK_BATCH,
            status=JobStatus.ACCEPTED,
            source=SourceObject(bucket="drop", key=f"bedrock-batch/{MODEL}/b/in.jsonl"),
            target=MODEL,
            created_at="",
            updated_at="",
        )
    )
    parts = {"children": [f"{upload_id}-p001"]}
    ledger.transition(upload_id, JobKind.BEDROCK_BATCH, JobStatus.SUBMITTED, updates=parts)
    clients = StubbedClients(
        "cloudformation", real={"dynamodb": stack.dynamodb, "s3": stack.s3_client}
    )
    describe = stack_description({"JobsTableName": stack.table_name})
    clients["cloudformation"].add_response("describe_stacks", describe)
    with clients.active():
        # while its jobs run there is no result yet
        assert main(["jobs", "result", upload_id, *REMOTE], clients=clients) == 1
    ledger.transition(
        upload_id,
        JobKind.BEDROCK_BATCH,
        JobStatus.SUCCEEDED,
        updates={"output_location": f"s3://{stack.results_bucket}/{key}"},
    )
    clients["cloudformation"].add_response("describe_stacks", describe)
    capsysbinary.readouterr()
    with clients.active():
        assert main(["jobs", "result", upload_id, *REMOTE], clients=clients) == 0
    assert capsysbinary.readouterr().out == body


def test_list_and_show_give_a_bedrock_uploads_estimate_and_cost(
    saved: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    upload = _upload(saved)
    assert upload.estimate is not None and upload.cost is not None
    low, high = upload.estimate["low_usd"], upload.estimate["high_usd"]
    assert (
        main(["jobs", "list", "--local", "--state-dir", str(saved), "--kind", "bedrock_batch"]) == 0
    )
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.startswith("JOB ID"))
    assert " COST " in header
    upload_row = next(line for line in out.splitlines() if line.startswith(upload.job_id))
    assert f" {usd(upload.cost['usd'])} " in upload_row  # ended: what it cost
    assert main(["jobs", "show", upload.job_id, "--local", "--state-dir", str(saved)]) == 0
    out = capsys.readouterr().out
    estimate_line = next(line for line in out.splitlines() if line.startswith("estimate "))
    assert f"{usd(low)} to {usd(high)} (120 records, about " in estimate_line
    assert "at batch prices checked " in estimate_line
    assert "; calibration: 5 records counted by CountTokens, ratio " in estimate_line
    cost_line = next(line for line in out.splitlines() if line.startswith("cost "))
    assert f"{usd(upload.cost['usd'])} ({upload.cost['input_tokens']:,} input and " in cost_line
