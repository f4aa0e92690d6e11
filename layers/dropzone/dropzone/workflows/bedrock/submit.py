"""S3 Object Created → ACCEPTED → streaming validation (and splitting) → estimate →
SUBMITTED.

The upload is read three times, one streaming pass each: validated and planned into parts,
estimated (`estimate`: tokens, then a cost range from the price table), and staged. An
upload over its cost cap, or of a model without a price where the stack refuses those, is
REJECTED before anything is staged; a dry run ends with its report. Otherwise the upload's
job is SUBMITTED once its records are staged, and each part is a QUEUED child job, one per
Bedrock job (one part when the input fits one job). Admission is woken for the model once
the parts are queued; the upload ends when its result file is written (`finish`).
"""

from __future__ import annotations

import uuid
from bisect import bisect_left
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from dropzone import aws
from dropzone.adapters.bedrock_runtime import BedrockRuntime
from dropzone.adapters.lambda_invoke import LambdaInvoker
from dropzone.adapters.s3 import S3, ObjectHead
from dropzone.clock import iso, utcnow
from dropzone.errors import ConfigurationError, InvalidInput
from dropzone.models.jobs import Job, JobStatus, SourceObject
from dropzone.models.s3_events import ObjectCreatedEvent, candidate_keys
from dropzone.observability import logger, metrics
from dropzone.settings.bedrock import BedrockSettings
from dropzone.sqs_batch import SqsMessage
from dropzone.store.ledger import Ledger
from dropzone.workflows.bedrock.costing import (
    OverBudget,
    UploadCosts,
    dry_run_key,
    dry_run_message,
    dry_run_report,
)
from dropzone.workflows.bedrock.estimate import estimate_range
from dropzone.workflows.bedrock.jsonl import plan_batch, write_parts
from dropzone.workflows.bedrock.media import MediaStager, is_media
from dropzone.workflows.bedrock.on_demand import Pointer, enqueue
from dropzone.workflows.bedrock.options import BatchOptions
from dropzone.workflows.bedrock.plan import BatchPlan, Part
from dropzone.workflows.bedrock.price_sources import load_prices
from dropzone.workflows.bedrock.prices import PriceTable
from dropzone.workflows.bedrock.rounds import child_job
from dropzone.workflows.bedrock.rules import (
    KIND,
    limits_of,
    parse_key,
    part_folder,
    part_key,
    records_key,
)
from dropzone.workflows.bedrock.staging import index_line, names_media, staged_line
from dropzone.workflows.intake import claim, draft_job, head_of, with_head
from dropzone.workflows.rejection import rejected


