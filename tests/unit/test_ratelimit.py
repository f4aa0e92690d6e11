"""The pacer keeps calls within a service's TPS limit."""

from __future__ import annotations

import pytest

from dropzone.ratelimit import Pacer


def test_the_pacer_spaces_calls_on_an_injected_clock() -> None:
    now = [0.0]
    moments: list[float] = []
    pacer = Pacer.within(5.0, clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))
    for _ in range(50):
        pacer.acquire()
        moments.append(now[0])
    windows = [sum(1 for m in moments if start <= m <= start + 1.0) for start in moments]
    assert max(windows) <= 5
    assert moments[-1] == pytest.approx(49 / 4.5)
    with pytest.raises(ValueError, match="positive"):
        Pacer(0)
