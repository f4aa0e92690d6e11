"""Lookout for Vision model packaging: a request file in, a Greengrass component out.

submit    S3 Object Created under model-packaging/<ProjectName>/….json → ACCEPTED →
          validated request → StartModelPackagingJob (ClientToken = job id, JobName
          derived from it) → SUBMITTED, service_ref "lookoutvision:<ProjectName>/<JobName>"
poll      on a schedule: unfinished jobs, least recently updated first, are described
          within the service's rate limit and the invocation's time → the ledger
hand-off  a job that succeeded records its edge deployment (`Edge`) and starts its
          Greengrass roll-out (`GreengrassDeployment`) before it is marked SUCCEEDED;
          after `max_handoff_attempts` failed attempts those records are FAILED with a
          report and the job is SUCCEEDED anyway, its message saying the hand-off failed

Lookout for Vision's statuses map onto the ledger as:

    CREATED → SUBMITTED    RUNNING → RUNNING    SUCCEEDED → SUCCEEDED    FAILED → FAILED

and a job the service does not know `not_found_grace_minutes` after it was started →
FAILED. Lookout for Vision sends no job events, hence the poll.

A large backlog spreads over runs without any bookkeeping: each run reads the jobs last
updated before it started, oldest first, and every job it describes is written back (its
`updated_at` moves to now), so the jobs a run did not reach are the oldest for the next
run. A hand-off starts only with `handoff_reserve_seconds` of the invocation left (it may
stream a large model to checksum it); otherwise the job is left as it was, first in line
for the next run. Each attempt is counted on the job before it starts (so an attempt cut
short by the timeout counts too), which also moves the job to the end of the line.

StartModelPackagingJob's ServiceQuotaExceededException (too many jobs at once) is not
throttling: it clears as jobs finish. The upload's message is retried later, each time
`quota_retry_seconds` times its receive count (at most `quota_retry_max_seconds`), by
raising RetryLater, which changes the message's visibility timeout.
"""

from __future__ import annotations

import heapq
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from dropzone import aws
from dropzone.adapters.greengrass import Greengrass
from dropzone.adapters.lookoutvision import (
    LookoutVision,
    PackagingJobConflict,
    PackagingJobNotFound,
    QuotaExceeded,
    Throttled,
)
from dropzone.adapters.s3 import S3, ObjectHead
from dropzone.clock import iso, utcnow
from dropzone.errors import InvalidInput, RetryLater, TransientError
from dropzone.models.edge import EdgeSection
from dropzone.models.jobs import Job, JobKind, JobStatus, SourceObject
from dropzone.models.packaging import (
    MAX_REQUEST_BYTES,
    OUTPUTS_PREFIX,
    USER_JOB_NAME_MAX,
    GreengrassDeploymentSection,
    PackagingRequest,
    S3Location,
    check_output_location,
    check_project_name,
    parse_request,
)
from dropzone.models.s3_events import ObjectCreatedEvent, candidate_keys, key_parts
from dropzone.observability import logger, metrics
from dropzone.ratelimit import Pacer
from dropzone.settings import PackagingSettings
from dropzone.sqs_batch import SqsMessage
from dropzone.store.ledger import Ledger
from dropzone.workflows.greengrass_deployment import (
    GreengrassDeployer,
    PackagedComponent,
    deployment_job_id,
)
from dropzone.workflows.intake import claim, draft_job, head_of, with_head
from dropzone.workflows.rejection import rejected, report_key

KIND = JobKind.MODEL_PACKAGING
SERVICE_STATUSES: dict[str, JobStatus] = {
    "CREATED": JobStatus.SUBMITTED,
    "RUNNING": JobStatus.RUNNING,
    "SUCCEEDED": JobStatus.SUCCEEDED,
    "FAILED": JobStatus.FAILED,
}
# Files beside the packaged model that are not the model itself.
_NOT_ARTIFACTS = (".json", ".yaml", ".yml", "/")
_ARCHIVES = (".zip", ".tar.gz", ".tgz", ".tar")


def service_ref(project_name: str, job_name: str) -> str:
    return f"lookoutvision:{project_name}/{job_name}"


def job_name_for(job_id: str, requested: str | None) -> str:
    """The job id, after the request's JobName (shortened) when it gives one: unique per
    upload, so a retry can only ever meet its own job."""
    if not requested:
        return job_id
    return f"{requested[:USER_JOB_NAME_MAX].rstrip('-')}-{job_id}"


def default_output(job_id: str, results_bucket: str) -> S3Location:
    return S3Location.model_validate(
        {"Bucket": results_bucket, "Prefix": f"{OUTPUTS_PREFIX}{job_id}/"}
    )


