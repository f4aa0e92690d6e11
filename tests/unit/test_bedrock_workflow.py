from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dropzone.local.bedrock import UnreliableDelivery
from dropzone.models.jobs import JobStatus
from tests.support.bedrock import MODEL, ROLE, BedrockWorld, jsonl, world
from tests.support.fixtures import Stack

KEY = f"bedrock-batch/{MODEL}/reviews/part-1.jsonl"


@pytest.fixture
def w(stack: Stack) -> BedrockWorld:
    return world(stack)


def _read(w: BedrockWorld, uri: str) -> bytes:
    bucket, _, key = uri[5:].partition("/")
    return w.stack.s3_client.get_object(Bucket=bucket, Key=key)["Body"].read()  # type: ignore[no-any-return]


def test_a_valid_file_is_staged_under_a_safe_key_and_queued(w: BedrockWorld) -> None:
    # Given a valid input whose key holds a model id with a colon
    source = w.upload(KEY, jsonl(120))
    # When it is submitted
    job = w.submitter().submit(source)
    # Then it waits for a slot, staged where Bedrock accepts it, and admission was started
    assert job.status is JobStatus.QUEUED
    assert job.target == MODEL
    assert job.counts == {"input_records": 120, "input_bytes": len(jsonl(120))}
    staged = job.options["input_uri"]
    assert ":" not in staged.removeprefix("s3://")
    assert _read(w, staged) == jsonl(120)
    (call,) = w.lambda_client.invocations
    assert call["InvocationType"] == "Event"
    assert call["FunctionName"] == "dropzone-BedrockAdmissionFunction"
    assert call["Payload"] == {"model_id": MODEL}


def test_a_duplicate_upload_event_queues_nothing_new(w: BedrockWorld) -> None:
    source = w.upload(KEY, jsonl(120))
    first = w.submitter().submit(source)
    second = w.submitter().submit(source)
    assert first.job_id == second.job_id
    assert len(w.lambda_client.invocations) == 1


def test_a_file_over_the_limits_is_split_into_child_jobs(stack: Stack) -> None:
    w = world(stack, max_records_per_file=100, min_records_per_job=10)
    source = w.upload(KEY, jsonl(250))
    parent = w.submitter().submit(source)
    assert parent.status is JobStatus.SUBMITTED
    assert len(parent.children) == 3
    children = [w.ledger.get(child_id) for child_id in parent.children]
    assert all(child is not None and child.status is JobStatus.QUEUED for child in children)
    assert all(child.parent_id == parent.job_id for child in children if child)
    staged = b"".join(_read(w, child.options["input_uri"]) for child in children if child)
    assert staged == jsonl(250)  # nothing lost, nothing duplicated, order kept
    assert sum(child.counts["input_records"] for child in children if child) == 250


@pytest.mark.parametrize(
    ("key", "body", "metadata", "reason"),
    [
        (f"bedrock-batch/{MODEL}/b/in.csv", b"a,b\n", {}, "must be .jsonl files"),
        ("bedrock-batch/Not A Model/b/in.jsonl", jsonl(120), {}, "is not a Bedrock model id"),
        (
            f"bedrock-batch/{MODEL}/in.jsonl",
            jsonl(120),
            {},
            "expected bedrock-batch/<ModelId>/<batch-name>",
        ),
        (KEY, jsonl(120), {"timeout-hours": "12"}, "greater than or equal to 24"),
        (KEY, jsonl(120), {"timeout-hours": "200"}, "less than or equal to 168"),
        (KEY, jsonl(120), {"invocation-type": "Streaming"}, "must be one of InvokeModel, Converse"),
        (KEY, b"", {}, "empty (0 bytes)"),
        (KEY, jsonl(99), {}, "at least 100"),
        (KEY, jsonl(120) + b"{not json\n", {}, "line 121"),
    ],
)
def test_bad_input_is_rejected_with_its_reason_and_a_report(
    w: BedrockWorld, key: str, body: bytes, metadata: dict[str, str], reason: str
) -> None:
    job = w.submitter().submit(w.upload(key, body, metadata))
    assert job.status is JobStatus.REJECTED
    assert job.message is not None and reason in job.message
    report = json.loads(_read(w, job.report_location or ""))
    assert reason in report["reason"]
    assert w.lambda_client.invocations == []


def _queue(w: BedrockWorld, count: int) -> list[str]:
    ids = []
    for index in range(count):
        source = w.upload(
            f"bedrock-batch/{MODEL}/b{index}/in.jsonl", jsonl(100, prefix=f"j{index}-")
        )
        ids.append(w.submitter().submit(source).job_id)
    return ids


