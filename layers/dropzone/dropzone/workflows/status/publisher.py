"""Turn the ledger's stream into `Dropzone Job Status Change` events.

Only records whose status differs between the old and new image are published, so
detail-only updates and ignored late events make no noise. Delivery is at least once:
a consumer that must not act twice keys on (job_id, status).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from dropzone import aws
from dropzone.adapters.eventbridge import EventBus
from dropzone.models.jobs import Job
from dropzone.observability import logger, metrics
from dropzone.settings.status import StatusPublisherSettings
from dropzone.store.job_items import job_from_item
from dropzone.workflows.job_metrics import emit_ended

EVENT_SOURCE = "dropzone"
DETAIL_TYPE = "Dropzone Job Status Change"


def status_change_detail(job: Job, previous_status: str | None) -> dict[str, Any]:
    detail: dict[str, Any] = {
        "job_id": job.job_id,
        "kind": job.kind,
        "status": job.status,
        "previous_status": previous_status,
        "service_status": job.service_status,
        "source": job.source.model_dump(exclude_none=True),
        "target": job.target,
        "parent_id": job.parent_id,
        "output_location": job.output_location,
        "failure_location": job.failure_location,
        "report_location": job.report_location,
        "message": job.message,
        "estimate": job.estimate,
        "cost": job.cost,
        "updated_at": job.updated_at,
    }
    return {
        name: value
        for name, value in detail.items()
        if value is not None or name == "previous_status"
    }


@dataclass
class StatusPublisher:
    bus: EventBus

    @classmethod
    def from_env(cls, client: aws.ClientSource = aws.client) -> StatusPublisher:
        return cls(EventBus(StatusPublisherSettings.from_env().event_bus_name, client("events")))

    def publish(self, stream_event: dict[str, Any]) -> dict[str, list[dict[str, str]]]:
        """Publish every status change in a DynamoDB stream batch.

        On a failed entry, report the first failed record: Lambda retries the batch from
        there, so no change is skipped (changes after it may be sent twice).
        """
        records: list[dict[str, Any]] = stream_event.get("Records", [])
        entries: list[dict[str, Any]] = []
        changed: list[Job] = []
        sequence_numbers: list[str] = []
        for record in records:
            change = _status_change(record)
            if change is None:
                continue
            job, previous = change
            entries.append(
                {
                    "Source": EVENT_SOURCE,
                    "DetailType": DETAIL_TYPE,
                    "Detail": json.dumps(status_change_detail(job, previous)),
                    "Resources": [],
                }
            )
            changed.append(job)
            sequence_numbers.append(record["dynamodb"]["SequenceNumber"])
        failed = self.bus.put(entries) if entries else []
        published = len(entries) - len(failed)
        if published:
            metrics.add_metric(name="StatusEventsPublished", unit="Count", value=published)
        # Lambda retries from the first failed record: only the changes before it are final.
        first = min(failed, default=len(changed))
        emit_ended(changed[:first])
        if not failed:
            return {"batchItemFailures": []}
        logger.error(
            "status events not accepted by EventBridge; batch will be retried",
            extra={"failed": len(failed), "first_sequence_number": sequence_numbers[first]},
        )
        return {"batchItemFailures": [{"itemIdentifier": sequence_numbers[first]}]}


def _status_change(record: dict[str, Any]) -> tuple[Job, str | None] | None:
    if record.get("eventName") not in ("INSERT", "MODIFY"):
        return None
    images = record.get("dynamodb", {})
    new_image = images.get("NewImage")
    if not new_image:
        return None
    old_status = images.get("OldImage", {}).get("status", {}).get("S")
    if new_image.get("status", {}).get("S") == old_status:
        return None
    return job_from_item(new_image), old_status
