from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from dropzone import aws

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient

MAX_ENTRIES_PER_CALL = 10


class EventBus:
    def __init__(self, bus_name: str = "default", client: EventBridgeClient | None = None) -> None:
        self.bus_name = bus_name
        self._client = client or aws.client("events")

    def put(self, entries: Sequence[dict[str, Any]]) -> list[int]:
        """Send entries in chunks of ten; return the indexes of the entries that failed."""
        failed: list[int] = []
        for start in range(0, len(entries), MAX_ENTRIES_PER_CALL):
            chunk = [
                {**entry, "EventBusName": self.bus_name}
                for entry in entries[start : start + MAX_ENTRIES_PER_CALL]
            ]
            response = self._client.put_events(Entries=chunk)  # type: ignore[arg-type]
            if response.get("FailedEntryCount", 0):
                failed.extend(
                    start + offset
                    for offset, result in enumerate(response["Entries"])
                    if result.get("ErrorCode")
                )
        return failed
