"""Handlers refuse a missing setting at cold start."""

from __future__ import annotations

from typing import Any

import pytest

from dropzone.errors import ConfigurationError
from functions.packaging_poll import app as poll_app
from tests.support.events import load_event


def test_the_poll_handler_refuses_a_missing_setting(
    lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JOBS_TABLE", "dropzone-jobs")
    monkeypatch.delenv("RESULTS_BUCKET", raising=False)
    poll_app.default_poller.cache_clear()
    with pytest.raises(ConfigurationError, match="RESULTS_BUCKET"):
        poll_app.handler(load_event("packaging_poll.json"), lambda_context)
    poll_app.default_poller.cache_clear()
