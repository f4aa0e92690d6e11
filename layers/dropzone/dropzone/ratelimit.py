"""A call-rate budget: calls evenly spaced so that no window of one second ever holds more
than the service's limit, with a safety margin for clock jitter and other callers."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

DEFAULT_SAFETY_FACTOR = 0.9


class Pacer:
    """At most `rate` calls a second, one every 1/rate seconds (no bursts).

    Evenly spaced calls at rate r put at most floor(r) + 1 calls in any one-second window
    (a pacer at exactly 5 could fit 6 into a closed window), so a pacer at 4.5 calls a
    second stays within a 5 TPS limit. The clock and sleep are
    injectable, so tests run instantly on a fake clock.
    """

    def __init__(
        self,
        rate: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0 or math.isinf(rate) or math.isnan(rate):
            raise ValueError(f"rate must be a positive number of calls a second, got {rate}")
        self.interval = 1.0 / rate
        self._clock = clock
        self._sleep = sleep
        self._next: float | None = None

    @classmethod
    def within(
        cls,
        limit: float,
        *,
        safety_factor: float = DEFAULT_SAFETY_FACTOR,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> Pacer:
        """A pacer for a service limit of `limit` calls a second, kept below it."""
        if not 0 < safety_factor <= 1:
            raise ValueError(f"safety_factor must be in (0, 1], got {safety_factor}")
        return cls(limit * safety_factor, clock=clock, sleep=sleep)

    def wait_seconds(self) -> float:
        """How long the next call would have to wait."""
        if self._next is None:
            return 0.0
        return max(0.0, self._next - self._clock())

    def acquire(self) -> None:
        """Wait for the next slot, then take it."""
        delay = self.wait_seconds()
        if delay > 0:
            self._sleep(delay)
        now = self._clock()
        start = now if self._next is None else max(now, self._next)
        self._next = start + self.interval
