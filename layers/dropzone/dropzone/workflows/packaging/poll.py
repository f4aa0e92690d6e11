"""Model packaging, poll: on a schedule, unfinished jobs, least recently updated first,
are described within the service's rate limit and the invocation's time → the ledger.

A job the service does not know `not_found_grace_minutes` after it was started →
FAILED. Lookout for Vision sends no job events, hence the poll.

A large backlog spreads over runs without any bookkeeping: each run reads the jobs last
updated before it started, oldest first, and every job it describes is written back (its
`updated_at` moves to now), so the jobs a run did not reach are the oldest for the next
run. A hand-off starts only with `handoff_reserve_seconds` of the invocation left (it may
stream a large model to checksum it); otherwise the job is left as it was, first in line
for the next run. Each attempt is counted on the job before it starts (so an attempt cut
short by the timeout counts too), which also moves the job to the end of the line.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from dropzone import aws
from dropzone.adapters.greengrass import Greengrass
from dropzone.adapters.lookoutvision import LookoutVision, PackagingJobNotFound, Throttled
from dropzone.adapters.s3 import S3
from dropzone.clock import iso, utcnow
from dropzone.errors import TransientError
from dropzone.models.jobs import Job, JobStatus
from dropzone.observability import logger, metrics
from dropzone.ratelimit import Pacer
from dropzone.settings.packaging import PackagingSettings
from dropzone.store.ledger import Ledger
from dropzone.workflows.edge.rollout import GreengrassDeployer, PackagedComponent
from dropzone.workflows.job_metrics import emit_oldest_in_flight
from dropzone.workflows.packaging.handoff import EdgeRecorder, PackagingHandoff, edge_from_env
from dropzone.workflows.packaging.rules import KIND, SERVICE_STATUSES


@dataclass
class PollSummary:
    described: int = 0
    changed: int = 0
    errors: int = 0
    throttled: bool = False
    out_of_time: bool = False


@dataclass
class PackagingPoller:
    settings: PackagingSettings
    ledger: Ledger
    lookoutvision: LookoutVision
    handoff: PackagingHandoff
    pacer: Pacer
    clock: Callable[[], datetime] = utcnow

    @classmethod
    def from_env(cls, client: aws.ClientSource = aws.client) -> PackagingPoller:
        settings = PackagingSettings.from_env()
        ledger = Ledger.from_settings(settings, client("dynamodb"))
        s3 = S3(client("s3"))
        deployer: list[GreengrassDeployer] = []

        def greengrass() -> GreengrassDeployer:
            if not deployer:
                deployer.append(
                    GreengrassDeployer(
                        ledger,
                        Greengrass(client("greengrassv2")),
                        s3,
                        settings.results_bucket,
                        settings.rollout_policy,
                    )
                )
            return deployer[0]

        edge: list[EdgeRecorder] = []

        def edge_recorder() -> EdgeRecorder:
            if not edge:
                edge.append(edge_from_env(client))
            return edge[0]

        return cls(
            settings,
            ledger,
            LookoutVision(client("lookoutvision")),
            PackagingHandoff(ledger, s3, edge_recorder, greengrass, settings.results_bucket),
            Pacer.within(settings.describe_tps, safety_factor=settings.tps_safety_factor),
        )

    def run(self, seconds_left: Callable[[], float] | None = None) -> dict[str, Any]:
        """Describe unfinished jobs, least recently updated first, until none is left, the
        service throttles, or the time runs short; errors fail the run at the end."""
        summary = PollSummary()
        started = self.clock()
        for job in self._unfinished(started):
            if seconds_left is not None and (
                seconds_left() - self.pacer.wait_seconds() < self.settings.poll_reserve_seconds
            ):
                summary.out_of_time = True
                break
            self.pacer.acquire()
            try:
                info = self._describe(job)
                summary.described += 1
                if (
                    seconds_left is not None
                    and self._hands_off(job, info)
                    and seconds_left() < self.settings.handoff_reserve_seconds
                ):
                    # Not written back: the job is first in line for the next run.
                    summary.out_of_time = True
                    break
                if self.apply(job, info):
                    summary.changed += 1
            except Throttled as throttled:
                logger.warning("throttled; the next run continues", extra={"error": str(throttled)})
                metrics.add_metric(name="PackagingPollThrottled", unit="Count", value=1)
                summary.throttled = True
                break
            except Exception as error:  # one job's failure must not stop the others
                summary.errors += 1
                logger.warning(
                    "could not poll packaging job",
                    extra={"job_id": job.job_id, "error": repr(error)[:500]},
                )
        result = asdict(summary)
        logger.info("packaging poll finished", extra=result)
        metrics.add_metric(name="PackagingJobsDescribed", unit="Count", value=summary.described)
        emit_oldest_in_flight(self.ledger, KIND, self.clock())
        if summary.errors:
            raise TransientError(f"packaging poll finished with {summary.errors} errors: {result}")
        return result

    def _unfinished(self, started: datetime) -> Iterator[Job]:
        """SUBMITTED and RUNNING jobs last updated before the run began, oldest first."""
        streams = [
            self.ledger.by_state(KIND, status, updated_before=started)
            for status in (JobStatus.SUBMITTED, JobStatus.RUNNING)
        ]
        return heapq.merge(*streams, key=lambda job: (job.updated_at, job.job_id))

    def _hands_off(self, job: Job, info: dict[str, Any] | None) -> bool:
        return (
            info is not None
            and SERVICE_STATUSES.get(str(info.get("Status", ""))) is JobStatus.SUCCEEDED
            and PackagingHandoff.wanted(job)
        )

    def _describe(self, job: Job) -> dict[str, Any] | None:
        """The service's description, or None when it does not know the job."""
        project = str(job.options.get("project_name") or job.target)
        name = str(job.options.get("job_name") or (job.model_extra or {}).get("packaging_job_name"))
        try:
            return self.lookoutvision.describe_packaging_job(project, name)
        except PackagingJobNotFound:
            return None

    def apply(self, job: Job, info: dict[str, Any] | None) -> bool:
        """Apply the service's view of a job; True when its status changed."""
        now = self.clock()
        if info is None:
            return self._missing(job, now)
        service_status = str(info.get("Status", ""))
        new_status = SERVICE_STATUSES.get(service_status)
        details: dict[str, Any] = {"last_polled_at": iso(now)}
        for key, name in (
            ("CreationTimestamp", "service_created_at"),
            ("LastUpdatedTimestamp", "service_updated_at"),
        ):
            value = info.get(key)
            if isinstance(value, datetime):
                details[name] = iso(value)
        if new_status is None:
            logger.warning(
                "unknown packaging job status",
                extra={"job_id": job.job_id, "status": service_status},
            )
        if new_status is JobStatus.SUCCEEDED:
            return self._succeeded(job, info, service_status, details)
        if new_status is None or not job.status.can_move_to(new_status):
            self.ledger.annotate(
                job.job_id, KIND, job.status, service_status=service_status, updates=details
            )
            return False
        message = info.get("StatusMessage")
        if new_status is JobStatus.FAILED and not message:
            message = "Lookout for Vision reported the job failed without a reason"
        result = self.ledger.transition(
            job.job_id,
            KIND,
            new_status,
            service_status=service_status,
            message=message,
            updates=details,
        )
        return result.applied

    def _succeeded(
        self, job: Job, info: dict[str, Any], service_status: str, details: dict[str, Any]
    ) -> bool:
        output = (info.get("ModelPackagingOutputDetails") or {}).get("Greengrass") or {}
        component = PackagedComponent(
            name=str(output.get("ComponentName") or job.options.get("component_name")),
            version=str(
                output.get("ComponentVersion") or job.options.get("component_version") or ""
            ),
            arn=output.get("ComponentVersionArn"),
        )
        details.update(
            component_name=component.name,
            component_version=component.version,
            component_version_arn=component.arn,
        )
        # The hand-off comes first: if it fails the job stays unfinished and the next run
        # repeats it; a SUCCEEDED job always has its edge record and roll-out (or, once the
        # attempts are used up, those records FAILED with a report).
        packaged = job.model_copy(update=details)
        children, failure = self._hand_off(job, packaged, component)
        if children:
            details["children"] = children
        message = info.get("StatusMessage") or (
            f"component {component.name} {component.version} is ready"
        )
        if failure is not None:
            details["handoff_failed"] = True
            message = f"{message}; {failure}"[:1000]
        result = self.ledger.transition(
            job.job_id,
            KIND,
            JobStatus.SUCCEEDED,
            service_status=service_status,
            message=message,
            updates=details,
        )
        metrics.add_metric(name="PackagingJobsSucceeded", unit="Count", value=1)
        return result.applied

    def _hand_off(
        self, job: Job, packaged: Job, component: PackagedComponent
    ) -> tuple[list[str], str | None]:
        """The children's ids, and why the hand-off was given up (None when it ran)."""
        if not PackagingHandoff.wanted(job):
            return [], None
        extra = job.model_extra or {}
        done = int(extra.get("handoff_attempts") or 0)
        limit = self.settings.max_handoff_attempts
        if done >= limit:
            reason = str(extra.get("handoff_error") or "an attempt did not finish in time")
            return self._abandon(packaged, reason, done)
        attempt = done + 1
        self.ledger.annotate(job.job_id, KIND, job.status, updates={"handoff_attempts": attempt})
        try:
            return self.handoff.run(packaged, component), None
        except Exception as error:
            reason = f"{type(error).__name__}: {error}"[:500]
            if attempt >= limit:
                return self._abandon(packaged, reason, attempt)
            self.ledger.annotate(job.job_id, KIND, job.status, updates={"handoff_error": reason})
            raise

    def _abandon(self, packaged: Job, reason: str, attempts: int) -> tuple[list[str], str]:
        children = self.handoff.abandon(packaged, reason, attempts)
        return children, f"the hand-off failed after {attempts} attempts: {reason}"

    def _missing(self, job: Job, now: datetime) -> bool:
        started = (job.model_extra or {}).get("submitted_at") or job.created_at
        grace = timedelta(minutes=self.settings.not_found_grace_minutes)
        if iso(now - grace) < str(started):
            self.ledger.annotate(job.job_id, KIND, job.status, updates={"last_polled_at": iso(now)})
            return False
        name = (job.model_extra or {}).get("packaging_job_name")
        result = self.ledger.transition(
            job.job_id,
            KIND,
            JobStatus.FAILED,
            service_status="NOT_FOUND",
            message=(
                f"Lookout for Vision has no packaging job {job.target}/{name} "
                f"{self.settings.not_found_grace_minutes} minutes after it was started"
            ),
            updates={"last_polled_at": iso(now)},
        )
        return result.applied
