"""Edge Manager-shaped deployment records, and device heartbeats that settle them.

intake     S3 Object Created under edge-deployments/<DeviceFleetName>/….json → ACCEPTED
           → validated, checksums verified or computed → devices registered → SUBMITTED
packaging  a succeeded packaging job whose request names a fleet → the same record
           (`EdgeDeployments.record_from_packaging`, idempotent)
heartbeat  `Edge Agent Heartbeat` events (the SendHeartbeat request as `detail`) → the
           device's record, which only a deployment record naming the device creates (a
           heartbeat from any other device is reported, not stored); a DeploymentResult
           → that device's result on the deployment record → RUNNING while devices are
           pending, then SUCCEEDED / FAILED / PARTIALLY_SUCCEEDED by counts over the
           targeted devices

A record holds `deployment` (exactly GetDeployments' EdgeDeployment), `devices` (the
targeted device names) and `device_results` (one time-ordered entry per device).
Undeploying is a new record whose definitions have State UNDEPLOY.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from typing import Any

import botocore.session
from botocore.exceptions import ClientError
from botocore.model import Shape
from botocore.validate import ParamValidator
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError

from dropzone import aws
from dropzone.adapters.s3 import S3, ObjectMissing, parse_s3_uri
from dropzone.adapters.sagemaker_edge import EdgeManagerRefused, SageMakerEdge
from dropzone.clock import iso, utcnow
from dropzone.errors import InvalidInput, Problem, TransientError
from dropzone.models.edge import (
    HEARTBEAT_DETAIL_TYPE,
    HEARTBEAT_SOURCE,
    NAME_MAX,
    NAME_PATTERN,
    Checksum,
    Definition,
    DefinitionRequest,
    DeploymentModel,
    DeploymentResult,
    EdgeDeployment,
    EdgeDeploymentDocument,
    EdgeSection,
    Heartbeat,
    ModelState,
)
from dropzone.models.jobs import Job, JobKind, JobStatus, SourceObject
from dropzone.models.s3_events import ObjectCreatedEvent, candidate_keys, key_parts
from dropzone.observability import logger, metrics
from dropzone.settings import EdgeSettings
from dropzone.sqs_batch import SqsMessage
from dropzone.store.devices import Devices, HeartbeatApplied, HeartbeatUpdate, heartbeat_order
from dropzone.store.ledger import Ledger
from dropzone.workflows.intake import claim, draft_job, head_of, with_head
from dropzone.workflows.rejection import REPORTS_PREFIX, rejected

KIND = JobKind.EDGE_DEPLOYMENT
RESULTS = "device_results"
MAX_DOCUMENT_BYTES = 256 * 1024
HEARTBEAT_REPORTS_PREFIX = f"{REPORTS_PREFIX}edge_heartbeat/"
# Device clocks drift: a result may name a start time a little before its record existed.
CLOCK_SKEW = timedelta(minutes=10)
_NO_TIME = "0000-00-00T00:00:00.000Z"
_OPEN = (JobStatus.SUBMITTED, JobStatus.RUNNING)
_SUCCESS_WORDS = frozenset({"SUCCESS", "SUCCEEDED", "DEPLOYED", "COMPLETED"})
_FAIL_WORDS = frozenset({"FAIL", "FAILED", "ROLLBACK", "ROLLEDBACK", "ROLLED-BACK"})


def service_ref(fleet: str, deployment_name: str) -> str:
    return f"edge:{fleet}/{deployment_name}"


def job_id_for_packaging(packaging_job_id: str) -> str:
    """The edge record of a packaging job: the same id however often it is asked for."""
    digest = hashlib.sha256(f"edge-deployment\x00{packaging_job_id}".encode()).hexdigest()
    return f"dz-{digest[:40]}"


def deployment_of(job: Job) -> EdgeDeployment | None:
    raw = (job.model_extra or {}).get("deployment")
    return EdgeDeployment.model_validate(raw) if raw else None


def devices_of(job: Job) -> list[str]:
    return [str(name) for name in (job.model_extra or {}).get("devices") or []]


def results_of(job: Job) -> dict[str, dict[str, Any]]:
    return dict((job.model_extra or {}).get(RESULTS) or {})


# -- documents -----------------------------------------------------------------------------


def fleet_from_key(key: str, prefix: str) -> str:
    parts = key_parts(key, prefix, layout="<DeviceFleetName>/<name>.json", min_parts=2)
    if not key.endswith(".json"):
        raise InvalidInput.single("key", f"edge deployments are .json files, got {parts[-1]!r}")
    fleet = parts[0]
    if len(fleet) > NAME_MAX or not _matches_name(fleet):
        raise InvalidInput.single(
            "DeviceFleetName",
            f"{fleet[:80]!r} (from the key) must be 1-{NAME_MAX} letters, digits and "
            "single hyphens, starting and ending with a letter or digit",
        )
    return fleet


def _matches_name(value: str) -> bool:
    return re.match(NAME_PATTERN, value) is not None


def parse_document(body: bytes, fleet: str) -> EdgeDeploymentDocument:
    try:
        raw = json.loads(body)
    except UnicodeDecodeError as error:
        raise InvalidInput.single("document", f"is not UTF-8 text: {error.reason}") from error
    except json.JSONDecodeError as error:
        raise InvalidInput.single(
            "document", f"is not JSON: {error.msg} at line {error.lineno} column {error.colno}"
        ) from error
    if not isinstance(raw, dict):
        raise InvalidInput.single("document", f"must be a JSON object, got {type(raw).__name__}")
    try:
        document = EdgeDeploymentDocument.model_validate(raw)
    except ValidationError as error:
        raise invalid_from(error) from error
    if document.device_fleet_name not in (None, fleet):
        raise InvalidInput.single(
            "DeviceFleetName",
            f"{document.device_fleet_name!r} differs from the fleet in the key ({fleet!r})",
        )
    return document


def invalid_from(error: ValidationError, prefix: str = "") -> InvalidInput:
    """Pydantic errors as Problems whose field is the JSON path (e.g. Definitions[0].S3Url)."""
    problems = []
    for item in error.errors():
        path = prefix
        for part in item["loc"]:
            path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
        reason = str(item["msg"]).removeprefix("Value error, ")
        if item["type"] not in ("missing", "extra_forbidden") and "input" in item:
            reason += f" (got {str(item['input'])[:60]!r})"
        problems.append(Problem(path or "document", reason))
    return InvalidInput(problems)


# -- device results and deployment status ------------------------------------------------


def result_order(result: DeploymentResult, heartbeat_at: datetime) -> str:
    """Sorts a device's reports of one deployment in time: by start, then end (a report
    without an end sorts before one with it), then the heartbeat's own time."""
    start = iso(result.deployment_start_time) if result.deployment_start_time else None
    end = iso(result.deployment_end_time) if result.deployment_end_time else _NO_TIME
    return f"{start or iso(heartbeat_at)}|{end}|{iso(heartbeat_at)}"


