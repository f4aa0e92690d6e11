"""Greengrass V2 deployment status events → the core device results of roll-out jobs.

track    `Greengrass V2 Effective Deployment Status Change` events (EventBridge → SQS),
         one per core device → that device's result on the job → the job's status, by the
         rules of dropzone.workflows.edge.greengrass_rules

An event that cannot be decoded goes back to the queue at once, on its way to the
dead-letter queue (UnreadableMessage). An event for a deployment with no job yet (the
roll-out may not have recorded its deployment id) is retried until
`unknown_deployment_max_receives`, then dropped. Events are best effort:
dropzone.workflows.edge.reconcile asks Greengrass about roll-outs that went quiet, so a
roll-out ends even when one of its events could not be read.
"""

from __future__ import annotations

from dataclasses import dataclass

from dropzone import aws
from dropzone.clock import iso, utcnow
from dropzone.errors import TransientError, UnreadableMessage
from dropzone.models.jobs import Job
from dropzone.observability import logger, metrics
from dropzone.settings.edge import GreengrassSettings
from dropzone.sqs_batch import SqsMessage
from dropzone.store.ledger import Ledger
from dropzone.workflows.edge import KIND
from dropzone.workflows.edge.events import DeploymentStatusEvent, StatusDetails
from dropzone.workflows.edge.greengrass_progress import record_device, settle
from dropzone.workflows.edge.greengrass_rules import device_entry, service_ref


@dataclass
class GreengrassStateHandler:
    settings: GreengrassSettings
    ledger: Ledger

    @classmethod
    def from_env(cls, client: aws.ClientSource = aws.client) -> GreengrassStateHandler:
        settings = GreengrassSettings.from_env()
        return cls(settings, Ledger.from_settings(settings, client("dynamodb")))

    def handle_record(self, message: SqsMessage) -> None:
        try:
            event = DeploymentStatusEvent.model_validate_json(message.body)
        except ValueError as error:  # no retry can make it readable: off to the DLQ
            raise UnreadableMessage.of("Greengrass status event", error) from None
        self.apply(event, receive_count=message.receive_count)

    def apply(self, event: DeploymentStatusEvent, *, receive_count: int = 1) -> Job | None:
        detail = event.detail
        jobs = self.ledger.find_by_service_ref(service_ref(detail.deployment_id))
        job = next((job for job in jobs if job.kind is KIND), None)
        if job is None:
            if receive_count < self.settings.unknown_deployment_max_receives:
                raise TransientError(f"no job yet for deployment {detail.deployment_id!r}")
            logger.info(
                "status of a deployment Dropzone did not start; dropped",
                extra={"deployment_id": detail.deployment_id},
            )
            metrics.add_metric(name="UnknownGreengrassDeployments", unit="Count", value=1)
            return None
        device = event.core_device()
        status = detail.status.upper()
        details = detail.status_details or StatusDetails()
        entry = device_entry(
            status,
            event.time or iso(utcnow()),
            reason=detail.reason,
            error_stack=details.error_stack,
            error_types=details.error_types,
        )
        recorded = record_device(self.ledger, job.job_id, device, entry)
        if recorded is None:
            logger.info(
                "duplicate or out-of-order device report ignored",
                extra={"job_id": job.job_id, "core_device": device, "status": status},
            )
            metrics.add_metric(name="GreengrassReportsIgnored", unit="Count", value=1)
            # Settle anyway: a run that recorded the entry may have stopped before this.
            recorded = self.ledger.get(job.job_id) or job
        return self.settle(recorded, status)

    def settle(self, job: Job, service_status: str) -> Job:
        """Derive the job's status from its devices' results (idempotent)."""
        return settle(self.ledger, job, service_status)
