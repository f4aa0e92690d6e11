from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dropzone.models.jobs import JobStatus
from dropzone.workflows.bedrock.staging import staged_id
from dropzone_local.event_delivery import UnreliableDelivery
from tests.support.bedrock import MODEL, ROLE, BedrockWorld, jsonl, record, world
from tests.support.fixtures import Stack

KEY = f"bedrock-batch/{MODEL}/reviews/part-1.jsonl"


@pytest.fixture
def w(stack: Stack) -> BedrockWorld:
    return world(stack)


def _read(w: BedrockWorld, uri: str) -> bytes:
    bucket, _, key = uri[5:].partition("/")
    return w.stack.s3_client.get_object(Bucket=bucket, Key=key)["Body"].read()  # type: ignore[no-any-return]


def _staged(line: int, record_id: str | None = None) -> dict[str, Any]:
    """What a line of jsonl() is staged as: Dropzone's record id, the same modelInput."""
    return {"recordId": staged_id(line), "modelInput": record()["modelInput"]}


def _lines(w: BedrockWorld, uri: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in _read(w, uri).splitlines()]


def test_a_valid_file_is_staged_under_a_safe_key_and_queued(w: BedrockWorld) -> None:
    # Given a valid input whose key holds a model id with a colon
    source = w.upload(KEY, jsonl(120))
    # When it is submitted
    upload = w.submitter().submit(source)
    # Then the upload waits for its one job, staged where Bedrock accepts it, each record
    # under Dropzone's id, and admission was started
    assert upload.status is JobStatus.SUBMITTED
    assert upload.target == MODEL
    assert upload.counts == {"input_records": 120, "input_bytes": len(jsonl(120))}
    (part_id,) = upload.children
    part = w.ledger.get(part_id)
    assert part is not None and part.status is JobStatus.QUEUED and part.parent_id == upload.job_id
    assert (part.options["first_line"], part.options["last_line"]) == (1, 120)
    staged = part.options["input_uri"]
    assert ":" not in staged.removeprefix("s3://")
    assert _lines(w, staged) == [_staged(line) for line in range(1, 121)]
    # and the record index gives each line its own id back
    index = _lines(w, upload.options["records_uri"])
    assert index == [[line, f"r{line - 1:06d}"] for line in range(1, 121)]
    (call,) = w.lambda_client.invocations
    assert call["InvocationType"] == "Event"
    assert call["FunctionName"] == "dropzone-BedrockAdmissionFunction"
    assert call["Payload"] == {"model_id": MODEL}


def test_a_duplicate_upload_event_queues_nothing_new(w: BedrockWorld) -> None:
    source = w.upload(KEY, jsonl(120))
    first = w.submitter().submit(source)
    second = w.submitter().submit(source)
    assert first.job_id == second.job_id
    assert w.stack.dynamodb.scan(TableName=w.stack.table_name)["Count"] == 2  # upload, part
    # a duplicate wakes admission again, in case the first wake was lost
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
    staged = [line for child in children if child for line in _lines(w, child.options["input_uri"])]
    assert staged == [_staged(line) for line in range(1, 251)]  # nothing lost or duplicated
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
    """Upload `count` files of 100 records: the ids of their (only) parts, the batch jobs."""
    ids = []
    for index in range(count):
        source = w.upload(
            f"bedrock-batch/{MODEL}/b{index}/in.jsonl", jsonl(100, prefix=f"j{index}-")
        )
        (part,) = w.submitter().submit(source).children
        ids.append(part)
    return ids


def _upload_of(w: BedrockWorld, part_id: str) -> str:
    part = w.ledger.get(part_id)
    assert part is not None and part.parent_id is not None
    return part.parent_id


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
    # the part's own folder, which holds its JSONL (and the media its records name)
    folder = request["inputDataConfig"]["s3InputDataConfig"]["s3Uri"]
    assert folder.endswith("/part-001/") and job.options["input_uri"].startswith(folder)
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


def w_kind() -> Any:
    from dropzone.models.jobs import JobKind

    return JobKind.BEDROCK_BATCH


