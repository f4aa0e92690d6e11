"""A stand-in for AWS IoT Greengrass V2 deployments (the `greengrassv2` client).

moto has only the V1 API. `FakeGreengrass` answers `create_deployment`, `get_deployment`,
`cancel_deployment`, `list_deployments` and `list_effective_deployments` in the real request
and response shapes (both checked against botocore's model, constraints included), raises
the model's exception classes with its HTTP statuses, and runs each deployment on the core
devices of its target, one step per `advance()`:

    QUEUED → IN_PROGRESS → COMPLETED (a thing target) | SUCCEEDED (a thing group target)
                         → FAILED | REJECTED        (a device set to fail, `fail_device`)
    QUEUED | IN_PROGRESS → CANCELED    (cancel_deployment, or a newer deployment to the target)

Each device reaching FAILED, SUCCEEDED, COMPLETED, REJECTED or CANCELED (the statuses the
service emits events for) sends a `Greengrass V2 Effective Deployment Status Change` event
through `deliver`: `resources` [the core device's ARN], `detail` {`deploymentId` (or the
older docs' `deployment-id`, `deployment_id_key`), `coreDeviceExecutionStatus`,
`statusDetails` {`errorStack`, `errorTypes`}, `reason`}. The documented detail carries no
thing name or deployment name: the thing name is the last part of the resource ARN.

Components must exist before they are deployed: tests and the local cloud add them with
`add_component_version`, and a `FakeLookoutVision` given this fake adds the component each
packaging job creates.

Service behaviour reproduced here, and where it is a reading rather than a fact:
- Like botocore, a missing `clientToken` is filled with a uuid4. A token is remembered for
  8 hours; the same token answers the first deployment again. Unconfirmed, configurable:
  with other parameters the cached answer is returned too (`idempotency_mismatch_code`
  None), as the docs describe only the cache, or an error is raised.
- Unconfirmed: an unknown target or component version is ResourceNotFoundException.
- A deployment to a target replaces the target's previous one: that one is no longer
  latest, ACTIVE becomes INACTIVE, and its devices still queued or running are CANCELED.
- Unconfirmed: a thing group deployment stays ACTIVE (it keeps applying to the group); a
  thing deployment becomes COMPLETED or FAILED with its device.
- Unconfirmed: a device that succeeds reports reason `SUCCESSFUL` and empty error lists.
- The default delivery PutEvents with source `aws.greengrass`, which moto accepts and real
  EventBridge refuses (the `aws.` prefix is reserved): a local-only path.
"""

from __future__ import annotations

import base64
import binascii
import copy
import random
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from dropzone import aws
from dropzone.clock import utcnow
from dropzone_local.event_delivery import Deliver, Event, PutEventsDelivery
from dropzone_local.service_fake import ApiCall, IdempotencyTokens, InjectedFaults, ServiceFake
from dropzone_local.service_model import (
    client_exceptions,
    operation,
    validate_request,
    validate_response,
    with_metadata,
)

SERVICE = "greengrassv2"
CREATE = "CreateDeployment"
GET = "GetDeployment"
CANCEL = "CancelDeployment"
LIST = "ListDeployments"
LIST_EFFECTIVE = "ListEffectiveDeployments"
OPERATIONS = (CREATE, GET, CANCEL, LIST, LIST_EFFECTIVE)

EVENT_SOURCE = "aws.greengrass"
EVENT_DETAIL_TYPE = "Greengrass V2 Effective Deployment Status Change"
DEPLOYMENT_ID_KEYS = ("deploymentId", "deployment-id")
IDEMPOTENCY_WINDOW = timedelta(hours=8)
SUCCESS_REASON = "SUCCESSFUL"
DEFAULT_POLICIES: dict[str, Any] = {
    "failureHandlingPolicy": "ROLLBACK",
    "componentUpdatePolicy": {"timeoutInSeconds": 60, "action": "NOTIFY_COMPONENTS"},
    "configurationValidationPolicy": {"timeoutInSeconds": 30},
}


class ExecutionStatus(StrEnum):
    """A deployment's status on one core device (`coreDeviceExecutionStatus`)."""

    QUEUED = "QUEUED"
    IN_PROGRESS = "IN_PROGRESS"
    FAILED = "FAILED"
    COMPLETED = "COMPLETED"
    TIMED_OUT = "TIMED_OUT"
    CANCELED = "CANCELED"
    REJECTED = "REJECTED"
    SUCCEEDED = "SUCCEEDED"


