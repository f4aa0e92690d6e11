"""SageMaker asynchronous inference, result: the endpoint's SNS success or error
notification → SUCCEEDED / FAILED."""

from __future__ import annotations

from dataclasses import dataclass

from dropzone import aws
from dropzone.errors import TransientError
from dropzone.models.jobs import Job, JobStatus
from dropzone.models.notifications import AsyncInferenceNotification, parse_sns_delivery
from dropzone.observability import logger, metrics
from dropzone.settings.sagemaker import SageMakerResultSettings
from dropzone.sqs_batch import SqsMessage
from dropzone.store.ledger import Ledger
from dropzone.workflows.sagemaker.rules import KIND, service_ref


@dataclass
class SageMakerResults:
    settings: SageMakerResultSettings
    ledger: Ledger

    @classmethod
    def from_env(cls, client: aws.ClientSource = aws.client) -> SageMakerResults:
        settings = SageMakerResultSettings.from_env()
        return cls(settings, Ledger.from_settings(settings, client("dynamodb")))

    def handle_record(self, message: SqsMessage) -> None:
        self.apply(parse_sns_delivery(message.body), receive_count=message.receive_count)

    def apply(self, note: AsyncInferenceNotification, *, receive_count: int = 1) -> Job | None:
        job = self._find(note)
        if job is None:
            if receive_count < self.settings.result_max_receives:
                raise TransientError(f"no job yet for inference id {note.inference_id!r}")
            logger.warning(
                "notification for an unknown inference id skipped",
                extra={
                    "inference_id": note.inference_id,
                    "endpoint": note.request_parameters.endpoint_name,
                },
            )
            metrics.add_metric(name="UnknownInferenceNotifications", unit="Count", value=1)
            return None
        if note.invocation_status == "Completed":
            result = self.ledger.transition(
                job.job_id,
                KIND,
                JobStatus.SUCCEEDED,
                service_status="Completed",
                updates={"output_location": note.response_parameters.output_location},
            )
        else:
            result = self.ledger.transition(
                job.job_id,
                KIND,
                JobStatus.FAILED,
                service_status="Failed",
                message=note.failure_reason or "the endpoint reported a failure without a reason",
                updates={"failure_location": note.response_parameters.failure_location},
            )
        if not result.applied:
            logger.info(
                "late or duplicate notification recorded and ignored",
                extra={"job_id": job.job_id, "status": result.job.status if result.job else None},
            )
        return result.job

    def _find(self, note: AsyncInferenceNotification) -> Job | None:
        direct = self.ledger.get(note.inference_id)
        if direct is not None and direct.kind is KIND:
            return direct
        matches = self.ledger.find_by_service_ref(service_ref(note.inference_id))
        if len(matches) > 1 and note.request_parameters.input_location:
            matches = [j for j in matches if j.source.uri == note.request_parameters.input_location]
        if len(matches) > 1:
            logger.warning(
                "inference id shared by several jobs; applying to the newest",
                extra={"inference_id": note.inference_id, "jobs": [j.job_id for j in matches]},
            )
            matches.sort(key=lambda j: j.created_at)
        return matches[-1] if matches else None
