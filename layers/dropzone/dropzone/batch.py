"""SQS batches with partial failure reporting (ReportBatchItemFailures).

A small loop instead of Powertools' batch utility, whose import (every event data
class, asyncio) costs more at cold start than the whole of this module does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

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
    event: dict[str, Any], handle: Callable[[SqsMessage], None]
) -> dict[str, list[dict[str, str]]]:
    """Handle each message; report the ones that raised, so only they are delivered again
    (and, past the queue's maxReceiveCount, land in its dead-letter queue)."""
    failures: list[dict[str, str]] = []
    for record in event.get("Records", []):
        message = SqsMessage.from_record(record)
        try:
            handle(message)
        except Exception as error:  # every failure is reported, none escapes the batch
            logger.warning(
                "message failed; it will be delivered again",
                extra={
                    "message_id": message.message_id,
                    "receive_count": message.receive_count,
                    "error": f"{type(error).__name__}: {error}"[:500],
                },
            )
            failures.append({"itemIdentifier": message.message_id})
    return {"batchItemFailures": failures}