class DeploymentStatus(StrEnum):
    ACTIVE = "ACTIVE"
    COMPLETED = "COMPLETED"
    CANCELED = "CANCELED"
    FAILED = "FAILED"
    INACTIVE = "INACTIVE"


X = ExecutionStatus
EXECUTION_IN_FLIGHT = frozenset({X.QUEUED, X.IN_PROGRESS})
# The statuses whose arrival the service announces with an event.
EVENT_STATUSES = frozenset({X.FAILED, X.SUCCEEDED, X.COMPLETED, X.REJECTED, X.CANCELED})


@dataclass(frozen=True)
class ComponentVersion:
    name: str
    version: str
    arn: str
    recipe: dict[str, Any]
    created: datetime


@dataclass(frozen=True)
class DeviceFailure:
    """How a core device ends the deployments it receives."""

    status: ExecutionStatus
    reason: str
    error_stack: tuple[str, ...]
    error_types: tuple[str, ...]


@dataclass
class _Execution:
    thing: str
    status: ExecutionStatus
    created: datetime
    modified: datetime
    extra_advances: int = 0
    reason: str | None = None
    error_stack: tuple[str, ...] = ()
    error_types: tuple[str, ...] = ()


@dataclass
class _Deployment:
    deployment_id: str
    request: dict[str, Any]
    name: str
    revision_id: str
    iot_job_id: str
    iot_job_arn: str
    created: datetime
    status: DeploymentStatus
    executions: dict[str, _Execution]
    is_latest: bool = True

    @property
    def target_arn(self) -> str:
        return str(self.request["targetArn"])

    @property
    def is_group(self) -> bool:
        return ":thinggroup/" in self.target_arn


