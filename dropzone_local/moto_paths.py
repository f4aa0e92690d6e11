"""Shortcuts through moto for LocalCloud's own plumbing, where a client call costs far more
than what it finds out. Dropzone's functions never take the first and third: their calls
still go through botocore and moto's request handling. The second changes how moto
checks retention inside every ReceiveMessage while the local cloud runs, whoever
receives, and decides as moto does.

- Table streams. Lambda's event source mapping reads a stream's records from moto's shard
  itself. Through the DynamoDB Streams client, moto serialised every record's old and new
  images attribute by attribute against the service model and botocore parsed them back:
  about 4 ms a record, more than the write that made it.
- SQS receives. moto checks each message it hands out against the queue's retention
  period by computing every attribute of the queue, three times, and each attribute
  (the approximate message counts) walks every message in the queue: a receive of k
  messages from a queue of n costs k·3n. `sqs_retention_by_attribute` reads the one
  attribute instead, for as long as the local cloud runs; the rule is moto's own.
- Empty queues. Lambda's event source mapping polls every queue it watches, and most polls
  find nothing. A ReceiveMessage asks moto's queue for `messages` (those visible and not
  delayed, at the time of the call) and walks only those, so when that list is empty and
  the queue does not long-poll, the receive answers nothing and changes nothing: an
  in-flight or postponed message stays hidden, a delayed one waits, a FIFO group stays
  locked, and no message moves to a dead-letter queue. `QueueReads.may_receive` says
  False only then; otherwise the receive is a client call, and moto decides (a message
  whose visibility timeout has passed is visible again, and moto's receive returns it).
  `QueueReads.depths` gives ApproximateNumberOfMessages (moto's own count, the length of
  that list) of the queues ListQueues would list, as GetQueueAttributes would.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from dropzone_local.provision import ACCOUNT


class TableStreams:
    """Where each table stream's reader stands: the next sequence number it will read."""

    def __init__(self, region: str) -> None:
        self._region = region
        self._positions: dict[str, int] = {}

    def read(self, stream_arn: str, limit: int) -> list[dict[str, Any]]:
        """The next `limit` records at most, as Lambda hands them to a function, and the
        reader moved past them."""
        shard = self._shard(stream_arn)
        start = self._positions.get(stream_arn, shard.starting_sequence_number)
        records = [_lambda_record(record, stream_arn) for record in shard.get(start, limit)]
        if records:
            self._positions[stream_arn] = int(records[-1]["dynamodb"]["SequenceNumber"]) + 1
        return records

    def retry_from(self, stream_arn: str, sequence_number: str) -> None:
        """Read again from this record on (a batch item failure)."""
        self._positions[stream_arn] = int(sequence_number)

    def _shard(self, stream_arn: str) -> Any:
        from moto.dynamodbstreams.models import dynamodbstreams_backends

        backend = dynamodbstreams_backends[ACCOUNT][self._region]
        shard = backend._get_table_from_arn(stream_arn).stream_shard
        if shard is None:
            raise RuntimeError(f"the table of {stream_arn} has no stream")
        return shard


class QueueReads:
    """What a receive or GetQueueAttributes would find in moto's queues, read directly."""

    def __init__(self, region: str) -> None:
        self._region = region

    def may_receive(self, url: str, count: int) -> bool:
        """False when a ReceiveMessage of `count` messages at most, with no WaitTimeSeconds,
        would answer no message and change nothing; True when it might."""
        queue = self._backend().queues.get(url.rsplit("/", 1)[-1])
        if queue is None or not 1 <= count <= 10:
            return True  # the client's call gets moto's error
        if int(queue.receive_message_wait_time_seconds) != 0:
            return True  # a long poll waits for messages to come
        return bool(queue.messages)

    def depths(self, prefix: str) -> list[tuple[str, int]]:
        """(name, ApproximateNumberOfMessages) of each queue ListQueues lists for the
        prefix, in its order (moto's match, and its first 1,000 without MaxResults)."""
        queues = self._backend().list_queues(prefix)[:1000]
        return [(queue.name, int(queue.approximate_number_of_messages)) for queue in queues]

    def _backend(self) -> Any:
        from moto.sqs.models import sqs_backends

        return sqs_backends[ACCOUNT][self._region]


def _lambda_record(record: dict[str, Any], stream_arn: str) -> dict[str, Any]:
    """A copy of moto's record (whose dicts moto keeps), in the JSON Lambda delivers: the
    creation time in epoch seconds."""
    images = {
        name: value
        for name, value in record["dynamodb"].items()
        if name != "ApproximateCreationDateTime"
    }
    copied: dict[str, Any] = json.loads(json.dumps({**record, "dynamodb": images}))
    created = record["dynamodb"].get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        aware = created if created.tzinfo else created.replace(tzinfo=UTC)  # moto: naive UTC
        copied["dynamodb"]["ApproximateCreationDateTime"] = int(aware.timestamp())
    copied["eventSourceARN"] = stream_arn
    return copied


@contextmanager
def sqs_retention_by_attribute() -> Iterator[None]:
    """moto's retention check on receive, reading only MessageRetentionPeriod."""
    from moto.core.utils import unix_time
    from moto.sqs.models import SQSBackend

    original = SQSBackend.is_message_valid_based_on_retention_period

    def within_retention(self: SQSBackend, queue_name: str, message: Any) -> bool:
        queue: Any = self.get_queue(queue_name)  # set from its attributes, untyped
        retention = int(queue.message_retention_period)
        return bool(retention + message.sent_timestamp / 1000 > unix_time())

    SQSBackend.is_message_valid_based_on_retention_period = within_retention  # type: ignore[method-assign]
    try:
        yield
    finally:
        SQSBackend.is_message_valid_based_on_retention_period = original  # type: ignore[method-assign]