def device_entry(
    result: DeploymentResult, handles: set[str], heartbeat_at: datetime
) -> dict[str, Any]:
    """One device's outcome for one deployment: SUCCESS, FAIL or PENDING, with reasons."""
    models = [
        model
        for model in result.deployment_models
        if model.model_handle is None or not handles or model.model_handle in handles
    ]
    failed = [model for model in models if model.status == "FAIL"]
    outcome = _outcome(result, models, handles)
    entry: dict[str, Any] = {
        "order": result_order(result, heartbeat_at),
        "outcome": outcome,
        "deployment_status": result.deployment_status,
        "message": result.deployment_status_message,
        "started_at": iso(result.deployment_start_time) if result.deployment_start_time else None,
        "ended_at": iso(result.deployment_end_time) if result.deployment_end_time else None,
        "reported_at": iso(heartbeat_at),
        "models": [model.model_dump(by_alias=True, exclude_unset=True) for model in models],
    }
    if outcome == "FAIL" and not failed and models:
        missing = sorted(handles - {m.model_handle for m in models if m.model_handle})
        entry["message"] = entry["message"] or f"ended without a result for {', '.join(missing)}"
    return {key: value for key, value in entry.items() if value is not None}


def _outcome(result: DeploymentResult, models: list[DeploymentModel], handles: set[str]) -> str:
    if any(model.status == "FAIL" for model in models):
        return "FAIL"
    if models:
        reported = {model.model_handle for model in models if model.status == "SUCCESS"}
        if all(model.status == "SUCCESS" for model in models) and (
            handles <= reported or None in reported
        ):
            return "SUCCESS"
    else:
        word = (result.deployment_status or "").upper()
        if word in _SUCCESS_WORDS:
            return "SUCCESS"
        if word in _FAIL_WORDS:
            return "FAIL"
    if result.deployment_end_time is not None and all(m.status is not None for m in models):
        return "FAIL"  # ended, yet some of its models were never reported
    return "PENDING"


