"""aws.bedrock state events → GetModelInvocationJob → RUNNING / terminal.

A job that ends gets its record counts and tokens, a retry file of the records that failed
or were never answered, frees its model's slot and lets the next queued job in.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from dropzone import aws
from dropzone.adapters.bedrock import Bedrock, JobNotFound
from dropzone.adapters.lambda_invoke import LambdaInvoker
from dropzone.adapters.s3 import S3, ObjectMissing, parse_s3_uri
from dropzone.models.jobs import Job, JobStatus
from dropzone.observability import logger
from dropzone.settings import BedrockSettings
from dropzone.sqs_batch import SqsMessage
from dropzone.store.ledger import Ledger
from dropzone.store.slots import ModelSlots
from dropzone.workflows.bedrock.events import BedrockStateDetail, BedrockStateEvent
from dropzone.workflows.bedrock.rules import (
    COUNT_FIELDS,
    KIND,
    MANIFEST_FIELDS,
    RETRIES_PREFIX,
    SERVICE_STATUSES,
    service_details,
    service_ref,
    summary_message,
    terminal_status,
)
from dropzone.workflows.bedrock.settle import settle_parent


@dataclass
class BedrockTracker:
    """Applies what Bedrock says about a job; events only say *that* something changed."""

    settings: BedrockSettings
    ledger: Ledger
    slots: ModelSlots
    bedrock: Bedrock
    s3: S3
    invoker: LambdaInvoker

    @classmethod
    def from_env(cls, client: aws.ClientSource = aws.client) -> BedrockTracker:
        return cls.from_settings(BedrockSettings.from_env(), client)

    @classmethod
    def from_settings(
        cls, settings: BedrockSettings, client: aws.ClientSource = aws.client
    ) -> BedrockTracker:
        settings.require("admission_function")
        return cls(
            settings,
            Ledger.from_settings(settings, client("dynamodb")),
            ModelSlots(settings.slots_table, settings.max_jobs_per_model, client("dynamodb")),
            Bedrock(client("bedrock")),
            S3(client("s3")),
            LambdaInvoker(client("lambda")),
        )

    def handle_record(self, message: SqsMessage) -> None:
        event = BedrockStateEvent.model_validate_json(message.body)
        job = self._find(event.detail)
        if job is None:
            logger.info(
                "state change of a job Dropzone did not start; ignored",
                extra={"batch_job_name": event.detail.batch_job_name},
            )
            return
        self.refresh(job)

    def _find(self, detail: BedrockStateDetail) -> Job | None:
        if detail.batch_job_name:
            job = self.ledger.get(detail.batch_job_name)
            if job is not None and job.kind is KIND:
                return job
        if detail.batch_job_arn:
            matches = self.ledger.find_by_service_ref(service_ref(detail.batch_job_arn))
            return matches[0] if matches else None
        return None

    def refresh(self, job: Job, *, missing_is_final: bool = False) -> Job | None:
        """Apply Bedrock's view of the job. `missing_is_final`: a job Bedrock has no
        record of has failed (the reconciler asks only about jobs quiet for a while; an
        event-driven refresh might race the service's own consistency)."""
        arn = (job.model_extra or {}).get("job_arn")
        if not arn:
            return job  # not submitted yet: nothing to ask Bedrock
        try:
            info = self.bedrock.get_job(str(arn))
        except JobNotFound:
            logger.warning(
                "Bedrock no longer knows the job", extra={"job_id": job.job_id, "job_arn": arn}
            )
            if not missing_is_final:
                return job
            result = self.ledger.transition(
                job.job_id, KIND, JobStatus.FAILED, message=f"Bedrock has no record of {arn}"
            )
            self._finish(result.job or job)
            return result.job
        return self.apply(job, info)

    def apply(self, job: Job, info: dict[str, Any]) -> Job | None:
        service_status = str(info.get("status", ""))
        new_status = SERVICE_STATUSES.get(service_status)
        details = service_details(info)
        if new_status is None or new_status is job.status or not job.status.can_move_to(new_status):
            if new_status is None:
                logger.warning(
                    "unknown Bedrock status", extra={"job_id": job.job_id, "status": service_status}
                )
            if job.status.is_terminal:
                self._finish(job)
                return job
            return (
                self.ledger.annotate(
                    job.job_id, KIND, job.status, service_status=service_status, updates=details
                )
                or job
            )
        if new_status.is_terminal:
            details.update(self._results(job, info))
            new_status = terminal_status(new_status, details.get("counts", {}))
        result = self.ledger.transition(
            job.job_id,
            KIND,
            new_status,
            service_status=service_status,
            message=info.get("message") or summary_message(new_status, details.get("counts", {})),
            updates=details,
        )
        final = result.job or job
        if final.status.is_terminal:
            self._finish(final)
        return final

    def _results(self, job: Job, info: dict[str, Any]) -> dict[str, Any]:
        """Counts and tokens from manifest.json.out; failed records into a retry file."""
        output = job.output_location
        if not output:
            return {}
        counts = dict(job.counts)
        counts.update({name: int(info[key]) for key, name in COUNT_FIELDS.items() if key in info})
        bucket, prefix = parse_s3_uri(output)
        try:
            manifest = json.loads(
                self.s3.read_text(f"{output}manifest.json.out", max_bytes=1 << 16)
            )
            counts.update(
                {
                    name: int(manifest[key])
                    for key, name in MANIFEST_FIELDS.items()
                    if key in manifest
                }
            )
        except ObjectMissing:
            logger.info("no manifest.json.out", extra={"job_id": job.job_id})
        retry_key = f"{RETRIES_PREFIX}{job.job_id}.jsonl"
        writer = self.s3.multipart_writer(self.settings.results_bucket, retry_key)
        try:
            retried = self._write_retry_file(job, bucket, prefix, writer)
        except BaseException:
            writer.abort()
            raise
        if retried:
            writer.close()
            return {
                "counts": {**counts, "retry_records": retried},
                "failure_location": f"s3://{self.settings.results_bucket}/{retry_key}",
            }
        writer.abort()
        return {"counts": counts}

    def _write_retry_file(self, job: Job, bucket: str, prefix: str, writer: Any) -> int:
        """Records that came back with an error, then input records Bedrock never
        answered (stopped, expired, cut off by the timeout). Memory holds the record ids
        of one job, at most the per-job record limit."""
        answered: set[str] = set()
        retried = 0
        for key in self.s3.list_keys(bucket, prefix):
            if not key.endswith(".jsonl.out"):
                continue
            for line in self.s3.iter_lines(bucket, key):
                record = json.loads(line)
                if "recordId" in record:
                    answered.add(str(record["recordId"]))
                if record.get("error") is None:
                    continue
                retry = {"modelInput": record["modelInput"]}
                if "recordId" in record:
                    retry = {"recordId": record["recordId"], **retry}
                writer.write(json.dumps(retry).encode() + b"\n")
                retried += 1
        staged = job.options.get("input_uri")
        if not staged or not answered:
            return retried
        input_bucket, input_key = parse_s3_uri(str(staged))
        for line in self.s3.iter_lines(input_bucket, input_key):
            record_id = json.loads(line).get("recordId")
            if record_id is not None and str(record_id) not in answered:
                writer.write(line.rstrip(b"\r") + b"\n")
                retried += 1
        return retried

    def _finish(self, job: Job) -> None:
        """Idempotent: free the slot, settle the parent, let the next job in."""
        self.slots.release(job.target, job.job_id)
        if job.parent_id:
            settle_parent(self.ledger, job.parent_id)
        self.invoker.invoke_async(self.settings.admission_function, {"model_id": job.target})
