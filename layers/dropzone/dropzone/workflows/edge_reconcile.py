"""Scheduled backstop for edge deployment jobs (`edge_deployment`), every 15 minutes.

Greengrass roll-outs (service_ref "greengrass:<deploymentId>") are settled by status events,
which are best effort: an event can be lost, or dropped because it came before the job had
its deployment id. Edge Manager-shaped records (service_ref "edge:<fleet>/<name>") are
settled by device heartbeats, which may never come. So, oldest update first:

greengrass  a roll-out with no news for `reconcile_grace_minutes` is asked about:
            ListEffectiveDeployments for the core devices Dropzone knows of (a thing
            target's thing; the devices of a group that reported without a final status),
            at most `max_device_checks` a roll-out → each device's result, recorded and
            settled exactly as its event would have been; then GetDeployment:

                ACTIVE      still going: the job waits (and is asked again after the grace)
                COMPLETED   the devices that never reported count as succeeded
                FAILED      ... as failed
                CANCELED    ... as canceled
                INACTIVE    (replaced by a newer deployment to the target) ... as canceled
                            → SUCCEEDED / PARTIALLY_SUCCEEDED / STOPPED / FAILED by counts,
                            as the events decide
                unknown     ResourceNotFoundException → FAILED, saying so

expiry      any edge deployment still SUBMITTED or RUNNING `edge_deployment_timeout_hours`
            after it was recorded → EXPIRED, naming the devices that never reported

A run reads the jobs last updated before it started (so a job it updates is not met again),
stops after `reconcile_batch_limit` jobs or with `reconcile_reserve_seconds` left, and
every job it asks Greengrass about is written back, so the next run starts with the others.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from dropzone import aws
from dropzone.adapters.greengrass import DeploymentNotFound, Greengrass, Throttled
from dropzone.clock import iso, utcnow
from dropzone.errors import TransientError
from dropzone.models.jobs import Job, JobKind, JobStatus
from dropzone.observability import logger, metrics
from dropzone.settings import EdgeReconcileSettings
from dropzone.store.ledger import Ledger
from dropzone.workflows.edge_deployment import devices_of, results_of
from dropzone.workflows.greengrass_deployment import (
    CANCELED,
    DEVICES_ATTRIBUTE,
    FAILURE,
    SERVICE_REF_PREFIX,
    SUCCESS,
    device_entry,
    device_rank,
    outcome_of,
    record_device,
    settle,
)

KIND = JobKind.EDGE_DEPLOYMENT
_OPEN = (JobStatus.SUBMITTED, JobStatus.RUNNING)
_FINAL_RANK = device_rank("SUCCEEDED")
# What a device that never reported counts as, once Greengrass says the deployment ended.
_UNREPORTED_AS = {
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
_NAMES_SHOWN = 20


@dataclass
class ReconcileSummary:
    examined: int = 0
    asked: int = 0
    settled: int = 0
    unknown: int = 0
    expired: int = 0
    errors: int = 0
    throttled: bool = False
    out_of_time: bool = False


@dataclass(frozen=True)
class Waiting:
    """The devices of a deployment without a final report."""

    names: list[str]  # the ones known by name
    labels: list[str]  # for the message: names, with a status where one was reported
    count: int
    total: int


def thing_name(target_arn: str) -> str | None:
    """The thing of a thing target ARN (arn:…:iot:…:thing/<name>); None for a group."""
    parts = target_arn.split(":", 5)
    kind, _, name = parts[5].partition("/") if len(parts) == 6 else ("", "", "")
    return name if kind == "thing" and name else None


@dataclass
class EdgeReconciler:
    settings: EdgeReconcileSettings
    ledger: Ledger
    greengrass: Greengrass
    clock: Callable[[], datetime] = utcnow

    @classmethod
    def from_env(cls, client: aws.ClientSource = aws.client) -> EdgeReconciler:
        settings = EdgeReconcileSettings.from_env()
        return cls(
            settings,
            Ledger.from_settings(settings, client("dynamodb")),
            Greengrass(client("greengrassv2")),
        )

    def run(self, seconds_left: Callable[[], float] | None = None) -> dict[str, Any]:
        summary = ReconcileSummary()
        now = self.clock()
        quiet_before = iso(now - timedelta(minutes=self.settings.reconcile_grace_minutes))
        expire_before = iso(now - timedelta(hours=self.settings.edge_deployment_timeout_hours))
        for job in self._open_jobs(now):
            if summary.examined >= self.settings.reconcile_batch_limit:
                break
            if (
                seconds_left is not None
                and seconds_left() < self.settings.reconcile_reserve_seconds
            ):
                summary.out_of_time = True
                break
            summary.examined += 1
            try:
                self._reconcile(job, summary, quiet_before, expire_before)
            except Throttled as throttled:
                logger.warning(
                    "Greengrass throttled; asking again next run", extra={"error": str(throttled)}
                )
                summary.throttled = True
            except Exception as error:  # one job's failure must not stop the others
                summary.errors += 1
                logger.warning(
                    "could not reconcile edge deployment",
                    extra={"job_id": job.job_id, "error": repr(error)[:500]},
                )
        result = asdict(summary)
        logger.info("edge reconciliation finished", extra=result)
        for name in ("asked", "settled", "unknown", "expired"):
            value = result[name]
            if value:
                metrics.add_metric(
                    name=f"EdgeReconciled{name.capitalize()}", unit="Count", value=value
                )
        if summary.errors:
            raise TransientError(
                f"edge reconciliation finished with {summary.errors} errors: {result}"
            )
        return result

    def _open_jobs(self, started: datetime) -> Iterator[Job]:
        """SUBMITTED and RUNNING edge deployments last updated before the run, oldest first."""
        streams = [self.ledger.by_state(KIND, status, updated_before=started) for status in _OPEN]
        return heapq.merge(*streams, key=lambda job: (job.updated_at, job.job_id))

    def _reconcile(
        self, job: Job, summary: ReconcileSummary, quiet_before: str, expire_before: str
    ) -> None:
        greengrass = (job.service_ref or "").startswith(SERVICE_REF_PREFIX)
        if greengrass and not summary.throttled and job.updated_at < quiet_before:
            summary.asked += 1
            job = self._ask_greengrass(job, summary)
            if job.status.is_terminal:
                return
        if (job.created_at or job.updated_at) < expire_before and self._expire(job, greengrass):
            summary.expired += 1

    # -- Greengrass ------------------------------------------------------------------------

    def _ask_greengrass(self, job: Job, summary: ReconcileSummary) -> Job:
        deployment_id = (job.service_ref or "")[len(SERVICE_REF_PREFIX) :]
        try:
            deployment = self.greengrass.get_deployment(deployment_id)
        except DeploymentNotFound:
            summary.unknown += 1
            moved = self.ledger.transition(
                job.job_id,
                KIND,
                JobStatus.FAILED,
                service_status="NOT_FOUND",
                message=(
                    f"Greengrass has no deployment {deployment_id}: no status can come for it"
                ),
            )
            return moved.job or job
        job = self._check_devices(job, deployment_id)
        service_status = str(deployment.get("deploymentStatus") or "ACTIVE")
        current = settle(self.ledger, job, service_status)
        if current.status.is_terminal:
            summary.settled += 1
            return current
        if service_status in _UNREPORTED_AS:
            ended = self._ended(current, service_status)
            if ended.status.is_terminal:
                summary.settled += 1
            return ended
        return current

    def _check_devices(self, job: Job, deployment_id: str) -> Job:
        """Record what ListEffectiveDeployments says of the devices still open."""
        for device in self._devices_to_check(job)[: self.settings.max_device_checks]:
            found = self.greengrass.effective_deployment(device, deployment_id)
            if not found:
                continue
            status = str(found.get("coreDeviceExecutionStatus") or "").upper()
            if not status:
                continue
            details = found.get("statusDetails") or {}
            modified = found.get("modifiedTimestamp")
            entry = device_entry(
                status,
                iso(modified) if isinstance(modified, datetime) else iso(self.clock()),
                reason=found.get("reason"),
                error_stack=[str(item) for item in details.get("errorStack") or []],
                error_types=[str(item) for item in details.get("errorTypes") or []],
                source="reconcile",
            )
            recorded = record_device(self.ledger, job.job_id, device, entry)
            if recorded is not None:
                job = recorded
        return job

    def _devices_to_check(self, job: Job) -> list[str]:
        devices = _core_devices(job)
        names = [name for name, entry in sorted(devices.items()) if not _is_final(entry)]
        thing = thing_name(job.target)
        if thing and thing not in devices:
            names.insert(0, thing)
        return names

    def _ended(self, job: Job, service_status: str) -> Job:
        """Greengrass says the deployment is over while devices have not all reported."""
        devices = _core_devices(job)
        final = {name: str(entry["status"]) for name, entry in devices.items() if _is_final(entry)}
        expected = job.options.get("expected_core_devices")
        missing = max(int(expected) - len(final), 0) if expected is not None else 0
        if not final and not missing:
            missing = 1
        statuses = list(final.values()) + [_UNREPORTED_AS[service_status]] * missing
        outcome = outcome_of(statuses)
        counted = {"COMPLETED": "succeeded", "FAILED": "failed"}.get(service_status, "canceled")
        message = (
            f"{_WHY[service_status]}; {len(final)} core devices reported a final status"
            + (f", {missing} more counted as {counted}" if missing else "")
            + _tally(final)
        )
        result = self.ledger.transition(
            job.job_id,
            KIND,
            outcome,
            service_status=service_status,
            message=message[:1000],
            updates={"reconciled_at": iso(self.clock())},
        )
        return result.job or job

    # -- expiry ----------------------------------------------------------------------------

    def _expire(self, job: Job, greengrass: bool) -> bool:
        hours = self.settings.edge_deployment_timeout_hours
        waiting = _greengrass_waiting(job) if greengrass else _edge_waiting(job)
        noun = "core devices" if greengrass else "devices"
        shown = ", ".join(waiting.labels[:_NAMES_SHOWN])
        if len(waiting.labels) > _NAMES_SHOWN:
            shown += f" and {len(waiting.labels) - _NAMES_SHOWN} more"
        message = (
            f"no final report within {hours} hours from {waiting.count} of {waiting.total} "
            f"{noun}" + (f": {shown}" if shown else "")
        )
        result = self.ledger.transition(
            job.job_id,
            KIND,
            JobStatus.EXPIRED,
            service_status=job.service_status,
            message=message[:1000],
            updates={"unreported_devices": waiting.names},
        )
        if result.applied:
            logger.info(
                "edge deployment expired", extra={"job_id": job.job_id, "waiting": waiting.count}
            )
        return result.applied


def _core_devices(job: Job) -> dict[str, dict[str, Any]]:
    return dict((job.model_extra or {}).get(DEVICES_ATTRIBUTE) or {})


def _is_final(entry: dict[str, Any]) -> bool:
    return device_rank(str(entry.get("status", ""))) == _FINAL_RANK


def _tally(final: dict[str, str]) -> str:
    groups = {
        "succeeded": sum(status in SUCCESS for status in final.values()),
        "failed": sum(status in FAILURE for status in final.values()),
        "canceled": sum(status in CANCELED for status in final.values()),
    }
    shown = ", ".join(f"{count} {name}" for name, count in groups.items() if count)
    return f" ({shown})" if shown else ""


def _greengrass_waiting(job: Job) -> Waiting:
    devices = _core_devices(job)
    open_devices = sorted(name for name, entry in devices.items() if not _is_final(entry))
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


def _edge_waiting(job: Job) -> Waiting:
    devices = devices_of(job)
    results = results_of(job)
    names = [
        device
        for device in devices
        if str(results.get(device, {}).get("outcome", "PENDING")) not in ("SUCCESS", "FAIL")
    ]
    return Waiting(names, list(names), len(names), len(devices))
