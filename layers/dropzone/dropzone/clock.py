"""Time in one place, so tests and the local cloud can move it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

_offset = timedelta(0)


def utcnow() -> datetime:
    """The current time in UTC, shifted by `advance()` (which only local runs call)."""
    return datetime.now(UTC) + _offset


def advance(delta: timedelta) -> None:
    """Move Dropzone's clock forward, e.g. to let the local cloud reach a deadline."""
    global _offset
    if delta < timedelta(0):
        raise ValueError("the clock only moves forward")
    _offset += delta


def reset() -> None:
    global _offset
    _offset = timedelta(0)


def iso(moment: datetime) -> str:
    """ISO 8601 in UTC with millisecond precision; sorts lexically in time order."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
