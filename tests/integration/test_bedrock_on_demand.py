"""Finishing Bedrock records on demand: too few for a batch job, retry rounds too small for
one, the cap, the shared rate, throttling, and records the model keeps refusing."""

from __future__ import annotations

import base64
import json
import threading

import pytest

from dropzone.models.jobs import JobStatus
from dropzone.store.rate_buckets import RateBuckets
from dropzone_local.record_faults import Fault, RecordFaults
from tests.support.bedrock import MODEL, BedrockWorld, jsonl, record, world
from tests.support.fixtures import Stack

KEY = f"bedrock-batch/{MODEL}/reviews/in.jsonl"
ON = {"on_demand": "Enabled"}


def marked(count: int, marks: dict[int, str]) -> bytes:
    """`count` records; record i carries the fault marker marks[i]."""
    lines = []
    for index in range(count):
        item = record(record_id=f"r{index:06d}")
        item["modelInput"]["messages"][0]["content"][0]["text"] = f"#{index}"  # each its own
        if index in marks:
            item["modelInput"]["dz_fault"] = marks[index]
        lines.append(json.dumps(item))
    return ("\n".join(lines) + "\n").encode()


def test_an_upload_below_the_batch_minimum_is_finished_on_demand(stack: Stack) -> None:
    w = world(stack, **ON)
    upload = w.submitter().submit(w.upload(KEY, jsonl(40)))
    assert upload.status is JobStatus.SUBMITTED
    assert upload.message is not None
    assert upload.message.startswith("40 records validated, estimated at $")
    assert upload.message.endswith("; 1 job on demand queued")
    (part_id,) = upload.children
    part = w.ledger.get(part_id)
    assert part is not None and part.status is JobStatus.SUBMITTED
    assert part.options["mode"] == "on_demand"
    final = w.run_to_end(upload.job_id)
    assert final.status is JobStatus.SUCCEEDED
    assert final.message == "40 of 40 records succeeded"
    assert w.fake.create_calls == []  # no batch job at all
    assert w.runtime.calls_per_model(answered_only=True) == {MODEL: 40}
    lines = w.result_lines(upload.job_id)
    assert [line["recordId"] for line in lines] == [f"r{index:06d}" for index in range(40)]
    assert all(line["modelOutput"]["content"] for line in lines)  # the model's own shape


def test_without_on_demand_an_upload_below_the_minimum_is_rejected(w_off: BedrockWorld) -> None:
    job = w_off.submitter().submit(w_off.upload(KEY, jsonl(40)))
    assert job.status is JobStatus.REJECTED
    assert job.message == "file: 40 records; Bedrock batch inference needs at least 100 per job"


def test_over_the_cap_an_upload_below_the_minimum_is_rejected(stack: Stack) -> None:
    w = world(stack, on_demand_max_records=30, **ON)
    job = w.submitter().submit(w.upload(KEY, jsonl(40)))
    assert job.status is JobStatus.REJECTED
    assert job.message is not None
    assert "on-demand finishing takes at most 30 records" in job.message


@pytest.fixture
def w_off(stack: Stack) -> BedrockWorld:
    return world(stack)


def test_a_retry_round_too_small_for_a_batch_job_runs_on_demand(stack: Stack) -> None:
    # Given 120 records: three throttled once, two refused for good
    faults = RecordFaults({"once": Fault.throttling(), "never": Fault.malformed_input()})
    w = world(stack, faults=faults, **ON)
    body = marked(120, {4: "once", 40: "once", 99: "once", 7: "never", 70: "never"})
    upload_id = w.submitter().submit(w.upload(KEY, body)).job_id
    # When it runs to its end
    final = w.run_to_end(upload_id)
    # Then the throttled records succeeded in a round of their own, run on demand, and the
    # refused ones carry their error, tried once
    assert final.status is JobStatus.PARTIALLY_SUCCEEDED
    assert final.message == "118 of 120 records succeeded, 2 failed (after 1 retry round)"
    assert final.children == [f"{upload_id}-p001", f"{upload_id}-r1-d001"]
    assert len(w.fake.create_calls) == 1
    assert w.runtime.calls_per_model(answered_only=True) == {MODEL: 3}
    lines = w.result_lines(upload_id)
    assert [line["line"] for line in lines] == list(range(1, 121))
    failed = {line["recordId"]: line["error"] for line in lines if "error" in line}
    assert sorted(failed) == ["r000007", "r000070"]
    assert {error["code"] for error in failed.values()} == {400}
    assert {error["attempts"] for error in failed.values()} == {1}