def project_from_key(key: str, prefix: str) -> str:
    parts = key_parts(key, prefix, layout="<ProjectName>/<name>.json", min_parts=2)
    if not key.endswith(".json"):
        raise InvalidInput.single(
            "key", f"packaging requests are .json files, got {parts[-1][:80]!r}"
        )
    check_project_name(parts[0])
    return parts[0]


def find_artifact(keys: list[str], prefix: str, component: PackagedComponent) -> str | None:
    """The packaged model among the keys written under the job's output prefix.

    The exact layout Lookout for Vision writes is not documented; prefer an archive in a
    `<ComponentName>/<ComponentVersion>/` folder, then any archive named after the
    component, then the only file that is not a recipe. None when that is not one file."""
    files = [key for key in keys if key.startswith(prefix) and not key.endswith(_NOT_ARTIFACTS)]
    folder = f"{component.name}/{component.version}/"
    tiers = [
        [key for key in files if folder in key and key.endswith(_ARCHIVES)],
        [
            key
            for key in files
            if key.rsplit("/", 1)[-1].startswith(component.name) and key.endswith(_ARCHIVES)
        ],
        files,
    ]
    for candidates in tiers:
        if len(candidates) == 1:
            return candidates[0]
        if len(candidates) > 1:
            return None
    return None


# -- submit ----------------------------------------------------------------------------------


@dataclass
class PackagingSubmitter:
    settings: PackagingSettings
    ledger: Ledger
    s3: S3
    lookoutvision: LookoutVision
    owner: str = field(default_factory=lambda: uuid.uuid4().hex)
    client: aws.ClientSource = aws.client  # for postponing a message on its own queue

    @classmethod
    def from_env(cls, client: aws.ClientSource = aws.client) -> PackagingSubmitter:
        settings = PackagingSettings.from_env()
        return cls(
            settings,
            Ledger.from_settings(settings, client("dynamodb")),
            S3(client("s3")),
            LookoutVision(client("lookoutvision")),
            client=client,
        )

    def handle_record(self, message: SqsMessage) -> None:
        event = ObjectCreatedEvent.model_validate_json(message.body)
        try:
            self.submit(event.source_object())
        except QuotaExceeded as quota:
            delay = min(
                self.settings.quota_retry_seconds * max(message.receive_count, 1),
                self.settings.quota_retry_max_seconds,
            )
            metrics.add_metric(name="PackagingQuotaRefusals", unit="Count", value=1)
            raise RetryLater(f"{quota}; next try in {delay} s", delay_seconds=delay) from quota

    def submit(self, source: SourceObject) -> Job:
        keys = candidate_keys(source.key)
        prefix = self.settings.model_packaging_prefix
        target = keys[0][len(prefix) :].partition("/")[0] if keys[0].startswith(prefix) else ""
        draft = draft_job(source, KIND, keys[0], target)
        taken = claim(
            self.ledger, draft, owner=self.owner, lease_seconds=self.settings.lease_seconds
        )
        if not taken.claimed:
            return taken.job
        job = taken.job
        try:
            head = head_of(self.s3, job.source, keys)
            job = job.model_copy(update={"source": with_head(job.source, head)})
            project, request = self._read(job, head)
            params = self.start_request(job, project, request)
            self._start(params)
        except InvalidInput as invalid:
            return self._reject(job, invalid)
        except Exception:
            self.ledger.release_lease(job.job_id, owner=self.owner)
            raise
        return self._submitted(job, project, request, params)

    def _read(self, job: Job, head: ObjectHead) -> tuple[str, PackagingRequest]:
        project = project_from_key(head.key, self.settings.model_packaging_prefix)
        if head.size > MAX_REQUEST_BYTES:
            raise InvalidInput.single(
                "object",
                f"a packaging request is at most {MAX_REQUEST_BYTES} bytes, got {head.size}",
            )
        body = bytearray()
        for chunk in self.s3.iter_chunks(
            job.source.bucket,
            head.key,
            version_id=job.source.version_id,
            etag=job.source.etag,
            chunk_size=MAX_REQUEST_BYTES + 1,
        ):
            body += chunk
            if len(body) > MAX_REQUEST_BYTES:
                break
        request = parse_request(bytes(body), project_name=project)
        location = request.greengrass.s3_output_location
        if location is not None:
            check_output_location(location, results_bucket=self.settings.results_bucket)
        return project, request

    def start_request(self, job: Job, project: str, request: PackagingRequest) -> dict[str, Any]:
        """StartModelPackagingJob's parameters for this job."""
        greengrass = request.greengrass.model_dump(mode="json", by_alias=True, exclude_none=True)
        location = request.greengrass.s3_output_location or default_output(
            job.job_id, self.settings.results_bucket
        )
        greengrass["S3OutputLocation"] = location.model_dump(by_alias=True, exclude_none=True)
        version = request.component_version()
        if version is not None:
            greengrass["ComponentVersion"] = version
        params: dict[str, Any] = {
            "ProjectName": project,
            "ModelVersion": request.model_version,
            "JobName": job_name_for(job.job_id, request.job_name),
            "ClientToken": job.job_id,
            "Configuration": {"Greengrass": greengrass},
        }
        if request.description:
            params["Description"] = request.description
        return params

    def _start(self, params: dict[str, Any]) -> None:
        try:
            self.lookoutvision.start_packaging_job(**params)
        except PackagingJobConflict as conflict:
            # Our job name is unique to this upload: if the job exists, an earlier attempt
            # started it. Anything else in conflict (e.g. an existing component version)
            # is the request's to fix.
            try:
                self.lookoutvision.describe_packaging_job(params["ProjectName"], params["JobName"])
            except PackagingJobNotFound:
                raise InvalidInput.single(
                    "Configuration.Greengrass", f"Lookout for Vision refused the job: {conflict}"
                ) from conflict
            logger.info("packaging job already started", extra={"job_name": params["JobName"]})

    def _submitted(
        self, job: Job, project: str, request: PackagingRequest, params: dict[str, Any]
    ) -> Job:
        greengrass = params["Configuration"]["Greengrass"]
        location = greengrass["S3OutputLocation"]
        options: dict[str, Any] = {
            "project_name": project,
            "job_name": params["JobName"],
            "model_version": request.model_version,
            "component_name": greengrass["ComponentName"],
            "component_version": greengrass.get("ComponentVersion"),
            "output_bucket": location["Bucket"],
            "output_prefix": location.get("Prefix", ""),
        }
        if request.edge is not None:
            options["edge"] = request.edge.model_dump(mode="json", by_alias=True)
        if request.greengrass_deployment is not None:
            options["greengrass_deployment"] = request.greengrass_deployment.model_dump(
                mode="json", by_alias=True, exclude_none=True
            )
        result = self.ledger.transition(
            job.job_id,
            KIND,
            JobStatus.SUBMITTED,
            service_status="CREATED",
            message=f"packaging {project} model version {request.model_version}",
            updates={
                "source": job.source,
                "target": project,
                "service_ref": service_ref(project, params["JobName"]),
                "packaging_job_name": params["JobName"],
                "output_location": f"s3://{location['Bucket']}/{location.get('Prefix', '')}",
                "submitted_at": iso(utcnow()),
                "options": options,
            },
        )
        metrics.add_metric(name="PackagingJobsStarted", unit="Count", value=1)
        return result.job or job

    def _reject(self, job: Job, invalid: InvalidInput) -> Job:
        return rejected(
            job,
            invalid,
            ledger=self.ledger,
            s3=self.s3,
            results_bucket=self.settings.results_bucket,
        )


