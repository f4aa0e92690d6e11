"""Building blocks for edge tests: moto S3/DynamoDB with the device table from
template.yaml, the edge workflows wired to them, and heartbeat events."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
from moto import mock_aws

from dropzone import aws
from dropzone.models.jobs import SourceObject
from dropzone.settings.edge import EdgeSettings
from dropzone.store.devices import Devices
from dropzone.store.ledger import Ledger
from dropzone.workflows.edge.answers import EdgeAnswers
from dropzone.workflows.edge.deployment_submit import EdgeDeployments
from dropzone.workflows.edge.heartbeat import HeartbeatProcessor
from tests.support.events import object_created
from tests.support.fixtures import Stack, create_jobs_table, create_table

DEVICES_TABLE = "dropzone-edge-devices"
FLEET = "line-cameras"


@dataclass
class EdgeWorld:
    stack: Stack

    @property
    def settings(self) -> EdgeSettings:
        return EdgeSettings(
            jobs_table=self.stack.table_name,
            results_bucket=self.stack.results_bucket,
            dropzone_bucket=self.stack.dropzone_bucket,
            edge_devices_table=DEVICES_TABLE,
        )

    @property
    def ledger(self) -> Ledger:
        return self.stack.ledger()

    @property
    def devices(self) -> Devices:
        return Devices(DEVICES_TABLE, self.stack.dynamodb)

    def reset(self) -> EdgeWorld:
        """Empty tables and buckets, as a fresh world would have them."""
        dynamodb, s3 = self.stack.dynamodb, self.stack.s3_client
        for logical_id, table in (
            ("JobsTable", self.stack.table_name),
            ("EdgeDevicesTable", DEVICES_TABLE),
        ):
            dynamodb.delete_table(TableName=table)
            create_table(dynamodb, logical_id, table)
        for bucket in (self.stack.dropzone_bucket, self.stack.results_bucket):
            for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
                for version in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
                    s3.delete_object(
                        Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"]
                    )
        return self

    def register(self, *devices: str, fleet: str = FLEET) -> None:
        """Devices as a deployment record naming them leaves them (heartbeats from any
        other device are not stored)."""
        self.devices.register(fleet, list(devices) or ["camera-01"], "dz-" + "0" * 40)

    def deployments(self) -> EdgeDeployments:
        return EdgeDeployments(self.settings, self.ledger, self.devices, self.stack.s3())

    def processor(self, edge_manager: Any = None) -> HeartbeatProcessor:
        return HeartbeatProcessor(
            self.settings, self.ledger, self.devices, self.stack.s3(), edge_manager
        )

    def answers(self) -> EdgeAnswers:
        return EdgeAnswers(self.ledger, self.devices)

    def put(
        self, key: str, body: bytes, *, bucket: str | None = None, **extra: Any
    ) -> SourceObject:
        bucket = bucket or self.stack.dropzone_bucket
        response = self.stack.s3_client.put_object(Bucket=bucket, Key=key, Body=body, **extra)
        return SourceObject(
            bucket=bucket,
            key=key,
            version_id=response.get("VersionId"),
            etag=response["ETag"].strip('"'),
            size=len(body),
        )

    def artifact(
        self, key: str = "edge-artifacts/defect-detector/model.tar.gz", body: bytes = b""
    ) -> str:
        """A model artifact in the drop zone bucket's edge artifacts prefix, stored with S3's
        SHA-1 checksum."""
        self.put(key, body or b"model-bytes " * 100, ChecksumAlgorithm="SHA1")
        return f"s3://{self.stack.dropzone_bucket}/{key}"

    def drop_document(
        self, document: Any, *, name: str = "deploy.json", fleet: str = FLEET
    ) -> SourceObject:
        body = document if isinstance(document, bytes) else json.dumps(document).encode()
        return self.put(f"edge-deployments/{fleet}/{name}", body)

    def object_created_body(self, source: SourceObject) -> str:
        return json.dumps(
            object_created(
                source.bucket,
                source.key,
                version_id=source.version_id,
                etag=source.etag or "",
                size=source.size or 0,
            )
        )

    def document(
        self, *devices: str, name: str = "defect-detector-v2", **definition: Any
    ) -> dict[str, Any]:
        return {
            "DeploymentName": name,
            "FailureHandlingPolicy": "ROLLBACK_ON_FAILURE",
            "DeviceNames": list(devices) or ["camera-01"],
            "Definitions": [
                {"ModelHandle": "defect-detector", "S3Url": self.artifact(), "State": "DEPLOY"}
                | definition
            ],
        }


def world(stack: Stack) -> EdgeWorld:
    create_table(stack.dynamodb, "EdgeDevicesTable", DEVICES_TABLE)
    return EdgeWorld(stack)


def shared_world() -> Iterator[EdgeWorld]:
    """One moto world for a whole test module (starting moto and creating its tables is
    most of a small test's time); `EdgeWorld.reset` empties it between tests."""
    aws.reset_clients()
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        s3 = boto3.client("s3", region_name="us-east-1")
        create_jobs_table(dynamodb, "dropzone-jobs")
        for bucket in ("dropzone-drop", "dropzone-results"):
            s3.create_bucket(Bucket=bucket)
            s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        yield world(Stack("dropzone-jobs", "dropzone-drop", "dropzone-results", dynamodb, s3))
    aws.reset_clients()


def heartbeat_detail(
    device: str = "camera-01",
    *,
    fleet: str = FLEET,
    result: dict[str, Any] | None = None,
    models: list[dict[str, Any]] | None = None,
    agent_version: str = "1.0",
) -> dict[str, Any]:
    detail: dict[str, Any] = {
        "AgentVersion": agent_version,
        "DeviceName": device,
        "DeviceFleetName": fleet,
        "Models": models or [],
    }
    if result is not None:
        detail["DeploymentResult"] = result
    return detail


def deployment_result(
    name: str = "defect-detector-v2",
    *,
    status: str = "SUCCESS",
    handle: str = "defect-detector",
    start: str = "2026-11-25T12:00:00.000Z",
    end: str | None = "2026-11-25T12:00:30.000Z",
    reason: str | None = None,
    rollback_failure: str | None = None,
) -> dict[str, Any]:
    model: dict[str, Any] = {
        "ModelHandle": handle,
        "DesiredState": "DEPLOY",
        "State": "DEPLOY" if status == "SUCCESS" else "UNDEPLOY",
    }
    if status != "PENDING":
        model["Status"] = status
    if reason:
        model["StatusReason"] = reason
    if rollback_failure:
        model["RollbackFailureReason"] = rollback_failure
    result: dict[str, Any] = {
        "DeploymentName": name,
        "DeploymentStatus": "INPROGRESS" if status == "PENDING" else status,
        "DeploymentStartTime": start,
        "DeploymentModels": [model],
    }
    if end is not None and status != "PENDING":
        result["DeploymentEndTime"] = end
    return result


def heartbeat_event(
    detail: dict[str, Any] | str,
    *,
    time: datetime | str = "2026-11-25T12:01:00Z",
    event_id: str | None = None,
) -> str:
    """An EventBridge `Edge Agent Heartbeat` event, as the SQS body the function gets."""
    stamp = time if isinstance(time, str) else time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return json.dumps(
        {
            "version": "0",
            "id": event_id or str(uuid.uuid4()),
            "detail-type": "Edge Agent Heartbeat",
            "source": "dropzone.edge",
            "account": "123456789012",
            "time": stamp,
            "region": "us-east-1",
            "resources": [],
            "detail": detail,
        }
    )
