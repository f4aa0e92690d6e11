"""LocalCloud's shortcuts through moto deliver what the client calls did: the table stream
reader hands out each record once, as the DynamoDB Streams client returns it, and again
from a failed one; a received SQS message still honours the queue's retention period."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from dropzone_local.cloud import LocalCloud
from dropzone_local.moto_paths import TableStreams
from dropzone_local.provision import ACCOUNT


def _client_records(cloud: LocalCloud, stream_arn: str) -> list[dict[str, Any]]:
    streams = cloud.client("dynamodbstreams")
    shard = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"][0]
    iterator = streams.get_shard_iterator(
        StreamArn=stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    records: list[dict[str, Any]] = streams.get_records(ShardIterator=iterator)["Records"]
    return records


def test_the_stream_reader_hands_out_each_record_once_as_the_client_returns_it() -> None:
    with LocalCloud(function_environment={"POWERTOOLS_LOG_LEVEL": "ERROR"}) as cloud:
        dynamodb, table = cloud.client("dynamodb"), cloud.output("JobsTableName")
        for number in range(3):
            item = {"job_id": {"S": f"job-{number}"}, "size": {"N": str(number)}}
            dynamodb.put_item(TableName=table, Item=item)
        dynamodb.delete_item(TableName=table, Key={"job_id": {"S": "job-0"}})
        stream_arn = dynamodb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
        reader = TableStreams(cloud.region)

        first, rest = reader.read(stream_arn, 3), reader.read(stream_arn, 3)
        assert reader.read(stream_arn, 3) == []

        expected = _client_records(cloud, stream_arn)
        for record in expected:  # botocore parses the time; Lambda sends epoch seconds
            created = record["dynamodb"]["ApproximateCreationDateTime"]
            assert isinstance(created, datetime)
            record["dynamodb"]["ApproximateCreationDateTime"] = int(created.timestamp())
            record["eventSourceARN"] = stream_arn
        assert first + rest == expected
        assert [record["eventName"] for record in rest] == ["REMOVE"]

        # A record handed out is a copy: changing it changes nothing in the stream
        first[0]["dynamodb"]["Keys"]["job_id"]["S"] = "changed"
        reader.retry_from(stream_arn, first[1]["dynamodb"]["SequenceNumber"])
        assert reader.read(stream_arn, 10) == expected[1:]
        reader.retry_from(stream_arn, expected[0]["dynamodb"]["SequenceNumber"])
        assert reader.read(stream_arn, 1)[0]["dynamodb"]["Keys"]["job_id"] == {"S": "job-0"}


def test_a_message_past_the_queue_retention_period_is_not_received() -> None:
    from moto.sqs.models import sqs_backends

    with LocalCloud(function_environment={"POWERTOOLS_LOG_LEVEL": "ERROR"}) as cloud:
        sqs = cloud.client("sqs")
        url = sqs.create_queue(
            QueueName="retention-check", Attributes={"MessageRetentionPeriod": "60"}
        )["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody="fresh")
        sqs.send_message(QueueUrl=url, MessageBody="stale")
        queue = sqs_backends[ACCOUNT][cloud.region].queues["retention-check"]
        queue._messages[1].sent_timestamp -= 120_000  # sent two minutes ago

        received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
        assert [message["Body"] for message in received["Messages"]] == ["fresh"]
        assert "Messages" not in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
