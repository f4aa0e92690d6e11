"""aws.bedrock state events → GetModelInvocationJob → RUNNING / terminal.

A job that ends gets its record counts and tokens, a retry file of the records that failed
or were never answered, frees its model's slot and lets the next queued job in. Nothing
Bedrock wrote can keep it from ending: an output line that cannot be decoded counts as a
failed record, and an unreadable manifest leaves the counts to the job and its lines.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from dropzone import aws
from dropzone.adapters.bedrock import Bedrock, JobNotFound
from dropzone.adapters.lambda_invoke import LambdaInvoker
from dropzone.adapters.s3 import S3, ObjectMissing, parse_s3_uri
from dropzone.errors import UnreadableMessage
from dropzone.models.jobs import Job, JobStatus
from dropzone.observability import logger
from dropzone.settings import BedrockSettings
from dropzone.sqs_batch import SqsMessage
from dropzone.store.ledger import Ledger
from dropzone.store.slots import ModelSlots
from dropzone.workflows.bedrock.events import BedrockStateDetail, BedrockStateEvent
from dropzone.workflows.bedrock.outputs import (
    MANIFEST_NAME,
    OUTPUT_SUFFIX,
    OutputTally,
    UnreadableOutput,
    decode_manifest,
    decode_output_line,
    numbered_lines,
)
from dropzone.workflows.bedrock.rules import (
    COUNT_FIELDS,
    KIND,
    RETRIES_PREFIX,
    SERVICE_STATUSES,
    service_details,
    service_ref,
    summary_message,
    terminal_status,
)
from dropzone.workflows.bedrock.settle import settle_parent

MANIFEST_MAX_BYTES = 1 << 16
MESSAGE_MAX = 1000


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
        try:
            event = BedrockStateEvent.model_validate_json(message.body)
        except ValueError as error:  # no retry can make it readable: off to the DLQ
            raise UnreadableMessage.of("Bedrock state event", error) from None
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
        note = ""
        if new_status.is_terminal:
            details.update(self._results(job, info))
            note = details.pop("output_note", "")
            new_status = terminal_status(new_status, details.get("counts", {}))
        message = info.get("message") or summary_message(new_status, details.get("counts", {}))
        if note:
            message = f"{message}; {note}" if message else note
        result = self.ledger.transition(
            job.job_id,
            KIND,
            new_status,
            service_status=service_status,
            message=message[:MESSAGE_MAX] if message else message,
            updates=details,
        )
        final = result.job or job
        if final.status.is_terminal:
            self._finish(final)
        return final

    def _results(self, job: Job, info: dict[str, Any]) -> dict[str, Any]:
        """Counts and tokens from GetModelInvocationJob and manifest.json.out; failed records
        into a retry file. Nothing Bedrock wrote can keep the job from ending: an output line
        that cannot be decoded counts as a failed record, and a manifest that cannot be
        decoded leaves the counts to GetModelInvocationJob or the output lines."""
        output = job.output_location
        if not output:
            return {}
        tally = OutputTally()
        service = {name: int(info[key]) for key, name in COUNT_FIELDS.items() if key in info}
        service.update(self._manifest(job, output, tally))
        bucket, prefix = parse_s3_uri(output)
        retry_key = f"{RETRIES_PREFIX}{job.job_id}.jsonl"
        writer = self.s3.multipart_writer(self.settings.results_bucket, retry_key)
        try:
            retried = self._write_retry_file(job, bucket, prefix, writer, tally)
        except BaseException:
            writer.abort()
            raise
        counts = {**job.counts, **service, **tally.counts(service)}
        details: dict[str, Any] = {"counts": counts}
        if tally.problems:
            details["output_problems"] = [problem.as_dict() for problem in tally.problems]
            details["output_note"] = tally.note()
            if tally.problems_not_kept:
                logger.warning(
                    "more problems in Bedrock's output, counted but not listed",
                    extra={"job_id": job.job_id, "not_listed": tally.problems_not_kept},
                )
        if retried:
            writer.close()
            counts["retry_records"] = retried
            details["failure_location"] = f"s3://{self.settings.results_bucket}/{retry_key}"
        else:
            writer.abort()
        return details

    def _manifest(self, job: Job, output: str, tally: OutputTally) -> dict[str, int]:
        """manifest.json.out's counts and tokens: none when it is missing or unreadable,
        and none of a field that is not a whole number."""
        try:
            counts, refused = decode_manifest(
                self.s3.read_text(f"{output}{MANIFEST_NAME}", max_bytes=MANIFEST_MAX_BYTES)
            )
        except ObjectMissing:
            logger.info("no manifest.json.out", extra={"job_id": job.job_id})
            return {}
        except UnreadableOutput as problem:
            counts, refused = {}, [problem.reason]
        for reason in refused:
            tally.add_problem(MANIFEST_NAME, reason)
            logger.warning(
                "manifest.json.out could not all be read; counts come from the job and its lines",
                extra={"job_id": job.job_id, "reason": reason},
            )
        return counts

    def _write_retry_file(
        self, job: Job, bucket: str, prefix: str, writer: Any, tally: OutputTally
    ) -> int:
        """Records that came back with an error, then input records Bedrock never
        answered (stopped, expired, cut off by the timeout) or answered with a line that
        cannot be read. Memory holds the record ids of one job, at most the per-job record
        limit."""
        answered: set[str] = set()
        retried = 0
        for key in self.s3.list_keys(bucket, prefix):
            if not key.endswith(OUTPUT_SUFFIX):
                continue
            name = key[len(prefix) :]
            for number, line in numbered_lines(self.s3.iter_chunks(bucket, key)):
                try:
                    record = decode_output_line(line)
                except UnreadableOutput as problem:
                    tally.unreadable += 1
                    if tally.add_problem(f"{name} line {number}", problem.reason):
                        logger.warning(
                            "unreadable Bedrock output line counted as a failed record",
                            extra={
                                "job_id": job.job_id,
                                "output": name,
                                "line": number,
                                "reason": problem.reason,
                            },
                        )
                    continue
                record_id = record.get("recordId")
                if record.get("error") is None:
                    tally.succeeded += 1
                    if record_id is not None:
                        answered.add(record_id)
                    continue
                tally.errored += 1
                if not isinstance(record.get("modelInput"), dict):
                    continue  # retried from the staged input, when it has a record id
                if record_id is not None:
                    answered.add(record_id)
                retry = {"modelInput": record["modelInput"]}
                if record_id is not None:
                    retry = {"recordId": record_id, **retry}
                writer.write(json.dumps(retry).encode() + b"\n")
                retried += 1
        staged = job.options.get("input_uri")
        if not staged or not tally.lines:  # Bedrock answered nothing: nothing to compare
            return retried
        input_bucket, input_key = parse_s3_uri(str(staged))
        try:
            for line in self.s3.iter_lines(input_bucket, input_key):
                record_id = _record_id(line)
                if record_id is not None and record_id not in answered:
                    writer.write(line.rstrip(b"\r") + b"\n")
                    retried += 1
        except ObjectMissing:
            logger.warning(
                "the staged input is gone; records never answered are not in the retry file",
                extra={"job_id": job.job_id},
            )
        return retried

    def _finish(self, job: Job) -> None:
        """Idempotent: free the slot, settle the parent, let the next job in."""
        self.slots.release(job.target, job.job_id)
        if job.parent_id:
            settle_parent(self.ledger, job.parent_id)
        self.invoker.invoke_async(self.settings.admission_function, {"model_id": job.target})


def _record_id(line: bytes) -> str | None:
    """A staged input line's record id (Dropzone checked the line before staging it)."""
    try:
        record = json.loads(line)
    except ValueError:
        return None
    record_id = record.get("recordId") if isinstance(record, dict) else None
    return str(record_id) if record_id is not None else None
