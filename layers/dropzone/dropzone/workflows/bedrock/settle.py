"""A split parent settles once every one of its parts has ended."""

from __future__ import annotations

from dropzone.store.ledger import Ledger
from dropzone.workflows.bedrock.rules import KIND, awaits_parts, parent_outcome


def settle_parent(ledger: Ledger, parent_id: str) -> None:
    """Give a split parent its final status once every part has ended (idempotent)."""
    parent = ledger.get(parent_id)
    if parent is None or not awaits_parts(parent):
        return  # not split yet (its submit may still be running), or already settled
    outcome = parent_outcome(parent, [ledger.get(child_id) for child_id in parent.children])
    if outcome is None:
        return  # a part has not ended
    ledger.transition(
        parent_id,
        KIND,
        outcome.status,
        message=outcome.message,
        updates={"counts": outcome.counts},
    )
