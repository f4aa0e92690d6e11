"""Greengrass V2 roll-out of a packaged component, tracked as an `edge_deployment` job.

deploy   a succeeded packaging job whose request has `GreengrassDeployment` →
         CreateDeployment (clientToken = the deployment job's id) → SUBMITTED,
         service_ref "greengrass:<deploymentId>"
track    `Greengrass V2 Effective Deployment Status Change` events (EventBridge → SQS),
         one per core device → that device's result on the job → the job's status

Each core device's result is kept under `core_devices.<thing name>`; a device's entry only
moves forward (QUEUED < IN_PROGRESS < a final status; the first final status stays), so
duplicated and reordered events never move it back. The job's status follows its devices:

    device status                        counts as
    SUCCEEDED, COMPLETED                 success
    FAILED, REJECTED, TIMED_OUT          failure
    CANCELED                             canceled
    QUEUED, IN_PROGRESS                  still running

    once the expected number of devices has a final status (a thing target: 1; a thing
    group: GreengrassDeployment.CoreDeviceCount, which a thing group requires; a record
    made before that rule, without a count, follows its first final report):
    all success → SUCCEEDED; all canceled → STOPPED; some success → PARTIALLY_SUCCEEDED;
    otherwise → FAILED. Reports after that are still recorded (with the counts), but the
    status is final.

A target Greengrass refuses (while Dropzone reads its current components, or on
CreateDeployment) ends the roll-out job REJECTED with a report. Events are best effort:
dropzone.workflows.edge_reconcile asks Greengrass about roll-outs that went quiet.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from dropzone import aws
from dropzone.adapters.greengrass import Greengrass
from dropzone.adapters.s3 import S3
from dropzone.clock import iso, utcnow
from dropzone.errors import InvalidInput, TransientError
from dropzone.models.jobs import Job, JobKind, JobStatus
from dropzone.models.packaging import GreengrassDeploymentSection
from dropzone.observability import logger, metrics
from dropzone.settings import GreengrassSettings
from dropzone.sqs_batch import SqsMessage
from dropzone.store.ledger import Ledger
from dropzone.workflows.intake import claim
from dropzone.workflows.rejection import rejected

KIND = JobKind.EDGE_DEPLOYMENT
SERVICE_REF_PREFIX = "greengrass:"
DEVICES_ATTRIBUTE = "core_devices"
DETAIL_TYPE = "Greengrass V2 Effective Deployment Status Change"

SUCCESS = frozenset({"SUCCEEDED", "COMPLETED"})
FAILURE = frozenset({"FAILED", "REJECTED", "TIMED_OUT"})
CANCELED = frozenset({"CANCELED"})
_PROGRESS = {"QUEUED": 0, "IN_PROGRESS": 1}
_FINAL_RANK = 2


def service_ref(deployment_id: str) -> str:
    return f"{SERVICE_REF_PREFIX}{deployment_id}"


def deployment_job_id(packaging_job_id: str) -> str:
    """The roll-out job's id; also CreateDeployment's clientToken (≤64, [a-zA-Z0-9-]+)."""
    return f"{packaging_job_id}-gg"


def device_rank(status: str) -> int:
    """Where a device's reported status stands: later ranks replace earlier ones."""
    if status in SUCCESS or status in FAILURE or status in CANCELED:
        return _FINAL_RANK
    return _PROGRESS.get(status, 0)


def outcome_of(statuses: list[str]) -> JobStatus:
    """The deployment's status from its devices' final statuses."""
    succeeded = sum(status in SUCCESS for status in statuses)
    if succeeded == len(statuses):
        return JobStatus.SUCCEEDED
    if all(status in CANCELED for status in statuses):
        return JobStatus.STOPPED
    if succeeded:
        return JobStatus.PARTIALLY_SUCCEEDED
    return JobStatus.FAILED


@dataclass(frozen=True)
class PackagedComponent:
    name: str
    version: str
    arn: str | None = None

    def as_dict(self) -> dict[str, str]:
        values = {"ComponentName": self.name, "ComponentVersion": self.version}
        if self.arn:
            values["ComponentVersionArn"] = self.arn
        return values


