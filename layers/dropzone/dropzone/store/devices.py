"""Edge device records: one DynamoDB item per device of a fleet (EdgeDevicesTable).

A device gets a record only when a deployment record names it (`register`); heartbeats
update existing records and never create one. A record keeps the device's registration,
its last heartbeat (agent version, agent metrics, models with their latest metrics), its
deployment results, the ids of the Edge Manager-shaped deployment records that name it,
and, with the optional sync, what Edge Manager itself says about it.

Every write is conditional: heartbeats are ordered by `heartbeat_order` and deployment
results by their own start/end times, so a duplicated or reordered delivery never moves
a record back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from botocore.exceptions import ClientError
from pydantic import ConfigDict, Field

from dropzone import aws
from dropzone.clock import iso, utcnow
from dropzone.models.base import Model
from dropzone.store.dynamo_items import CONDITION_FAILED, attribute_value, record_from_item

# The Edge Manager sync's position in the table. Never a device's key: those start with
# the fleet name, a letter or digit.
SYNC_CURSOR_KEY = "#edge-sync-cursor"
_NO_TIME = "0000-00-00T00:00:00.000Z"


class Registration(StrEnum):
    """Dropzone's own vocabulary; GetDeviceRegistration's answer is free text."""

    REGISTERED = "REGISTERED"
    NOT_REGISTERED = "NOT_REGISTERED"


class HeartbeatApplied(StrEnum):
    """What became of a heartbeat on its device's record."""

    APPLIED = "APPLIED"
    STALE = "STALE"  # a duplicate, or older than the heartbeat the record holds
    UNKNOWN_DEVICE = "UNKNOWN_DEVICE"  # no deployment record has named the device


def device_key(fleet: str, device: str) -> str:
    return f"{fleet}#{device}"


def heartbeat_order(event_time: datetime, device_times: list[datetime], event_id: str) -> str:
    """Sorts heartbeats in time. The EventBridge event's `time` comes first, but it has
    one-second precision, so within a second the latest time the device itself reported
    decides, then the event id (which makes a redelivered event an exact duplicate)."""
    latest = max(device_times, default=None)
    return f"{iso(event_time)}|{iso(latest) if latest else _NO_TIME}|{event_id}"


class DeviceRecord(Model):
    model_config = ConfigDict(extra="allow")

    device_key: str
    fleet: str
    device_name: str
    registration: str = Registration.NOT_REGISTERED
    registered_at: str | None = None
    registered_by: str | None = None
    last_heartbeat: str | None = None
    heartbeat_order: str | None = None
    agent_version: str | None = None
    agent_metrics: list[dict[str, Any]] = Field(default=[])
    models: list[dict[str, Any]] = Field(default=[])
    deployment_results: dict[str, dict[str, Any]] = Field(default={})
    deployment_ids: list[str] = Field(default=[])
    service: dict[str, Any] = Field(default={})
    updated_at: str | None = None


@dataclass(frozen=True)
class HeartbeatUpdate:
    """What a heartbeat changes on its device's record."""

    fleet: str
    device: str
    at: datetime
    order: str  # see `heartbeat_order`
    agent_version: str
    agent_metrics: list[dict[str, Any]] = field(default_factory=list)
    models: list[dict[str, Any]] = field(default_factory=list)


