"""Rules of Edge Manager-shaped deployment records: ids, documents, device results, settling.

A record holds `deployment` (exactly GetDeployments' EdgeDeployment), `devices` (the
targeted device names) and `device_results` (one time-ordered entry per device).
Undeploying is a new record whose definitions have State UNDEPLOY.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from dropzone.clock import iso
from dropzone.errors import InvalidInput, Problem
from dropzone.models.edge import (
    NAME_MAX,
    NAME_PATTERN,
    Definition,
    DeploymentModel,
    DeploymentResult,
    EdgeDeployment,
    EdgeDeploymentDocument,
    Heartbeat,
)
from dropzone.models.jobs import Job, JobStatus
from dropzone.models.packaging import OUTPUTS_PREFIX as PACKAGING_OUTPUTS_PREFIX
from dropzone.models.s3_events import key_parts
from dropzone.workflows.edge.waiting import Waiting

RESULTS = "device_results"
MAX_DOCUMENT_BYTES = 256 * 1024
# Where a dropped document's models may be: model artifacts you put in the drop-zone bucket
# under this prefix, and packaged components in the results bucket. The edge deployment
# submit function may read nothing else (stacks/edge_deployment.yaml holds the same prefixes).
DROPZONE_ARTIFACTS_PREFIX = "edge-artifacts/"
RESULTS_ARTIFACTS_PREFIX = PACKAGING_OUTPUTS_PREFIX
# Device clocks drift: a result may name a start time a little before its record existed.
CLOCK_SKEW = timedelta(minutes=10)
OPEN = (JobStatus.SUBMITTED, JobStatus.RUNNING)
# Records devices are told about: submitted and later, whatever the outcome so far (a
# device that missed a deployment still gets it). ACCEPTED/REJECTED records never had a
# deployment that a device may act on; STOPPED and EXPIRED ones were withdrawn.
ANSWERED = frozenset(
    {
        JobStatus.SUBMITTED,
        JobStatus.RUNNING,
        JobStatus.SUCCEEDED,
        JobStatus.PARTIALLY_SUCCEEDED,
        JobStatus.FAILED,
    }
)
_NO_TIME = "0000-00-00T00:00:00.000Z"
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


def artifact_places(dropzone_bucket: str, results_bucket: str) -> tuple[str, ...]:
    """The s3:// prefixes a dropped document's S3Url may start with."""
    places = []
    if dropzone_bucket:
        places.append(f"s3://{dropzone_bucket}/{DROPZONE_ARTIFACTS_PREFIX}")
    if results_bucket:
        places.append(f"s3://{results_bucket}/{RESULTS_ARTIFACTS_PREFIX}")
    return tuple(places)


def outside_artifact_places(bucket: str, key: str, places: tuple[str, ...]) -> str | None:
    """Why an artifact may not be read, or None when it is under one of `places`."""
    if any(f"s3://{bucket}/{key}".startswith(place) for place in places):
        return None
    return f"must be under {' or '.join(places)}" if places else "no artifact place is set"


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


def result_order(result: DeploymentResult, heartbeat_at: datetime) -> str:
    """Sorts a device's reports of one deployment in time: by start, then end (a report
    without an end sorts before one with it), then the heartbeat's own time. A start or end
    later than the heartbeat's arrival (a device clock running ahead) counts as that
    arrival, so it cannot sort the device's own later reports behind it."""
    arrival = iso(heartbeat_at)
    start, end = result.deployment_start_time, result.deployment_end_time
    start_key = min(iso(start), arrival) if start else arrival
    end_key = min(iso(end), arrival) if end else _NO_TIME
    return f"{start_key}|{end_key}|{arrival}"


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


# -- answers and expiry ----------------------------------------------------------------------


def newest_per_handle(records: list[tuple[Job, EdgeDeployment]]) -> list[EdgeDeployment]:
    """Each model handle's definition from the newest record that has one; records keep
    only their winning definitions, oldest record first."""
    ordered = sorted(records, key=lambda pair: (pair[0].created_at, pair[0].job_id))
    winner: dict[str, str] = {}
    for job, deployment in ordered:
        for definition in deployment.definitions:
            winner[definition.model_handle] = job.job_id
    answer = []
    for job, deployment in ordered:
        kept: list[Definition] = [
            d for d in deployment.definitions if winner[d.model_handle] == job.job_id
        ]
        if kept:
            answer.append(deployment.model_copy(update={"definitions": kept}))
    return answer


def edge_waiting(job: Job) -> Waiting:
    devices = devices_of(job)
    results = results_of(job)
    names = [
        device
        for device in devices
        if str(results.get(device, {}).get("outcome", "PENDING")) not in ("SUCCESS", "FAIL")
    ]
    return Waiting(names, list(names), len(names), len(devices))