# -- hand-off --------------------------------------------------------------------------------


class EdgeRecorder(Protocol):
    def record_from_packaging(
        self, packaging_job: Job, edge: EdgeSection, artifact_uri: str, component: dict[str, str]
    ) -> Job: ...


@dataclass
class PackagingHandoff:
    """What a succeeded job's request asks for next. Every step is idempotent: the poller
    repeats the whole hand-off until it has completed once."""

    ledger: Ledger
    s3: S3
    edge: Callable[[], EdgeRecorder]
    greengrass: Callable[[], GreengrassDeployer]
    results_bucket: str = ""

    @staticmethod
    def wanted(job: Job) -> bool:
        """Whether the job's request asks for anything after packaging."""
        return bool(job.options.get("edge") or job.options.get("greengrass_deployment"))

    def run(self, job: Job, component: PackagedComponent) -> list[str]:
        """The ids of the jobs the hand-off created (or found)."""
        children: list[str] = []
        if job.options.get("edge"):
            children.append(self._edge(job, component).job_id)
        if job.options.get("greengrass_deployment"):
            section = GreengrassDeploymentSection.model_validate(
                job.options["greengrass_deployment"]
            )
            children.append(self.greengrass().deploy(job, section, component).job_id)
        return children

    def abandon(self, job: Job, reason: str, attempts: int) -> list[str]:
        """Give up on the hand-off: each record it should have made and did not get going
        (missing, or still ACCEPTED) is FAILED with a report; the ids of all of them."""
        from dropzone.workflows.edge_deployment import job_id_for_packaging

        message = f"the hand-off from packaging job {job.job_id} failed {attempts} times: {reason}"
        children: list[str] = []
        if job.options.get("edge"):
            edge = EdgeSection.model_validate(job.options["edge"])
            record_id = job_id_for_packaging(job.job_id)
            children.append(self._fail_child(job, record_id, edge.device_fleet_name, message))
        if job.options.get("greengrass_deployment"):
            section = GreengrassDeploymentSection.model_validate(
                job.options["greengrass_deployment"]
            )
            rollout_id = deployment_job_id(job.job_id)
            children.append(self._fail_child(job, rollout_id, section.target_arn, message))
        metrics.add_metric(name="PackagingHandoffsAbandoned", unit="Count", value=1)
        logger.error(
            "hand-off abandoned",
            extra={"job_id": job.job_id, "attempts": attempts, "reason": reason},
        )
        return children

    def _fail_child(self, job: Job, child_id: str, target: str, message: str) -> str:
        child = self.ledger.create(
            Job(
                job_id=child_id,
                kind=JobKind.EDGE_DEPLOYMENT,
                status=JobStatus.ACCEPTED,
                source=job.source,
                target=target,
                parent_id=job.job_id,
                options={"handoff_failed": True},
                created_at="",
                updated_at="",
            )
        ).job
        if child.status is not JobStatus.ACCEPTED:
            return child_id  # under way or ended: it keeps its own course
        updates: dict[str, Any] = {}
        if self.results_bucket:
            report = {
                "job_id": child_id,
                "kind": JobKind.EDGE_DEPLOYMENT,
                "status": JobStatus.FAILED,
                "parent_id": job.job_id,
                "source": job.source.model_dump(exclude_none=True),
                "target": target,
                "reason": message,
                "failed_at": iso(utcnow()),
            }
            updates["report_location"] = self.s3.put_json(
                self.results_bucket, report_key(child), report
            )
        self.ledger.transition(
            child_id, JobKind.EDGE_DEPLOYMENT, JobStatus.FAILED, message=message, updates=updates
        )
        return child_id

    def _edge(self, job: Job, component: PackagedComponent) -> Job:
        edge = EdgeSection.model_validate(job.options["edge"])
        bucket = str(job.options["output_bucket"])
        prefix = str(job.options.get("output_prefix") or "")
        keys = list(self.s3.list_keys(bucket, prefix))
        artifact = find_artifact(keys, prefix, component)
        if artifact is None:
            return self._no_artifact(job, edge, f"s3://{bucket}/{prefix}", len(keys))
        return self.edge().record_from_packaging(
            job, edge, f"s3://{bucket}/{artifact}", component.as_dict()
        )

    def _no_artifact(self, job: Job, edge: EdgeSection, location: str, found: int) -> Job:
        """The edge record fails, with the reason, when the model cannot be found."""
        from dropzone.workflows.edge_deployment import job_id_for_packaging

        record_id = job_id_for_packaging(job.job_id)
        reason = (
            f"no packaged model under {location} ({found} files there)"
            if found == 0
            else f"cannot tell the packaged model among the {found} files under {location}"
        )
        record = self.ledger.create(
            Job(
                job_id=record_id,
                kind=JobKind.EDGE_DEPLOYMENT,
                status=JobStatus.ACCEPTED,
                source=job.source,
                target=edge.device_fleet_name,
                parent_id=job.job_id,
                options={"missing_artifact": location},
                created_at="",
                updated_at="",
            )
        ).job
        if record.status is not JobStatus.ACCEPTED or not record.options.get("missing_artifact"):
            return record  # recorded earlier, or by the edge workflow itself
        failed = self.ledger.transition(
            record_id, JobKind.EDGE_DEPLOYMENT, JobStatus.FAILED, message=reason
        )
        logger.warning("edge record failed", extra={"job_id": job.job_id, "reason": reason})
        metrics.add_metric(name="PackagingArtifactsMissing", unit="Count", value=1)
        return failed.job or record


def _edge_from_env(client: aws.ClientSource) -> EdgeRecorder:
    from dropzone.workflows.edge_deployment import EdgeDeployments

    return EdgeDeployments.from_env(client)


# -- poll ------------------------------------------------------------------------------------


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
                        ledger, Greengrass(client("greengrassv2")), s3, settings.results_bucket
                    )
                )
            return deployer[0]

        edge: list[EdgeRecorder] = []

        def edge_recorder() -> EdgeRecorder:
            if not edge:
                edge.append(_edge_from_env(client))
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