def test_admission_fills_the_free_slots_in_order_and_no_more(w: BedrockWorld) -> None:
    ids = _queue(w, 5)
    summary = w.admission().admit(MODEL)
    assert (summary.submitted, summary.full_models) == (3, 1)
    statuses = [w.ledger.get(job_id).status for job_id in ids]  # type: ignore[union-attr]
    assert statuses == [JobStatus.SUBMITTED] * 3 + [JobStatus.QUEUED] * 2
    assert w.slots().holders(MODEL) == set(ids[:3])
    request = w.fake.create_calls[0]
    job = w.ledger.get(ids[0])
    assert job is not None
    assert request["jobName"] == ids[0] and request["clientRequestToken"] == ids[0]
    assert request["roleArn"] == ROLE
    assert request["modelId"] == MODEL
    assert request["inputDataConfig"]["s3InputDataConfig"]["s3Uri"] == job.options["input_uri"]
    assert request["outputDataConfig"]["s3OutputDataConfig"]["s3Uri"].startswith(
        f"s3://{w.stack.results_bucket}/bedrock-batch/outputs/{ids[0]}/"
    )
    assert request["timeoutDurationInHours"] == 24
    assert request["modelInvocationType"] == "InvokeModel"
    assert {"key": "dropzone:job-id", "value": ids[0]} in request["tags"]


@pytest.mark.parametrize("code", ["ServiceQuotaExceededException", "ThrottlingException"])
def test_backpressure_leaves_the_job_queued_and_frees_its_slot(w: BedrockWorld, code: str) -> None:
    (job_id,) = _queue(w, 1)
    w.fake.inject_faults(code)
    summary = w.admission().admit(MODEL)
    assert summary.submitted == 0
    assert w.ledger.get(job_id).status is JobStatus.QUEUED  # type: ignore[union-attr]
    assert w.slots().holders(MODEL) == set()
    assert w.admission().admit(MODEL).submitted == 1  # the next run gets it through
    assert len({call["clientRequestToken"] for call in w.fake.create_calls}) == 1


def test_a_job_bedrock_refuses_is_rejected(w: BedrockWorld) -> None:
    (job_id,) = _queue(w, 1)
    w.fake.inject_faults("ValidationException")
    w.admission().admit(MODEL)
    job = w.ledger.get(job_id)
    assert job is not None and job.status is JobStatus.REJECTED
    assert job.message is not None and "Bedrock refused the job" in job.message
    assert w.slots().holders(MODEL) == set()


def _run_to_the_end(w: BedrockWorld) -> None:
    tracker = w.tracker()
    for _ in range(50):
        w.admission().admit()
        w.fake.advance()
        w.deliver_events(tracker)
        if not w.fake.in_flight and not list(w.ledger.by_state(w_kind(), JobStatus.QUEUED)):
            return


def w_kind() -> Any:
    from dropzone.models.jobs import JobKind

    return JobKind.BEDROCK_BATCH


def test_a_job_is_tracked_to_success_with_counts_and_tokens(w: BedrockWorld) -> None:
    (job_id,) = _queue(w, 1)
    _run_to_the_end(w)
    job = w.ledger.get(job_id)
    assert job is not None
    assert job.status is JobStatus.SUCCEEDED
    assert job.service_status == "Completed"
    assert job.counts["succeeded_records"] == 100
    assert job.counts["failed_records"] == 0
    assert job.counts["input_tokens"] > 0 and job.counts["output_tokens"] > 0
    assert job.failure_location is None
    history = [t.status for t in job.history]
    assert history[:3] == [JobStatus.ACCEPTED, JobStatus.QUEUED, JobStatus.SUBMITTED]
    assert JobStatus.RUNNING in history
    assert w.slots().holders(MODEL) == set()


def test_failed_records_become_a_valid_retry_file(w: BedrockWorld) -> None:
    source = w.upload(KEY, jsonl(120, failing={3, 50, 119}))
    job_id = w.submitter().submit(source).job_id
    _run_to_the_end(w)
    job = w.ledger.get(job_id)
    assert job is not None
    assert job.status is JobStatus.PARTIALLY_SUCCEEDED
    assert job.counts["failed_records"] == 3
    retry = [json.loads(line) for line in _read(w, job.failure_location or "").splitlines()]
    assert sorted(item["recordId"] for item in retry) == ["r000003", "r000050", "r000119"]
    assert all(set(item) == {"recordId", "modelInput"} for item in retry)


