"""The daily budget's pure rules: room in the window, when it frees, how waiting reads,
what a job holds and settles, and how the window's item stays under DynamoDB's 400 KB."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dropzone.models.jobs import Job, JobKind, JobStatus, SourceObject, Transition
from dropzone.settings.bedrock import BEDROCK_LEASE
from dropzone.store import spend
from dropzone.store.spend import (
    DAY,
    MAX_ENTRIES,
    MERGED_PREFIX,
    SpendEntry,
    SpendWindowFull,
    Waiting,
    WindowState,
    bounded,
    window_item,
    window_state,
)
from dropzone.workflows.bedrock import budget

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def _state(*entries: tuple[str, float | None, float], held: bool = False) -> WindowState:
    """Entries as (job id, dollars, hours ago)."""
    return WindowState(
        tuple(
            SpendEntry(job_id, usd, NOW - timedelta(hours=hours), held=held)
            for job_id, usd, hours in sorted(entries, key=lambda e: -e[2])
        ),
        NOW,
    )


def _job(**fields: Any) -> Job:
    record: dict[str, Any] = {
        "job_id": "dz-" + "a" * 40 + "-p001",
        "kind": JobKind.BEDROCK_BATCH,
        "status": JobStatus.QUEUED,
        "source": SourceObject(bucket="drop", key="bedrock-batch/m/b/in.jsonl"),
        "target": "anthropic.claude-3-haiku-20240307-v1:0",
        "created_at": "2026-12-06T10:00:00.000Z",
        "updated_at": "2026-12-06T10:00:00.000Z",
    }
    return Job(**{**record, **fields})


def _estimate(high: float | None, price: str = "known") -> dict[str, Any]:
    return {
        "records": 120,
        "input_tokens": 12_000,
        "max_output_tokens": 7_680,
        "mode": "batch",
        "price": price,
        "low_usd": None if high is None else high / 4,
        "high_usd": high,
        "prices_checked": "2026-11-30",
        "calibration": None,
    }


# -- room, and when it frees


def test_room_is_the_cap_less_what_the_window_holds() -> None:
    state = _state(("a", 30.0, 20), ("b", 11.2, 2), ("c", None, 1))
    assert state.spent_usd == pytest.approx(41.2)
    assert state.unknown_jobs == 1 and state.jobs == 3
    assert state.room_usd(50) == pytest.approx(8.8)
    assert state.has_room(8.8, 50)
    assert not state.has_room(8.81, 50)
    assert state.room_usd(40) == 0


def test_room_frees_as_the_oldest_spend_ages_out() -> None:
    state = _state(("a", 30.0, 20), ("b", 11.2, 2))
    # $12.50 fits once a's $30 leaves the window, 24 h after it began: 4 h from now
    assert state.room_from(12.5, 50) == NOW + timedelta(hours=4)
    # $45 also needs b's $11.20 gone: 22 h from now
    assert state.room_from(45, 50) == NOW + timedelta(hours=22)
    assert state.room_from(8, 50) == NOW  # it fits already
    assert state.room_from(50.01, 50) is None  # more than the cap: never
    assert state.next_ages_out == NOW + timedelta(hours=4)


def test_spend_of_unknown_price_takes_no_room() -> None:
    state = _state(("a", None, 1), ("b", None, 2))
    assert state.spent_usd == 0 and state.room_from(50, 50) == NOW


def test_an_empty_window_has_the_whole_cap() -> None:
    state = WindowState((), NOW)
    assert state.room_usd(50) == 50 and state.next_ages_out is None
    assert state.room_from(50, 50) == NOW


# -- the reason a job waits, and why one is rejected


def test_the_waiting_reason_gives_the_numbers_and_the_minute_room_frees() -> None:
    waiting = Waiting("j", 41.2, 12.5, 50.0, datetime(2026, 12, 6, 18, 3, 10, tzinfo=UTC))
    assert budget.wait_reason(waiting) == (
        "waiting for the daily budget: $41.20 spent or held in the last 24 h + up to $12.50"
        " for this job would pass the $50.00 cap; room from 2026-12-06T18:04Z"
    )
    assert budget.is_waiting(budget.wait_reason(waiting))
    assert not budget.is_waiting("queued: part 1 of 2") and not budget.is_waiting(None)


def test_a_job_over_the_whole_budget_is_rejected_with_both_amounts() -> None:
    invalid = budget.too_large(Waiting("j", 0.0, 80.0, 50.0, None))
    assert invalid.message.startswith("estimate: this job could cost up to $80.00, more ")
    assert "daily budget of $50.00 (BedrockDailyBudgetUsd)" in invalid.message


@pytest.mark.parametrize(
    ("amount", "text"),
    [(41.2, "$41.20"), (1234.5, "$1,234.50"), (0.0042, "$0.0042"), (0, "$0.00")],
)
def test_dollars(amount: float, text: str) -> None:
    assert budget.dollars(amount) == text


def test_the_minute_is_never_early() -> None:
    assert budget.minute_after(datetime(2026, 12, 6, 18, 4, tzinfo=UTC)) == "2026-12-06T18:04Z"
    assert budget.minute_after(datetime(2026, 12, 6, 18, 4, 0, 1, tzinfo=UTC)) == (
        "2026-12-06T18:05Z"
    )


# -- what a job holds, and what it settles


def test_a_job_holds_its_upper_estimate_and_nothing_when_its_price_is_unknown() -> None:
    assert budget.reservation(_job(estimate=_estimate(12.5))) == 12.5
    assert budget.reservation(_job(estimate=_estimate(None, price="unknown"))) is None
    assert budget.reservation(_job()) is None  # queued before estimates existed


def test_an_ended_job_settles_its_cost_from_when_it_was_submitted() -> None:
    history = [
        Transition(status=JobStatus.QUEUED, at="2026-12-06T10:00:00.000Z"),
        Transition(status=JobStatus.SUBMITTED, at="2026-12-06T10:05:00.000Z"),
        Transition(status=JobStatus.SUCCEEDED, at="2026-12-06T11:00:00.000Z"),
    ]
    job = _job(history=history, updated_at="2026-12-06T11:00:00.000Z")
    assert budget.settlement(job) is None  # no cost: the reservation stays
    cost = {"usd": 9.75, "input_tokens": 1, "output_tokens": 1, "mode": "batch", "price": "known"}
    due = budget.settlement(job.model_copy(update={"cost": cost}))
    assert due == budget.Settlement(
        usd=9.75,
        since=datetime(2026, 12, 6, 10, 5, tzinfo=UTC),
        ended=datetime(2026, 12, 6, 11, 0, tzinfo=UTC),
    )
    unknown = budget.settlement(job.model_copy(update={"cost": {**cost, "usd": None}}))
    assert unknown is not None and unknown.usd is None


# -- the item: read back as written, merged past its bound, under 400 KB


def test_the_item_reads_back_as_it_was_written_without_what_aged_out() -> None:
    entries = {
        "old": SpendEntry("old", 5.0, NOW - DAY),
        "held": SpendEntry("held", 12.5, NOW - timedelta(hours=1), held=True),
        "unknown": SpendEntry("unknown", None, NOW - timedelta(minutes=5)),
    }
    state = window_state(window_item(entries, 3, NOW), NOW)
    assert [entry.key for entry in state.entries] == ["held", "unknown"]
    assert state.entries[0] == entries["held"]
    assert state.held_usd == 12.5 and state.unknown_jobs == 1
    assert window_state(None, NOW) == WindowState((), NOW)


def test_past_its_bound_the_oldest_ended_jobs_merge_into_one_entry_a_minute() -> None:
    minute = NOW - timedelta(hours=3)
    entries = {
        "a": SpendEntry("a", 1.0, minute + timedelta(seconds=10)),
        "b": SpendEntry("b", None, minute + timedelta(seconds=50)),
        "held": SpendEntry("held", 9.0, minute, held=True),  # never merged
        "c": SpendEntry("c", 2.0, NOW),
    }
    merged = bounded(entries, limit=2)
    key = MERGED_PREFIX + minute.strftime("%Y-%m-%dT%H:%M")
    assert sorted(merged) == sorted(["held", "c", key])
    assert merged[key] == SpendEntry(
        key, 1.0, minute + timedelta(seconds=50), jobs=2, unknown_jobs=1
    )
    state = window_state(window_item(merged, 1, NOW), NOW)
    assert state.spent_usd == 12.0 and state.jobs == 4 and state.unknown_jobs == 1
    with pytest.raises(SpendWindowFull, match="reservations"):
        bounded({"x": entries["held"], "y": entries["held"]}, limit=1)


def _dynamodb_size(value: dict[str, Any]) -> int:
    """An attribute value's size as DynamoDB counts it: strings in UTF-8 bytes; a number
    about one byte per two significant digits, plus one; booleans one byte; a map 3 bytes
    plus, for each element, 1 byte, its name and its value."""
    ((kind, inner),) = value.items()
    if kind == "S":
        return len(inner.encode())
    if kind == "N":
        digits = len(inner.replace("-", "").replace(".", "").lstrip("0")) or 1
        return (digits + 1) // 2 + 1
    if kind == "BOOL":
        return 1
    assert kind == "M", kind
    return 3 + sum(1 + len(name.encode()) + _dynamodb_size(v) for name, v in inner.items())


def test_the_fullest_window_fits_an_item_with_room_to_spare() -> None:
    """MAX_ENTRIES held jobs with the longest ids and amounts, and every minute of the day
    merged: still well under 400 KB."""
    at = NOW - timedelta(seconds=1)
    longest = 63  # Bedrock job names, and so Dropzone's job ids, are at most 63 characters
    entries = {
        f"{index:0{longest}d}": SpendEntry(f"{index:0{longest}d}", 987654.123456, at, held=True)
        for index in range(MAX_ENTRIES)
    }
    for minute in range(24 * 60 + 1):
        moment = NOW - DAY + timedelta(minutes=minute, seconds=59)
        key = MERGED_PREFIX + moment.strftime("%Y-%m-%dT%H:%M")
        entries[key] = SpendEntry(key, 987654.123456, moment, jobs=9999, unknown_jobs=9999)
    item = window_item(entries, 10**12, NOW)
    size = sum(len(name) + _dynamodb_size(value) for name, value in item.items())
    assert size < 350_000, size


def test_the_admission_lease_counts_every_try_at_the_window() -> None:
    (admission,) = [guard for guard in BEDROCK_LEASE if guard.holder.endswith("._admit_one")]
    window_calls = [call for call in admission.calls if call.operation in ("dynamodb:PutItem",)]
    assert [call.count for call in window_calls] == [spend.ATTEMPTS, spend.ATTEMPTS]


def test_amounts_are_dollars_not_nonsense() -> None:
    with pytest.raises(ValueError, match="finite"):
        spend._amount(float("nan"))
    with pytest.raises(ValueError, match="≥ 0"):
        spend._amount(-1.0)
