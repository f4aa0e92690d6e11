"""Delivering the stand-ins' service events (Bedrock's job states, Greengrass deployment
statuses) to EventBridge, reliably or as best effort."""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

Event = dict[str, Any]
Deliver = Callable[[Event], None]


@dataclass
class PutEventsDelivery:
    """Deliver events through EventBridge PutEvents (moto only: `aws.*` sources are
    reserved in AWS). EventBridge assigns its own `id`; `time` is kept."""

    client: Any
    bus_name: str = "default"

    def __call__(self, event: Event) -> None:
        response = self.client.put_events(
            Entries=[
                {
                    "Source": event["source"],
                    "DetailType": event["detail-type"],
                    "Detail": json.dumps(event["detail"]),
                    "Resources": event["resources"],
                    "Time": datetime.strptime(event["time"], "%Y-%m-%dT%H:%M:%SZ").replace(
                        tzinfo=UTC
                    ),
                    "EventBusName": self.bus_name,
                }
            ]
        )
        if response.get("FailedEntryCount"):
            raise RuntimeError(f"PutEvents refused the event: {response['Entries']}")


@dataclass
class UnreliableDelivery:
    """Best-effort delivery, as EventBridge gives it: wraps a deliver function and, per
    event and deterministically from `seed`, drops it, delivers it twice, or holds it
    back until `flush()`, which releases the held events in shuffled order (so they
    arrive late and reordered). `drop`, `hold` and `duplicate` are probabilities."""

    deliver: Deliver
    seed: int = 0
    drop: float = 0.0
    hold: float = 0.0
    duplicate: float = 0.0
    dropped: list[Event] = field(default_factory=list, init=False)
    held: list[Event] = field(default_factory=list, init=False)
    delivered: list[Event] = field(default_factory=list, init=False)
    _rng: random.Random = field(init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)  # noqa: S311 - reproducible chaos, not secrets

    def __call__(self, event: Event) -> None:
        with self._lock:
            roll, twice = self._rng.random(), self._rng.random() < self.duplicate
            if roll < self.drop:
                self.dropped.append(event)
                return
            if roll < self.drop + self.hold:
                self.held.append(event)
                return
        self._pass_on([event, event] if twice else [event])

    def flush(self) -> int:
        """Deliver every held event, in shuffled order; return how many."""
        with self._lock:
            released, self.held = self.held, []
            self._rng.shuffle(released)
        self._pass_on(released)
        return len(released)

    def _pass_on(self, events: list[Event]) -> None:
        for event in events:
            self.deliver(event)
            with self._lock:
                self.delivered.append(event)