@dataclass(frozen=True)
class Settlement:
    status: JobStatus
    message: str
    counts: dict[str, int]
    failures: list[dict[str, str]]


def settle(devices: list[str], results: dict[str, dict[str, Any]]) -> Settlement:
    """Where a deployment stands, by counts over the devices it targets."""
    outcomes = {
        device: str(results.get(device, {}).get("outcome", "PENDING")) for device in devices
    }
    succeeded = sum(1 for outcome in outcomes.values() if outcome == "SUCCESS")
    failed = sum(1 for outcome in outcomes.values() if outcome == "FAIL")
    pending = len(devices) - succeeded - failed
    counts = {
        "devices": len(devices),
        "succeeded_devices": succeeded,
        "failed_devices": failed,
        "pending_devices": pending,
    }
    failures = [
        failure
        for device, outcome in sorted(outcomes.items())
        if outcome == "FAIL"
        for failure in _failures(device, results[device])
    ]
    if pending:
        status = JobStatus.RUNNING
        message = f"{succeeded + failed} of {len(devices)} devices reported"
    elif failed == 0:
        status = JobStatus.SUCCEEDED
        message = f"deployed on all {len(devices)} devices"
    else:
        status = JobStatus.FAILED if succeeded == 0 else JobStatus.PARTIALLY_SUCCEEDED
        reasons = "; ".join(_describe(failure) for failure in failures[:5])
        more = f" (and {len(failures) - 5} more)" if len(failures) > 5 else ""
        message = f"failed on {failed} of {len(devices)} devices: {reasons}{more}"
    if pending and failed:
        message += f", {failed} failed"
    return Settlement(status, message[:1000], counts, failures)


def _failures(device: str, entry: dict[str, Any]) -> list[dict[str, str]]:
    found = []
    for model in entry.get("models", []):
        if model.get("Status") != "FAIL":
            continue
        failure = {"device": device, "model_handle": str(model.get("ModelHandle", ""))}
        for source, target in (
            ("StatusReason", "reason"),
            ("RollbackFailureReason", "rollback_failure_reason"),
        ):
            if model.get(source):
                failure[target] = str(model[source])
        found.append(failure)
    if not found:
        found.append({"device": device, "reason": str(entry.get("message") or "failed")})
    return found


def _describe(failure: dict[str, str]) -> str:
    text = failure["device"]
    if failure.get("model_handle"):
        text += f"/{failure['model_handle']}"
    text += f": {failure.get('reason', 'failed')}"
    if failure.get("rollback_failure_reason"):
        text += f" (rollback failed: {failure['rollback_failure_reason']})"
    return text


# -- deployment records ----------------------------------------------------------------------


