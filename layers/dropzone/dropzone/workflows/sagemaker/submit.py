"""SageMaker asynchronous inference, submit: S3 Object Created → ACCEPTED →
InvokeEndpointAsync → SUBMITTED (or REJECTED)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from dropzone import aws
from dropzone.adapters.s3 import S3
from dropzone.adapters.sagemaker_runtime import SageMakerRuntime
from dropzone.clock import iso, utcnow
from dropzone.errors import InvalidInput
from dropzone.models.jobs import Job, JobStatus, SourceObject
from dropzone.models.s3_events import ObjectCreatedEvent, candidate_keys
from dropzone.observability import logger, metrics
from dropzone.settings.sagemaker import SageMakerSubmitSettings
from dropzone.sqs_batch import SqsMessage
from dropzone.store.ledger import Ledger
from dropzone.workflows.intake import claim, draft_job, head_of, with_head
from dropzone.workflows.rejection import reject
from dropzone.workflows.sagemaker.rules import KIND, invocation_request, service_ref, target_of


@dataclass
class SageMakerSubmitter:
    settings: SageMakerSubmitSettings
    ledger: Ledger
    s3: S3
    runtime: SageMakerRuntime
    owner: str = field(default_factory=lambda: uuid.uuid4().hex)

    @classmethod
    def from_env(cls, client: aws.ClientSource = aws.client) -> SageMakerSubmitter:
        settings = SageMakerSubmitSettings.from_env()
        ledger = Ledger.from_settings(settings, client("dynamodb"))
        return cls(
            settings=settings,
            ledger=ledger,
            s3=S3(client("s3")),
            runtime=SageMakerRuntime(client("sagemaker-runtime")),
        )

    def handle_record(self, message: SqsMessage) -> None:
        event = ObjectCreatedEvent.model_validate_json(message.body)
        self.submit(event.source_object())

    def submit(self, source: SourceObject) -> Job:
        """Start one inference for one object version, however often it is delivered."""
        keys = candidate_keys(source.key)
        draft = draft_job(
            source, KIND, keys[0], target_of(keys[0], self.settings.sagemaker_async_prefix)
        )
        taken = claim(
            self.ledger, draft, owner=self.owner, lease_seconds=self.settings.lease_seconds
        )
        return self._process(taken.job, keys) if taken.claimed else taken.job

    def _process(self, job: Job, keys: list[str]) -> Job:
        try:
            head = head_of(self.s3, job.source, keys)
            request = invocation_request(job, head, self.settings)
            invocation = self.runtime.invoke_endpoint_async(**request)
        except InvalidInput as invalid:
            result = reject(
                job,
                invalid,
                ledger=self.ledger,
                s3=self.s3,
                results_bucket=self.settings.results_bucket,
            )
            return result.job or job
        except Exception:
            self.ledger.release_lease(job.job_id, owner=self.owner)
            raise
        submitted = utcnow()
        ttl = request["RequestTTLSeconds"]
        timeout = request["InvocationTimeoutSeconds"]
        result = self.ledger.transition(
            job.job_id,
            KIND,
            JobStatus.SUBMITTED,
            service_status="Accepted",
            updates={
                "source": with_head(job.source, head),
                "inference_id": invocation.inference_id,
                "service_ref": service_ref(invocation.inference_id),
                "output_location": invocation.output_location,
                "failure_location": invocation.failure_location,
                "deadline_at": iso(submitted + timedelta(seconds=ttl + timeout)),
                "options": {
                    "content_type": request.get("ContentType"),
                    "accept": request.get("Accept"),
                    "request_ttl_seconds": ttl,
                    "invocation_timeout_seconds": timeout,
                },
            },
        )
        if result.applied:
            metrics.add_metric(name="JobsSubmitted", unit="Count", value=1)
            logger.info(
                "inference submitted",
                extra={"job_id": job.job_id, "endpoint": request["EndpointName"]},
            )
        return result.job or job
