"""Building blocks for packaging and Greengrass tests: moto S3/DynamoDB, FakeLookoutVision on
a fake clock, and a Greengrass stand-in that checks every request and response against
the greengrassv2 service model."""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

from dropzone.adapters.greengrass import Greengrass
from dropzone.adapters.lookoutvision import LookoutVision
from dropzone.models.edge import EdgeSection
from dropzone.models.jobs import Job, JobKind, JobStatus, SourceObject
from dropzone.ratelimit import Pacer
from dropzone.settings.edge import GreengrassSettings
from dropzone.settings.packaging import PackagingSettings
from dropzone.store.ledger import Ledger
from dropzone.workflows.edge.greengrass_state import GreengrassStateHandler
from dropzone.workflows.edge.rollout import GreengrassDeployer
from dropzone.workflows.packaging.handoff import EdgeRecorder, PackagingHandoff
from dropzone.workflows.packaging.poll import PackagingPoller
from dropzone.workflows.packaging.submit import PackagingSubmitter
from dropzone_local.lookoutvision import FakeLookoutVision
from dropzone_local.service_model import client_error, validate_request, validate_response
from tests.support.fixtures import Stack

PROJECT = "circuit-boards"
KEY = f"model-packaging/{PROJECT}/release-7.json"
THING = "arn:aws:iot:us-east-1:123456789012:thing/line-3-core"
GROUP = "arn:aws:iot:us-east-1:123456789012:thinggroup/line-3"
TARGETS = "line-3-core,line-3"


def request_body(**overrides: Any) -> dict[str, Any]:
    """A valid packaging request (TargetDevice), with top-level fields overridden."""
    body: dict[str, Any] = {
        "ModelVersion": "1",
        "Description": "release 7 of the circuit board model",
        "Configuration": {
            "Greengrass": {
                "TargetDevice": "jetson_xavier",
                "ComponentName": "circuit-model",
                "ComponentDescription": "Circuit board anomaly detection",
                "Tags": [{"Key": "team", "Value": "vision"}],
            }
        },
    }
    body.update(overrides)
    return body