@dataclass
class EdgeDeployments:
    """Edge deployment records, from uploaded documents and from packaging jobs."""

    settings: EdgeSettings
    ledger: Ledger
    devices: Devices
    s3: S3
    owner: str = field(default_factory=lambda: uuid.uuid4().hex)

    @classmethod
    def from_env(cls, client: aws.ClientSource = aws.client) -> EdgeDeployments:
        settings = EdgeSettings.from_env()
        return cls(
            settings,
            Ledger.from_settings(settings, client("dynamodb")),
            Devices(settings.edge_devices_table, client("dynamodb")),
            S3(client("s3")),
        )

    # -- uploads

    def handle_record(self, message: SqsMessage) -> None:
        event = ObjectCreatedEvent.model_validate_json(message.body)
        self.submit(event.source_object())

    def submit(self, source: SourceObject) -> Job:
        keys = candidate_keys(source.key)
        prefix = self.settings.edge_deployments_prefix
        target = keys[0][len(prefix) :].partition("/")[0] if keys[0].startswith(prefix) else ""
        draft = draft_job(source, KIND, keys[0], target[:NAME_MAX] or "unknown", **{RESULTS: {}})
        taken = claim(
            self.ledger, draft, owner=self.owner, lease_seconds=self.settings.lease_seconds
        )
        if not taken.claimed:
            return taken.job
        job = taken.job
        try:
            head = head_of(self.s3, job.source, keys)
            job = job.model_copy(update={"source": with_head(job.source, head)})
            fleet = fleet_from_key(head.key, prefix)
            if head.size == 0:
                raise InvalidInput.single("document", "the object is empty (0 bytes)")
            if head.size > MAX_DOCUMENT_BYTES:
                raise InvalidInput.single(
                    "document", f"is {head.size} bytes; the limit is {MAX_DOCUMENT_BYTES}"
                )
            document = parse_document(self._read(job), fleet)
            deployment = EdgeDeployment(
                deployment_name=document.deployment_name,
                failure_handling_policy=document.failure_handling_policy,
                definitions=self._definitions(document.definitions, restrict_buckets=True),
            )
            return self._open(job, fleet, deployment, document.device_names, options={})
        except InvalidInput as invalid:
            return self._reject(job, invalid)
        except ClientError as error:
            self.ledger.release_lease(job.job_id, owner=self.owner)
            raise TransientError(f"S3 failed while reading {job.source.uri}: {error}") from error
        except Exception:
            self.ledger.release_lease(job.job_id, owner=self.owner)
            raise

    def _read(self, job: Job) -> bytes:
        body = bytearray()
        for chunk in self.s3.iter_chunks(
            job.source.bucket,
            job.source.key,
            version_id=job.source.version_id,
            etag=job.source.etag,
        ):
            body += chunk
            if len(body) > MAX_DOCUMENT_BYTES:
                raise InvalidInput.single(
                    "document", f"is over the limit of {MAX_DOCUMENT_BYTES} bytes"
                )
        return bytes(body)

    # -- packaging

    def record_from_packaging(
        self,
        packaging_job: Job,
        edge: EdgeSection,
        artifact_uri: str,
        component: dict[str, str],
    ) -> Job:
        """The edge record of a succeeded packaging job, created once: a repeated call
        returns the same record (and repairs a device registration an earlier call left
        unfinished)."""
        fleet = edge.device_fleet_name
        draft = Job(
            job_id=job_id_for_packaging(packaging_job.job_id),
            kind=KIND,
            status=JobStatus.ACCEPTED,
            source=packaging_job.source,
            target=fleet,
            parent_id=packaging_job.job_id,
            created_at="",
            updated_at="",
            options={"component": dict(component), "artifact": artifact_uri},
            **{RESULTS: {}},
        )
        taken = claim(
            self.ledger, draft, owner=self.owner, lease_seconds=self.settings.lease_seconds
        )
        job = taken.job
        if not taken.claimed:
            if deployment_of(job) is not None and job.status is not JobStatus.REJECTED:
                self.devices.register(fleet, devices_of(job), job.job_id)
            return job
        try:
            try:
                handle = edge.model_handle_for(component.get("ComponentName", ""))
            except ValueError as error:
                raise InvalidInput.single("Edge.ModelHandle", str(error)) from error
            request = DefinitionRequest(
                model_handle=handle, s3_url=artifact_uri, state=ModelState.DEPLOY
            )
            deployment = EdgeDeployment(
                deployment_name=edge.deployment_name_for(packaging_job.job_id),
                failure_handling_policy=edge.failure_handling_policy,
                definitions=self._definitions([request], restrict_buckets=False),
            )
            return self._open(job, fleet, deployment, edge.device_names, options=job.options)
        except ValidationError as error:
            return self._reject(job, invalid_from(error, "artifact"))
        except InvalidInput as invalid:
            return self._reject(job, invalid)
        except ClientError as error:
            self.ledger.release_lease(job.job_id, owner=self.owner)
            raise TransientError(f"S3 failed while reading {artifact_uri}: {error}") from error
        except Exception:
            self.ledger.release_lease(job.job_id, owner=self.owner)
            raise

    # -- shared

    def _definitions(
        self, requests: list[DefinitionRequest], *, restrict_buckets: bool
    ) -> list[Definition]:
        """Edge Manager definitions: every DEPLOY model's object must exist (in this
        stack's buckets, for uploaded documents) and gets its SHA-1; a given Checksum
        must match it."""
        problems: list[Problem] = []
        definitions: list[Definition] = []
        for index, request in enumerate(requests):
            where = f"Definitions[{index}]"
            if request.state is ModelState.UNDEPLOY or request.s3_url is None:
                definitions.append(Definition(**request.model_dump()))
                continue
            bucket, key = parse_s3_uri(request.s3_url)
            if restrict_buckets and bucket not in self.settings.artifact_buckets:
                allowed = " or ".join(sorted(self.settings.artifact_buckets))
                problems.append(
                    Problem(f"{where}.S3Url", f"must be in this stack's buckets ({allowed})")
                )
                continue
            try:
                digest = self.s3.sha1(bucket, key)
            except ObjectMissing:
                problems.append(Problem(f"{where}.S3Url", f"{request.s3_url} does not exist"))
                continue
            if digest.size == 0:
                problems.append(Problem(f"{where}.S3Url", f"{request.s3_url} is empty"))
                continue
            if request.checksum is not None and request.checksum.sum != digest.hexdigest:
                problems.append(
                    Problem(
                        f"{where}.Checksum.Sum",
                        f"does not match the object: its SHA-1 is {digest.hexdigest}",
                    )
                )
                continue
            definitions.append(
                Definition(
                    model_handle=request.model_handle,
                    s3_url=request.s3_url,
                    checksum=Checksum(sum=digest.hexdigest),
                    state=ModelState.DEPLOY,
                )
            )
        if problems:
            raise InvalidInput(problems)
        return definitions

    def _open(
        self,
        job: Job,
        fleet: str,
        deployment: EdgeDeployment,
        devices: list[str],
        *,
        options: dict[str, Any],
    ) -> Job:
        # Devices first: a crash before the transition leaves an ACCEPTED job whose
        # delivery is retried, and answers skip records that are not yet SUBMITTED.
        self.devices.register(fleet, devices, job.job_id)
        handles = ", ".join(d.model_handle for d in deployment.definitions)
        result = self.ledger.transition(
            job.job_id,
            KIND,
            JobStatus.SUBMITTED,
            message=(
                f"{deployment.deployment_name}: {handles} for {len(devices)} device(s) of "
                f"fleet {fleet}; waiting for their heartbeats"
            ),
            updates={
                "source": job.source,
                "target": fleet,
                "service_ref": service_ref(fleet, deployment.deployment_name),
                "deployment": deployment.as_api(),
                "devices": list(devices),
                "options": {
                    **options,
                    "failure_handling_policy": deployment.failure_handling_policy,
                },
                "counts": {"devices": len(devices), "pending_devices": len(devices)},
            },
        )
        metrics.add_metric(name="EdgeDeploymentsRecorded", unit="Count", value=1)
        return result.job or job

    def _reject(self, job: Job, invalid: InvalidInput) -> Job:
        return rejected(
            job,
            invalid,
            ledger=self.ledger,
            s3=self.s3,
            results_bucket=self.settings.results_bucket,
        )


