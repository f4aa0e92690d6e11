"""boto3 clients with one retry policy, created lazily and once per container."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

import boto3
from botocore.config import Config

# botocore's own retries with client-side rate limiting; no retry loops elsewhere.
RETRY_CONFIG = Config(
    retries={"mode": "adaptive", "max_attempts": 5},
    connect_timeout=5,
    read_timeout=30,
)

_overrides: dict[str, Any] = {}


@cache
def _boto_client(service_name: str) -> Any:
    return boto3.client(service_name, config=RETRY_CONFIG)  # type: ignore[call-overload]


def client(service_name: str) -> Any:
    """The container's client for a service (or the stand-in installed by the local cloud)."""
    return _overrides.get(service_name) or _boto_client(service_name)


def reset_clients() -> None:
    """Forget every cached client, e.g. after switching credentials or endpoints."""
    _boto_client.cache_clear()


@contextmanager
def override_clients(clients: dict[str, Any]) -> Iterator[None]:
    """Serve these objects in place of boto3 clients, for local emulation of services
    that moto lacks. Restores the previous state on exit."""
    previous = dict(_overrides)
    _overrides.update(clients)
    try:
        yield
    finally:
        _overrides.clear()
        _overrides.update(previous)


def error_code(error: Exception) -> str:
    """The AWS error code of a botocore ClientError, or '' for anything else."""
    response = getattr(error, "response", None)
    if not isinstance(response, dict):
        return ""
    return str(response.get("Error", {}).get("Code", ""))


def http_status(error: Exception) -> int:
    response = getattr(error, "response", None)
    if not isinstance(response, dict):
        return 0
    return int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
