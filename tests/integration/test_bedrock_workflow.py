from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dropzone.models.jobs import JobStatus
from dropzone_local.bedrock import UnreliableDelivery
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
    assert w.stack.dynamodb.scan(TableName=w.stack.table_name)["Count"] == 1
    # a queued job's duplicate wakes admission again, in case the first wake was lost
    assert [call["Payload"] for call in w.lambda_client.invocations] == [{"model_id": MODEL}] * 2


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
    from dropzone.workflows.bedrock.submit import BedrockSubmitter

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


def _corpus() -> list[Any]:
    from tests.unit.test_bedrock_jsonl import BAD_INPUTS

    return BAD_INPUTS


@pytest.mark.parametrize(("body", "options", "expected"), _corpus())
def test_every_bad_input_of_the_corpus_ends_rejected_with_its_own_reason(
    stack: Stack, body: bytes, options: dict[str, Any], expected: Any
) -> None:
    # Given the corpus case's limits, model and invocation type as a user would set them
    from tests.unit.test_bedrock_jsonl import ANY, TITAN

    limits = options.get("limits", ANY)
    w = world(
        stack,
        min_records_per_job=limits.min_records_per_job,
        max_records_per_file=limits.max_records_per_file,
        max_records_per_job=limits.max_records_per_job,
        max_bytes_per_file=limits.max_bytes_per_file,
        max_bytes_per_job=limits.max_bytes_per_job,
    )
    model_id = options.get("model_id", TITAN)
    metadata = {"invocation-type": options.get("invocation_type", "InvokeModel")}
    # When the file is dropped
    job = w.submitter().submit(
        w.upload(f"bedrock-batch/{model_id}/corpus/in.jsonl", body, metadata)
    )
    # Then the job is REJECTED, naming the same place and reason, and nothing reached Bedrock
    assert job.status is JobStatus.REJECTED
    assert job.message is not None
    if body:
        assert expected.field in job.message
        if "invocation-type" not in expected.field:
            assert expected.reason in job.message
    else:
        assert "empty (0 bytes)" in job.message
    assert w.fake.create_calls == []
    assert w.lambda_client.invocations == []


def test_a_parent_whose_split_has_not_been_recorded_is_never_settled(stack: Stack) -> None:
    # Given a submit that crashed after creating the parts, before recording them
    from dropzone.workflows.bedrock.settle import settle_parent

    w = world(stack)
    orphan_parent = w.upload(f"bedrock-batch/{MODEL}/crashed/in.jsonl", jsonl(120))
    from dropzone.ids import job_id_for
    from dropzone.models.jobs import Job

    accepted = Job(
        job_id=job_id_for(orphan_parent),
        kind=w_kind(),
        status=JobStatus.ACCEPTED,
        source=orphan_parent,
        target=MODEL,
        created_at="",
        updated_at="",
    )
    w.ledger.create(accepted)
    # When a settlement is attempted (a part ended)
    settle_parent(w.ledger, accepted.job_id)
    # Then the parent is left for the redelivered submit to finish
    still = w.ledger.get(accepted.job_id)
    assert still is not None and still.status is JobStatus.ACCEPTED


def test_one_failing_job_does_not_stall_admission_for_other_models(w: BedrockWorld) -> None:
    from dropzone.errors import TransientError

    (stuck,) = _queue(w, 1)
    other_model = "amazon.titan-text-express-v1"
    titan = b"".join(
        json.dumps({"recordId": f"t{i}", "modelInput": {"inputText": "hi"}}).encode() + b"\n"
        for i in range(100)
    )
    other = w.submitter().submit(w.upload(f"bedrock-batch/{other_model}/b/in.jsonl", titan))
    # When the oldest job's create fails with a 5xx (it may or may not exist in Bedrock)
    w.fake.inject_faults("InternalServerException")
    with pytest.raises(TransientError, match="admission left jobs queued"):
        w.admission().admit()
    # Then the other model's job went through, and the ambiguous job keeps its slot
    assert w.ledger.get(other.job_id).status is JobStatus.SUBMITTED  # type: ignore[union-attr]
    assert w.ledger.get(stuck).status is JobStatus.QUEUED  # type: ignore[union-attr]
    assert w.slots().holders(MODEL) == {stuck}
    # And the next run submits it with the same token
    w.admission().admit()
    assert w.ledger.get(stuck).status is JobStatus.SUBMITTED  # type: ignore[union-attr]
    tokens = [call["clientRequestToken"] for call in w.fake.create_calls]
    assert tokens.count(stuck) == 2  # the retry reuses the idempotency token