@dataclass
class GreengrassDeployer:
    """Starts the roll-out of a packaged component: idempotent, safe to call again."""

    ledger: Ledger
    greengrass: Greengrass
    s3: S3
    results_bucket: str
    lease_seconds: int = 120
    owner: str = field(default_factory=lambda: uuid.uuid4().hex)

    def deploy(
        self,
        packaging_job: Job,
        section: GreengrassDeploymentSection,
        component: PackagedComponent,
    ) -> Job:
        job_id = deployment_job_id(packaging_job.job_id)
        existing = self.ledger.get(job_id)
        if existing is not None and existing.status is not JobStatus.ACCEPTED:
            return existing  # started (or refused) already
        # The request is frozen in the first record: a retry sends exactly the same one,
        # which CreateDeployment recognises by its clientToken.
        try:
            draft = existing or self._draft(packaging_job, section, component, job_id)
        except InvalidInput as invalid:  # e.g. a target ListDeployments refuses
            return self._refuse(packaging_job, section, component, job_id, invalid)
        taken = claim(self.ledger, draft, owner=self.owner, lease_seconds=self.lease_seconds)
        if not taken.claimed:
            return taken.job
        job = taken.job
        request = dict(job.options["request"])
        try:
            created = self.greengrass.create_deployment(**request)
        except InvalidInput as invalid:
            return rejected(
                job, invalid, ledger=self.ledger, s3=self.s3, results_bucket=self.results_bucket
            )
        except Exception:
            self.ledger.release_lease(job.job_id, owner=self.owner)
            raise
        deployment_id = created["deploymentId"]
        result = self.ledger.transition(
            job.job_id,
            KIND,
            JobStatus.SUBMITTED,
            service_status="ACTIVE",
            message=f"deploying {component.name} {component.version} to {section.target_arn}",
            updates={
                "service_ref": service_ref(deployment_id),
                "deployment_id": deployment_id,
                "iot_job_id": created.get("iotJobId"),
                "iot_job_arn": created.get("iotJobArn"),
            },
        )
        metrics.add_metric(name="GreengrassDeploymentsCreated", unit="Count", value=1)
        return result.job or job

    def _refuse(
        self,
        packaging_job: Job,
        section: GreengrassDeploymentSection,
        component: PackagedComponent,
        job_id: str,
        invalid: InvalidInput,
    ) -> Job:
        """The roll-out's request could not even be built: record the job without one and
        reject it with a report, so the hand-off completes and the packaging job settles."""
        draft = Job(
            job_id=job_id,
            kind=KIND,
            status=JobStatus.ACCEPTED,
            source=packaging_job.source,
            target=section.target_arn,
            parent_id=packaging_job.job_id,
            options={"channel": "greengrass", "component": component.as_dict()},
            created_at="",
            updated_at="",
            **{DEVICES_ATTRIBUTE: {}},
        )
        taken = claim(self.ledger, draft, owner=self.owner, lease_seconds=self.lease_seconds)
        if not taken.claimed:
            return taken.job
        return rejected(
            taken.job, invalid, ledger=self.ledger, s3=self.s3, results_bucket=self.results_bucket
        )

    def _draft(
        self,
        packaging_job: Job,
        section: GreengrassDeploymentSection,
        component: PackagedComponent,
        job_id: str,
    ) -> Job:
        return Job(
            job_id=job_id,
            kind=KIND,
            status=JobStatus.ACCEPTED,
            source=packaging_job.source,
            target=section.target_arn,
            parent_id=packaging_job.job_id,
            options={
                "channel": "greengrass",
                "request": self.request(job_id, packaging_job, section, component),
                "expected_core_devices": section.expected_core_devices(),
                "component": component.as_dict(),
            },
            created_at="",
            updated_at="",
            **{DEVICES_ATTRIBUTE: {}},
        )

    def request(
        self,
        job_id: str,
        packaging_job: Job,
        section: GreengrassDeploymentSection,
        component: PackagedComponent,
    ) -> dict[str, Any]:
        """CreateDeployment's request. A deployment replaces the target's previous one, so
        the components already deployed there are kept unless the request says not to."""
        components: dict[str, Any] = {}
        if section.keep_existing_components:
            components.update(self.greengrass.current_components(section.target_arn))
        spec: dict[str, Any] = {"componentVersion": component.version}
        update = section.component_configuration_update
        if update is not None:
            spec["configurationUpdate"] = update.model_dump(by_alias=False, exclude_none=True)
        components[component.name] = spec
        request: dict[str, Any] = {
            "targetArn": section.target_arn,
            "deploymentName": section.deployment_name
            or f"dropzone {component.name} {component.version}"[:256],
            "components": components,
            "clientToken": job_id,
            "tags": {"dropzone:job-id": job_id, "dropzone:parent-id": packaging_job.job_id},
        }
        if section.deployment_policies is not None:
            request["deploymentPolicies"] = section.deployment_policies.as_api()
        return request