class Devices:
    def __init__(
        self,
        table_name: str,
        client: Any | None = None,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.table_name = table_name
        self._client = client or aws.client("dynamodb")
        self._clock = clock

    # -- reads ---------------------------------------------------------------------------

    def get(self, fleet: str, device: str) -> DeviceRecord | None:
        response = self._client.get_item(
            TableName=self.table_name,
            Key={"device_key": {"S": device_key(fleet, device)}},
            ConsistentRead=True,
        )
        item = response.get("Item")
        return _record_from_item(item) if item else None

    def known_devices(
        self, *, after: str | None = None, page_size: int = 100
    ) -> Iterator[tuple[str, str]]:
        """(fleet, device) of every recorded device, a page at a time, in the table's scan
        order; `after` (a `device_key`) resumes just past that device. A scan: its only
        caller (the Edge Manager sync) visits every device anyway."""
        params: dict[str, Any] = {
            "TableName": self.table_name,
            "ProjectionExpression": "fleet, device_name",
            "Limit": page_size,
        }
        if after is not None:
            params["ExclusiveStartKey"] = {"device_key": {"S": after}}
        while True:
            page = self._client.scan(**params)
            for item in page.get("Items", []):
                if "fleet" in item and "device_name" in item:  # not the sync cursor
                    yield item["fleet"]["S"], item["device_name"]["S"]
            if not page.get("LastEvaluatedKey"):
                return
            params["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def sync_cursor(self) -> str | None:
        """The key of the last device the Edge Manager sync got to, or None to start over."""
        response = self._client.get_item(
            TableName=self.table_name,
            Key={"device_key": {"S": SYNC_CURSOR_KEY}},
            ProjectionExpression="after_key",
            ConsistentRead=True,
        )
        value = response.get("Item", {}).get("after_key", {}).get("S")
        return str(value) if value else None

    def save_sync_cursor(self, after: str | None) -> None:
        """Remember where the sync stopped (None: the pass is complete, start over)."""
        key = {"device_key": {"S": SYNC_CURSOR_KEY}}
        now = {":now": {"S": iso(self._clock())}}
        if after is None:
            self._client.update_item(
                TableName=self.table_name,
                Key=key,
                UpdateExpression="SET updated_at = :now REMOVE after_key",
                ExpressionAttributeValues=now,
            )
            return
        self._client.update_item(
            TableName=self.table_name,
            Key=key,
            UpdateExpression="SET after_key = :after, updated_at = :now",
            ExpressionAttributeValues={**now, ":after": {"S": after}},
        )

    # -- writes --------------------------------------------------------------------------

    def register(self, fleet: str, devices: Iterable[str], deployment_id: str) -> None:
        """Mark devices named by a deployment record as registered, and remember that the
        record targets them (what GetDeployments answers from). Idempotent."""
        now = iso(self._clock())
        for device in devices:
            self._client.update_item(
                TableName=self.table_name,
                Key={"device_key": {"S": device_key(fleet, device)}},
                UpdateExpression=(
                    "SET fleet = :fleet, device_name = :device, registration = :registered, "
                    "registered_at = if_not_exists(registered_at, :now), "
                    "registered_by = if_not_exists(registered_by, :by), "
                    "deployment_results = if_not_exists(deployment_results, :empty), "
                    "updated_at = :now ADD deployment_ids :ids"
                ),
                ExpressionAttributeValues={
                    ":fleet": {"S": fleet},
                    ":device": {"S": device},
                    ":registered": {"S": Registration.REGISTERED},
                    ":now": {"S": now},
                    ":by": {"S": deployment_id},
                    ":empty": {"M": {}},
                    ":ids": {"SS": [deployment_id]},
                },
            )

    def forget_deployments(self, fleet: str, device: str, deployment_ids: Iterable[str]) -> None:
        """Drop ids of deployment records that no longer exist (expired from the ledger)."""
        ids = sorted(set(deployment_ids))
        if not ids:
            return
        try:
            self._client.update_item(
                TableName=self.table_name,
                Key={"device_key": {"S": device_key(fleet, device)}},
                UpdateExpression="DELETE deployment_ids :ids",
                ConditionExpression="attribute_exists(device_key)",
                ExpressionAttributeValues={":ids": {"SS": ids}},
            )
        except ClientError as error:
            if aws.error_code(error) != CONDITION_FAILED:
                raise

    def apply_heartbeat(self, update: HeartbeatUpdate) -> HeartbeatApplied:
        """Record a heartbeat on the device's existing record unless it already holds a
        later (or the same) one. Never creates a record: a device no deployment record
        has named is UNKNOWN_DEVICE, and nothing is written."""
        try:
            self._client.update_item(
                TableName=self.table_name,
                Key={"device_key": {"S": device_key(update.fleet, update.device)}},
                UpdateExpression=(
                    "SET last_heartbeat = :at, heartbeat_order = :order, "
                    "agent_version = :version, agent_metrics = :agent_metrics, "
                    "models = :models, updated_at = :now"
                ),
                ConditionExpression=(
                    "attribute_exists(device_key) AND "
                    "(attribute_not_exists(heartbeat_order) OR heartbeat_order < :order)"
                ),
                ExpressionAttributeValues={
                    ":now": {"S": iso(self._clock())},
                    ":at": {"S": iso(update.at)},
                    ":order": {"S": update.order},
                    ":version": {"S": update.agent_version},
                    ":agent_metrics": attribute_value(update.agent_metrics),
                    ":models": attribute_value(update.models),
                },
                # On a failed condition, the record (if any) tells the two reasons apart.
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if aws.error_code(error) != CONDITION_FAILED:
                raise
            if error.response.get("Item"):
                return HeartbeatApplied.STALE
            return HeartbeatApplied.UNKNOWN_DEVICE
        return HeartbeatApplied.APPLIED

    def record_deployment_result(
        self, fleet: str, device: str, deployment_name: str, result: dict[str, Any]
    ) -> bool:
        """Keep the device's latest result for one deployment on its existing record.
        `result["order"]` orders results (see `result_order`); an older or duplicate
        result, or a device without a record, changes nothing."""
        for attempt in range(2):
            try:
                self._client.update_item(
                    TableName=self.table_name,
                    Key={"device_key": {"S": device_key(fleet, device)}},
                    UpdateExpression="SET #results.#name = :result, updated_at = :now",
                    ConditionExpression=(
                        "attribute_exists(device_key) AND (attribute_not_exists(#results.#name)"
                        " OR #results.#name.#order < :order)"
                    ),
                    ExpressionAttributeNames={
                        "#results": "deployment_results",
                        "#name": deployment_name,
                        "#order": "order",
                    },
                    ExpressionAttributeValues={
                        ":result": attribute_value(result),
                        ":order": {"S": str(result["order"])},
                        ":now": {"S": iso(self._clock())},
                    },
                )
            except ClientError as error:
                code = aws.error_code(error)
                if code == CONDITION_FAILED:
                    return False
                if code == "ValidationException" and attempt == 0:
                    # No results map yet (a record written before registration kept one).
                    if not self._ensure_results_map(fleet, device):
                        return False
                    continue
                raise
            return True
        return False

    def _ensure_results_map(self, fleet: str, device: str) -> bool:
        """False when the device has no record."""
        try:
            self._client.update_item(
                TableName=self.table_name,
                Key={"device_key": {"S": device_key(fleet, device)}},
                UpdateExpression="SET deployment_results = if_not_exists(deployment_results, :e)",
                ConditionExpression="attribute_exists(device_key)",
                ExpressionAttributeValues={":e": {"M": {}}},
            )
        except ClientError as error:
            if aws.error_code(error) != CONDITION_FAILED:
                raise
            return False
        return True

    def record_service_view(self, fleet: str, device: str, view: dict[str, Any]) -> None:
        """What Edge Manager says about the device (the optional sync), kept apart from
        Dropzone's own view. Only for devices Dropzone already knows."""
        try:
            self._client.update_item(
                TableName=self.table_name,
                Key={"device_key": {"S": device_key(fleet, device)}},
                UpdateExpression="SET service = :view, updated_at = :now",
                ConditionExpression="attribute_exists(device_key)",
                ExpressionAttributeValues={
                    ":view": attribute_value(view),
                    ":now": {"S": iso(self._clock())},
                },
            )
        except ClientError as error:
            if aws.error_code(error) != CONDITION_FAILED:
                raise


def _record_from_item(item: dict[str, Any]) -> DeviceRecord:
    return DeviceRecord.model_validate(record_from_item(item))
