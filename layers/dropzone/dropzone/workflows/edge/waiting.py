"""The devices of an edge deployment that still owe a final report, as both kinds of
deployment count them (edge_waiting in dropzone.workflows.edge.rules, greengrass_waiting in
greengrass_rules), and the message of a deployment that expired waiting for them."""

from __future__ import annotations

from dataclasses import dataclass

_NAMES_SHOWN = 20


@dataclass(frozen=True)
class Waiting:
    """The devices of a deployment without a final report."""

    names: list[str]  # the ones known by name
    labels: list[str]  # for the message: names, with a status where one was reported
    count: int
    total: int


def expiry_message(waiting: Waiting, hours: int, noun: str) -> str:
    """Why a deployment expired: the devices that never sent a final report."""
    shown = ", ".join(waiting.labels[:_NAMES_SHOWN])
    if len(waiting.labels) > _NAMES_SHOWN:
        shown += f" and {len(waiting.labels) - _NAMES_SHOWN} more"
    message = (
        f"no final report within {hours} hours from {waiting.count} of {waiting.total} "
        f"{noun}" + (f": {shown}" if shown else "")
    )
    return message[:1000]
