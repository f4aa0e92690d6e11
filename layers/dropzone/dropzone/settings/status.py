"""The status publisher's settings."""

from __future__ import annotations

from dropzone.settings import EnvModel


class StatusPublisherSettings(EnvModel):
    event_bus_name: str = "default"
