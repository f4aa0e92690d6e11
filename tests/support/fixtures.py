from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws

from dropzone import aws
from dropzone.adapters.s3 import S3
from dropzone.ledger import Ledger
from dropzone.local.template import load_template


@dataclass
class LambdaContext:
    function_name: str = "dropzone-test"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:dropzone-test"
    aws_request_id: str = "00000000-0000-4000-8000-000000000000"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


@pytest.fixture
def lambda_context() -> LambdaContext:
    return LambdaContext()


@pytest.fixture
def moto_aws() -> Iterator[None]:
    aws.reset_clients()
    with mock_aws():
        yield
    aws.reset_clients()


@pytest.fixture
def atomic_dynamodb(moto_aws: None) -> None:
    """DynamoDB applies each conditional write atomically; moto does not lock. Give it the
    same guarantee, so races between threads behave as they do in AWS."""
    from moto.dynamodb.models import DynamoDBBackend

    lock = threading.RLock()
    patched: dict[str, Any] = {}
    for name in ("put_item", "update_item", "delete_item", "get_item"):
        original = getattr(DynamoDBBackend, name)

        def locked(self: Any, *args: Any, __original: Any = original, **kwargs: Any) -> Any:
            with lock:
                return __original(self, *args, **kwargs)

        patched[name] = original
        setattr(DynamoDBBackend, name, locked)
    yield  # type: ignore[misc]
    for name, original in patched.items():
        setattr(DynamoDBBackend, name, original)


@dataclass
class Stack:
    table_name: str
    dropzone_bucket: str
    results_bucket: str
    dynamodb: Any
    s3_client: Any

    def ledger(self, **kwargs: Any) -> Ledger:
        return Ledger(self.table_name, self.dynamodb, **kwargs)

    def s3(self) -> S3:
        return S3(self.s3_client)


def create_jobs_table(client: Any, table_name: str) -> None:
    """Create the jobs table exactly as template.yaml declares it."""
    properties = load_template()["Resources"]["JobsTable"]["Properties"]
    client.create_table(
        TableName=table_name,
        AttributeDefinitions=properties["AttributeDefinitions"],
        KeySchema=properties["KeySchema"],
        GlobalSecondaryIndexes=properties["GlobalSecondaryIndexes"],
        BillingMode=properties["BillingMode"],
        StreamSpecification={"StreamEnabled": True, **properties["StreamSpecification"]},
    )


@pytest.fixture
def stack(moto_aws: None) -> Stack:
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    s3 = boto3.client("s3", region_name="us-east-1")
    create_jobs_table(dynamodb, "dropzone-jobs")
    for bucket in ("dropzone-drop", "dropzone-results"):
        s3.create_bucket(Bucket=bucket)
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    return Stack("dropzone-jobs", "dropzone-drop", "dropzone-results", dynamodb, s3)
