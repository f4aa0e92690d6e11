"""A bare DynamoDB table on moto, keyed by job_id: what the moto-path tests call against."""

from __future__ import annotations

from typing import Any


def job_table(dynamodb: Any, name: str) -> None:
    """Creates table `name` (hash key job_id, a string; on demand) with `dynamodb`."""
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "job_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "job_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
