"""Admission slots: at most N jobs per model in flight, account-wide.

One item per model holds the set of job ids that hold a slot. Taking a slot is one
conditional write (the set is below the limit, or already holds the job), so concurrent
Lambda invocations can never overfill it, and retrying with the same job id is harmless.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from dropzone import aws
from dropzone.store.dynamo_items import CONDITION_FAILED
from dropzone.store.rate_buckets import is_rate_key
from dropzone.store.spend import is_spend_key

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


class ModelSlots:
    def __init__(self, table_name: str, limit: int, client: DynamoDBClient | None = None) -> None:
        if limit < 1:
            raise ValueError("the slot limit must be at least 1")
        self.table_name = table_name
        self.limit = limit
        self._client = client or aws.client("dynamodb")

    @property
    def client(self) -> DynamoDBClient:
        """The table's client: the daily budget's window (`store.spend`) shares the table."""
        return self._client

    def acquire(self, model_id: str, job_id: str) -> bool:
        try:
            self._client.update_item(
                TableName=self.table_name,
                Key={"model_id": {"S": model_id}},
                UpdateExpression="ADD holders :job",
                ConditionExpression=(
                    "attribute_not_exists(holders) OR size(holders) < :limit "
                    "OR contains(holders, :job_id)"
                ),
                ExpressionAttributeValues={
                    ":job": {"SS": [job_id]},
                    ":job_id": {"S": job_id},
                    ":limit": {"N": str(self.limit)},
                },
            )
        except ClientError as error:
            if aws.error_code(error) == CONDITION_FAILED:
                return False
            raise
        return True

    def release(self, model_id: str, job_id: str) -> None:
        self._client.update_item(
            TableName=self.table_name,
            Key={"model_id": {"S": model_id}},
            UpdateExpression="DELETE holders :job",
            ExpressionAttributeValues={":job": {"SS": [job_id]}},
        )

    def holders(self, model_id: str) -> set[str]:
        item = self._client.get_item(
            TableName=self.table_name, Key={"model_id": {"S": model_id}}, ConsistentRead=True
        ).get("Item", {})
        return set(item.get("holders", {}).get("SS", []))

    def models(self) -> list[str]:
        """The models with a slot item (the table also holds the on-demand rate buckets and
        the daily budget's window)."""
        return list(self.in_use())

    def in_use(self) -> dict[str, int]:
        """Each model with a slot item, and how many jobs hold its slots: one scan."""
        paginator = self._client.get_paginator("scan")
        counts: dict[str, int] = {}
        for page in paginator.paginate(TableName=self.table_name, ConsistentRead=True):
            for item in page.get("Items", []):
                key = item["model_id"]["S"]
                if not is_rate_key(key) and not is_spend_key(key):
                    counts[key] = len(item.get("holders", {}).get("SS", []))
        return counts
