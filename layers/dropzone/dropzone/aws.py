"""boto3 clients with one retry policy, created lazily and once per container."""

from __future__ import annotations

from collections.abc import Callable
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

# A model's answer may take minutes (on-demand finishing of Bedrock records): more than the
# read timeout every other call keeps. No call under a lease uses these services.
SERVICE_CONFIGS = {"bedrock-runtime": RETRY_CONFIG.merge(Config(read_timeout=600))}

# Where a function's collaborators get their clients: a service name in, a client out.
# Production passes `client`; the local cloud passes its own, serving stand-ins.
ClientSource = Callable[[str], Any]


@cache
def client(service_name: str) -> Any:
    """The container's boto3 client for a service, created on first use."""
    config = SERVICE_CONFIGS.get(service_name, RETRY_CONFIG)
    return boto3.client(service_name, config=config)  # type: ignore[call-overload]


def reset_clients() -> None:
    """Forget every cached client, e.g. after switching credentials or endpoints."""
    client.cache_clear()


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
