"""boto3 clients with one retry policy, created lazily and once per container."""

from __future__ import annotations

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


@cache
def client(service_name: str) -> Any:
    return boto3.client(service_name, config=RETRY_CONFIG)  # type: ignore[call-overload]


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