# -- deployment status events ----------------------------------------------------------------


class _StatusDetails(BaseModel):
    model_config = ConfigDict(extra="ignore")

    error_stack: list[str] = Field(default_factory=list, alias="errorStack")
    error_types: list[str] = Field(default_factory=list, alias="errorTypes")


class _Detail(BaseModel):
    model_config = ConfigDict(extra="ignore")

    deployment_id: str = Field(
        min_length=1, validation_alias=AliasChoices("deploymentId", "deployment-id")
    )
    status: str = Field(alias="coreDeviceExecutionStatus", min_length=1)
    status_details: _StatusDetails | None = Field(default=None, alias="statusDetails")
    reason: str | None = None
    thing_name: str | None = Field(
        default=None, validation_alias=AliasChoices("coreDeviceThingName", "thingName")
    )


class DeploymentStatusEvent(BaseModel):
    model_config = ConfigDict(extra="ignore")

    source: str
    detail_type: str = Field(validation_alias=AliasChoices("detail-type", "detail_type"))
    time: str | None = None
    resources: list[str] = Field(default_factory=list)
    detail: _Detail

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


@dataclass
class GreengrassStateHandler:
    settings: GreengrassSettings
    ledger: Ledger

    @classmethod
    def from_env(cls, client: aws.ClientSource = aws.client) -> GreengrassStateHandler:
        settings = GreengrassSettings.from_env()
        return cls(settings, Ledger.from_settings(settings, client("dynamodb")))

    def handle_record(self, message: SqsMessage) -> None:
        event = DeploymentStatusEvent.model_validate_json(message.body)
        self.apply(event, receive_count=message.receive_count)

    def apply(self, event: DeploymentStatusEvent, *, receive_count: int = 1) -> Job | None:
        detail = event.detail
        jobs = self.ledger.find_by_service_ref(service_ref(detail.deployment_id))
        job = next((job for job in jobs if job.kind is KIND), None)
        if job is None:
            if receive_count < self.settings.unknown_deployment_max_receives:
                raise TransientError(f"no job yet for deployment {detail.deployment_id!r}")
            logger.info(
                "status of a deployment Dropzone did not start; dropped",
                extra={"deployment_id": detail.deployment_id},
            )
            metrics.add_metric(name="UnknownGreengrassDeployments", unit="Count", value=1)
            return None
        device = event.core_device()
        status = detail.status.upper()
        details = detail.status_details or _StatusDetails()
        entry = device_entry(
            status,
            event.time or iso(utcnow()),
            reason=detail.reason,
            error_stack=details.error_stack,
            error_types=details.error_types,
        )
        recorded = record_device(self.ledger, job.job_id, device, entry)
        if recorded is None:
            logger.info(
                "duplicate or out-of-order device report ignored",
                extra={"job_id": job.job_id, "core_device": device, "status": status},
            )
            metrics.add_metric(name="GreengrassReportsIgnored", unit="Count", value=1)
            # Settle anyway: a run that recorded the entry may have stopped before this.
            recorded = self.ledger.get(job.job_id) or job
        return self.settle(recorded, status)

    def settle(self, job: Job, service_status: str) -> Job:
        """Derive the job's status from its devices' results (idempotent)."""
        return settle(self.ledger, job, service_status)


