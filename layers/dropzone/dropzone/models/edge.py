"""SageMaker Edge Manager shapes: what users ask for, what devices are told, what they say.

Names follow the strictest of the two service models. The dataplane (`sagemaker-edge`)
accepts `_` in device and fleet names, but the control plane that registers fleets and
devices (`sagemaker` CreateDeviceFleet / RegisterDevices) does not, so a name with `_`
could never belong to a registered device: it is refused up front. Deployment names and
model handles are `EntityName`s in both models (no `_`). Every name is 1-63 characters.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_pascal

from dropzone.models.base import Model

# Device heartbeats reach Dropzone as EventBridge events of this source and detail-type.
HEARTBEAT_SOURCE = "dropzone.edge"
HEARTBEAT_DETAIL_TYPE = "Edge Agent Heartbeat"

NAME_PATTERN = r"^[a-zA-Z0-9](-*[a-zA-Z0-9])*$"
NAME_MAX = 63
S3_URL_MAX = 1024
SHA1_HEX = re.compile(r"^[0-9a-f]{40}$")
MAX_DEVICES = 100  # per record: every device's result is kept on the deployment record
MAX_DEFINITIONS = 20
VERSION_PATTERN = r"^[a-zA-Z0-9 _.]+$"

# Attributes in snake_case, JSON in the services' PascalCase.
_STRICT = ConfigDict(
    extra="forbid", alias_generator=to_pascal, populate_by_name=True, protected_namespaces=()
)
_STRICT_FROZEN = ConfigDict(**{**_STRICT, "frozen": True})

Name = Annotated[str, StringConstraints(min_length=1, max_length=NAME_MAX, pattern=NAME_PATTERN)]


class FailureHandlingPolicy(StrEnum):
    ROLLBACK_ON_FAILURE = "ROLLBACK_ON_FAILURE"
    DO_NOTHING = "DO_NOTHING"


class ModelState(StrEnum):
    DEPLOY = "DEPLOY"
    UNDEPLOY = "UNDEPLOY"


def _unique(names: list[str]) -> list[str]:
    seen: set[str] = set()
    duplicates: set[str] = set()
    for name in names:
        (duplicates if name in seen else seen).add(name)
    if duplicates:
        raise ValueError(f"names must be unique; repeated: {', '.join(sorted(duplicates))}")
    return names


DeviceNames = Annotated[
    list[Name], Field(min_length=1, max_length=MAX_DEVICES), AfterValidator(_unique)
]

_NOT_NAME_CHARACTERS = re.compile(r"[^a-zA-Z0-9]+")


def name_from(text: str) -> str:
    """The closest Edge Manager name to `text` ('my_component.v2' → 'my-component-v2'),
    or '' when nothing usable is left."""
    return _NOT_NAME_CHARACTERS.sub("-", text).strip("-")[:NAME_MAX].rstrip("-")


class EdgeSection(Model):
    """The `Edge` section of a packaging request: deploy the packaged model to a fleet."""

    model_config = _STRICT_FROZEN

    device_fleet_name: Name
    device_names: DeviceNames
    model_handle: Name | None = None
    failure_handling_policy: FailureHandlingPolicy = FailureHandlingPolicy.ROLLBACK_ON_FAILURE
    deployment_name: Name | None = None

    def model_handle_for(self, component_name: str) -> str:
        """The given ModelHandle, else one derived from the Greengrass component name."""
        handle = self.model_handle or name_from(component_name)
        if not handle:
            raise ValueError(
                f"no model handle can be derived from component name {component_name[:80]!r}"
            )
        return handle

    def deployment_name_for(self, job_id: str) -> str:
        """The given DeploymentName, else one derived from the packaging job id."""
        return self.deployment_name or name_from(job_id)


# -- the deployment as Edge Manager hands it to devices (GetDeployments) ------------------


class Checksum(Model):
    model_config = _STRICT_FROZEN

    type: Literal["SHA1"] = "SHA1"
    sum: str

    @field_validator("sum", mode="before")
    @classmethod
    def _hex(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip().lower()
            if not SHA1_HEX.match(value):
                raise ValueError("must be a SHA-1 digest: 40 hexadecimal characters")
        return value


def _s3_url(value: str) -> str:
    if not value.startswith("s3://"):
        raise ValueError("must be an s3://bucket/key URL")
    bucket, _, key = value[5:].partition("/")
    if not bucket or not key or key.endswith("/"):
        raise ValueError("must name an object: s3://bucket/key")
    return value


S3Url = Annotated[str, Field(min_length=6, max_length=S3_URL_MAX), AfterValidator(_s3_url)]


class Definition(Model):
    """One model of a deployment, exactly as GetDeployments returns it."""

    model_config = _STRICT_FROZEN

    model_handle: Name
    s3_url: S3Url | None = None
    checksum: Checksum | None = None
    state: ModelState


class EdgeDeployment(Model):
    """A deployment in Edge Manager's dataplane shape (GetDeployments' `EdgeDeployment`)."""

    model_config = _STRICT_FROZEN

    deployment_name: Name
    type: Literal["Model"] = "Model"
    failure_handling_policy: FailureHandlingPolicy
    definitions: list[Definition] = Field(min_length=1, max_length=MAX_DEFINITIONS)

    def as_api(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


# -- the document users drop under edge-deployments/<DeviceFleetName>/ --------------------


class DefinitionRequest(Model):
    """A definition as a user writes it. DEPLOY needs the model's S3Url; a Checksum, when
    given, must match the object. UNDEPLOY needs only the ModelHandle."""

    model_config = _STRICT_FROZEN

    model_handle: Name
    s3_url: S3Url | None = None
    state: ModelState = ModelState.DEPLOY
    checksum: Checksum | None = None

    @model_validator(mode="after")
    def _deploy_needs_artifact(self) -> DefinitionRequest:
        if self.state is ModelState.DEPLOY and self.s3_url is None:
            raise ValueError("S3Url is required when State is DEPLOY")
        if self.checksum is not None and self.s3_url is None:
            raise ValueError("a Checksum needs the S3Url of the object it describes")
        return self


class EdgeDeploymentDocument(Model):
    """`edge-deployments/<DeviceFleetName>/….json`. DeviceFleetName comes from the key; if
    the document names one too, it must be the same."""

    model_config = _STRICT_FROZEN

    deployment_name: Name
    type: Literal["Model"] = "Model"
    device_fleet_name: Name | None = None
    failure_handling_policy: FailureHandlingPolicy = FailureHandlingPolicy.ROLLBACK_ON_FAILURE
    device_names: DeviceNames
    definitions: list[DefinitionRequest] = Field(min_length=1, max_length=MAX_DEFINITIONS)

    @field_validator("definitions")
    @classmethod
    def _unique_handles(cls, definitions: list[DefinitionRequest]) -> list[DefinitionRequest]:
        _unique([definition.model_handle for definition in definitions])
        return definitions


# -- heartbeats (SendHeartbeat's request, the detail of `Edge Agent Heartbeat` events) -----

DataplaneName = Annotated[
    str,
    StringConstraints(
        min_length=1, max_length=NAME_MAX, pattern=r"^[a-zA-Z0-9](-*_*[a-zA-Z0-9])*$"
    ),
]
Version = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=VERSION_PATTERN)]


class EdgeMetric(Model):
    model_config = _STRICT

    dimension: str | None = Field(default=None, min_length=1, max_length=1000)
    metric_name: str | None = Field(default=None, min_length=4, max_length=100)
    value: float | None = None
    timestamp: datetime | None = None


class HeartbeatModel(Model):
    model_config = _STRICT

    model_name: str | None = Field(default=None, min_length=4, max_length=255)
    model_version: Version | None = None
    latest_sample_time: datetime | None = None
    latest_inference: datetime | None = None
    model_metrics: list[EdgeMetric] = Field(default=[])


class DeploymentStatus(StrEnum):
    SUCCESS = "SUCCESS"
    FAIL = "FAIL"


class DeploymentModel(Model):
    model_config = _STRICT

    model_handle: Name | None = None
    model_name: str | None = Field(default=None, min_length=4, max_length=255)
    model_version: Version | None = None
    desired_state: ModelState | None = None
    state: ModelState | None = None
    status: DeploymentStatus | None = None
    status_reason: str | None = None
    rollback_failure_reason: str | None = None


class DeploymentResult(Model):
    model_config = _STRICT

    deployment_name: Name | None = None
    deployment_status: Name | None = None
    deployment_status_message: str | None = None
    deployment_start_time: datetime | None = None
    deployment_end_time: datetime | None = None
    deployment_models: list[DeploymentModel] = Field(default=[])

    @model_validator(mode="after")
    def _starts_before_it_ends(self) -> DeploymentResult:
        start, end = self.deployment_start_time, self.deployment_end_time
        if start is not None and end is not None and start.astimezone(UTC) > end.astimezone(UTC):
            raise ValueError(
                f"DeploymentStartTime {start.isoformat()} is after "
                f"DeploymentEndTime {end.isoformat()}"
            )
        return self


class Heartbeat(Model):
    """SendHeartbeat's request."""

    model_config = _STRICT

    agent_metrics: list[EdgeMetric] = Field(default=[])
    models: list[HeartbeatModel] = Field(default=[])
    agent_version: Version
    device_name: DataplaneName
    device_fleet_name: DataplaneName
    deployment_result: DeploymentResult | None = None
