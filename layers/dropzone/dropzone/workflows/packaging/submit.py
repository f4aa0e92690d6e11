"""Model packaging, submit: S3 Object Created under model-packaging/<ProjectName>/….json →
ACCEPTED → validated request → StartModelPackagingJob (ClientToken = job id, JobName
derived from it) → SUBMITTED, service_ref "lookoutvision:<ProjectName>/<JobName>".

StartModelPackagingJob's ServiceQuotaExceededException (too many jobs at once) is not
throttling: it clears as jobs finish. The upload's message is retried later, each time
`quota_retry_seconds` times its receive count (at most `quota_retry_max_seconds`), by
raising RetryLater, which changes the message's visibility timeout.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from dropzone import aws
from dropzone.adapters.lookoutvision import (
    LookoutVision,
    PackagingJobConflict,
    PackagingJobNotFound,
    QuotaExceeded,
)
from dropzone.adapters.s3 import S3, ObjectHead
from dropzone.clock import iso, utcnow
from dropzone.errors import InvalidInput, RetryLater
from dropzone.models.jobs import Job, JobStatus, SourceObject
from dropzone.models.packaging import (
    MAX_REQUEST_BYTES,
    PackagingRequest,
    check_output_location,
    parse_request,
)
from dropzone.models.s3_events import ObjectCreatedEvent, candidate_keys
from dropzone.observability import logger, metrics
from dropzone.settings.packaging import PackagingSettings
from dropzone.sqs_batch import SqsMessage
from dropzone.store.ledger import Ledger
from dropzone.workflows.intake import claim, draft_job, head_of, with_head
from dropzone.workflows.packaging.rules import (
    KIND,
    check_rollout,
    default_output,
    job_name_for,
    project_from_key,
    refuse_edge_sections,
    service_ref,
)
from dropzone.workflows.rejection import rejected


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
        if self.settings.edge_deployments == "Disabled":
            refuse_edge_sections(request)
        if request.greengrass_deployment is not None:
            check_rollout(request.greengrass_deployment, self.settings.rollout_policy)
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
