"""A token bucket per model, shared by every concurrent invocation through one DynamoDB item.

On-demand calls of one model, from however many Lambda workers, never exceed `rate` calls a
second beyond a burst of `burst`: in any window of T seconds at most `burst + rate * T`
tokens are taken. The item (`rate#<model id>` in the admission slots table) holds the
tokens left and when they were counted. Taking a token reads the item, refills it for the
time passed, and writes it back only if nobody else wrote it in between (the `at` it read
is still there), so two workers never spend the same token.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from dropzone import aws
from dropzone.clock import utcnow
from dropzone.store.dynamo_items import CONDITION_FAILED

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

KEY_PREFIX = "rate#"
_ATTEMPTS = 8  # conflicting writers before giving the caller a short wait instead


def is_rate_key(key: str) -> bool:
    return key.startswith(KEY_PREFIX)


class RateBuckets:
    def __init__(
        self,
        table_name: str,
        rate: float,
        *,
        burst: float = 1.0,
        client: DynamoDBClient | None = None,
        clock: Callable[[], float] = lambda: utcnow().timestamp(),
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError(f"rate must be positive and burst at least 1, got {rate}, {burst}")
        self.table_name = table_name
        self.rate = rate
        self.burst = burst
        self._client = client or aws.client("dynamodb")
        self._clock = clock

    def take(self, model_id: str) -> float:
        """Take a token of the model's bucket: 0.0 when taken, else the seconds until the
        next one (take nothing then)."""
        key = {"model_id": {"S": f"{KEY_PREFIX}{model_id}"}}
        for _ in range(_ATTEMPTS):
            item = self._client.get_item(
                TableName=self.table_name, Key=key, ConsistentRead=True
            ).get("Item")
            now = self._clock()
            if item is None:
                tokens, at = self.burst, None
            else:
                at = item["at"]["N"]
                elapsed = max(0.0, now - float(at))
                tokens = min(self.burst, float(item["tokens"]["N"]) + elapsed * self.rate)
            if tokens < 1:
                return (1 - tokens) / self.rate
            item = {**key, "tokens": {"N": repr(tokens - 1)}, "at": {"N": repr(now)}}
            try:
                if at is None:
                    self._client.put_item(
                        TableName=self.table_name,
                        Item=item,
                        ConditionExpression="attribute_not_exists(model_id)",
                    )
                else:
                    self._client.put_item(
                        TableName=self.table_name,
                        Item=item,
                        ConditionExpression="#at = :at",
                        ExpressionAttributeNames={"#at": "at"},
                        ExpressionAttributeValues={":at": {"N": at}},
                    )
            except ClientError as error:
                if aws.error_code(error) != CONDITION_FAILED:
                    raise
                continue  # another worker took a token in between: count again
            return 0.0
        return 1 / self.rate
