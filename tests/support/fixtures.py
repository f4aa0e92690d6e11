from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from dropzone import aws
from dropzone.adapters.s3 import S3
from dropzone.store.ledger import Ledger
from dropzone_local.lambda_context import LambdaContext
from dropzone_local.template import load_template, resources_of_type


@pytest.fixture
def lambda_context() -> LambdaContext:
    return LambdaContext(
        function_name="dropzone-test",
        timeout_seconds=30,
        memory_limit_in_mb=256,
        aws_request_id="00000000-0000-4000-8000-000000000000",
    )


@pytest.fixture
def moto_aws() -> Iterator[None]:
    from moto import mock_aws  # imported here: the unit tests run without moto

    aws.reset_clients()
    with mock_aws():
        yield
    aws.reset_clients()


@pytest.fixture
def atomic_dynamodb(moto_aws: None) -> Iterator[None]:
    """AWS applies each request atomically (a conditional write is checked and applied as
    one step); moto does not lock. Serialise moto's request handling so that races between
    threads behave as they do against AWS."""
    from moto.core.botocore_stubber import BotocoreStubber

    lock = threading.RLock()
    original = BotocoreStubber.__call__

    def locked(self: Any, *args: Any, **kwargs: Any) -> Any:
        with lock:
            return original(self, *args, **kwargs)

    BotocoreStubber.__call__ = locked  # type: ignore[method-assign]
    try:
        yield
    finally:
        BotocoreStubber.__call__ = original  # type: ignore[method-assign]


@dataclass
class Stack:
    table_name: str
    dropzone_bucket: str
    results_bucket: str
    dynamodb: Any
    s3_client: Any
    slots_table: str = "dropzone-slots"

    def ledger(self, **kwargs: Any) -> Ledger:
        return Ledger(self.table_name, self.dynamodb, **kwargs)

    def s3(self) -> S3:
        return S3(self.s3_client)


def create_table(client: Any, logical_id: str, table_name: str) -> None:
    """Create a table exactly as template.yaml declares it."""
    properties = load_template()["Resources"][logical_id]["Properties"]
    request: dict[str, Any] = {
        "TableName": table_name,
        "AttributeDefinitions": properties["AttributeDefinitions"],
        "KeySchema": properties["KeySchema"],
        "BillingMode": properties["BillingMode"],
    }
    if "GlobalSecondaryIndexes" in properties:
        request["GlobalSecondaryIndexes"] = properties["GlobalSecondaryIndexes"]
    if "StreamSpecification" in properties:
        request["StreamSpecification"] = {
            "StreamEnabled": True,
            **properties["StreamSpecification"],
        }
    client.create_table(**request)


def create_jobs_table(client: Any, table_name: str) -> None:
    create_table(client, "JobsTable", table_name)


@pytest.fixture
def stack(moto_aws: None) -> Stack:
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    s3 = boto3.client("s3", region_name="us-east-1")
    create_jobs_table(dynamodb, "dropzone-jobs")
    create_table(dynamodb, "AdmissionSlotsTable", "dropzone-slots")
    for bucket in ("dropzone-drop", "dropzone-results"):
        s3.create_bucket(Bucket=bucket)
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    return Stack(
        "dropzone-jobs", "dropzone-drop", "dropzone-results", dynamodb, s3, "dropzone-slots"
    )


# Every function's POWERTOOLS_METRICS_NAMESPACE, and the namespace of every alarm on
# Dropzone's own metrics, in the folded template: one namespace per (root) stack.
STACK_METRICS_NAMESPACE = {"Fn::Sub": "Dropzone/${AWS::StackName}"}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    """template.yaml as loaded by the local cloud."""
    return load_template()


@pytest.fixture(scope="module")
def alarms(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every CloudWatch alarm of the template: logical id → properties."""
    return {
        name: resource["Properties"]
        for name, resource in resources_of_type(template, "AWS::CloudWatch::Alarm").items()
    }