@dataclass(kw_only=True)
class FakeGreengrass(ServiceFake):
    service_name = SERVICE

    account: str = "123456789012"
    region: str = "us-east-1"
    events_client: Any = None  # for the default delivery; default aws.client("events")
    deliver: Deliver | None = None  # default: PutEventsDelivery(events_client)
    clock: Callable[[], datetime] = utcnow
    seed: int = 0
    deployment_id_key: str = "deploymentId"  # or "deployment-id", the older docs' spelling
    # Extra advances a device stays IN_PROGRESS, by thing name; "*" applies to every device.
    slow_devices: dict[str, int] = field(default_factory=dict)
    idempotency_mismatch_code: str | None = None

    calls: list[ApiCall] = field(default_factory=list, init=False)
    emitted: list[Event] = field(default_factory=list, init=False)
    # The client's modeled exception classes; Any because the stubs type them as None.
    exceptions: Any = field(init=False, repr=False)
    _components: dict[tuple[str, str], ComponentVersion] = field(
        default_factory=dict, init=False, repr=False
    )
    _targets: dict[str, list[str]] = field(default_factory=dict, init=False, repr=False)
    _failures: dict[str, DeviceFailure] = field(default_factory=dict, init=False, repr=False)
    _deployments: dict[str, _Deployment] = field(default_factory=dict, init=False, repr=False)
    _tokens: IdempotencyTokens = field(init=False, repr=False)
    _faults: InjectedFaults = field(init=False, repr=False)
    _rng: random.Random = field(init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.deployment_id_key not in DEPLOYMENT_ID_KEYS:
            raise ValueError(f"deployment_id_key must be one of {DEPLOYMENT_ID_KEYS}")
        self.exceptions = client_exceptions(SERVICE)
        self._tokens = IdempotencyTokens(IDEMPOTENCY_WINDOW)
        self._faults = InjectedFaults(SERVICE)
        self._rng = random.Random(self.seed)  # noqa: S311 - deterministic ids, not secrets

    # -- test controls -------------------------------------------------------------------

    def thing_arn(self, thing_name: str) -> str:
        return f"arn:aws:iot:{self.region}:{self.account}:thing/{thing_name}"

    def thing_group_arn(self, group_name: str) -> str:
        return f"arn:aws:iot:{self.region}:{self.account}:thinggroup/{group_name}"

    def core_device_arn(self, thing_name: str) -> str:
        return f"arn:aws:greengrass:{self.region}:{self.account}:coreDevices:{thing_name}"

    def component_version_arn(self, name: str, version: str) -> str:
        return (
            f"arn:aws:greengrass:{self.region}:{self.account}:components:{name}:versions:{version}"
        )

    def add_core_devices(self, target_arn: str, thing_names: Iterable[str] = ()) -> None:
        """Core devices a target reaches: a thing target is its own core device; a thing
        group target reaches the things named (added to any it had)."""
        names = list(thing_names)
        kind, _, target_name = target_arn.rpartition(":")[2].partition("/")
        if kind == "thing":
            if names not in ([], [target_name]):
                raise ValueError(f"the thing target {target_arn} is the core device {target_name}")
            names = [target_name]
        elif kind != "thinggroup":
            raise ValueError(f"{target_arn} is neither a thing nor a thing group ARN")
        with self._lock:
            devices = self._targets.setdefault(target_arn, [])
            devices.extend(name for name in names if name not in devices)

    def add_component_version(
        self, name: str, version: str, *, recipe: dict[str, Any] | None = None
    ) -> str:
        """Create a component version that deployments can name; return its ARN."""
        with self._lock:
            if (name, version) in self._components:
                raise ValueError(f"component {name} version {version} exists already")
            arn = self.component_version_arn(name, version)
            default = {"RecipeFormatVersion": "2020-01-25", "ComponentName": name}
            self._components[(name, version)] = ComponentVersion(
                name,
                version,
                arn,
                copy.deepcopy(recipe)
                if recipe is not None
                else {**default, "ComponentVersion": version},
                self.clock(),
            )
            return arn

    def has_component_version(self, name: str, version: str) -> bool:
        with self._lock:
            return (name, version) in self._components

    def component_version(self, name: str, version: str) -> ComponentVersion:
        with self._lock:
            return self._components[(name, version)]

    def fail_device(
        self,
        thing_name: str,
        *,
        error_types: Iterable[str],
        reason: str,
        error_stack: Iterable[str] = ("DEPLOYMENT_FAILURE",),
        status: ExecutionStatus = X.FAILED,
    ) -> None:
        """From now on, deployments end on this device with `status` (FAILED or REJECTED)
        and these details, until `heal_device`."""
        if status not in (X.FAILED, X.REJECTED):
            raise ValueError("a device fails a deployment with FAILED or REJECTED")
        with self._lock:
            self._failures[thing_name] = DeviceFailure(
                X(status), reason, tuple(error_stack), tuple(error_types)
            )

    def heal_device(self, thing_name: str) -> None:
        with self._lock:
            self._failures.pop(thing_name, None)

    def inject_faults(self, *error_codes: str, operation: str | None = None) -> None:
        """The next calls (of `operation`, or of any operation) fail with these error codes,
        one call each, in order."""
        with self._lock:
            self._faults.add(error_codes, operation, OPERATIONS)

    @property
    def in_flight(self) -> int:
        """Device executions still queued or in progress."""
        with self._lock:
            return sum(
                execution.status in EXECUTION_IN_FLIGHT
                for deployment in self._deployments.values()
                for execution in deployment.executions.values()
            )

    def execution_status(self, deployment_id: str, thing_name: str) -> ExecutionStatus:
        """A device's status for a deployment, without an API call."""
        with self._lock:
            return self._deployments[deployment_id].executions[thing_name].status

    # -- the API -------------------------------------------------------------------------

    def create_deployment(self, **params: Any) -> dict[str, Any]:
        for member in operation(SERVICE, CREATE).idempotent_members:
            params.setdefault(member, str(uuid.uuid4()))  # as botocore does
        validate_request(SERVICE, CREATE, params)
        with self._lock:
            now = self._admit(CREATE, params)
            deployment, events = self._create(params, now)
            response = {
                "deploymentId": deployment.deployment_id,
                "iotJobId": deployment.iot_job_id,
                "iotJobArn": deployment.iot_job_arn,
            }
            self._answer(CREATE, response)
        self._send(events)
        return with_metadata(response, status=201)

    def get_deployment(self, **params: Any) -> dict[str, Any]:
        validate_request(SERVICE, GET, params)
        with self._lock:
            self._admit(GET, params)
            deployment = self._find(GET, params["deploymentId"])
            response = self._describe(deployment)
            self._answer(GET, response)
        return with_metadata(response)

    def cancel_deployment(self, **params: Any) -> dict[str, Any]:
        validate_request(SERVICE, CANCEL, params)
        with self._lock:
            now = self._admit(CANCEL, params)
            deployment = self._find(CANCEL, params["deploymentId"])
            if deployment.status is not DeploymentStatus.ACTIVE:
                raise self._fail(
                    CANCEL,
                    "ConflictException",
                    f"Deployment {deployment.deployment_id} is {deployment.status.value} and "
                    "can't be canceled.",
                    resourceId=deployment.deployment_id,
                    resourceType="deployment",
                )
            deployment.status = DeploymentStatus.CANCELED
            events = self._cancel_executions(deployment, now, "Canceled by the user.")
            response = {"message": f"Deployment {deployment.deployment_id} canceled."}
            self._answer(CANCEL, response)
        self._send(events)
        return with_metadata(response)

    def list_deployments(self, **params: Any) -> dict[str, Any]:
        """Deployments, newest first; by default only each target's latest revision."""
        validate_request(SERVICE, LIST, params)
        with self._lock:
            self._admit(LIST, params)
            latest_only = params.get("historyFilter", "LATEST_ONLY") == "LATEST_ONLY"
            found = [
                deployment
                for deployment in reversed(self._deployments.values())
                if params.get("targetArn", deployment.target_arn) == deployment.target_arn
                and params.get("parentTargetArn") == deployment.request.get("parentTargetArn")
                and (deployment.is_latest or not latest_only)
            ]
            owner = params.get("targetArn", "*")
            start = self._page_start(LIST, params.get("nextToken"), owner, len(found))
            end = start + params.get("maxResults", 50)
            response: dict[str, Any] = {"deployments": [self._summary(d) for d in found[start:end]]}
            if end < len(found):
                response["nextToken"] = _page_token(owner, end)
            self._answer(LIST, response)
        return with_metadata(response)

    def list_effective_deployments(self, **params: Any) -> dict[str, Any]:
        validate_request(SERVICE, LIST_EFFECTIVE, params)
        with self._lock:
            self._admit(LIST_EFFECTIVE, params)
            thing = params["coreDeviceThingName"]
            if not any(thing in devices for devices in self._targets.values()):
                raise self._fail(
                    LIST_EFFECTIVE,
                    "ResourceNotFoundException",
                    f"Core device {thing} not found.",
                    resourceId=thing,
                    resourceType="coreDevice",
                )
            found = [
                (deployment, deployment.executions[thing])
                for deployment in self._deployments.values()
                if thing in deployment.executions
            ]
            found.reverse()  # newest first
            start = self._page_start(LIST_EFFECTIVE, params.get("nextToken"), thing, len(found))
            end = start + params.get("maxResults", 50)
            response: dict[str, Any] = {
                "effectiveDeployments": [self._effective(d, e) for d, e in found[start:end]]
            }
            if end < len(found):
                response["nextToken"] = _page_token(thing, end)
            self._answer(LIST_EFFECTIVE, response)
        return with_metadata(response)

    # -- time passing --------------------------------------------------------------------

    def advance(self, now: datetime | None = None) -> list[Event]:
        """Move every device execution one step; deliver and return the events it caused.
        Delivery happens after the fake's lock is released."""
        with self._lock:
            moment = now or self.clock()
            events = []
            for deployment in self._deployments.values():
                for execution in deployment.executions.values():
                    if execution.status in EXECUTION_IN_FLIGHT:
                        event = self._step(deployment, execution, moment)
                        if event:
                            events.append(event)
        self._send(events)
        return events

    # -- inside the service (called with the lock held) ----------------------------------

    def _admit(self, operation_name: str, params: dict[str, Any]) -> datetime:
        now = self._record(operation_name, params)
        self._check(operation_name, params)
        return now

    def _error_members(self, code: str) -> dict[str, Any]:
        return _members(code)

    def _answer(self, operation_name: str, response: dict[str, Any]) -> None:
        validate_response(SERVICE, operation_name, response, constraints=True)

    def _create(self, params: dict[str, Any], now: datetime) -> tuple[_Deployment, list[Event]]:
        token = params["clientToken"]
        request = {key: value for key, value in params.items() if key != "clientToken"}
        earlier, differs = self._tokens.recall(token, request, now)
        if earlier is not None and differs and self.idempotency_mismatch_code is not None:
            raise self._fail(
                CREATE,
                self.idempotency_mismatch_code,
                f"clientToken {token} was used with different parameters.",
                **_members(self.idempotency_mismatch_code, earlier),
            )
        if earlier is not None:
            return self._deployments[earlier], []
        target = params["targetArn"]
        devices = self._targets.get(target)
        if devices is None:
            raise self._fail(
                CREATE,
                "ResourceNotFoundException",
                f"The target {target} does not exist.",
                resourceId=target,
                resourceType="thinggroup" if ":thinggroup/" in target else "thing",
            )
        for name, spec in params.get("components", {}).items():
            if (name, spec["componentVersion"]) not in self._components:
                raise self._fail(
                    CREATE,
                    "ResourceNotFoundException",
                    f"Component {name} version {spec['componentVersion']} does not exist.",
                    resourceId=self.component_version_arn(name, spec["componentVersion"]),
                    resourceType="componentVersion",
                )
        events: list[Event] = []
        previous = [d for d in self._deployments.values() if d.target_arn == target]
        for older in previous:
            if older.is_latest:
                older.is_latest = False
                if older.status is DeploymentStatus.ACTIVE:
                    older.status = DeploymentStatus.INACTIVE
                events.extend(
                    self._cancel_executions(older, now, "Replaced by a newer deployment.")
                )
        deployment_id = self._new_uuid()
        iot_job_id = self._new_uuid()
        deployment = _Deployment(
            deployment_id=deployment_id,
            request=copy.deepcopy(params),
            name=params.get("deploymentName") or f"Deployment for {target.rsplit('/', 1)[-1]}",
            revision_id=str(len(previous) + 1),
            iot_job_id=iot_job_id,
            iot_job_arn=f"arn:aws:iot:{self.region}:{self.account}:job/{iot_job_id}",
            created=now,
            status=DeploymentStatus.ACTIVE,
            executions={thing: _Execution(thing, X.QUEUED, now, now) for thing in devices},
        )
        self._deployments[deployment_id] = deployment
        self._tokens.remember(token, request, deployment_id, now)
        return deployment, events

    def _cancel_executions(
        self, deployment: _Deployment, now: datetime, reason: str
    ) -> list[Event]:
        return [
            self._finish(deployment, execution, X.CANCELED, now, reason)
            for execution in deployment.executions.values()
            if execution.status in EXECUTION_IN_FLIGHT
        ]

    def _step(self, deployment: _Deployment, execution: _Execution, now: datetime) -> Event | None:
        if execution.status is X.QUEUED:
            execution.status, execution.modified = X.IN_PROGRESS, now
            execution.extra_advances = self.slow_devices.get(
                execution.thing, self.slow_devices.get("*", 0)
            )
            return None
        if execution.extra_advances > 0:
            execution.extra_advances -= 1
            return None
        failure = self._failures.get(execution.thing)
        if failure is not None:
            execution.error_stack, execution.error_types = failure.error_stack, failure.error_types
            event = self._finish(deployment, execution, failure.status, now, failure.reason)
            if not deployment.is_group and deployment.status is DeploymentStatus.ACTIVE:
                deployment.status = DeploymentStatus.FAILED
            return event
        done = X.SUCCEEDED if deployment.is_group else X.COMPLETED
        event = self._finish(deployment, execution, done, now, SUCCESS_REASON)
        if not deployment.is_group and deployment.status is DeploymentStatus.ACTIVE:
            deployment.status = DeploymentStatus.COMPLETED
        return event

    def _finish(
        self,
        deployment: _Deployment,
        execution: _Execution,
        status: ExecutionStatus,
        now: datetime,
        reason: str,
    ) -> Event:
        execution.status, execution.modified, execution.reason = status, now, reason
        event: Event = {
            "version": "0",
            "id": self._new_uuid(),
            "detail-type": EVENT_DETAIL_TYPE,
            "source": EVENT_SOURCE,
            "account": self.account,
            "time": now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": self.region,
            "resources": [self.core_device_arn(execution.thing)],
            "detail": {
                self.deployment_id_key: deployment.deployment_id,
                "coreDeviceExecutionStatus": status.value,
                "statusDetails": {
                    "errorStack": list(execution.error_stack),
                    "errorTypes": list(execution.error_types),
                },
                "reason": reason,
            },
        }
        self.emitted.append(event)
        return event

    def _find(self, operation_name: str, deployment_id: str) -> _Deployment:
        deployment = self._deployments.get(deployment_id)
        if deployment is None:
            raise self._fail(
                operation_name,
                "ResourceNotFoundException",
                f"Deployment {deployment_id} not found.",
                resourceId=deployment_id,
                resourceType="deployment",
            )
        return deployment

    def _describe(self, deployment: _Deployment) -> dict[str, Any]:
        request = deployment.request
        answer: dict[str, Any] = {
            "targetArn": deployment.target_arn,
            "revisionId": deployment.revision_id,
            "deploymentId": deployment.deployment_id,
            "deploymentName": deployment.name,
            "deploymentStatus": deployment.status.value,
            "iotJobId": deployment.iot_job_id,
            "iotJobArn": deployment.iot_job_arn,
            "components": copy.deepcopy(request.get("components", {})),
            "deploymentPolicies": _policies(request.get("deploymentPolicies", {})),
            "creationTimestamp": deployment.created,
            "isLatestForTarget": deployment.is_latest,
        }
        for key in ("iotJobConfiguration", "parentTargetArn", "tags"):
            if key in request:
                answer[key] = copy.deepcopy(request[key])
        return answer

    def _summary(self, deployment: _Deployment) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "targetArn": deployment.target_arn,
            "revisionId": deployment.revision_id,
            "deploymentId": deployment.deployment_id,
            "deploymentName": deployment.name,
            "creationTimestamp": deployment.created,
            "deploymentStatus": deployment.status.value,
            "isLatestForTarget": deployment.is_latest,
        }
        if "parentTargetArn" in deployment.request:
            answer["parentTargetArn"] = deployment.request["parentTargetArn"]
        return answer

    def _effective(self, deployment: _Deployment, execution: _Execution) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "deploymentId": deployment.deployment_id,
            "deploymentName": deployment.name,
            "iotJobId": deployment.iot_job_id,
            "iotJobArn": deployment.iot_job_arn,
            "targetArn": deployment.target_arn,
            "coreDeviceExecutionStatus": execution.status.value,
            "creationTimestamp": execution.created,
            "modifiedTimestamp": execution.modified,
            "statusDetails": {
                "errorStack": list(execution.error_stack),
                "errorTypes": list(execution.error_types),
            },
        }
        if execution.reason is not None:
            answer["reason"] = execution.reason
        return answer

    def _page_start(self, operation_name: str, token: str | None, owner: str, total: int) -> int:
        if token is None:
            return 0
        try:
            holder, _, offset = base64.b64decode(token, validate=True).decode().rpartition(":")
            start = int(offset)
        except (binascii.Error, UnicodeDecodeError, ValueError):
            holder, start = "", -1
        if holder != owner or not 0 <= start <= total:
            raise self._fail(operation_name, "ValidationException", f"Invalid nextToken {token}.")
        return start

    def _new_uuid(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    # -- delivery ------------------------------------------------------------------------

    def _send(self, events: list[Event]) -> None:
        if not events:
            return
        deliver = self.deliver or PutEventsDelivery(self.events_client or aws.client("events"))
        for event in events:
            deliver(event)


def _policies(requested: dict[str, Any]) -> dict[str, Any]:
    """The deployment's policies with the service's documented defaults filled in."""
    policies = copy.deepcopy(DEFAULT_POLICIES)
    for key, value in requested.items():
        policies[key] = {**policies[key], **value} if isinstance(value, dict) else value
    return policies


def _members(code: str, resource_id: str = "injected") -> dict[str, Any]:
    """The members the model requires on this error (the message aside)."""
    if code in ("ConflictException", "ResourceNotFoundException"):
        return {"resourceId": resource_id, "resourceType": "deployment"}
    return {}


def _page_token(owner: str, offset: int) -> str:
    return base64.b64encode(f"{owner}:{offset}".encode()).decode()
