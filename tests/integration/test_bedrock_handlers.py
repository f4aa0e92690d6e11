"""The Bedrock functions, driven through their handlers with their files from events/."""

from __future__ import annotations

import json
from typing import Any

import pytest

from dropzone.models.jobs import JobKind, JobStatus
from functions.bedrock_admission import app as admission_app
from functions.bedrock_finish import app as finish_app
from functions.bedrock_reconcile import app as reconcile_app
from functions.bedrock_state import app as state_app
from functions.bedrock_submit import app as submit_app
from tests.support.bedrock import BedrockWorld, jsonl, world
from tests.support.events import load_event
from tests.support.fixtures import Stack


@pytest.fixture
def w(stack: Stack) -> BedrockWorld:
    return world(stack)


def _submit_event(w: BedrockWorld, body: bytes) -> tuple[dict[str, Any], str]:
    event = load_event("bedrock_submit.json")
    s3_event = json.loads(event["Records"][0]["body"])
    key = s3_event["detail"]["object"]["key"]
    source = w.upload(key, body)
    s3_event["detail"]["bucket"]["name"] = w.stack.dropzone_bucket
    s3_event["detail"]["object"].update({"version-id": source.version_id, "size": len(body)})
    event["Records"][0]["body"] = json.dumps(s3_event)
    return event, key


def test_submit_handler(w: BedrockWorld, lambda_context: Any) -> None:
    event, _key = _submit_event(w, jsonl(150))
    result = submit_app.handler(event, lambda_context, submitter=w.submitter())
    assert result == {"batchItemFailures": []}
    (upload,) = list(w.ledger.by_state(JobKind.BEDROCK_BATCH, JobStatus.SUBMITTED))
    (job,) = list(w.ledger.by_state(JobKind.BEDROCK_BATCH, JobStatus.QUEUED))
    assert job.parent_id == upload.job_id
    assert job.counts["input_records"] == upload.counts["input_records"] == 150


def test_admission_handler(w: BedrockWorld, lambda_context: Any) -> None:
    event, _key = _submit_event(w, jsonl(150))
    submit_app.handler(event, lambda_context, submitter=w.submitter())
    result = admission_app.handler(
        load_event("bedrock_admission.json"), lambda_context, admission=w.admission()
    )
    assert result == {"submitted": 1, "rejected": 0, "full_models": 0, "waiting_for_budget": 0}


def test_state_handler_applies_what_bedrock_says(w: BedrockWorld, lambda_context: Any) -> None:
    event, _key = _submit_event(w, jsonl(150))
    submit_app.handler(event, lambda_context, submitter=w.submitter())
    w.admission().admit()
    (job,) = [
        job
        for job in w.ledger.by_state(JobKind.BEDROCK_BATCH, JobStatus.SUBMITTED)
        if job.parent_id
    ]
    w.fake.advance_until_idle()
    # The file in events/ names a job; point it at ours, as Bedrock would
    state = load_event("bedrock_state.json")
    detail = json.loads(state["Records"][0]["body"])
    detail["detail"].update(batchJobName=job.job_id, batchJobArn=job.model_extra["job_arn"])  # type: ignore[index]
    state["Records"][0]["body"] = json.dumps(detail)
    result = state_app.handler(state, lambda_context, tracker=w.tracker())
    assert result == {"batchItemFailures": []}
    final = w.ledger.get(job.job_id)
    assert final is not None and final.status is JobStatus.SUCCEEDED


def test_finish_handler_writes_the_result_once_the_jobs_have_ended(
    w: BedrockWorld, lambda_context: Any
) -> None:
    event, _key = _submit_event(w, jsonl(150))
    submit_app.handler(event, lambda_context, submitter=w.submitter())
    (upload,) = list(w.ledger.by_state(JobKind.BEDROCK_BATCH, JobStatus.SUBMITTED))
    finish = load_event("bedrock_finish.json")
    finish["upload_id"] = upload.job_id
    assert finish_app.handler(finish, lambda_context, finisher=w.finisher()) == {
        "upload_id": upload.job_id,
        "outcome": "waiting",
    }
    w.admission().admit()
    w.fake.advance_until_idle()
    w.deliver_events()
    result = finish_app.handler(finish, lambda_context, finisher=w.finisher())
    assert result == {"upload_id": upload.job_id, "outcome": "finished"}
    assert len(w.result_lines(upload.job_id)) == 150


def test_state_handler_ignores_jobs_it_did_not_start(w: BedrockWorld, lambda_context: Any) -> None:
    result = state_app.handler(
        load_event("bedrock_state.json"), lambda_context, tracker=w.tracker()
    )
    assert result == {"batchItemFailures": []}


def test_reconcile_handler(w: BedrockWorld, lambda_context: Any) -> None:
    result = reconcile_app.handler(
        load_event("bedrock_reconcile.json"), lambda_context, reconciler=w.reconciler()
    )
    assert result == {"refreshed": 0, "slots_freed": 0, "stopped_late": 0, "errors": 0}


def test_handlers_built_from_the_environment_refuse_a_missing_setting(
    stack: Stack, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dropzone.errors import ConfigurationError

    monkeypatch.setenv("JOBS_TABLE", stack.table_name)
    monkeypatch.setenv("RESULTS_BUCKET", stack.results_bucket)
    monkeypatch.setenv("SLOTS_TABLE", stack.slots_table)
    monkeypatch.delenv("BEDROCK_ROLE_ARN", raising=False)
    admission_app.default_admission.cache_clear()
    with pytest.raises(ConfigurationError, match="BEDROCK_ROLE_ARN"):
        admission_app.handler(load_event("bedrock_admission.json"), lambda_context)
