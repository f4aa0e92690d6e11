"""What Bedrock writes cannot hold a job open: an output line or a manifest that cannot be
decoded still lets the job end, with the line counted as a failed record, its slot freed
and the reconciler's run succeeding."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dropzone.models.jobs import Job, JobKind, JobStatus
from dropzone.sqs_batch import SqsMessage
from tests.support.bedrock import MODEL, BedrockWorld, jsonl, world
from tests.support.fixtures import Stack

KIND = JobKind.BEDROCK_BATCH
SECRET = "private-text-7f3a"  # in every poison line: it must never reach the job or the logs
# The shape of the output example in AWS's older Bedrock documentation: Python-style quotes
# inside modelOutput.
PYTHON_QUOTES = (
    '{"recordId": "%s", "modelInput": {"inputText": "%s"}, "modelOutput": '
    "{'inputTextTokenCount': 8, 'results': [{'tokenCount': 3, 'outputText': '%s'}]}}"
)
POISON_LINES: list[tuple[str, Any, str]] = [
    ("python quotes", PYTHON_QUOTES, "not valid JSON: Expecting property name"),
    ("cut short", '{"recordId": "%s", "modelOutput": {"text": "%s %s"', "not valid JSON"),
    ("not UTF-8", b'{"recordId": "%s", "modelOutput": "\xff%s %s"}', "not valid UTF-8"),
    ("an array", '["%s", "%s", "%s"]', "expected a JSON object, got an array"),
]


@pytest.fixture
def w(stack: Stack) -> BedrockWorld:
    return world(stack)


def _completed_in_bedrock(w: BedrockWorld, failing: set[int] | None = None) -> Job:
    """A job Bedrock has completed and written outputs for; its events not delivered yet."""
    source = w.upload(f"bedrock-batch/{MODEL}/b/in.jsonl", jsonl(100, failing=failing or set()))
    (job_id,) = w.submitter().submit(source).children
    w.admission().admit(MODEL)
    w.fake.advance_until_idle()
    job = w.ledger.get(job_id)
    assert job is not None and job.output_location
    assert w.slots().holders(MODEL) == {job_id}
    return job


def _output_key(w: BedrockWorld, job: Job, suffix: str) -> tuple[str, str]:
    bucket, prefix = (job.output_location or "")[5:].split("/", 1)
    (key,) = [
        item["Key"]
        for item in w.stack.s3_client.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]
        if item["Key"].endswith(suffix)
    ]
    return bucket, key


def _poison_output(w: BedrockWorld, job: Job, line_number: int, poison: str | bytes) -> str:
    """Replace one line of the job's output with `poison`, filled with that line's record
    id and the secret; return the record id."""
    bucket, key = _output_key(w, job, ".jsonl.out")
    lines = w.stack.s3_client.get_object(Bucket=bucket, Key=key)["Body"].read().splitlines()
    record_id = json.loads(lines[line_number - 1])["recordId"]
    template = poison if isinstance(poison, bytes) else poison.encode()
    lines[line_number - 1] = template % (record_id.encode(), SECRET.encode(), SECRET.encode())
    w.stack.s3_client.put_object(Bucket=bucket, Key=key, Body=b"\n".join(lines) + b"\n")
    return str(record_id)


def _read(w: BedrockWorld, uri: str) -> bytes:
    bucket, key = uri[5:].split("/", 1)
    return w.stack.s3_client.get_object(Bucket=bucket, Key=key)["Body"].read()  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("case", "poison", "reason"), POISON_LINES, ids=[case for case, _, _ in POISON_LINES]
)
def test_an_unreadable_output_line_counts_as_failed_and_the_job_ends(
    w: BedrockWorld, caplog: pytest.LogCaptureFixture, case: str, poison: Any, reason: str
) -> None:
    # Given a job Bedrock completed, one of whose output lines cannot be decoded
    job = _completed_in_bedrock(w)
    poisoned = _poison_output(w, job, 7, poison)
    # When its state events are delivered
    w.deliver_events()
    # Then it ends, the line counted as a failed record with where and why
    final = w.ledger.get(job.job_id)
    assert final is not None
    assert final.status is JobStatus.PARTIALLY_SUCCEEDED
    assert final.counts["succeeded_records"] == 99
    assert final.counts["failed_records"] == 1
    assert final.counts["unreadable_records"] == 1
    (problem,) = (final.model_extra or {})["output_problems"]
    assert problem["field"] == "in.jsonl.out line 7"
    assert problem["reason"].startswith(reason)
    assert final.message is not None
    assert "1 output line could not be read, counted as failed: in.jsonl.out line 7" in (
        final.message
    )
    # And the upload's result gives that record an error, with its own record id
    assert w.finish_asked() == ["finished"]
    (failed,) = [line for line in w.result_lines(final.parent_id or "") if "error" in line]
    assert failed["recordId"] == f"r{int(poisoned) - 1:06d}"
    assert failed["error"]["code"] == "NotAnswered"
    # And its slot is free and the next queued job may be admitted
    assert w.slots().holders(MODEL) == set()
    assert {"model_id": MODEL} in [call["Payload"] for call in w.lambda_client.invocations]
    # And nothing of the line's content reached the job or the logs
    logged = json.dumps([vars(record) for record in caplog.records], default=str)
    assert "in.jsonl.out" in logged
    assert SECRET not in json.dumps(final.model_dump()) + logged


def test_the_reconciler_ends_a_job_whose_output_cannot_be_read(w: BedrockWorld) -> None:
    # Given a running job whose events were all lost and whose output holds a poison line
    job = _completed_in_bedrock(w)
    w.events.clear()
    w.ledger.transition(job.job_id, KIND, JobStatus.RUNNING, service_status="InProgress")
    _poison_output(w, job, 1, PYTHON_QUOTES)
    # When the reconciler runs after the grace period
    later = datetime.now(UTC) + timedelta(hours=2)
    summary = w.reconciler(clock=lambda: later).run()
    # Then its run succeeds, the job has ended and its slot is free
    assert summary == {"refreshed": 1, "slots_freed": 0, "stopped_late": 0, "errors": 0}
    final = w.ledger.get(job.job_id)
    assert final is not None and final.status is JobStatus.PARTIALLY_SUCCEEDED
    assert final.counts["failed_records"] == 1
    assert w.slots().holders(MODEL) == set()
    # And a later run has nothing left to do
    assert w.reconciler(clock=lambda: later).run()["errors"] == 0


def test_a_job_whose_every_line_is_unreadable_fails_every_record(w: BedrockWorld) -> None:
    job = _completed_in_bedrock(w)
    bucket, key = _output_key(w, job, ".jsonl.out")
    w.stack.s3_client.put_object(Bucket=bucket, Key=key, Body=b"{nope\n" * 100)
    w.deliver_events()
    final = w.ledger.get(job.job_id)
    assert final is not None
    assert final.status is JobStatus.PARTIALLY_SUCCEEDED  # Bedrock said Completed
    assert (final.counts["succeeded_records"], final.counts["failed_records"]) == (0, 100)
    assert len((final.model_extra or {})["output_problems"]) == 20  # the first 20 are kept
    assert final.message is not None and "(and 97 more)" in final.message
    assert w.slots().holders(MODEL) == set()
    # And the records whose answers were lost are run again, in a retry round
    assert w.finish_asked() == ["round"]
    upload = w.run_to_end(final.parent_id or "")
    assert upload.status is JobStatus.SUCCEEDED
    assert upload.counts["retry_rounds"] == 1
    assert all("modelOutput" in line for line in w.result_lines(upload.job_id))


@pytest.mark.parametrize(
    ("manifest", "reason"),
    [
        (b"{'totalRecordCount': 100}", "not valid JSON"),
        (b'["not", "an", "object"]', "expected a JSON object, got an array"),
        (b'{"successRecordCount": "many"}', "'successRecordCount' must be a whole number"),
        (b'{"errorRecordCount": -1, "inputTokenCount": 5}', "'errorRecordCount' must be a"),
    ],
)
def test_an_unreadable_manifest_leaves_the_counts_to_get_model_invocation_job(
    w: BedrockWorld, manifest: bytes, reason: str
) -> None:
    # Given a completed job whose manifest cannot be decoded
    job = _completed_in_bedrock(w)
    bucket, key = _output_key(w, job, "manifest.json.out")
    w.stack.s3_client.put_object(Bucket=bucket, Key=key, Body=manifest)
    # When its events are delivered
    w.deliver_events()
    # Then it ends with GetModelInvocationJob's counts, and only the tokens it could read
    final = w.ledger.get(job.job_id)
    assert final is not None and final.status is JobStatus.SUCCEEDED
    assert final.counts["succeeded_records"] == 100
    assert final.counts["failed_records"] == 0
    assert final.counts.get("input_tokens") == (5 if b"inputTokenCount" in manifest else None)
    (problem,) = (final.model_extra or {})["output_problems"]
    assert problem["field"] == "manifest.json.out"
    assert problem["reason"].startswith(reason)
    assert w.slots().holders(MODEL) == set()


def test_without_a_manifest_or_counts_from_bedrock_the_lines_are_counted(
    w: BedrockWorld,
) -> None:
    # Given a job whose manifest cannot be read, and an answer without record counts
    job = _completed_in_bedrock(w)
    w.events.clear()
    bucket, key = _output_key(w, job, "manifest.json.out")
    w.stack.s3_client.put_object(Bucket=bucket, Key=key, Body=b"\x00")
    _poison_output(w, job, 3, '{"recordId": "%s", "modelOutput": %s%s')
    # When the tracker applies Bedrock's Completed
    final = w.tracker().apply(job, {"status": "Completed"})
    # Then the output lines give the counts, the unreadable one as failed
    assert final is not None and final.status is JobStatus.PARTIALLY_SUCCEEDED
    assert (final.counts["succeeded_records"], final.counts["failed_records"]) == (99, 1)
    fields = [problem["field"] for problem in (final.model_extra or {})["output_problems"]]
    assert fields == ["manifest.json.out", "in.jsonl.out line 3"]
    assert w.slots().holders(MODEL) == set()


def test_an_error_line_without_its_model_input_still_gives_the_record_its_error(
    w: BedrockWorld,
) -> None:
    # Given a job with a failed record whose error line lacks its modelInput
    job = _completed_in_bedrock(w, failing={4})
    bucket, key = _output_key(w, job, ".jsonl.out")
    lines = [json.loads(line) for line in _read(w, f"s3://{bucket}/{key}").splitlines()]
    for line in lines:
        if "error" in line:
            del line["modelInput"]
    body = "".join(json.dumps(line) + "\n" for line in lines).encode()
    w.stack.s3_client.put_object(Bucket=bucket, Key=key, Body=body)
    # When the job ends
    w.deliver_events()
    # Then the record counts as failed, and the result gives it Bedrock's error
    final = w.ledger.get(job.job_id)
    assert final is not None and final.status is JobStatus.PARTIALLY_SUCCEEDED
    assert final.counts["failed_records"] == 1
    assert "unreadable_records" not in final.counts
    assert w.finish_asked() == ["finished"]
    (failed,) = [line for line in w.result_lines(final.parent_id or "") if "error" in line]
    assert failed["recordId"] == "r000004"
    assert failed["error"]["code"] == 400


def test_a_state_event_that_cannot_be_decoded_is_refused_without_its_content(
    w: BedrockWorld,
) -> None:
    from dropzone.errors import UnreadableMessage

    with pytest.raises(UnreadableMessage, match="Bedrock state event") as refused:
        w.tracker().handle_record(SqsMessage("m", json.dumps({"detail": SECRET}), 1))
    assert SECRET not in str(refused.value)