@dataclass
class BedrockSubmitter:
    settings: BedrockSettings
    ledger: Ledger
    s3: S3
    invoker: LambdaInvoker
    sqs: Any = None
    clock: Callable[[], datetime] = utcnow
    owner: str = field(default_factory=lambda: uuid.uuid4().hex)
    prices: Callable[[], PriceTable] = PriceTable.shipped
    # CountTokens, for calibration (None: no calibration)
    runtime: BedrockRuntime | None = None

    @classmethod
    def from_env(cls, client: aws.ClientSource = aws.client) -> BedrockSubmitter:
        settings = BedrockSettings.from_env().require("admission_function")
        try:
            limits_of(settings)
        except ValueError as error:
            raise ConfigurationError(
                f"the Bedrock batch limits are inconsistent: {error}"
            ) from error
        ledger = Ledger.from_settings(settings, client("dynamodb"))
        sqs = client("sqs") if settings.on_demand == "Enabled" else None
        counting = settings.count_tokens == "Enabled"
        runtime = BedrockRuntime.for_counting(client) if counting else None
        return cls(
            settings,
            ledger,
            S3(client("s3")),
            LambdaInvoker(client("lambda")),
            sqs,
            prices=lambda: load_prices(settings, client),
            runtime=runtime,
        )

    def handle_record(self, message: SqsMessage) -> None:
        event = ObjectCreatedEvent.model_validate_json(message.body)
        source = event.source_object()
        if is_media(source.key):  # an image, video or document a record names: not a job
            logger.info("media object under the batch prefix; not a batch input")
            metrics.add_metric(name="BedrockMediaObjects", unit="Count", value=1)
            return
        self.submit(source)

    def submit(self, source: SourceObject) -> Job:
        keys = candidate_keys(source.key)
        target = keys[0][len(self.settings.bedrock_batch_prefix) :].partition("/")[0]
        draft = draft_job(source, KIND, keys[0], target)
        taken = claim(
            self.ledger, draft, owner=self.owner, lease_seconds=self.settings.lease_seconds
        )
        if not taken.claimed:
            if taken.job.status is JobStatus.SUBMITTED:  # the first delivery may not have
                self._wake_admission(taken.job)  # reached admission: harmless to repeat
            return taken.job
        job = taken.job
        try:
            head = head_of(self.s3, job.source, keys)
            job = job.model_copy(update={"source": with_head(job.source, head)})
            queued = self._plan_and_queue(job, head)
        except InvalidInput as invalid:
            return rejected(
                job,
                invalid,
                ledger=self.ledger,
                s3=self.s3,
                results_bucket=self.settings.results_bucket,
                details=invalid.details if isinstance(invalid, OverBudget) else None,
            )
        except Exception:
            self.ledger.release_lease(job.job_id, owner=self.owner)
            raise
        if queued.status is JobStatus.SUBMITTED:  # not a dry run
            self._wake_admission(job)
        return queued

    def _wake_admission(self, job: Job) -> None:
        self.invoker.invoke_async(self.settings.admission_function, {"model_id": job.target})

    def _chunks(self, job: Job) -> Iterator[bytes]:
        return self.s3.iter_chunks(
            job.source.bucket,
            job.source.key,
            version_id=job.source.version_id,
            etag=job.source.etag,
        )

    def _plan_and_queue(self, job: Job, head: ObjectHead) -> Job:
        parsed = parse_key(head.key, self.settings.bedrock_batch_prefix)
        if head.size == 0:
            raise InvalidInput.single("object", "the object is empty (0 bytes)")
        options = BatchOptions.from_head(head)
        invocation_type = options.invocation_type or self.settings.default_invocation_type
        plan = plan_batch(
            self._chunks(job),
            model_id=parsed.model_id,
            invocation_type=invocation_type,
            limits=limits_of(self.settings),
        )
        job_options: dict[str, Any] = {
            "batch_name": parsed.batch_name,
            "invocation_type": invocation_type,
            "timeout_hours": options.timeout_hours or self.settings.default_timeout_hours,
        }
        deadline = options.deadline_at(self.clock())
        if deadline:
            job_options["deadline"] = deadline
        counts = {"input_records": plan.records, "input_bytes": plan.bytes}
        on_demand = plan.records < self.settings.min_records_per_job
        costs = UploadCosts(self.settings, self.prices, self.runtime)
        costing = costs.estimate(
            self._chunks(job),
            plan,
            model_id=parsed.model_id,
            invocation_type=invocation_type,
            on_demand=on_demand,
        )
        refusal = costs.refusal(costing, options, parsed.model_id)
        if options.dry_run:  # the report, and nothing staged or submitted
            report = dry_run_report(job, plan, costing, invocation_type, refusal, iso(self.clock()))
            location = self.s3.put_json(self.settings.results_bucket, dry_run_key(job), report)
            metrics.add_metric(name="BedrockDryRuns", unit="Count", value=1)
            result = self.ledger.transition(
                job.job_id,
                KIND,
                JobStatus.SUCCEEDED,
                message=dry_run_message(plan, costing, refusal),
                updates={
                    "source": job.source,
                    "options": {**job_options, "dry_run": True},
                    "counts": counts,
                    "estimate": costing.upload,
                    "report_location": location,
                },
            )
            return result.job or job
        if refusal:
            raise OverBudget(refusal, {"estimate": costing.upload})
        offsets: list[tuple[int, int, int]] = []
        staged, index_uri = self._stage(job, plan, offsets if on_demand else None)
        if on_demand:  # too few for a batch job: every record runs on demand
            children = [
                self._create_child(
                    job, plan.parts[0], 1, staged[0], job_options, costing.parts[0], offsets
                )
            ]
            jobs = "1 job on demand"
        else:
            children = [
                self._create_child(job, part, len(plan.parts), uri, job_options, part_estimate)
                for part, uri, part_estimate in zip(plan.parts, staged, costing.parts, strict=True)
            ]
            jobs = "1 job" if len(children) == 1 else f"{len(children)} jobs"
        result = self.ledger.transition(
            job.job_id,
            KIND,
            JobStatus.SUBMITTED,
            message=(
                f"{plan.records} records validated, {_estimated(costing.upload)}; {jobs} queued"
            ),
            updates={
                "source": job.source,
                "options": {**job_options, "records_uri": index_uri},
                "counts": counts,
                "children": children,
                "estimate": costing.upload,
            },
        )
        return result.job or job

    def _stage(
        self, job: Job, plan: BatchPlan, offsets: list[tuple[int, int, int]] | None = None
    ) -> tuple[list[str], str]:
        """Copy the validated input to keys Bedrock accepts (the drop-zone key holds the
        model id, and Bedrock refuses ':' in input URIs), one part per job, each record
        under Dropzone's record id; and write the upload's record index. `offsets` gets
        (line, offset, length) of each staged record of a one-part plan."""
        bucket = self.settings.results_bucket
        index_key = records_key(job)
        index = self.s3.multipart_writer(bucket, index_key)
        written = 0
        last_lines = [part.last_line for part in plan.parts]
        media = MediaStager(self.s3, job.source, bucket)

        def stage(content: bytes, line: int) -> bytes:
            nonlocal written
            staged, record_id = staged_line(content, line)
            if names_media(content):
                part = plan.parts[bisect_left(last_lines, line)]
                staged = media.stage(staged, line, part_folder(job, part))
            index.write(index_line(line, record_id))
            if offsets is not None:
                offsets.append((line, written, len(staged)))
                written += len(staged) + 1
            return staged

        try:
            write_parts(
                self._chunks(job),
                plan,
                lambda part: self.s3.multipart_writer(bucket, part_key(job, part)),
                stage,
            )
        except BaseException:
            index.abort()
            raise
        index.close()
        parts = [f"s3://{bucket}/{part_key(job, part)}" for part in plan.parts]
        return parts, f"s3://{bucket}/{index_key}"

    def _create_child(
        self,
        job: Job,
        part: Part,
        total: int,
        input_uri: str,
        job_options: dict[str, Any],
        part_estimate: dict[str, Any],
        offsets: list[tuple[int, int, int]] | None = None,
    ) -> str:
        """A part's job: queued for admission, or, given the staged records' `offsets`, run
        on demand (the upload is too small for a batch job) and its records queued."""
        on_demand = offsets is not None
        message = f"part {part.index} of {total}: lines {part.first_line}-{part.last_line}"
        if on_demand:
            message = f"{part.records} records, fewer than a batch job takes: run on demand"
        child = child_job(
            job,
            f"{job.job_id}-p{part.index:03d}",
            on_demand=on_demand,
            results_bucket=self.settings.results_bucket,
            message=message,
            options={
                **job_options,
                "input_uri": input_uri,
                "part": part.index,
                "round": 0,
                "first_line": part.first_line,
                "last_line": part.last_line,
            },
            counts={"input_records": part.records, "input_bytes": part.bytes},
            estimate=part_estimate,
        )
        self.ledger.create(child)
        if offsets is not None:
            pointers = (
                Pointer(child.job_id, line, input_uri, offset, length)
                for line, offset, length in offsets
            )
            enqueue(self.sqs, self.settings.on_demand_queue_url, pointers)
        return child.job_id


def _estimated(estimate: dict[str, Any]) -> str:
    shown = estimate_range(estimate)
    return f"estimated at {shown}" if shown.startswith("$") else "of unknown price"
