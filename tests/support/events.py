"""Load the JSON events in events/: the same files `sam local invoke -e` uses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

EVENTS_DIR = Path(__file__).resolve().parents[2] / "events"


def load_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS_DIR / name).read_text())  # type: ignore[no-any-return]


def sqs_event(*bodies: str, receive_count: int = 1) -> dict[str, Any]:
    """An SQS event as Lambda delivers it, one record per body."""
    records = []
    for index, body in enumerate(bodies):
        record = load_event("sagemaker_submit.json")["Records"][0]
        record.update(messageId=f"message-{index}", body=body)
        record["attributes"]["ApproximateReceiveCount"] = str(receive_count)
        records.append(record)
    return {"Records": records}


def object_created(
    bucket: str, key: str, *, version_id: str | None, etag: str, size: int
) -> dict[str, Any]:
    """An EventBridge S3 Object Created event, shaped like the one in events/."""
    event = json.loads(load_event("sagemaker_submit.json")["Records"][0]["body"])
    event["detail"]["bucket"]["name"] = bucket
    event["detail"]["object"].update(key=key, etag=etag, size=size)
    if version_id is None:
        event["detail"]["object"].pop("version-id", None)
    else:
        event["detail"]["object"]["version-id"] = version_id
    return event  # type: ignore[no-any-return]


def greengrass_status(
    deployment_id: str, device: str, status: str, *, legacy_id: bool = False
) -> str:
    """A Greengrass V2 Effective Deployment Status Change for one core device, as its SQS
    body; `legacy_id` spells the id as the older documentation does (deployment-id)."""
    body = json.loads(load_event("greengrass_state.json")["Records"][0]["body"])
    detail = body["detail"]
    detail.pop("deploymentId")
    detail["deployment-id" if legacy_id else "deploymentId"] = deployment_id
    detail["coreDeviceExecutionStatus"] = status
    if status not in ("FAILED", "REJECTED"):
        detail.pop("statusDetails", None)
        detail.pop("reason", None)
    body["resources"] = [f"arn:aws:greengrass:us-east-1:123456789012:coreDevices:{device}"]
    return json.dumps(body)
