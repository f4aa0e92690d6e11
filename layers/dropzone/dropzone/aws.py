"""boto3 clients with one retry policy, created lazily and once per container."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import boto3
from botocore.config import Config
from botocore.model import ServiceModel

from dropzone import botocore_loader

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


def default_session() -> boto3.Session:
    """boto3's default session, whose botocore session loads service models with
    dropzone.botocore_loader (no listing of every service on the data path)."""
    if boto3.DEFAULT_SESSION is None:
        boto3.setup_default_session()
    assert boto3.DEFAULT_SESSION is not None
    botocore_loader.install(boto3.DEFAULT_SESSION._session)
    return boto3.DEFAULT_SESSION


@cache
def client(service_name: str) -> Any:
    """The container's boto3 client for a service, created on first use."""
    config = SERVICE_CONFIGS.get(service_name, RETRY_CONFIG)
    return default_session().client(service_name, config=config)  # type: ignore[call-overload]


@cache
def service_model(service_name: str) -> ServiceModel:
    """botocore's model of a service, read through the session the clients share: when the
    container has that service's client, its loader has already found and parsed the
    model's file, so neither is done twice."""
    return default_session()._session.get_service_model(service_name)


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
