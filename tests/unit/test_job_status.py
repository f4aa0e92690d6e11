from __future__ import annotations

import pytest

from dropzone.models.jobs import JobStatus as S

TERMINAL = [S.SUCCEEDED, S.PARTIALLY_SUCCEEDED, S.FAILED, S.STOPPED, S.EXPIRED, S.REJECTED]


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (S.ACCEPTED, S.QUEUED),
        (S.ACCEPTED, S.SUBMITTED),
        (S.QUEUED, S.SUBMITTED),
        (S.SUBMITTED, S.RUNNING),
        (S.RUNNING, S.SUCCEEDED),
        (S.RUNNING, S.PARTIALLY_SUCCEEDED),
        (S.SUBMITTED, S.EXPIRED),
        (S.ACCEPTED, S.REJECTED),
        (S.QUEUED, S.REJECTED),
        (S.ACCEPTED, S.SUCCEEDED),  # a notification that beats the submit record
    ],
)
def test_forward_moves_are_allowed(old: S, new: S) -> None:
    assert old.can_move_to(new)


@pytest.mark.parametrize("terminal", TERMINAL)
@pytest.mark.parametrize("new", list(S))
def test_terminal_is_final(terminal: S, new: S) -> None:
    assert not terminal.can_move_to(new)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (S.SUBMITTED, S.ACCEPTED),
        (S.RUNNING, S.SUBMITTED),
        (S.RUNNING, S.RUNNING),
        (S.SUBMITTED, S.REJECTED),  # REJECTED means never submitted
        (S.ACCEPTED, S.EXPIRED),  # only what was submitted can expire
        (S.QUEUED, S.QUEUED),
    ],
)
def test_backward_sideways_and_impossible_moves_are_refused(old: S, new: S) -> None:
    assert not old.can_move_to(new)


def test_every_status_but_accepted_has_a_predecessor() -> None:
    assert S.ACCEPTED.predecessors() == []
    assert all(status.predecessors() for status in S if status is not S.ACCEPTED)
