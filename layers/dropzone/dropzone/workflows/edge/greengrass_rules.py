"""Rules of Greengrass V2 roll-outs: ids, core device results, and the job's status.

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

When Greengrass says a deployment ended (COMPLETED, FAILED, CANCELED, or INACTIVE: replaced
by a newer deployment to the target) while devices never reported, those devices count as
succeeded, failed, canceled and canceled respectively.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from dropzone.models.jobs import Job, JobStatus
from dropzone.workflows.edge.waiting import Waiting

SERVICE_REF_PREFIX = "greengrass:"
DEVICES_ATTRIBUTE = "core_devices"

SUCCESS = frozenset({"SUCCEEDED", "COMPLETED"})
FAILURE = frozenset({"FAILED", "REJECTED", "TIMED_OUT"})
CANCELED = frozenset({"CANCELED"})
_PROGRESS = {"QUEUED": 0, "IN_PROGRESS": 1}
_FINAL_RANK = 2
# What a device that never reported counts as, once Greengrass says the deployment ended.
UNREPORTED_AS = {
    "COMPLETED": "COMPLETED",
    "FAILED": "FAILED",
    "CANCELED": "CANCELED",
    "INACTIVE": "CANCELED",
}
_WHY = {
    "COMPLETED": "Greengrass reports the deployment COMPLETED",
    "FAILED": "Greengrass reports the deployment FAILED",
    "CANCELED": "Greengrass reports the deployment CANCELED",
    "INACTIVE": "Greengrass reports the deployment INACTIVE (a newer deployment to the "
    "target replaced it)",
}


def service_ref(deployment_id: str) -> str:
    return f"{SERVICE_REF_PREFIX}{deployment_id}"


def deployment_id_of(job: Job) -> str:
    return (job.service_ref or "")[len(SERVICE_REF_PREFIX) :]


def is_rollout(job: Job) -> bool:
    return (job.service_ref or "").startswith(SERVICE_REF_PREFIX)


def deployment_job_id(packaging_job_id: str) -> str:
    """The roll-out job's id; also CreateDeployment's clientToken (≤64, [a-zA-Z0-9-]+)."""
    return f"{packaging_job_id}-gg"


def thing_name(target_arn: str) -> str | None:
    """The thing of a thing target ARN (arn:…:iot:…:thing/<name>); None for a group."""
    parts = target_arn.split(":", 5)
    kind, _, name = parts[5].partition("/") if len(parts) == 6 else ("", "", "")
    return name if kind == "thing" and name else None


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


def core_devices(job: Job) -> dict[str, dict[str, Any]]:
    return dict((job.model_extra or {}).get(DEVICES_ATTRIBUTE) or {})


def is_final(entry: dict[str, Any]) -> bool:
    return device_rank(str(entry.get("status", ""))) == _FINAL_RANK


def final_statuses(devices: dict[str, dict[str, Any]]) -> dict[str, str]:
    """The final status of each device that has one."""
    return {name: str(entry["status"]) for name, entry in devices.items() if is_final(entry)}


# -- settling on device reports --------------------------------------------------------------


@dataclass(frozen=True)
class Progress:
    """Where a roll-out's core devices stand, and whether that decides its outcome."""

    devices: dict[str, dict[str, Any]]
    final: dict[str, str]
    counts: dict[str, int]
    expected: Any
    decided: bool

    def waiting_message(self) -> str:
        if self.expected is None:
            return "the deployment is in progress on the core devices"
        return f"{len(self.final)} of {self.expected} core devices have finished"

    def outcome(self) -> JobStatus:
        return outcome_of(list(self.final.values()))

    def outcome_message(self) -> str:
        tally = Counter(self.final.values())
        summary = ", ".join(f"{count} {status}" for status, count in sorted(tally.items()))
        reasons = []
        for name in sorted(self.final):
            if self.final[name] in SUCCESS:
                continue
            entry = self.devices[name]
            why = (
                " > ".join(entry.get("error_stack") or [])
                or entry.get("reason")
                or self.final[name]
            )
            reasons.append(f"{name}: {why}")
        text = f"{len(self.final)} core devices: {summary}"
        if reasons:
            text += "; " + "; ".join(reasons)
        return text[:1000]


def progress_of(job: Job) -> Progress:
    devices = core_devices(job)
    final = final_statuses(devices)
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
    return Progress(devices, final, counts, expected, decided)


def _group(status: str) -> str:
    if status in SUCCESS:
        return "success"
    if status in CANCELED:
        return "canceled"
    return "failure"


# -- reconciling quiet roll-outs -------------------------------------------------------------


def devices_to_check(job: Job) -> list[str]:
    """The core devices to ask Greengrass about: those without a final status, and a
    thing target's thing that never reported."""
    devices = core_devices(job)
    names = [name for name, entry in sorted(devices.items()) if not is_final(entry)]
    thing = thing_name(job.target)
    if thing and thing not in devices:
        names.insert(0, thing)
    return names


def ended_outcome(job: Job, service_status: str) -> tuple[JobStatus, str]:
    """The outcome, and its message, of a deployment Greengrass says is over (service
    status one of UNREPORTED_AS) while devices have not all reported."""
    final = final_statuses(core_devices(job))
    expected = job.options.get("expected_core_devices")
    missing = max(int(expected) - len(final), 0) if expected is not None else 0
    if not final and not missing:
        missing = 1
    statuses = list(final.values()) + [UNREPORTED_AS[service_status]] * missing
    counted = {"COMPLETED": "succeeded", "FAILED": "failed"}.get(service_status, "canceled")
    message = (
        f"{_WHY[service_status]}; {len(final)} core devices reported a final status"
        + (f", {missing} more counted as {counted}" if missing else "")
        + _tally(final)
    )
    return outcome_of(statuses), message[:1000]


def _tally(final: dict[str, str]) -> str:
    groups = {
        "succeeded": sum(status in SUCCESS for status in final.values()),
        "failed": sum(status in FAILURE for status in final.values()),
        "canceled": sum(status in CANCELED for status in final.values()),
    }
    shown = ", ".join(f"{count} {name}" for name, count in groups.items() if count)
    return f" ({shown})" if shown else ""


def greengrass_waiting(job: Job) -> Waiting:
    devices = core_devices(job)
    open_devices = sorted(name for name, entry in devices.items() if not is_final(entry))
    labels = [f"{name} ({devices[name].get('status', 'no status')})" for name in open_devices]
    names = list(open_devices)
    thing = thing_name(job.target)
    if thing and thing not in devices:
        names.append(thing)
        labels.append(f"{thing} (never reported)")
    final = len(devices) - len(open_devices)
    expected = job.options.get("expected_core_devices")
    total = max(int(expected) if expected is not None else 0, len(devices), len(names), 1)
    unnamed = total - final - len(names)
    if unnamed > 0:
        labels.append(f"{unnamed} that never reported")
    return Waiting(names, labels, total - final, total)
