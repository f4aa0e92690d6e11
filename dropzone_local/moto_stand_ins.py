"""What the SageMaker stand-in does inside AWS, done inside moto: reading its input object
and publishing its notification, as the endpoint's own service reads and publishes rather
than through a client (`StandInCalls`). Dropzone's functions never take these paths.

- Reading an object. A GetObject of the latest version (no range, no conditions) answers
  moto's key's bytes and changes nothing in moto. The bytes are read from moto's bucket
  when that key is an object moto would answer; a missing bucket or key, a delete marker
  or an object in an archive storage class goes to the client, which answers moto's
  error.
- Publishing. A Publish of a message alone (no subject, attributes, group, deduplication
  or structure) to a topic hands moto's backend the message and no attributes; moto's
  topic delivers it to each subscription (filter policies, raw message delivery, SQS
  queues) in the backend. The same backend call is made here when moto would deliver
  without refusing: the topic exists and is not FIFO (which needs a message group), the
  message is within moto's length limit, and every subscription of the topic is an SQS
  queue that exists. Otherwise the client makes the call and raises moto's error as a
  `ClientError`, as the stand-in's Publish did.

The stand-in's writes of its outputs stay client PutObject calls: what moto records for a
PutObject depends on the request botocore sends (the CRC32 checksum it adds by default,
its payload signing, which moto keeps among the object's headers), so a write made here
could differ from it with botocore's version or its checksum settings.
"""

from __future__ import annotations

import importlib
from typing import Any

from dropzone_local.provision import ACCOUNT


class StandInCalls:
    """GetObject and Publish for the stand-ins, through moto's backends where the answer is
    the same, else through the clients."""

    def __init__(self, region: str, s3_client: Any, sns_client: Any) -> None:
        self._region = region
        self._s3 = s3_client
        self._sns = sns_client

    def read_object(self, bucket: str, key: str) -> bytes:
        """The body a GetObject of the object's latest version answers."""
        found = self._readable(bucket, key)
        if found is None:
            body: bytes = self._s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            return body
        value: bytes = found.value
        return value

    def publish(self, topic_arn: str, message: str) -> str:
        """Publish a message alone to a topic; the message id."""
        sns = importlib.import_module("moto.sns.models")
        backend = sns.sns_backends[ACCOUNT][self._region]
        if not self._delivers(backend, topic_arn) or len(message) > sns.MAXIMUM_MESSAGE_LENGTH:
            return str(self._sns.publish(TopicArn=topic_arn, Message=message)["MessageId"])
        return str(backend.publish(message, arn=topic_arn, message_attributes={}))

    @staticmethod
    def _delivers(backend: Any, topic_arn: str) -> bool:
        """Whether moto's topic delivers a message alone without refusing it: it exists,
        is not FIFO, and each of its subscriptions is an SQS queue that exists."""
        topic = backend.topics.get(topic_arn)
        if topic is None or topic.fifo_topic:
            return False
        queues = importlib.import_module("moto.sqs.models").sqs_backends
        for subscription in backend.subscriptions.values():
            if subscription.topic is not topic:
                continue
            if subscription.protocol != "sqs":
                return False
            region, name = subscription.endpoint.split(":")[3], subscription.endpoint.split(":")[-1]
            if name not in queues[subscription.account_id][region].queues:
                return False
        return True

    def _readable(self, bucket: str, key: str) -> Any:
        s3 = importlib.import_module("moto.s3.models")
        archived = importlib.import_module("moto.s3.utils").ARCHIVE_STORAGE_CLASSES
        partition = importlib.import_module("moto.utilities.utils").get_partition
        backend = s3.s3_backends[ACCOUNT][partition(self._region)]
        try:
            found = backend.get_object(bucket, key)
        except Exception:  # no such bucket: the client answers moto's error
            return None
        if type(found) is not s3.FakeKey or found.storage_class in archived:
            return None
        return found
