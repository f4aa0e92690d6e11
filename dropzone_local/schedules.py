"""The functions' `rate(...)` schedules on the local clock: when each run comes due, and
the Scheduled Event it receives."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from dropzone_local.functions import LocalFunction

_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")


def schedule_period(expression: str) -> timedelta:
    """The period of a `rate(...)` schedule expression."""
    match = _RATE.match(expression)
    if match is None:
        raise ValueError(f"the local cloud runs rate(...) schedules only, not {expression!r}")
    value, unit = int(match.group(1)), match.group(2).rstrip("s")
    return timedelta(**{f"{unit}s": value})


class Schedules:
    """Each schedule's next run: the first one period after the clock first moves."""

    def __init__(self, functions: dict[str, LocalFunction]) -> None:
        self._functions = functions
        self._due: dict[tuple[str, str], datetime] = {}

    def due(self, start: datetime, end: datetime) -> list[tuple[datetime, str, str]]:
        """(time, logical id, expression) of every run that comes due by `end`, in time
        order; a schedule seen for the first time counts its first period from `start`."""
        runs: list[tuple[datetime, str, str]] = []
        for function in self._functions.values():
            for expression in function.schedules:
                period = schedule_period(expression)
                key = (function.logical_id, expression)
                at = self._due.setdefault(key, start + period)
                while at <= end:
                    runs.append((at, function.logical_id, expression))
                    at += period
                self._due[key] = at
        return sorted(runs)

    def all(self) -> list[tuple[str, str]]:
        """(logical id, expression) of every schedule."""
        return [
            (function.logical_id, expression)
            for function in self._functions.values()
            for expression in function.schedules
        ]


def scheduled_event(expression: str, at: datetime, *, account: str, region: str) -> dict[str, Any]:
    """The event EventBridge Scheduler hands a function for one run of its schedule."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.scheduler",
        "account": account,
        "time": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [expression],
        "detail": {},
    }
