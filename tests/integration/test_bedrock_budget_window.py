"""The daily budget's window on DynamoDB (moto), on a clock the tests move: it holds jobs
back while the last 24 hours' spend fills the budget, and lets them go as it ages out."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest

from dropzone.adapters.bedrock import Bedrock
from dropzone.adapters.lambda_invoke import LambdaInvoker
from dropzone.clock import iso, utcnow
from dropzone.models.jobs import Job, JobStatus
from dropzone.store.slots import ModelSlots
from dropzone.store.spend import (
    DAY,
    MAX_ENTRIES,
    WINDOW_KEY,
    Admitted,
    SpendEntry,
    SpendWindow,
    Waiting,
    window_item,
)
from dropzone.workflows.bedrock.admission import BedrockAdmission
from dropzone.workflows.bedrock.budget import SUBMITTED_AFTER_WAITING
from dropzone.workflows.bedrock.rules import KIND
from dropzone.workflows.bedrock.state import BedrockTracker
from tests.support.bedrock import MODEL, BedrockWorld, jsonl, world
from tests.support.clock import T0, ManualClock
from tests.support.fixtures import Stack

CAP = 50.0


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


def _window(stack: Stack, clock: ManualClock, client: Any = None) -> SpendWindow:
    return SpendWindow(stack.slots_table, client or stack.dynamodb, clock=clock)


def _version(stack: Stack) -> str:
    item = stack.dynamodb.get_item(
        TableName=stack.slots_table, Key={"model_id": {"S": WINDOW_KEY}}, ConsistentRead=True
    )["Item"]
    return str(item["version"]["N"])


def _entries(window: SpendWindow) -> dict[str, SpendEntry]:
    return {entry.key: entry for entry in window.state().entries}


# -- the window alone


def test_reserving_a_job_twice_counts_it_once(stack: Stack, clock: ManualClock) -> None:
    window = _window(stack, clock)
    assert window.reserve("job-a", 30.0, CAP) == Admitted("job-a", 30.0)
    clock.tick(minutes=5)
    assert window.reserve("job-a", 30.0, CAP) == Admitted("job-a", 30.0, again=True)
    state = window.state()
    assert state.spent_usd == 30.0 and state.jobs == 1
    assert state.entries[0] == SpendEntry("job-a", 30.0, T0, held=True)


class _Interleaved:
    """A DynamoDB client that runs `between` once, after this writer has read the window
    and before it writes: another writer's whole change lands in between."""

    def __init__(self, client: Any, between: Callable[[], None]) -> None:
        self._client = client
        self._between: Callable[[], None] | None = between

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def put_item(self, **params: Any) -> Any:
        if self._between is not None:
            between, self._between = self._between, None
            between()
        return self._client.put_item(**params)


def test_two_reservers_racing_for_the_last_room_never_pass_the_cap(
    stack: Stack, clock: ManualClock
) -> None:
    _window(stack, clock).reserve("earlier", 30.0, CAP)
    rival = _window(stack, clock)
    outcomes: list[Admitted | Waiting] = []
    # Given a reserver that has read $30 spent when a rival takes $15 of the $20 left
    racer = _window(
        stack,
        clock,
        _Interleaved(stack.dynamodb, lambda: outcomes.append(rival.reserve("rival", 15.0, CAP))),
    )
    # When it writes its own $15, decided on what it read
    outcome = racer.reserve("racer", 15.0, CAP)
    # Then its write is refused, it reads again, and it waits: $45 + $15 would pass $50
    assert outcomes == [Admitted("rival", 15.0)]
    assert outcome == Waiting("racer", 45.0, 15.0, CAP, T0 + DAY)
    assert _window(stack, clock).state().spent_usd == 45.0