def test_a_split_parent_settles_when_its_children_end(stack: Stack) -> None:
    w = world(stack, max_records_per_file=100, min_records_per_job=10)
    source = w.upload(KEY, jsonl(250, failing={249}))
    parent_id = w.submitter().submit(source).job_id
    _run_to_the_end(w)
    parent = w.ledger.get(parent_id)
    assert parent is not None
    assert parent.status is JobStatus.PARTIALLY_SUCCEEDED
    assert parent.message == "3 parts: 1 PARTIALLY_SUCCEEDED, 2 SUCCEEDED"
    assert parent.counts["succeeded_records"] == 249
    assert parent.counts["failed_records"] == 1


def test_state_events_of_jobs_dropzone_did_not_start_are_ignored(w: BedrockWorld) -> None:
    event = {
        "source": "aws.bedrock",
        "detail-type": "Batch Inference Job State Change",
        "detail": {
            "batchJobName": "someone-elses-job",
            "batchJobArn": (
                "arn:aws:bedrock:us-east-1:123456789012:model-invocation-job/abcdefabcdef"
            ),
            "status": "Completed",
        },
    }
    w.events.append(event)
    assert w.deliver_events() == 1
    assert w.fake.create_calls == []


@pytest.mark.parametrize("seed", range(5))
def test_duplicated_missing_and_reordered_events_still_end_every_job_truly(
    stack: Stack, seed: int
) -> None:
    # Given events that are dropped, held back and duplicated
    w = world(stack)
    captured = w.events
    unreliable = UnreliableDelivery(captured.append, seed=seed, drop=0.3, hold=0.3, duplicate=0.3)
    w.fake.deliver = unreliable
    ids = _queue(w, 4)
    failing_source = w.upload(
        f"bedrock-batch/{MODEL}/bad/in.jsonl", jsonl(100, failing=set(range(100)))
    )
    ids.append(w.submitter().submit(failing_source).job_id)
    tracker = w.tracker()
    # When everything runs, held events are released late and out of order, and the
    # reconciler sweeps each hour of a clock that runs ahead
    later = datetime.now(UTC)
    for round_number in range(40):
        w.admission().admit()
        w.fake.advance()
        w.deliver_events(tracker)
        if round_number % 5 == 4:
            unreliable.flush()
            w.deliver_events(tracker)
        later += timedelta(hours=1)
        moment = later
        w.reconciler(clock=lambda moment=moment: moment).run()
    # Then every job holds the status Bedrock gave it, and every slot is free
    for job_id in ids:
        job = w.ledger.get(job_id)
        assert job is not None
        truth = w.fake.get_model_invocation_job(jobIdentifier=job.model_extra["job_arn"])["status"]  # type: ignore[index]
        expected = {"Completed": JobStatus.SUCCEEDED, "Failed": JobStatus.FAILED}[truth]
        assert job.status is expected, (job_id, truth, [t.status for t in job.history])
    assert w.slots().holders(MODEL) == set()


def test_the_reconciler_frees_a_slot_leaked_by_a_job_that_ended_unseen(w: BedrockWorld) -> None:
    (job_id,) = _queue(w, 1)
    w.admission().admit(MODEL)
    w.ledger.transition(job_id, w_kind(), JobStatus.STOPPED, message="stopped elsewhere")
    assert w.slots().holders(MODEL) == {job_id}
    summary = w.reconciler().run()
    assert summary["slots_freed"] == 1
    assert w.slots().holders(MODEL) == set()


def test_a_part_bedrock_refuses_still_lets_its_parent_settle(stack: Stack) -> None:
    w = world(stack, max_records_per_file=100, min_records_per_job=10)
    parent_id = w.submitter().submit(w.upload(KEY, jsonl(200))).job_id
    w.fake.inject_faults("ValidationException", "ValidationException")
    w.admission().admit()
    parent = w.ledger.get(parent_id)
    assert parent is not None
    assert parent.status is JobStatus.FAILED
    assert parent.message == "2 parts: 2 REJECTED"


def test_inconsistent_limits_fail_at_cold_start(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dropzone.errors import ConfigurationError
    from dropzone.workflows.bedrock_batch import BedrockSubmitter

    for name, value in {
        "JOBS_TABLE": stack.table_name,
        "RESULTS_BUCKET": stack.results_bucket,
        "SLOTS_TABLE": stack.slots_table,
        "ADMISSION_FUNCTION": "admission",
        "MIN_RECORDS_PER_JOB": "500",
        "MAX_RECORDS_PER_FILE": "100",
    }.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError, match="limits are inconsistent"):
        BedrockSubmitter.from_env()