def test_a_job_is_tracked_to_success_with_counts_and_tokens(w: BedrockWorld) -> None:
    (job_id,) = _queue(w, 1)
    upload = w.run_to_end(_upload_of(w, job_id))
    job = w.ledger.get(job_id)
    assert job is not None
    assert job.status is JobStatus.SUCCEEDED
    assert job.service_status == "Completed"
    assert job.counts["succeeded_records"] == 100
    assert job.counts["failed_records"] == 0
    assert job.counts["input_tokens"] > 0 and job.counts["output_tokens"] > 0
    history = [t.status for t in job.history]
    assert history[:2] == [JobStatus.QUEUED, JobStatus.SUBMITTED]
    assert JobStatus.RUNNING in history
    assert w.slots().holders(MODEL) == set()
    # and the upload ends with its result file, and the tokens of its job
    assert upload.status is JobStatus.SUCCEEDED
    assert upload.output_location == (
        f"s3://{w.stack.results_bucket}/bedrock-batch/results/{upload.job_id}.jsonl"
    )
    assert upload.counts["input_tokens"] == job.counts["input_tokens"]
    assert upload.counts["output_tokens"] == job.counts["output_tokens"]
    assert upload.message == "100 of 100 records succeeded"
    assert len(w.result_lines(upload.job_id)) == 100


def test_failed_records_carry_their_error_in_the_result_file(w: BedrockWorld) -> None:
    # Given records Bedrock refuses for good (HTTP 400: no retry can help)
    source = w.upload(KEY, jsonl(120, failing={3, 50, 119}))
    upload_id = w.submitter().submit(source).job_id
    # When the upload runs to its end
    upload = w.run_to_end(upload_id)
    # Then the result has every record once, in input order, each failed one with its error
    assert upload.status is JobStatus.PARTIALLY_SUCCEEDED
    assert upload.message == "117 of 120 records succeeded, 3 failed"
    assert upload.counts["failed_records"] == 3 and upload.counts["retry_rounds"] == 0
    lines = w.result_lines(upload_id)
    assert [line["line"] for line in lines] == list(range(1, 121))
    assert [line["recordId"] for line in lines] == [f"r{index:06d}" for index in range(120)]
    failed = [line for line in lines if "error" in line]
    assert [line["recordId"] for line in failed] == ["r000003", "r000050", "r000119"]
    assert all(line["error"]["code"] == 400 and line["error"]["attempts"] == 1 for line in failed)
    assert all("modelOutput" in line for line in lines if "error" not in line)


def test_a_split_upload_gets_one_result_in_input_order(stack: Stack) -> None:
    w = world(stack, max_records_per_file=100, min_records_per_job=10)
    source = w.upload(KEY, jsonl(250, failing={249}))
    upload = w.run_to_end(w.submitter().submit(source).job_id)
    assert upload.status is JobStatus.PARTIALLY_SUCCEEDED
    assert upload.message == "249 of 250 records succeeded, 1 failed"
    assert upload.counts["succeeded_records"] == 249
    assert upload.counts["failed_records"] == 1
    assert upload.counts["jobs"] == 3
    lines = w.result_lines(upload.job_id)
    assert [line["line"] for line in lines] == list(range(1, 251))
    assert "error" in lines[249]


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
    ids.extend(w.submitter().submit(failing_source).children)
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
        w.finish_asked()
    # Then every job holds the status Bedrock gave it, and every slot is free
    for job_id in ids:
        job = w.ledger.get(job_id)
        assert job is not None
        truth = w.fake.get_model_invocation_job(jobIdentifier=job.model_extra["job_arn"])["status"]  # type: ignore[index]
        expected = {"Completed": JobStatus.SUCCEEDED, "Failed": JobStatus.FAILED}[truth]
        assert job.status is expected, (job_id, truth, [t.status for t in job.history])
    assert w.slots().holders(MODEL) == set()
    # and every upload ended with one result line per record
    for job_id in ids:
        upload = w.ledger.get(_upload_of(w, job_id))
        assert upload is not None and upload.status.is_terminal, upload
        assert len(w.result_lines(upload.job_id)) == 100


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
    assert w.finish_asked() == ["finished"]
    parent = w.ledger.get(parent_id)
    assert parent is not None
    assert parent.status is JobStatus.FAILED
    assert parent.message == "0 of 200 records succeeded, 200 failed"
    errors = {line["error"]["code"] for line in w.result_lines(parent_id)}
    assert errors == {"JobRejected"}  # what Bedrock refuses is not retried


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
    # When its finishing is attempted (a part ended)
    assert w.finisher().finish(accepted.job_id) == "ended"
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
    (other,) = (
        w.submitter().submit(w.upload(f"bedrock-batch/{other_model}/b/in.jsonl", titan)).children
    )
    # When the oldest job's create fails with a 5xx (it may or may not exist in Bedrock)
    w.fake.inject_faults("InternalServerException")
    with pytest.raises(TransientError, match="admission left jobs queued"):
        w.admission().admit()
    # Then the other model's job went through, and the ambiguous job keeps its slot
    assert w.ledger.get(other).status is JobStatus.SUBMITTED  # type: ignore[union-attr]
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


