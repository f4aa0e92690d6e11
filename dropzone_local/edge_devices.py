"""Simulated Edge Manager agents for the local cloud.

A FakeEdgeDevice asks Dropzone what to run (EdgeAnswers.get_deployments, checked against
sagemaker-edge's GetDeployments output shape), "installs" each definition, and reports
back with heartbeats: EventBridge entries whose detail is exactly a SendHeartbeat request
(checked against the service model before sending). It can be told to fail a model, to
fail its rollback too, and to deliver heartbeats duplicated or out of order.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from dropzone.clock import iso, utcnow
from dropzone.models.edge import HEARTBEAT_DETAIL_TYPE, HEARTBEAT_SOURCE
from dropzone_local.service_model import validate_request, validate_response


class DeploymentSource(Protocol):
    def get_deployments(self, device_name: str, fleet_name: str) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Failure:
    reason: str
    rollback_failure_reason: str | None = None


@dataclass
class FakeEdgeDevice:
    fleet: str
    name: str
    agent_version: str = "1.20210820.e20fa3a"
    clock: Callable[[], datetime] = utcnow
    installed: dict[str, dict[str, Any]] = field(default_factory=dict)  # handle → definition
    applied: set[str] = field(default_factory=set)  # deployment names acted on
    _failures: dict[str, Failure] = field(default_factory=dict)
    _sent: int = 0

    def fail(self, model_handle: str, reason: str, *, rollback_failure: str | None = None) -> None:
        """Make installing `model_handle` fail (and, optionally, the rollback after it)."""
        self._failures[model_handle] = Failure(reason, rollback_failure)

    def heal(self, model_handle: str) -> None:
        self._failures.pop(model_handle, None)

    # -- the agent's loop

    def poll(self, answers: DeploymentSource) -> list[dict[str, Any]]:
        """Fetch deployments, act on each one not acted on yet, and return one heartbeat
        detail per deployment (or a plain heartbeat when there was nothing new)."""
        response = answers.get_deployments(self.name, self.fleet)
        validate_response("sagemaker-edge", "GetDeployments", response)
        details = [
            self.heartbeat(self._apply(deployment))
            for deployment in response.get("Deployments", [])
            if deployment["DeploymentName"] not in self.applied
        ]
        return details or [self.heartbeat()]

    def heartbeat(self, deployment_result: dict[str, Any] | None = None) -> dict[str, Any]:
        """A SendHeartbeat request as this device would send it now."""
        now = self._tick()
        detail: dict[str, Any] = {
            "AgentMetrics": [
                {
                    "Dimension": "agent",
                    "MetricName": "ModelsLoaded",
                    "Value": float(len(self.installed)),
                    "Timestamp": iso(now),
                }
            ],
            "Models": [
                {
                    "ModelName": _model_name(handle),
                    "ModelVersion": _model_version(definition),
                    "LatestSampleTime": iso(now),
                    "LatestInference": iso(now),
                    "ModelMetrics": [
                        {
                            "Dimension": f"model/{handle}",
                            "MetricName": "InferenceCount",
                            "Value": 1.0,
                            "Timestamp": iso(now),
                        }
                    ],
                }
                for handle, definition in sorted(self.installed.items())
            ],
            "AgentVersion": self.agent_version,
            "DeviceName": self.name,
            "DeviceFleetName": self.fleet,
        }
        if deployment_result is not None:
            detail["DeploymentResult"] = deployment_result
        validate_request("sagemaker-edge", "SendHeartbeat", detail)
        return detail

    def _apply(self, deployment: dict[str, Any]) -> dict[str, Any]:
        started = self._tick()
        rollback = deployment.get("FailureHandlingPolicy") == "ROLLBACK_ON_FAILURE"
        before = dict(self.installed)
        models: list[dict[str, Any]] = []
        failed = False
        for definition in deployment.get("Definitions", []):
            handle = definition["ModelHandle"]
            state = definition.get("State", "DEPLOY")
            model: dict[str, Any] = {
                "ModelHandle": handle,
                "ModelName": _model_name(handle),
                "ModelVersion": _model_version(definition),
                "DesiredState": state,
            }
            failure = self._failures.get(handle)
            if failure is not None:
                failed = True
                model.update(Status="FAIL", StatusReason=failure.reason)
                model["State"] = "UNDEPLOY" if state == "DEPLOY" else "DEPLOY"
                if rollback and failure.rollback_failure_reason:
                    model["RollbackFailureReason"] = failure.rollback_failure_reason
            else:
                if state == "DEPLOY":
                    self.installed[handle] = definition
                else:
                    self.installed.pop(handle, None)
                model.update(Status="SUCCESS", State=state)
            models.append(model)
        rolled_back = failed and rollback
        if rolled_back:
            self.installed = before
        self.applied.add(deployment["DeploymentName"])
        status = "FAIL" if failed else "SUCCESS"
        message = (
            "rolled back after a failure"
            if rolled_back
            else ("failed" if failed else "all models in their desired state")
        )
        return {
            "DeploymentName": deployment["DeploymentName"],
            "DeploymentStatus": status,
            "DeploymentStatusMessage": message,
            "DeploymentStartTime": iso(started),
            "DeploymentEndTime": iso(self._tick()),
            "DeploymentModels": models,
        }

    def _tick(self) -> datetime:
        """Strictly increasing times, even when the clock stands still."""
        self._sent += 1
        return self.clock() + timedelta(milliseconds=self._sent)

    # -- delivery

    def entries(
        self,
        details: list[dict[str, Any]],
        *,
        duplicate: bool = False,
        reorder: bool = False,
    ) -> list[dict[str, Any]]:
        """PutEvents entries for `details`, each with its heartbeat's time; `duplicate`
        sends every one twice, `reorder` sends them newest first."""
        entries = []
        for detail in details:
            validate_request("sagemaker-edge", "SendHeartbeat", detail)
            entries.append(
                {
                    "Source": HEARTBEAT_SOURCE,
                    "DetailType": HEARTBEAT_DETAIL_TYPE,
                    "Detail": json.dumps(detail),
                    "Time": _time_of(detail) or self.clock(),
                }
            )
        if reorder:
            entries.reverse()
        if duplicate:
            entries = [entry for entry in entries for _ in range(2)]
        return entries

    def send(
        self,
        events: Any,
        details: list[dict[str, Any]],
        *,
        duplicate: bool = False,
        reorder: bool = False,
        event_bus_name: str = "default",
    ) -> int:
        """Put the heartbeats on the bus (at most 10 entries a request); returns how many
        entries were sent. Raises if EventBridge failed any entry."""
        entries = [
            {**entry, "EventBusName": event_bus_name}
            for entry in self.entries(details, duplicate=duplicate, reorder=reorder)
        ]
        for start in range(0, len(entries), 10):
            request = {"Entries": entries[start : start + 10]}
            validate_request("events", "PutEvents", request)
            response = events.put_events(**request)
            if response.get("FailedEntryCount"):
                raise RuntimeError(f"EventBridge refused heartbeats: {response['Entries']}")
        return len(entries)


def _time_of(detail: dict[str, Any]) -> datetime | None:
    metrics = detail.get("AgentMetrics") or []
    stamp = metrics[0].get("Timestamp") if metrics else None
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")) if stamp else None


def _model_name(handle: str) -> str:
    return f"model-{handle}"[:255]


def _model_version(definition: dict[str, Any]) -> str:
    checksum = (definition.get("Checksum") or {}).get("Sum")
    return str(checksum)[:12] if checksum else "1"