def record_device(ledger: Ledger, job_id: str, device: str, entry: dict[str, Any]) -> Job | None:
    """Keep a core device's result on its roll-out; None when the entry is no newer than the
    one already kept (a duplicate or reordered report)."""
    return ledger.record_entry(
        job_id, KIND, list(JobStatus), attribute=DEVICES_ATTRIBUTE, key=device, entry=entry
    )


def device_entry(
    status: str,
    reported_at: str,
    *,
    reason: str | None = None,
    error_stack: list[str] | None = None,
    error_types: list[str] | None = None,
    source: str = "event",
) -> dict[str, Any]:
    """A core device's result as kept under `core_devices.<thing name>`."""
    return {
        "status": status,
        "order": device_rank(status),
        "reported_at": reported_at,
        "reason": reason,
        "error_stack": list(error_stack or []),
        "error_types": list(error_types or []),
        "source": source,
    }


def settle(ledger: Ledger, job: Job, service_status: str) -> Job:
    """Derive a roll-out job's status from its devices' results (idempotent)."""
    devices: dict[str, dict[str, Any]] = dict((job.model_extra or {}).get(DEVICES_ATTRIBUTE) or {})
    final = {name: str(entry["status"]) for name, entry in devices.items() if _is_final(entry)}
    tally = Counter(_group(status) for status in final.values())
    counts = {
        **job.counts,
        "core_devices_reported": len(devices),
        "core_devices_succeeded": tally["success"],
        "core_devices_failed": tally["failure"],
        "core_devices_canceled": tally["canceled"],
    }
    expected = job.options.get("expected_core_devices")
    decided = bool(final) and (expected is None or len(final) >= int(expected))
    if job.status.is_terminal or not decided:
        if job.status is JobStatus.SUBMITTED:
            moved = ledger.transition(
                job.job_id,
                KIND,
                JobStatus.RUNNING,
                service_status=service_status,
                message=_waiting_message(len(final), expected),
                updates={"counts": counts},
            )
            return moved.job or job
        updates: dict[str, Any] = {"counts": counts}
        if job.status.is_terminal:  # the outcome stands; late reports add to the counts
            service_status = job.service_status or service_status
        else:
            updates["message"] = _waiting_message(len(final), expected)
        return (
            ledger.annotate(
                job.job_id, KIND, job.status, service_status=service_status, updates=updates
            )
            or job
        )
    outcome = outcome_of(list(final.values()))
    result = ledger.transition(
        job.job_id,
        KIND,
        outcome,
        service_status=service_status,
        message=_outcome_message(final, devices),
        updates={"counts": counts},
    )
    metrics.add_metric(name="GreengrassDeploymentsSettled", unit="Count", value=1)
    return result.job or job


def _is_final(entry: dict[str, Any]) -> bool:
    return device_rank(str(entry.get("status", ""))) == _FINAL_RANK


def _group(status: str) -> str:
    if status in SUCCESS:
        return "success"
    if status in CANCELED:
        return "canceled"
    return "failure"


def _waiting_message(final: int, expected: Any) -> str:
    if expected is None:
        return "the deployment is in progress on the core devices"
    return f"{final} of {expected} core devices have finished"


def _outcome_message(final: dict[str, str], devices: dict[str, dict[str, Any]]) -> str:
    tally = Counter(final.values())
    summary = ", ".join(f"{count} {status}" for status, count in sorted(tally.items()))
    reasons = []
    for name in sorted(final):
        if final[name] in SUCCESS:
            continue
        entry = devices[name]
        why = " > ".join(entry.get("error_stack") or []) or entry.get("reason") or final[name]
        reasons.append(f"{name}: {why}")
    text = f"{len(final)} core devices: {summary}"
    if reasons:
        text += "; " + "; ".join(reasons)
    return text[:1000]
