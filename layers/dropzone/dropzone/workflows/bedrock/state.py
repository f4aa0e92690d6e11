"""aws.bedrock state events → GetModelInvocationJob → RUNNING / terminal.

A job that ends gets its record counts and tokens, and its cost from those tokens and the
price table (`estimate.job_cost`); it frees its model's slot, lets the next
queued job in and wakes its upload's finishing step (`finish`: a retry round, or the result
file). Nothing Bedrock wrote can keep it from ending: an output line that cannot be decoded
counts as a failed record, and an unreadable manifest leaves the counts to the job and its
lines.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dropzone import aws
from dropzone.adapters.bedrock import Bedrock, JobNotFound
from dropzone.adapters.lambda_invoke import LambdaInvoker
from dropzone.adapters.s3 import S3, ObjectMissing, parse_s3_uri
from dropzone.errors import UnreadableMessage
from dropzone.models.jobs import Job, JobStatus
from dropzone.observability import logger
from dropzone.settings.bedrock import BedrockSettings
from dropzone.sqs_batch import SqsMessage
from dropzone.store.ledger import Ledger
from dropzone.store.slots import ModelSlots
from dropzone.store.spend import SpendWindow
from dropzone.workflows.bedrock.budget import settlement
from dropzone.workflows.bedrock.cost_metric import emit_cost
from dropzone.workflows.bedrock.estimate import job_cost
from dropzone.workflows.bedrock.events import BedrockStateDetail, BedrockStateEvent
from dropzone.workflows.bedrock.finish import wake_finish
from dropzone.workflows.bedrock.outputs import (
    MANIFEST_NAME,
    OUTPUT_SUFFIX,
    OutputTally,
    UnreadableOutput,
    decode_manifest,
    decode_output_line,
    numbered_lines,
)
from dropzone.workflows.bedrock.price_sources import load_prices
from dropzone.workflows.bedrock.prices import PriceTable
from dropzone.workflows.bedrock.rules import (
    COUNT_FIELDS,
    KIND,
    SERVICE_STATUSES,
    service_details,
    service_ref,
    summary_message,
    terminal_status,
)

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
    prices: Callable[[], PriceTable] = PriceTable.shipped

    @classmethod
    def from_env(cls, client: aws.ClientSource = aws.client) -> BedrockTracker:
        return cls.from_settings(BedrockSettings.from_env(), client)

    @classmethod
    def from_settings(
        cls, settings: BedrockSettings, client: aws.ClientSource = aws.client
    ) -> BedrockTracker:
        settings.require("admission_function", "finish_function")
        return cls(
            settings,
            Ledger.from_settings(settings, client("dynamodb")),
            ModelSlots(settings.slots_table, settings.max_jobs_per_model, client("dynamodb")),
            Bedrock(client("bedrock")),
            S3(client("s3")),
            LambdaInvoker(client("lambda")),
            prices=lambda: load_prices(settings, client),
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
            counts = details.get("counts", job.counts)
            details["cost"] = job_cost(job, counts, self.prices().price(job.target))
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
        if result.applied and final.status.is_terminal:
            emit_cost(final.target, final.cost)
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
        self._tally_lines(job, bucket, prefix, tally)
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

    def _tally_lines(self, job: Job, bucket: str, prefix: str, tally: OutputTally) -> None:
        """Count the job's output lines: succeeded, failed, and unreadable (which count as
        failed). Memory holds one chunk and one line."""
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
                if record.get("error") is None:
                    tally.succeeded += 1
                else:
                    tally.errored += 1

    def _finish(self, job: Job) -> None:
        """Idempotent: free the slot, settle the job's cost in the daily budget's window,
        let the next job in, wake the upload's finishing."""
        self.slots.release(job.target, job.job_id)
        due = settlement(job) if self.settings.daily_budget_usd > 0 else None
        if due is not None:  # as of the job's end, so a duplicate event settles the same
            ended = due.ended
            window = SpendWindow(self.settings.slots_table, self.slots.client, clock=lambda: ended)
            window.settle(job.job_id, due.usd, since=due.since)
        self.invoker.invoke_async(self.settings.admission_function, {"model_id": job.target})
        if job.parent_id:
            wake_finish(self.invoker, self.settings, job.parent_id)