def greengrass_of(body: dict[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = body["Configuration"]["Greengrass"]
    return config


@dataclass
class FakeTime:
    """One clock for everything: the pacer (monotonic seconds, sleep) and the ledger and
    fakes (UTC datetimes). Sleeping moves it; nothing waits."""

    now: float = 0.0
    base: datetime = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    def utc(self) -> datetime:
        return self.base + timedelta(seconds=self.now)

    def budget(self, seconds: float) -> Any:
        end = self.now + seconds
        return lambda: end - self.now


@dataclass
class ModelGreengrass:
    """greengrassv2's CreateDeployment / ListDeployments / GetDeployment, checked against the
    service model; remembers deployments per target and client tokens."""

    deployments: dict[str, dict[str, Any]] = field(default_factory=dict)
    create_calls: list[dict[str, Any]] = field(default_factory=list)
    faults: list[str] = field(default_factory=list)
    _tokens: dict[str, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def create_deployment(self, **params: Any) -> dict[str, Any]:
        validate_request("greengrassv2", "CreateDeployment", params)
        with self._lock:
            self.create_calls.append(json.loads(json.dumps(params)))
            if self.faults:
                code = self.faults.pop(0)
                raise client_error(
                    "greengrassv2", "CreateDeployment", code, f"injected {code}", message="x"
                )
            token = params.get("clientToken")
            if token in self._tokens:
                deployment_id = self._tokens[token]
            else:
                deployment_id = str(uuid.uuid4())
                self._tokens[str(token)] = deployment_id
                self.deployments[deployment_id] = {
                    **params,
                    "deploymentId": deployment_id,
                    "deploymentStatus": "ACTIVE",
                }
        response = {
            "deploymentId": deployment_id,
            "iotJobId": f"job-{deployment_id}",
            "iotJobArn": f"arn:aws:iot:us-east-1:123456789012:job/job-{deployment_id}",
        }
        validate_response("greengrassv2", "CreateDeployment", response)
        return response

    def list_deployments(self, **params: Any) -> dict[str, Any]:
        validate_request("greengrassv2", "ListDeployments", params)
        matching = [
            deployment
            for deployment in self.deployments.values()
            if deployment["targetArn"] == params.get("targetArn")
        ]
        response = {
            "deployments": [
                {
                    "targetArn": deployment["targetArn"],
                    "deploymentId": deployment["deploymentId"],
                    "deploymentName": deployment.get("deploymentName", "d"),
                    "deploymentStatus": deployment["deploymentStatus"],
                    "isLatestForTarget": True,
                }
                for deployment in matching[-1:]
            ]
        }
        validate_response("greengrassv2", "ListDeployments", response)
        return response

    def get_deployment(self, **params: Any) -> dict[str, Any]:
        validate_request("greengrassv2", "GetDeployment", params)
        deployment = self.deployments[params["deploymentId"]]
        response = {
            "targetArn": deployment["targetArn"],
            "deploymentId": deployment["deploymentId"],
            "deploymentStatus": deployment["deploymentStatus"],
            "components": deployment.get("components", {}),
            "isLatestForTarget": True,
        }
        validate_response("greengrassv2", "GetDeployment", response)
        return response


@dataclass
class RecordingEdge:
    """EdgeDeployments.record_from_packaging's contract, recording its calls."""

    ledger: Ledger
    calls: list[dict[str, Any]] = field(default_factory=list)
    failures: list[Exception] = field(default_factory=list)

    def record_from_packaging(
        self, packaging_job: Job, edge: EdgeSection, artifact_uri: str, component: dict[str, str]
    ) -> Job:
        self.calls.append(
            {"job": packaging_job, "edge": edge, "artifact": artifact_uri, "component": component}
        )
        if self.failures:
            raise self.failures.pop(0)
        record = Job(
            job_id=f"{packaging_job.job_id}-edge",
            kind=JobKind.EDGE_DEPLOYMENT,
            status=JobStatus.ACCEPTED,
            source=packaging_job.source,
            target=edge.device_fleet_name,
            parent_id=packaging_job.job_id,
            created_at="",
            updated_at="",
        )
        return self.ledger.create(record).job


@dataclass
class PackagingWorld:
    stack: Stack
    time: FakeTime
    settings: PackagingSettings
    lookoutvision: FakeLookoutVision
    greengrass: ModelGreengrass
    edge: RecordingEdge

    @property
    def ledger(self) -> Ledger:
        return self.stack.ledger(clock=self.time.utc)

    def submitter(self, client: Any = None) -> PackagingSubmitter:
        return PackagingSubmitter(
            self.settings,
            self.ledger,
            self.stack.s3(),
            LookoutVision(client or self.lookoutvision),
        )

    def deployer(self, client: Any = None) -> GreengrassDeployer:
        return GreengrassDeployer(
            self.ledger,
            Greengrass(client or self.greengrass),
            self.stack.s3(),
            self.settings.results_bucket,
            self.settings.rollout_policy,
        )

    def handoff(self, edge: EdgeRecorder | None = None) -> PackagingHandoff:
        recorder = edge or self.edge
        deployer = self.deployer()
        return PackagingHandoff(
            self.ledger,
            self.stack.s3(),
            lambda: recorder,
            lambda: deployer,
            self.settings.results_bucket,
        )

    def poller(self, client: Any = None, edge: EdgeRecorder | None = None) -> PackagingPoller:
        return PackagingPoller(
            self.settings,
            self.ledger,
            LookoutVision(client or self.lookoutvision),
            self.handoff(edge),
            Pacer.within(
                self.settings.describe_tps,
                safety_factor=self.settings.tps_safety_factor,
                clock=self.time.monotonic,
                sleep=self.time.sleep,
            ),
            clock=self.time.utc,
        )

    def state_handler(self) -> GreengrassStateHandler:
        return GreengrassStateHandler(
            GreengrassSettings(
                jobs_table=self.stack.table_name, results_bucket=self.stack.results_bucket
            ),
            self.ledger,
        )

    def upload(self, body: bytes | dict[str, Any], key: str = KEY) -> SourceObject:
        data = json.dumps(body).encode() if isinstance(body, dict) else body
        put = self.stack.s3_client.put_object(Bucket=self.stack.dropzone_bucket, Key=key, Body=data)
        return SourceObject(
            bucket=self.stack.dropzone_bucket,
            key=key,
            version_id=put["VersionId"],
            etag=put["ETag"].strip('"'),
            size=len(data),
        )

    def submit(self, body: bytes | dict[str, Any], key: str = KEY) -> Job:
        return self.submitter().submit(self.upload(body, key))

    def tick(self, seconds: float = 1.0) -> None:
        self.time.sleep(seconds)


def world(stack: Stack, **settings: Any) -> PackagingWorld:
    time = FakeTime()
    fake = FakeLookoutVision(s3_client=stack.s3_client, clock=time.utc)
    fake.add_project(PROJECT, (1, 2, 3))
    values: dict[str, Any] = {
        "jobs_table": stack.table_name,
        "results_bucket": stack.results_bucket,
        "poll_reserve_seconds": 1.0,
        # The stack may roll out to THING and GROUP (a stack's GreengrassTargets).
        "greengrass_targets": TARGETS,
    }
    values.update(settings)
    ledger = stack.ledger(clock=time.utc)
    return PackagingWorld(
        stack, time, PackagingSettings(**values), fake, ModelGreengrass(), RecordingEdge(ledger)
    )


def lookoutvision_client() -> Any:
    return boto3.client("lookoutvision", region_name="us-east-1")  # type: ignore[call-overload]


def greengrass_client() -> Any:
    return boto3.client("greengrassv2", region_name="us-east-1")
