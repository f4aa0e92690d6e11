"""Helpers for driving `dropzone` (the CLI) in tests: real clients behind Stubbers."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import boto3
from botocore.stub import Stubber

REGION = "us-east-1"
ACCOUNT = "123456789012"
STACK = "dropzone-test"


class StubbedClients:
    """One real client per service, each with a Stubber; pass `self` as `clients=`."""

    def __init__(self, *services: str, real: dict[str, Any] | None = None) -> None:
        self.clients: dict[str, Any] = dict(real or {})
        self.stubs: dict[str, Stubber] = {}
        for service in services:
            client = boto3.client(service, region_name=REGION)  # type: ignore[call-overload]
            self.clients[service] = client
            self.stubs[service] = Stubber(client)

    def __call__(self, service: str) -> Any:
        if service not in self.clients:
            raise AssertionError(f"the command asked for an unexpected {service} client")
        return self.clients[service]

    def __getitem__(self, service: str) -> Stubber:
        return self.stubs[service]

    @contextmanager
    def active(self) -> Iterator[StubbedClients]:
        with ExitStack() as stack:
            for stub in self.stubs.values():
                stack.enter_context(stub)
            yield self
            for stub in self.stubs.values():
                stub.assert_no_pending_responses()


def stack_description(
    outputs: dict[str, str] | None = None,
    status: str = "UPDATE_COMPLETE",
    name: str = STACK,
    parameters: dict[str, str] | None = None,
) -> dict[str, Any]:
    return {
        "Stacks": [
            {
                "StackName": name,
                "StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{name}/1",
                "CreationTime": "2026-11-01T00:00:00Z",
                "StackStatus": status,
                "Outputs": [
                    {"OutputKey": key, "OutputValue": value}
                    for key, value in (outputs or {}).items()
                ],
                "Parameters": [
                    {"ParameterKey": key, "ParameterValue": value}
                    for key, value in (parameters or {}).items()
                ],
            }
        ]
    }


def resource_summaries(resources: list[tuple[str, str, str]]) -> dict[str, Any]:
    """ListStackResources' answer for (logical id, physical id, type) triples."""
    return {
        "StackResourceSummaries": [
            {
                "LogicalResourceId": logical,
                "PhysicalResourceId": physical,
                "ResourceType": resource_type,
                "LastUpdatedTimestamp": "2026-11-01T00:00:00Z",
                "ResourceStatus": "CREATE_COMPLETE",
            }
            for logical, physical, resource_type in resources
        ]
    }


def queue_url(name: str) -> str:
    return f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{name}"


def queue_arn(name: str) -> str:
    return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"


def function_arn(name: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