# -- heartbeats ----------------------------------------------------------------------------


class HeartbeatEvent(BaseModel):
    """The EventBridge envelope of a heartbeat; `detail` is checked separately."""

    model_config = ConfigDict(populate_by_name=True)

    id: str = Field(min_length=1)
    time: datetime
    source: str
    detail_type: str = Field(validation_alias=AliasChoices("detail-type", "detail_type"))
    detail: dict[str, Any]


@cache
def _heartbeat_shape() -> Shape:
    model = botocore.session.get_session().get_service_model("sagemaker-edge")
    shape = model.operation_model("SendHeartbeat").input_shape
    assert shape is not None
    return shape


def validate_heartbeat(detail: dict[str, Any]) -> Heartbeat:
    """The detail as SendHeartbeat's request: botocore's own checks, then the model's."""
    report = ParamValidator().validate(detail, _heartbeat_shape())
    if report.has_errors():
        lines = [line.strip() for line in report.generate_report().splitlines()]
        raise InvalidInput([_problem_from(line) for line in lines if line][:20])
    try:
        return Heartbeat.model_validate(detail)
    except ValidationError as error:
        raise invalid_from(error, "detail") from error


_MISSING_PARAMETER = re.compile(r'input: "([^"]+)"')
_INVALID_PARAMETER = re.compile(r"parameter ([^\s,:]+)")


