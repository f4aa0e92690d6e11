"""`Edge Agent Heartbeat` events → device records, and the deployment results they carry.

heartbeat  `Edge Agent Heartbeat` events (the SendHeartbeat request as `detail`) → the
           device's record, which only a deployment record naming the device creates (a
           heartbeat from any other device is reported, not stored); a DeploymentResult
           → that device's result on the deployment record → RUNNING while devices are
           pending, then SUCCEEDED / FAILED / PARTIALLY_SUCCEEDED by counts over the
           targeted devices

An invalid heartbeat, and one from a device no record names, becomes a report under
reports/edge_heartbeat/ in the results bucket. An invalid heartbeat that still names its
device and the deployment it reports on counts as that device's failed result.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from pydantic import ConfigDict, TypeAdapter, ValidationError

from dropzone import aws
from dropzone.adapters.s3 import S3
from dropzone.adapters.sagemaker_edge import EdgeManagerRefused, SageMakerEdge
from dropzone.clock import iso, utcnow
from dropzone.errors import InvalidInput
from dropzone.models.edge import (
    HEARTBEAT_DETAIL_TYPE,
    HEARTBEAT_SOURCE,
    DataplaneName,
    DeploymentResult,
    Heartbeat,
    Name,
)
from dropzone.models.jobs import Job, JobStatus
from dropzone.observability import logger, metrics
from dropzone.settings.edge import EdgeSettings
from dropzone.sqs_batch import SqsMessage
from dropzone.store.devices import Devices, HeartbeatApplied, HeartbeatUpdate, heartbeat_order
from dropzone.store.ledger import Ledger
from dropzone.workflows.edge import KIND
from dropzone.workflows.edge.dataplane_model import check_against_model
from dropzone.workflows.edge.events import HeartbeatEvent
from dropzone.workflows.edge.rules import (
    CLOCK_SKEW,
    OPEN,
    RESULTS,
    deployment_of,
    device_entry,
    device_times,
    devices_of,
    invalid_from,
    results_of,
    service_ref,
    settle,
)
from dropzone.workflows.rejection import REPORTS_PREFIX

HEARTBEAT_REPORTS_PREFIX = f"{REPORTS_PREFIX}edge_heartbeat/"
# The order of a result read from an invalid heartbeat: before that of any readable report.
UNREADABLE_RESULT_ORDER = "0"


def validate_heartbeat(detail: dict[str, Any]) -> Heartbeat:
    """The detail as SendHeartbeat's request: botocore's own checks, then the model's."""
    check_against_model("SendHeartbeat", detail, "detail")
    try:
        return Heartbeat.model_validate(detail)
    except ValidationError as error:
        raise invalid_from(error, "detail") from error


@dataclass(frozen=True)
class HeartbeatOutcome:
    device_updated: bool
    deployment_job: str | None = None
    status: JobStatus | None = None
    rejected: bool = False
    unknown_device: bool = False
    reason: str = ""  # why it was rejected, as the report gives it


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
        final = self._record_result(job, device, entry, result.deployment_status)
        return HeartbeatOutcome(updated, final.job_id, final.status)

    def _record_result(
        self, job: Job, device: str, entry: dict[str, Any], service_status: str | None
    ) -> Job:
        """Keep a device's result on its deployment record, and settle the record."""
        recorded = self.ledger.record_entry(
            job.job_id, KIND, OPEN, attribute=RESULTS, key=device, entry=entry
        )
        # Re-read when nothing changed: a retry after a crash must still settle the job.
        current = recorded or self.ledger.get(job.job_id) or job
        if current.status.is_terminal:
            return current
        settlement = settle(devices_of(current), results_of(current))
        if settlement.status is JobStatus.RUNNING and current.status is JobStatus.RUNNING:
            return current
        moved = self.ledger.transition(
            current.job_id,
            KIND,
            settlement.status,
            service_status=service_status,
            message=settlement.message,
            updates={"counts": settlement.counts, "failures": settlement.failures},
        )
        return moved.job or current

    def _unreadable_result(self, raw: Any, invalid: InvalidInput, report: str) -> HeartbeatOutcome:
        """An invalid heartbeat that still names its fleet, device and the deployment it
        reports on counts as that device's failed result, so that the deployment ends
        rather than wait for its expiry. Its entry sorts before any readable report, which
        replaces it while the deployment is open."""
        rejected = HeartbeatOutcome(device_updated=False, rejected=True)
        named = _names_of_result(raw)
        if named is None:
            return rejected
        fleet, device, name = named
        at = _event_time(raw.get("time"))
        job = self._deployment_job(fleet, device, name, at)
        if job is None:
            return rejected
        fields = ", ".join(sorted({problem.field for problem in invalid.problems})[:5])
        entry = {
            "order": UNREADABLE_RESULT_ORDER,
            "outcome": "FAIL",
            "message": f"its heartbeat could not be read ({fields}); see {report}"[:500],
            "reported_at": iso(at),
            "unreadable": True,
        }
        final = self._record_result(job, device, entry, None)
        logger.warning(
            "unreadable deployment result counted as the device's failure",
            extra={"job_id": job.job_id, "device": device, "fields": fields},
        )
        return HeartbeatOutcome(False, final.job_id, final.status, rejected=True)

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
        the reasons go to a report in the results bucket, with a metric an alarm watches.
        A deployment result it carries counts as the device's failure."""
        try:
            raw: Any = json.loads(body)
        except ValueError:
            raw = body
        event_id = raw.get("id") if isinstance(raw, dict) else None
        location = self._report(raw, event_id, message_id, invalid, "invalid")
        logger.warning(  # the fields only: a reason may quote the values, the report has them
            "heartbeat rejected",
            extra={
                "event_id": event_id,
                "fields": sorted({problem.field for problem in invalid.problems})[:20],
                "report": location,
            },
        )
        metrics.add_metric(name="EdgeHeartbeatsRejected", unit="Count", value=1)
        return replace(self._unreadable_result(raw, invalid, location), reason=invalid.message)

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


_NAMES = TypeAdapter(tuple[DataplaneName, DataplaneName, Name], config=ConfigDict(defer_build=True))


def _names_of_result(raw: Any) -> tuple[str, str, str] | None:
    """The fleet, device and deployment names of a heartbeat event that carries a
    deployment result, when all three are valid names; else None."""
    detail = raw.get("detail") if isinstance(raw, dict) else None
    if not isinstance(detail, dict) or raw.get("source") != HEARTBEAT_SOURCE:
        return None
    result = detail.get("DeploymentResult")
    if not isinstance(result, dict):
        return None
    try:
        return _NAMES.validate_python(
            (detail.get("DeviceFleetName"), detail.get("DeviceName"), result.get("DeploymentName"))
        )
    except ValidationError:
        return None


def _event_time(value: Any) -> datetime:
    """An event's time, or now when it has none that can be read."""
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is not None:
            return parsed
    return utcnow()


def _safe_name(text: str) -> str:
    cleaned = "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in text)[:128]
    return cleaned.strip(".") or uuid.uuid4().hex