def test_without_on_demand_a_small_retry_round_keeps_its_errors(stack: Stack) -> None:
    faults = RecordFaults({"once": Fault.throttling()})
    w = world(stack, faults=faults)
    upload_id = w.submitter().submit(w.upload(KEY, marked(120, {3: "once"}))).job_id
    final = w.run_to_end(upload_id)
    assert final.status is JobStatus.PARTIALLY_SUCCEEDED
    assert final.message == (
        "119 of 120 records succeeded, 1 failed; 1 record that may succeed on another try "
        "was not retried: fewer than the batch minimum of 100, and on-demand finishing is off"
    )
    (failed,) = [line for line in w.result_lines(upload_id) if "error" in line]
    assert failed["error"]["code"] == 429


def test_records_past_the_on_demand_cap_keep_their_errors(stack: Stack) -> None:
    faults = RecordFaults({"once": Fault.throttling()})
    w = world(stack, faults=faults, on_demand_max_records=2, **ON)
    upload_id = w.submitter().submit(w.upload(KEY, marked(120, {1: "once", 2: "once", 3: "once"})))
    final = w.run_to_end(upload_id.job_id)
    assert final.counts["succeeded_records"] == 119
    assert w.runtime.calls_per_model(answered_only=True) == {MODEL: 2}
    (failed,) = [line for line in w.result_lines(final.job_id) if "error" in line]
    assert failed["recordId"] == "r000003"


def test_a_record_the_model_keeps_refusing_gets_its_error_and_ends_its_job(stack: Stack) -> None:
    # Given a record the runtime throttles on every call, past every redelivery
    faults = RecordFaults({"always": Fault.throttling(times=None)})
    w = world(stack, faults=faults, record_retries=0, **ON)
    upload = w.submitter().submit(w.upload(KEY, marked(3, {1: "always"})))
    # When the queue delivers it until its last try
    final = w.run_to_end(upload.job_id)
    # Then it was postponed on each earlier delivery, then given its error as its answer
    assert len(w.postponed) == w.settings.on_demand_max_receives - 1
    assert final.status is JobStatus.PARTIALLY_SUCCEEDED
    errors = [line["error"] for line in w.result_lines(upload.job_id) if "error" in line]
    assert errors == [{"code": 429, "message": errors[0]["message"], "attempts": 1}]


def test_a_duplicate_delivery_calls_the_model_once(stack: Stack) -> None:
    w = world(stack, **ON)
    upload = w.submitter().submit(w.upload(KEY, jsonl(3)))
    url = w.settings.on_demand_queue_url
    messages = w.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    for message in messages:  # every record queued twice
        w.sqs.send_message(QueueUrl=url, MessageBody=message["Body"])
        w.sqs.change_message_visibility(
            QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
        )
    final = w.run_to_end(upload.job_id)
    assert final.status is JobStatus.SUCCEEDED
    assert w.runtime.calls_per_model(answered_only=True) == {MODEL: 3}
    assert len(w.result_lines(upload.job_id)) == 3


def test_a_converse_upload_runs_on_demand_with_converse(stack: Stack) -> None:
    w = world(stack, **ON)
    body = b"".join(
        json.dumps(
            {
                "recordId": f"c{index}",
                "modelInput": {"messages": [{"role": "user", "content": [{"text": "hi"}]}]},
            }
        ).encode()
        + b"\n"
        for index in range(5)
    )
    upload = w.submitter().submit(w.upload(KEY, body, {"invocation-type": "Converse"}))
    final = w.run_to_end(upload.job_id)
    assert final.status is JobStatus.SUCCEEDED
    assert w.runtime.calls_per_model("Converse", answered_only=True) == {MODEL: 5}
    assert all("output" in line["modelOutput"] for line in w.result_lines(upload.job_id))


def test_converse_media_held_as_base64_text_reach_the_api_as_their_bytes(stack: Stack) -> None:
    # Given a Converse upload whose records carry an image as a batch record does: base64 text
    w = world(stack, **ON)
    image = b"\x89PNG\r\n\x1a\n" + bytes(range(40))
    block = {"image": {"format": "png", "source": {"bytes": base64.b64encode(image).decode()}}}
    model_input = {"messages": [{"role": "user", "content": [block, {"text": "what is it?"}]}]}
    body = b"".join(
        json.dumps({"recordId": f"c{index}", "modelInput": model_input}).encode() + b"\n"
        for index in range(3)
    )
    upload = w.submitter().submit(w.upload(KEY, body, {"invocation-type": "Converse"}))
    final = w.run_to_end(upload.job_id)
    assert final.status is JobStatus.SUCCEEDED
    # Then the API got the image's bytes, not its base64 text encoded a second time
    sent = [call.params for call in w.runtime.calls if call.operation == "Converse"]
    assert len(sent) == 3
    assert all(p["messages"][0]["content"][0]["image"]["source"]["bytes"] == image for p in sent)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0
        self.lock = threading.Lock()

    def __call__(self) -> float:
        return self.now


