"""The daily budget's rules: what a batch job holds in the window, how waiting reads, and
what an ended job settles. Pure: the window itself is `dropzone.store.spend`, where the
arithmetic of room (`WindowState.has_room`, `WindowState.room_from`) lives beside the
conditional write that relies on it.

A job holds its upper estimate (`estimate.high_usd`) from the moment admission submits it;
once it ends, its actual cost (`cost.usd`) takes the estimate's place, at the same time.
Either counts for 24 hours. A job whose price is unknown holds nothing: it is let through
and counted apart, as a job of unknown price.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from dropzone.errors import InvalidInput
from dropzone.models.jobs import Job, JobStatus
from dropzone.store.spend import Waiting
from dropzone.workflows.bedrock.estimate import usd

PARAMETER = "BedrockDailyBudgetUsd"
WAITING_PREFIX = "waiting for the daily budget"
SUBMITTED_AFTER_WAITING = "submitted once the daily budget had room"


def dollars(amount: float) -> str:
    """An amount as every figure of Dropzone's is written (`estimate.usd`)."""
    return usd(amount)


def minute_after(moment: datetime) -> str:
    """The first whole minute at or after `moment`, in UTC: 2026-12-06T18:04Z."""
    whole = moment.replace(second=0, microsecond=0)
    if whole < moment:
        whole += timedelta(minutes=1)
    return whole.strftime("%Y-%m-%dT%H:%MZ")


def reservation(job: Job) -> float | None:
    """What a job holds in the window while it runs: its estimate's upper bound; None when
    its price is unknown or it carries no estimate."""
    estimate = job.estimate or {}
    if estimate.get("price") != "known":
        return None
    return _dollars_or_none(estimate.get("high_usd"))


def wait_reason(waiting: Waiting) -> str:
    """The QUEUED job's message while it waits for room."""
    room = f"room from {minute_after(waiting.room_from)}" if waiting.room_from else "no room"
    return (
        f"{WAITING_PREFIX}: {dollars(waiting.spent_usd)} spent or held in the last 24 h + up to "
        f"{dollars(waiting.amount_usd)} for this job would pass the "
        f"{dollars(waiting.cap_usd)} cap; {room}"
    )


def is_waiting(message: str | None) -> bool:
    return bool(message) and str(message).startswith(WAITING_PREFIX)


def too_large(waiting: Waiting) -> InvalidInput:
    """The rejection of a job that could never fit: alone, it may cost more than the cap."""
    return InvalidInput.single(
        "estimate",
        f"this job could cost up to {dollars(waiting.amount_usd)}, more than the whole daily "
        f"budget of {dollars(waiting.cap_usd)} ({PARAMETER}), so it could never be submitted; "
        "split the upload into smaller ones, or raise the budget",
    )


@dataclass(frozen=True)
class Settlement:
    """What an ended job settles in the window: its cost (None: unknown), when its spend
    began to count (when it was submitted), and when it ended."""

    usd: float | None
    since: datetime | None
    ended: datetime


def settlement(job: Job) -> Settlement | None:
    """The settlement of an ended job that has a cost; None when it has none (its
    reservation then stays as it is, and ages out)."""
    if job.cost is None:
        return None
    submitted = next(
        (entry.at for entry in job.history if entry.status is JobStatus.SUBMITTED), None
    )
    return Settlement(
        usd=_dollars_or_none(job.cost.get("usd")),
        since=_moment(submitted) if submitted else None,
        ended=_moment(job.updated_at),
    )


def _dollars_or_none(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) and value >= 0 else None


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