def test_settling_replaces_the_reservation_by_the_cost_and_keeps_its_time(
    stack: Stack, clock: ManualClock
) -> None:
    window = _window(stack, clock)
    window.reserve("job-a", 30.0, CAP)
    clock.tick(hours=3)
    window.settle("job-a", None)  # the cost is unknown: the reservation stays
    assert _entries(window)["job-a"] == SpendEntry("job-a", 30.0, T0, held=True)
    window.settle("job-a", 9.5)
    assert _entries(window)["job-a"] == SpendEntry("job-a", 9.5, T0)
    version = _version(stack)
    window.settle("job-a", 9.5)  # a duplicate event: nothing to write
    assert _version(stack) == version
    # a job that held nothing (on demand) counts from when its spend began...
    window.settle("job-b", 2.0, since=T0 + timedelta(hours=1))
    assert _entries(window)["job-b"] == SpendEntry("job-b", 2.0, T0 + timedelta(hours=1))
    # ...unless that is already out of the window: an aged-out reservation is not counted again
    window.settle("job-c", 7.0, since=T0 + timedelta(hours=3) - DAY)
    window.add("job-d", 1.25)
    assert _entries(window)["job-d"] == SpendEntry("job-d", 1.25, T0 + timedelta(hours=3))
    assert window.state().spent_usd == 12.75


def test_spend_ages_out_a_day_after_it_began_and_leaves_the_item_on_the_next_write(
    stack: Stack, clock: ManualClock
) -> None:
    window = _window(stack, clock)
    window.reserve("job-a", 30.0, CAP)
    clock.tick(hours=12)
    window.reserve("job-b", 20.0, CAP)
    assert isinstance(window.reserve("job-c", 10.0, CAP), Waiting)
    clock.tick(hours=12)  # job-a's reservation is a day old
    assert window.state().spent_usd == 20.0
    assert window.reserve("job-c", 10.0, CAP) == Admitted("job-c", 10.0)
    item = stack.dynamodb.get_item(
        TableName=stack.slots_table, Key={"model_id": {"S": WINDOW_KEY}}
    )["Item"]
    assert sorted(item["entries"]["M"]) == ["job-b", "job-c"]
    window.release("job-c")
    assert sorted(_entries(window)) == ["job-b"]