def test_the_shared_rate_is_never_exceeded_by_concurrent_workers(stack: Stack) -> None:
    # Given four workers taking tokens of one model's bucket at 2 a second, on a fake clock
    clock = FakeClock()
    taken: list[float] = []
    lock = threading.Lock()
    start = threading.Barrier(4)

    def worker() -> None:
        buckets = RateBuckets(stack.slots_table, 2.0, client=stack.dynamodb, clock=clock)
        start.wait()
        for _ in range(40):
            if buckets.take(MODEL) == 0.0:
                with lock:
                    taken.append(clock())

    # When the clock moves a tenth of a second at a time while they all try
    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for _ in range(30):
        clock.now += 0.1
        buckets = RateBuckets(stack.slots_table, 2.0, client=stack.dynamodb, clock=clock)
        for _ in range(4):
            if buckets.take(MODEL) == 0.0:
                taken.append(clock())
    # Then no window of T seconds saw more than burst + rate * T tokens
    for first in taken:
        for window in (0.5, 1.0, 2.0):
            inside = [moment for moment in taken if first <= moment < first + window]
            assert len(inside) <= 1 + 2.0 * window + 1e-9, (first, window, inside)
    assert len(taken) >= 6  # and the rate was used


def test_throttling_from_the_runtime_is_survived(stack: Stack) -> None:
    # Given a runtime that throttles more than one call a second, on a clock that stands still
    w = world(stack, **ON)
    w.runtime.throttle_above_per_second = 1
    upload = w.submitter().submit(w.upload(KEY, jsonl(4)))
    # When the queue is drained, the throttled records go back and come again
    final = w.run_to_end(upload.job_id)
    # Then every record was answered, and none was answered twice
    assert final.status is JobStatus.SUCCEEDED
    assert w.runtime.calls_per_model(answered_only=True) == {MODEL: 4}


# -- deadlines ----------------------------------------------------------------------------


def test_an_upload_whose_deadline_passes_while_its_job_runs_is_finished_on_demand(
    stack: Stack,
) -> None:
    from datetime import UTC, datetime, timedelta

    # Given an upload of 120 records due in 30 minutes, its batch job running
    w = world(stack, **ON)
    start = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
    submitter = w.submitter()
    submitter.clock = lambda: start
    upload = submitter.submit(w.upload(KEY, jsonl(120), {"deadline": "30"}))
    assert upload.options["deadline"] == "2026-12-06T12:30:00+00:00"
    admission = w.admission()
    admission.clock = lambda: start + timedelta(minutes=1)  # admitted before the deadline
    admission.admit()
    w.fake.advance()
    w.fake.advance()
    w.fake.advance()  # Scheduled → InProgress
    w.deliver_events()
    (part_id,) = upload.children
    assert w.ledger.get(part_id).status is JobStatus.RUNNING  # type: ignore[union-attr]
    # When the reconciler runs after the deadline
    late = start + timedelta(minutes=45)
    summary = w.reconciler(clock=lambda: late).run()
    # Then the batch job is stopped, keeping what it answered
    assert summary["stopped_late"] == 1
    assert w.fake.stop_calls and w.fake.stop_calls[0]["jobIdentifier"].endswith(
        w.ledger.get(part_id).model_extra["job_arn"].rsplit("/", 1)[-1]  # type: ignore[union-attr]
    )
    w.now = lambda: late
    final = w.run_to_end(upload.job_id)
    # And the records it had not answered were finished on demand, in one round
    assert final.status is JobStatus.SUCCEEDED
    assert final.children[-1] == f"{upload.job_id}-r1-d001"
    answered_in_batch = 120 - w.runtime.calls_per_model(answered_only=True)[MODEL]
    assert 0 < answered_in_batch < 120
    assert len(w.result_lines(upload.job_id)) == 120


def test_a_job_still_queued_at_the_deadline_is_not_submitted(stack: Stack) -> None:
    from datetime import UTC, datetime, timedelta

    w = world(stack, **ON)
    past = datetime.now(UTC) - timedelta(minutes=1)
    upload = w.submitter().submit(
        w.upload(KEY, jsonl(120), {"deadline": past.isoformat(timespec="seconds")})
    )
    w.admission().admit()
    (part_id,) = upload.children
    part = w.ledger.get(part_id)
    assert part is not None and part.status is JobStatus.STOPPED
    assert w.fake.create_calls == []
    final = w.run_to_end(upload.job_id)
    assert final.status is JobStatus.SUCCEEDED
    assert w.runtime.calls_per_model(answered_only=True) == {MODEL: 120}


@pytest.mark.parametrize(
    ("deadline", "reason"),
    [
        ("tomorrow", "must be an ISO 8601 time with its offset"),
        ("2026-12-06T18:00:00", "has no offset"),
        ("0", "is not within 1 to 10080"),
    ],
)
def test_a_deadline_that_cannot_be_read_is_rejected(
    stack: Stack, deadline: str, reason: str
) -> None:
    w = world(stack, **ON)
    job = w.submitter().submit(w.upload(KEY, jsonl(120), {"deadline": deadline}))
    assert job.status is JobStatus.REJECTED
    assert job.message is not None and reason in job.message
