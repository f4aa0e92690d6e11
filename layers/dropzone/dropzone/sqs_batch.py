"""SQS batches with partial failure reporting (ReportBatchItemFailures).

A small loop instead of Powertools' batch utility, whose import (every event data
class, asyncio) costs more at cold start than the whole of this module does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dropzone import aws
from dropzone.aws import ClientSource
from dropzone.errors import RetryLater, UnreadableMessage
from dropzone.observability import logger


@dataclass(frozen=True)
class SqsMessage:
    message_id: str
    body: str
    receive_count: int

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> SqsMessage:
        attributes = record.get("attributes") or {}
        return cls(
            message_id=str(record["messageId"]),
            body=str(record.get("body", "")),
            receive_count=int(attributes.get("ApproximateReceiveCount", 1)),
        )


def process_sqs_batch(
    event: dict[str, Any],
    handle: Callable[[SqsMessage], None],
    *,
    client: ClientSource | None = None,
) -> dict[str, list[dict[str, str]]]:
    """Handle each message; report the ones that raised, so only they are delivered again
    (and, past the queue's maxReceiveCount, land in its dead-letter queue). A message
    that raised RetryLater is also hidden for the delay it asks for, and one that raised
    UnreadableMessage is shown again at once, so that it reaches the dead-letter queue
    within seconds (ChangeMessageVisibility on its own queue, through the SQS client of
    `client`, by default Dropzone's)."""
    failures: list[dict[str, str]] = []
    for record in event.get("Records", []):
        message = SqsMessage.from_record(record)
        try:
            handle(message)
        except Exception as error:  # every failure is reported, none escapes the batch
            unreadable = isinstance(error, UnreadableMessage)
            logger.warning(
                "unreadable message; it goes back at once, on its way to the dead-letter queue"
                if unreadable
                else "message failed; it will be delivered again",
                extra={
                    "message_id": message.message_id,
                    "receive_count": message.receive_count,
                    "error": f"{type(error).__name__}: {error}"[:500],
                },
            )
            failures.append({"itemIdentifier": message.message_id})
            if isinstance(error, RetryLater):
                postpone(record, error.delay_seconds, sqs=(client or aws.client)("sqs"))
            elif unreadable:
                postpone(record, 0, sqs=(client or aws.client)("sqs"))
    return {"batchItemFailures": failures}


def queue_url(event_source_arn: str, endpoint_url: str) -> str | None:
    """The URL of the queue an SQS record came from (arn:<partition>:sqs:<region>:<account>:
    <name>), on the SQS client's own endpoint; None for anything else."""
    parts = event_source_arn.split(":")
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "sqs" or not all(parts[3:]):
        return None
    return f"{endpoint_url.rstrip('/')}/{parts[4]}/{parts[5]}"


def postpone(record: dict[str, Any], seconds: int, *, sqs: Any | None = None) -> bool:
    """Hide a received message for `seconds` more. Best effort: when this fails, the
    queue's own visibility timeout applies and the message simply comes back sooner."""
    from botocore.exceptions import BotoCoreError, ClientError

    receipt = record.get("receiptHandle")
    source = str(record.get("eventSourceARN") or "")
    client = sqs or aws.client("sqs")
    endpoint = getattr(getattr(client, "meta", None), "endpoint_url", None)
    url = queue_url(source, str(endpoint)) if endpoint else None
    if not receipt or url is None:
        logger.warning("cannot postpone a record without its queue", extra={"source": source})
        return False
    try:
        client.change_message_visibility(
            QueueUrl=url, ReceiptHandle=str(receipt), VisibilityTimeout=int(seconds)
        )
    except (BotoCoreError, ClientError) as error:
        logger.warning(
            "could not postpone the message",
            extra={"message_id": record.get("messageId"), "error": repr(error)[:300]},
        )
        return False
    logger.info(
        "message postponed",
        extra={"message_id": record.get("messageId"), "delay_seconds": seconds},
    )
    return True
