"""EventBridge events of edge deployments: device heartbeats and Greengrass V2 statuses."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import AliasChoices, ConfigDict, Field

from dropzone.models.base import Model

DEPLOYMENT_STATUS_DETAIL_TYPE = "Greengrass V2 Effective Deployment Status Change"


class HeartbeatEvent(Model):
    """The EventBridge envelope of a heartbeat; `detail` is checked separately."""

    model_config = ConfigDict(populate_by_name=True)

    id: str = Field(min_length=1)
    time: datetime
    source: str
    detail_type: str = Field(validation_alias=AliasChoices("detail-type", "detail_type"))
    detail: dict[str, Any]


class StatusDetails(Model):
    model_config = ConfigDict(extra="ignore")

    error_stack: list[str] = Field(default=[], alias="errorStack")
    error_types: list[str] = Field(default=[], alias="errorTypes")


class DeploymentStatusDetail(Model):
    model_config = ConfigDict(extra="ignore")

    deployment_id: str = Field(
        min_length=1, validation_alias=AliasChoices("deploymentId", "deployment-id")
    )
    status: str = Field(alias="coreDeviceExecutionStatus", min_length=1)
    status_details: StatusDetails | None = Field(default=None, alias="statusDetails")
    reason: str | None = None
    thing_name: str | None = Field(
        default=None, validation_alias=AliasChoices("coreDeviceThingName", "thingName")
    )


class DeploymentStatusEvent(Model):
    """A `Greengrass V2 Effective Deployment Status Change` event: one core device's status
    for one deployment."""

    model_config = ConfigDict(extra="ignore")

    source: str
    detail_type: str = Field(validation_alias=AliasChoices("detail-type", "detail_type"))
    time: str | None = None
    resources: list[str] = Field(default=[])
    detail: DeploymentStatusDetail

    def core_device(self) -> str:
        """The reporting core device's thing name (from the detail, else the event's
        coreDevices resource ARN)."""
        if self.detail.thing_name:
            return self.detail.thing_name
        for arn in self.resources:
            _, marker, name = arn.partition(":coreDevices:")
            if marker and name:
                return name
        return "unknown-core-device"