def test_a_definite_refusal_gives_the_slot_back(w: BedrockWorld) -> None:
    (job_id,) = _queue(w, 1)
    w.fake.inject_faults("AccessDeniedException")
    w.admission().admit()
    assert w.ledger.get(job_id).status is JobStatus.QUEUED  # type: ignore[union-attr]
    assert w.slots().holders(MODEL) == set()


def test_reconciliation_survives_a_failing_job_and_still_frees_slots(w: BedrockWorld) -> None:
    from dropzone.errors import TransientError

    ids = _queue(w, 2)
    w.admission().admit()
    w.ledger.transition(ids[0], w_kind(), JobStatus.STOPPED, message="stopped elsewhere")
    w.fake.inject_get_faults("InternalServerException")
    later = datetime.now(UTC) + timedelta(hours=2)
    with pytest.raises(TransientError, match="1 errors"):
        w.reconciler(clock=lambda: later).run()
    assert w.slots().holders(MODEL) == {ids[1]}


def test_a_job_bedrock_has_no_record_of_fails_at_reconciliation(w: BedrockWorld) -> None:
    (job_id,) = _queue(w, 1)
    w.admission().admit()
    job = w.ledger.get(job_id)
    assert job is not None
    missing = "arn:aws:bedrock:us-east-1:123456789012:model-invocation-job/zzzzzzzzzzzz"
    w.ledger.annotate(job_id, w_kind(), JobStatus.SUBMITTED, updates={"job_arn": missing})
    later = datetime.now(UTC) + timedelta(hours=2)
    w.reconciler(clock=lambda: later).run()
    final = w.ledger.get(job_id)
    assert final is not None and final.status is JobStatus.FAILED
    assert final.message == f"Bedrock has no record of {missing}"
    assert w.slots().holders(MODEL) == set()


def test_the_retry_file_also_holds_records_bedrock_never_answered(w: BedrockWorld) -> None:
    # Given a stopped job that answered two of its four records, one with an error
    (job_id,) = _queue(w, 1)
    w.admission().admit()
    job = w.ledger.get(job_id)
    assert job is not None and job.output_location
    staged_bucket, staged_key = job.options["input_uri"][5:].split("/", 1)
    staged = b"".join(
        json.dumps({"recordId": f"s{i}", "modelInput": {"n": i}}).encode() + b"\n" for i in range(4)
    )
    w.stack.s3_client.put_object(Bucket=staged_bucket, Key=staged_key, Body=staged)
    out_bucket, out_prefix = job.output_location[5:].split("/", 1)
    answered = [
        {"recordId": "s0", "modelInput": {"n": 0}, "modelOutput": {"ok": True}},
        {
            "recordId": "s1",
            "modelInput": {"n": 1},
            "error": {"errorCode": 400, "errorMessage": "x"},
        },
    ]
    w.stack.s3_client.put_object(
        Bucket=out_bucket,
        Key=f"{out_prefix}in.jsonl.out",
        Body="\n".join(json.dumps(item) for item in answered).encode(),
    )
    # When the tracker learns the job was stopped
    final = w.tracker().apply(job, {"status": "Stopped", "errorRecordCount": 1})
    # Then the retry file holds the errored record and the two never answered
    assert final is not None and final.status is JobStatus.STOPPED
    retry = [json.loads(line) for line in _read(w, final.failure_location or "").splitlines()]
    assert [item["recordId"] for item in retry] == ["s1", "s2", "s3"]
    assert final.counts["retry_records"] == 3