def test_records_a_stopped_job_never_answered_are_retried_in_a_round(stack: Stack) -> None:
    # Given a job stopped after answering two of its four records, one with a throttling error
    w = world(stack, min_records_per_job=1)
    source = w.upload(KEY, jsonl(4))
    upload_id = w.submitter().submit(source).job_id
    w.admission().admit()
    (part_id,) = w.ledger.get(upload_id).children  # type: ignore[union-attr]
    job = w.ledger.get(part_id)
    assert job is not None and job.output_location
    out_bucket, out_prefix = job.output_location[5:].split("/", 1)
    answered = [
        {"recordId": staged_id(1), "modelInput": {}, "modelOutput": {"ok": True}},
        {
            "recordId": staged_id(2),
            "modelInput": {},
            "error": {"errorCode": 429, "errorMessage": "x"},
        },
    ]
    w.stack.s3_client.put_object(
        Bucket=out_bucket,
        Key=f"{out_prefix}in.jsonl.out",
        Body="\n".join(json.dumps(item) for item in answered).encode(),
    )
    # When the tracker learns the job was stopped, and the upload is finished
    final = w.tracker().apply(job, {"status": "Stopped", "errorRecordCount": 1})
    assert final is not None and final.status is JobStatus.STOPPED
    assert w.finish_asked() == ["round"]
    # Then a retry round holds the throttled record and the two never answered
    upload = w.ledger.get(upload_id)
    assert upload is not None and upload.status is JobStatus.SUBMITTED
    round_id = f"{upload_id}-r1-p001"
    assert upload.children == [part_id, round_id]
    retry = w.ledger.get(round_id)
    assert retry is not None and retry.status is JobStatus.QUEUED
    assert [line["recordId"] for line in _lines(w, retry.options["input_uri"])] == [
        staged_id(2),
        staged_id(3),
        staged_id(4),
    ]
    # and once it has run, every record has its answer, the retried ones after two attempts
    upload = w.run_to_end(upload_id)
    assert upload.status is JobStatus.SUCCEEDED
    assert upload.message == "4 of 4 records succeeded (after 1 retry round)"
    assert [("modelOutput" in line) for line in w.result_lines(upload_id)] == [True] * 4


def test_a_round_is_started_once_however_often_the_upload_is_finished(stack: Stack) -> None:
    w = world(stack, min_records_per_job=1)
    upload_id = w.submitter().submit(w.upload(KEY, jsonl(3))).job_id
    w.admission().admit()
    (part_id,) = w.ledger.get(upload_id).children  # type: ignore[union-attr]
    job = w.ledger.get(part_id)
    assert job is not None
    w.tracker().apply(job, {"status": "Failed"})  # nothing answered
    outcomes = [w.finisher().finish(upload_id) for _ in range(3)]
    assert outcomes == ["round", "waiting", "waiting"]
    upload = w.ledger.get(upload_id)
    assert upload is not None and upload.children == [part_id, f"{upload_id}-r1-p001"]
