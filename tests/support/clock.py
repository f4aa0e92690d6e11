"""A clock the test moves by hand."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@dataclass
class ManualClock:
    """Called like `dropzone.clock.utcnow`; stands still until `tick` moves it."""

    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now

    def tick(self, **delta: float) -> None:
        self.now += timedelta(**delta)
