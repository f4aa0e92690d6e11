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
from dropzone.models.jobs import Job, JobStatus
from dropzone.observability import logger, metrics
from dropzone.settings.edge import EdgeReconcileSettings
from dropzone.store.ledger import Ledger
from dropzone.workflows.edge import KIND
from dropzone.workflows.edge.greengrass_progress import record_device, settle
from dropzone.workflows.edge.greengrass_rules import (
    UNREPORTED_AS,
    deployment_id_of,
    device_entry,
    devices_to_check,
    ended_outcome,
    greengrass_waiting,
    is_rollout,
)
from dropzone.workflows.edge.rules import OPEN, edge_waiting
from dropzone.workflows.edge.waiting import expiry_message
from dropzone.workflows.job_metrics import emit_oldest_in_flight


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
        emit_oldest_in_flight(self.ledger, KIND, self.clock())
        if summary.errors:
            raise TransientError(
                f"edge reconciliation finished with {summary.errors} errors: {result}"
            )
        return result

    def _open_jobs(self, started: datetime) -> Iterator[Job]:
        """SUBMITTED and RUNNING edge deployments last updated before the run, oldest first."""
        streams = [self.ledger.by_state(KIND, status, updated_before=started) for status in OPEN]
        return heapq.merge(*streams, key=lambda job: (job.updated_at, job.job_id))

    def _reconcile(
        self, job: Job, summary: ReconcileSummary, quiet_before: str, expire_before: str
    ) -> None:
        greengrass = is_rollout(job)
        if greengrass and not summary.throttled and job.updated_at < quiet_before:
            summary.asked += 1
            job = self._ask_greengrass(job, summary)
            if job.status.is_terminal:
                return
        if (job.created_at or job.updated_at) < expire_before and self._expire(job, greengrass):
            summary.expired += 1

    # -- Greengrass ------------------------------------------------------------------------

    def _ask_greengrass(self, job: Job, summary: ReconcileSummary) -> Job:
        deployment_id = deployment_id_of(job)
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
        if service_status in UNREPORTED_AS:
            ended = self._ended(current, service_status)
            if ended.status.is_terminal:
                summary.settled += 1
            return ended
        return current

    def _check_devices(self, job: Job, deployment_id: str) -> Job:
        """Record what ListEffectiveDeployments says of the devices still open."""
        for device in devices_to_check(job)[: self.settings.max_device_checks]:
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

    def _ended(self, job: Job, service_status: str) -> Job:
        """Greengrass says the deployment is over while devices have not all reported."""
        outcome, message = ended_outcome(job, service_status)
        result = self.ledger.transition(
            job.job_id,
            KIND,
            outcome,
            service_status=service_status,
            message=message,
            updates={"reconciled_at": iso(self.clock())},
        )
        return result.job or job

    # -- expiry ----------------------------------------------------------------------------

    def _expire(self, job: Job, greengrass: bool) -> bool:
        hours = self.settings.edge_deployment_timeout_hours
        waiting = greengrass_waiting(job) if greengrass else edge_waiting(job)
        noun = "core devices" if greengrass else "devices"
        result = self.ledger.transition(
            job.job_id,
            KIND,
            JobStatus.EXPIRED,
            service_status=job.service_status,
            message=expiry_message(waiting, hours, noun),
            updates={"unreported_devices": waiting.names},
        )
        if result.applied:
            logger.info(
                "edge deployment expired", extra={"job_id": job.job_id, "waiting": waiting.count}
            )
        return result.applied