def _problem_from(line: str) -> Problem:
    """A line of botocore's validation report, with the parameter it names as the field."""
    found = _MISSING_PARAMETER.search(line) or _INVALID_PARAMETER.search(line)
    return Problem(f"detail.{found.group(1)}" if found else "detail", line[:300])


def device_times(heartbeat: Heartbeat) -> list[datetime]:
    """Every time the device put in its heartbeat."""
    reported = [
        *heartbeat.agent_metrics,
        *(metric for model in heartbeat.models for metric in model.model_metrics),
    ]
    times = [metric.timestamp for metric in reported]
    for model in heartbeat.models:
        times += [model.latest_sample_time, model.latest_inference]
    result = heartbeat.deployment_result
    if result is not None:
        times += [result.deployment_start_time, result.deployment_end_time]
    return [time for time in times if time is not None]


@dataclass(frozen=True)
class HeartbeatOutcome:
    device_updated: bool
    deployment_job: str | None = None
    status: JobStatus | None = None
    rejected: bool = False
    unknown_device: bool = False


@dataclass
class HeartbeatProcessor:
    settings: EdgeSettings
    ledger: Ledger
    devices: Devices
    s3: S3
    edge_manager: SageMakerEdge | None = None

    @classmethod
    def from_env(cls, client: aws.ClientSource = aws.client) -> HeartbeatProcessor:
        settings = EdgeSettings.from_env()
        return cls(
            settings,
            Ledger.from_settings(settings, client("dynamodb")),
            Devices(settings.edge_devices_table, client("dynamodb")),
            S3(client("s3")),
            SageMakerEdge(client("sagemaker-edge")) if settings.sync_enabled else None,
        )

    def handle_record(self, message: SqsMessage) -> None:
        self.process(message.body, message_id=message.message_id)

    def process(self, body: str, *, message_id: str = "") -> HeartbeatOutcome:
        try:
            event = HeartbeatEvent.model_validate_json(body)
            if event.source != HEARTBEAT_SOURCE or event.detail_type != HEARTBEAT_DETAIL_TYPE:
                raise InvalidInput.single(
                    "event",
                    f"expected source {HEARTBEAT_SOURCE!r} and detail-type "
                    f"{HEARTBEAT_DETAIL_TYPE!r}, got {event.source[:60]!r} / "
                    f"{event.detail_type[:60]!r}",
                )
            heartbeat = validate_heartbeat(event.detail)
        except ValidationError as error:
            return self._reject(body, message_id, invalid_from(error, "event"))
        except InvalidInput as invalid:
            return self._reject(body, message_id, invalid)
        return self.apply(event, heartbeat, message_id=message_id)

    def apply(
        self, event: HeartbeatEvent, heartbeat: Heartbeat, *, message_id: str = ""
    ) -> HeartbeatOutcome:
        fleet, device = heartbeat.device_fleet_name, heartbeat.device_name
        applied = self.devices.apply_heartbeat(
            HeartbeatUpdate(
                fleet=fleet,
                device=device,
                at=event.time,
                order=heartbeat_order(event.time, device_times(heartbeat), event.id),
                agent_version=heartbeat.agent_version,
                agent_metrics=[
                    m.model_dump(by_alias=True, exclude_unset=True) for m in heartbeat.agent_metrics
                ],
                models=[m.model_dump(by_alias=True, exclude_unset=True) for m in heartbeat.models],
            )
        )
        if applied is HeartbeatApplied.UNKNOWN_DEVICE:
            return self._unknown_device(event, fleet, device, message_id)
        updated = applied is HeartbeatApplied.APPLIED
        if not updated:
            logger.info(
                "heartbeat older than the device's record: device fields left as they are",
                extra={"fleet": fleet, "device": device, "event_id": event.id},
            )
            metrics.add_metric(name="EdgeHeartbeatsOutOfOrder", unit="Count", value=1)
        outcome = HeartbeatOutcome(device_updated=updated)
        result = heartbeat.deployment_result
        if result is not None and result.deployment_name:
            outcome = self._settle(fleet, device, result, event.time, updated)
        if self.edge_manager is not None:
            self._forward(event.detail, fleet, device)
        metrics.add_metric(name="EdgeHeartbeats", unit="Count", value=1)
        return outcome

    def _settle(
        self, fleet: str, device: str, result: DeploymentResult, at: datetime, updated: bool
    ) -> HeartbeatOutcome:
        name = str(result.deployment_name)
        job = self._deployment_job(fleet, device, name, result.deployment_start_time or at)
        deployment = deployment_of(job) if job else None
        handles = {d.model_handle for d in deployment.definitions} if deployment else set()
        entry = device_entry(result, handles, at)
        self.devices.record_deployment_result(
            fleet, device, name, {**entry, "job_id": job.job_id if job else None}
        )
        if job is None:
            logger.warning(
                "deployment result for a deployment Dropzone has no record of",
                extra={"fleet": fleet, "device": device, "deployment": name},
            )
            metrics.add_metric(name="EdgeResultsUnmatched", unit="Count", value=1)
            return HeartbeatOutcome(device_updated=updated)
        recorded = self.ledger.record_entry(
            job.job_id, KIND, _OPEN, attribute=RESULTS, key=device, entry=entry
        )
        # Re-read when nothing changed: a retry after a crash must still settle the job.
        current = recorded or self.ledger.get(job.job_id) or job
        if current.status.is_terminal:
            return HeartbeatOutcome(updated, current.job_id, current.status)
        settlement = settle(devices_of(current), results_of(current))
        if settlement.status is JobStatus.RUNNING and current.status is JobStatus.RUNNING:
            return HeartbeatOutcome(updated, current.job_id, current.status)
        moved = self.ledger.transition(
            current.job_id,
            KIND,
            settlement.status,
            service_status=result.deployment_status,
            message=settlement.message,
            updates={"counts": settlement.counts, "failures": settlement.failures},
        )
        final = moved.job or current
        return HeartbeatOutcome(updated, final.job_id, final.status)

    def _deployment_job(
        self, fleet: str, device: str, name: str, reference: datetime
    ) -> Job | None:
        """The record a device's result belongs to: of those with this deployment name
        that target the device, the newest created before the deployment started."""
        candidates = sorted(
            (
                job
                for job in self.ledger.find_by_service_ref(service_ref(fleet, name))
                if job.kind is KIND and device in devices_of(job)
            ),
            key=lambda job: job.created_at,
        )
        if not candidates:
            return None
        latest_start = iso(reference + CLOCK_SKEW)
        started = [job for job in candidates if job.created_at <= latest_start]
        return (started or candidates)[-1]

    def _forward(self, detail: dict[str, Any], fleet: str, device: str) -> None:
        assert self.edge_manager is not None
        try:
            self.edge_manager.send_heartbeat(detail)
        except EdgeManagerRefused as error:  # recorded here already; the service said no
            logger.warning(
                "Edge Manager refused a forwarded heartbeat",
                extra={"fleet": fleet, "device": device, "error": str(error)[:500]},
            )
            metrics.add_metric(name="EdgeHeartbeatsRefused", unit="Count", value=1)

    def _reject(self, body: str, message_id: str, invalid: InvalidInput) -> HeartbeatOutcome:
        """An invalid heartbeat is dropped from the queue but never lost: the event and
        the reasons go to a report in the results bucket, with a metric an alarm watches."""
        try:
            raw: Any = json.loads(body)
        except ValueError:
            raw = body
        event_id = raw.get("id") if isinstance(raw, dict) else None
        location = self._report(raw, event_id, message_id, invalid, "invalid")
        logger.warning(
            "heartbeat rejected",
            extra={"event_id": event_id, "reason": invalid.message[:500], "report": location},
        )
        metrics.add_metric(name="EdgeHeartbeatsRejected", unit="Count", value=1)
        return HeartbeatOutcome(device_updated=False, rejected=True)

    def _unknown_device(
        self, event: HeartbeatEvent, fleet: str, device: str, message_id: str
    ) -> HeartbeatOutcome:
        """Only a deployment record registers a device. A heartbeat from any other device
        is kept as a report (with a metric an alarm watches) and changes nothing."""
        invalid = InvalidInput.single(
            "detail.DeviceName",
            f"no deployment record names device {device!r} of fleet {fleet!r}; "
            "the heartbeat was not stored",
        )
        raw = {
            "id": event.id,
            "time": iso(event.time),
            "source": event.source,
            "detail-type": event.detail_type,
            "detail": event.detail,
        }
        location = self._report(raw, event.id, message_id, invalid, "unknown_device")
        logger.warning(
            "heartbeat from a device no deployment record names",
            extra={"fleet": fleet, "device": device, "event_id": event.id, "report": location},
        )
        metrics.add_metric(name="EdgeHeartbeatsFromUnknownDevices", unit="Count", value=1)
        return HeartbeatOutcome(device_updated=False, unknown_device=True)

    def _report(
        self, raw: Any, event_id: Any, message_id: str, invalid: InvalidInput, kind: str
    ) -> str:
        """reports/edge_heartbeat/<date>/<event id>.json in the results bucket."""
        name = _safe_name(str(event_id or message_id or uuid.uuid4().hex))
        now = utcnow()
        key = f"{HEARTBEAT_REPORTS_PREFIX}{now:%Y/%m/%d}/{name}.json"
        return self.s3.put_json(
            self.settings.results_bucket,
            key,
            {
                "rejected_as": kind,
                "reason": invalid.message,
                "problems": [problem.as_dict() for problem in invalid.problems],
                "message_id": message_id,
                "rejected_at": iso(now),
                "event": raw,
            },
        )


def _safe_name(text: str) -> str:
    cleaned = "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in text)[:128]
    return cleaned.strip(".") or uuid.uuid4().hex