def test_a_full_window_merges_its_oldest_ended_jobs_and_loses_no_dollar(
    stack: Stack, clock: ManualClock
) -> None:
    # Given a window holding as many single jobs as it keeps, the longest ids there are
    entries = {
        f"dz-{index:060d}": SpendEntry(
            f"dz-{index:060d}", 0.5, T0 - timedelta(hours=2) + timedelta(seconds=index)
        )
        for index in range(MAX_ENTRIES)
    }
    stack.dynamodb.put_item(TableName=stack.slots_table, Item=window_item(entries, 1, T0))
    window = _window(stack, clock)
    # When one more job is counted
    window.add("dz-one-more", 0.25)
    # Then the oldest ended job is merged into its minute, and every dollar still counts
    state = window.state()
    assert state.jobs == MAX_ENTRIES + 1
    assert state.spent_usd == pytest.approx(MAX_ENTRIES * 0.5 + 0.25)
    assert [entry.key for entry in state.entries if entry.merged] == [
        "merged#" + (T0 - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
    ]


def test_the_slot_sweep_does_not_take_the_window_for_a_model(
    stack: Stack, clock: ManualClock
) -> None:
    _window(stack, clock).reserve("job-a", 30.0, CAP)
    slots = ModelSlots(stack.slots_table, 3, stack.dynamodb)
    slots.acquire(MODEL, "job-a")
    assert slots.models() == [MODEL]


# -- admission and the end of jobs, with the budget


def _estimate(high: float | None) -> dict[str, Any]:
    return {
        "records": 120,
        "input_tokens": 12_000,
        "max_output_tokens": 7_680,
        "mode": "batch",
        "price": "known" if high is not None else "unknown",
        "low_usd": None if high is None else high / 10,
        "high_usd": high,
        "prices_checked": "2026-11-30",
        "calibration": None,
    }


def _queue_uploads(w: BedrockWorld, clock: ManualClock, *highs: float | None) -> list[Job]:
    """One upload of 120 records (one batch job) per estimate, queued in this order."""
    ledger = w.stack.ledger(clock=clock)
    parts = []
    for index, high in enumerate(highs):
        upload = w.submitter().submit(
            w.upload(f"bedrock-batch/{MODEL}/u{index}/in.jsonl", jsonl(120))
        )
        (part_id,) = upload.children
        clock.tick(seconds=1)
        part = ledger.annotate(
            part_id, KIND, JobStatus.QUEUED, updates={"estimate": _estimate(high)}
        )
        assert part is not None
        parts.append(part)
    return parts


def _admission(w: BedrockWorld, clock: ManualClock) -> BedrockAdmission:
    return BedrockAdmission(
        w.settings,
        w.stack.ledger(clock=clock),
        w.slots(),
        Bedrock(w.fake),
        w.stack.s3(),
        LambdaInvoker(w.lambda_client),  # type: ignore[arg-type]
        clock=clock,
        spend=_window(w.stack, clock),
    )


def _tracker(w: BedrockWorld, clock: ManualClock) -> BedrockTracker:
    tracker = w.tracker()
    tracker.ledger = w.stack.ledger(clock=clock)
    return tracker


def _status(w: BedrockWorld, job: Job) -> Job:
    found = w.ledger.get(job.job_id)
    assert found is not None
    return found


@pytest.fixture
def w(stack: Stack) -> BedrockWorld:
    return world(stack, daily_budget_usd=CAP)


def test_the_window_holds_the_second_upload_until_the_first_ones_spend_ages_out(
    w: BedrockWorld, clock: ManualClock
) -> None:
    # Given two uploads whose jobs may cost up to $30 each, under a $50 daily budget
    first, second = _queue_uploads(w, clock, 30.0, 30.0)
    # When admission runs
    summary = _admission(w, clock).admit()
    # Then the first is submitted and the second waits, saying why and until when
    assert (summary.submitted, summary.waiting_for_budget) == (1, 1)
    assert _status(w, first).status is JobStatus.SUBMITTED
    waiting = _status(w, second)
    assert waiting.status is JobStatus.QUEUED
    assert waiting.message == (
        "waiting for the daily budget: $30.00 spent or held in the last 24 h + up to $30.00"
        " for this job would pass the $50.00 cap; room from 2026-11-26T12:01Z"
    )  # the first job's reservation, at 12:00:02 the day before, ages out in that minute
    # and a later run that finds it waiting still does not write its message again
    clock.tick(hours=23, minutes=59)
    assert _admission(w, clock).admit().waiting_for_budget == 1
    assert _status(w, second).updated_at == waiting.updated_at
    # When the first job's reservation is a day old
    clock.tick(minutes=2)
    summary = _admission(w, clock).admit()
    # Then the second is submitted, and the window holds only its estimate
    assert (summary.submitted, summary.waiting_for_budget) == (1, 0)
    submitted = _status(w, second)
    assert submitted.status is JobStatus.SUBMITTED
    assert submitted.message == SUBMITTED_AFTER_WAITING
    state = _window(w.stack, clock).state()
    assert [(e.key, e.usd, e.held) for e in state.entries] == [(second.job_id, 30.0, True)]


def test_a_job_that_ends_settles_its_cost_and_lets_the_next_one_in(
    w: BedrockWorld, clock: ManualClock
) -> None:
    first, second = _queue_uploads(w, clock, 30.0, 30.0)
    _admission(w, clock).admit()
    assert _status(w, second).status is JobStatus.QUEUED
    # When the first job ends (its cost, a cent or so, takes its $30 estimate's place)
    tracker = _tracker(w, clock)
    while not _status(w, first).status.is_terminal:
        w.fake.advance()
        w.deliver_events(tracker)
    ended = _status(w, first)
    assert ended.cost is not None and ended.cost["usd"] is not None
    entry = _entries(_window(w.stack, clock))[first.job_id]
    assert (entry.usd, entry.held, entry.at) == (ended.cost["usd"], False, clock.now)
    # and its end event comes again: the window stays as it is
    version = _version(w.stack)
    tracker.refresh(ended)
    assert _version(w.stack) == version
    # Then the next admission run submits the second upload's job at once
    assert _admission(w, clock).admit().submitted == 1
    assert _status(w, second).status is JobStatus.SUBMITTED


def test_a_job_that_alone_could_cost_more_than_the_budget_is_rejected(
    w: BedrockWorld, clock: ManualClock
) -> None:
    too_big, small = _queue_uploads(w, clock, 80.0, 5.0)
    w.finish_requests()  # forget the wakes of intake
    summary = _admission(w, clock).admit()
    rejected = _status(w, too_big)
    assert rejected.status is JobStatus.REJECTED
    assert rejected.message is not None
    assert "could cost up to $80.00, more than the whole daily budget of $50.00" in (
        rejected.message
    )
    report = json.loads(
        w.stack.s3_client.get_object(
            Bucket=w.stack.results_bucket, Key=f"reports/bedrock_batch/{too_big.job_id}.json"
        )["Body"].read()
    )
    assert report["reason"] == rejected.message
    assert w.finish_requests() == [too_big.parent_id]  # its upload finishes, with that reason
    # and the run went on: nothing of the rejected job is held, the next job got its turn
    assert (summary.rejected, summary.submitted) == (1, 1)
    assert sorted(_entries(_window(w.stack, clock))) == [small.job_id]


def test_a_job_bedrock_pushes_back_on_gives_its_reservation_back(
    w: BedrockWorld, clock: ManualClock
) -> None:
    (job,) = _queue_uploads(w, clock, 30.0)
    w.fake.quota_per_model = 0  # ServiceQuotaExceededException
    assert _admission(w, clock).admit().full_models == 1
    assert _status(w, job).status is JobStatus.QUEUED
    assert _window(w.stack, clock).state().entries == ()


def test_a_job_of_unknown_price_goes_without_holding_room(
    w: BedrockWorld, clock: ManualClock
) -> None:
    unknown, known = _queue_uploads(w, clock, None, 45.0)
    assert _admission(w, clock).admit().submitted == 2
    state = _window(w.stack, clock).state()
    assert (state.spent_usd, state.unknown_jobs, state.jobs) == (45.0, 1, 2)
    assert iso(state.entries[0].at) == iso(clock.now)
    assert {unknown.job_id, known.job_id} == {entry.key for entry in state.entries}


def test_on_demand_spend_is_not_held_but_counts_once_its_job_ends(stack: Stack) -> None:
    # Given a stack that runs small uploads on demand, under a daily budget
    w = world(stack, daily_budget_usd=CAP, on_demand="Enabled")
    clock = ManualClock(utcnow())
    window = _window(stack, clock)
    workers = w.on_demand
    w.on_demand = lambda: replace(workers(), spend=window)  # type: ignore[method-assign]
    # When an upload too small for a batch job is answered on demand
    upload = w.submitter().submit(w.upload(f"bedrock-batch/{MODEL}/small/in.jsonl", jsonl(40)))
    w.drain_on_demand()
    # Then its job's cost counts in the window, from when the job began
    (job_id,) = upload.children
    job = w.ledger.get(job_id)
    assert job is not None and job.status is JobStatus.SUCCEEDED
    assert job.cost is not None and job.cost["mode"] == "on_demand"
    began = next(entry.at for entry in job.history if entry.status is JobStatus.SUBMITTED)
    assert _entries(window)[job_id] == SpendEntry(
        job_id, job.cost["usd"], datetime.fromisoformat(began).replace(microsecond=0)
    )


def test_a_run_woken_for_another_model_does_not_pass_a_job_that_waits(
    w: BedrockWorld, clock: ManualClock
) -> None:
    # Given a job waiting for the budget, and then a small upload of another model
    first, second = _queue_uploads(w, clock, 30.0, 30.0)
    _admission(w, clock).admit()
    other_model = "anthropic.claude-haiku-4-5-20251001-v1:0"
    upload = w.submitter().submit(w.upload(f"bedrock-batch/{other_model}/u/in.jsonl", jsonl(120)))
    (third_id,) = upload.children
    clock.tick(seconds=1)
    third = w.stack.ledger(clock=clock).annotate(
        third_id, KIND, JobStatus.QUEUED, updates={"estimate": _estimate(1.0)}
    )
    assert third is not None
    # When admission is woken for the other model alone (as its upload's intake wakes it)
    summary = _admission(w, clock).admit(other_model)
    # Then it still takes the oldest first: the waiting job keeps its place, and the later
    # job waits behind it although it would fit
    assert (summary.submitted, summary.waiting_for_budget) == (0, 1)
    assert _status(w, second).status is JobStatus.QUEUED
    assert _status(w, third).status is JobStatus.QUEUED
    assert _status(w, first).status is JobStatus.SUBMITTED
