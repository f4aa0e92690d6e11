"""Bedrock batch inference: validated, split, admitted under quota, tracked to the end.

submit     S3 Object Created → ACCEPTED → streaming validation (and splitting) → QUEUED
           (a split input: the parent is SUBMITTED and each part is a QUEUED child job)
admit      QUEUED → CreateModelInvocationJob → SUBMITTED, never more than N per model
track      aws.bedrock state events → GetModelInvocationJob → RUNNING / terminal, with
           counts, tokens and a retry file of the failed records
reconcile  in-flight jobs without news → GetModelInvocationJob; leaked slots freed
"""

from __future__ import annotations

import json
import re
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dropzone import aws
from dropzone.adapters.bedrock import Backpressure, Bedrock, JobNotFound, Refused
from dropzone.adapters.lambda_invoke import LambdaInvoker
from dropzone.adapters.s3 import S3, ObjectHead, ObjectMissing, parse_s3_uri
from dropzone.bedrock.jsonl import BatchLimits, BatchPlan, Part, plan_batch, write_parts
from dropzone.bedrock.model_inputs import INVOCATION_TYPES
from dropzone.clock import iso, utcnow
from dropzone.errors import ConfigurationError, InvalidInput, Problem, TransientError
from dropzone.models.jobs import Job, JobKind, JobStatus, SourceObject
from dropzone.models.s3_events import ObjectCreatedEvent, candidate_keys, key_parts
from dropzone.observability import logger, metrics
from dropzone.settings import BedrockSettings
from dropzone.sqs_batch import SqsMessage
from dropzone.store.ledger import Ledger
from dropzone.store.slots import ModelSlots
from dropzone.workflows.intake import claim, draft_job, head_of, with_head
from dropzone.workflows.rejection import reject, rejected

KIND = JobKind.BEDROCK_BATCH
STAGING_PREFIX = "bedrock-batch/staging/"
OUTPUTS_PREFIX = "bedrock-batch/outputs/"
RETRIES_PREFIX = "bedrock-batch/retries/"
MODEL_ID = re.compile(
    r"^[a-z0-9-]{1,63}[.][a-z0-9-]{1,63}([.]?[a-z0-9-]{1,63})([:][a-z0-9-]{1,63}){0,2}$"
)
METADATA_PREFIX = "x-amz-meta-"

SERVICE_STATUSES: dict[str, JobStatus] = {
    "Submitted": JobStatus.SUBMITTED,
    "Validating": JobStatus.SUBMITTED,
    "Scheduled": JobStatus.SUBMITTED,
    "InProgress": JobStatus.RUNNING,
    "Stopping": JobStatus.RUNNING,
    "Completed": JobStatus.SUCCEEDED,
    "PartiallyCompleted": JobStatus.PARTIALLY_SUCCEEDED,
    "Failed": JobStatus.FAILED,
    "Stopped": JobStatus.STOPPED,
    "Expired": JobStatus.EXPIRED,
}
_COUNT_FIELDS = {
    "totalRecordCount": "total_records",
    "processedRecordCount": "processed_records",
    "successRecordCount": "succeeded_records",
    "errorRecordCount": "failed_records",
}
_MANIFEST_FIELDS = {
    **_COUNT_FIELDS,
    "inputTokenCount": "input_tokens",
    "outputTokenCount": "output_tokens",
}
_FAILED_CHILD = frozenset(
    {JobStatus.FAILED, JobStatus.STOPPED, JobStatus.EXPIRED, JobStatus.REJECTED}
)


def service_ref(job_arn: str) -> str:
    return f"bedrock:{job_arn}"


def limits_of(settings: BedrockSettings) -> BatchLimits:
    return BatchLimits(
        min_records_per_job=settings.min_records_per_job,
        max_records_per_file=settings.max_records_per_file,
        max_records_per_job=settings.max_records_per_job,
        max_bytes_per_file=settings.max_bytes_per_file,
        max_bytes_per_job=settings.max_bytes_per_job,
    )


def _slots(settings: BedrockSettings, client: aws.ClientSource) -> ModelSlots:
    return ModelSlots(settings.slots_table, settings.max_jobs_per_model, client("dynamodb"))


@dataclass(frozen=True)
class ParsedKey:
    model_id: str
    batch_name: str


def parse_key(key: str, prefix: str) -> ParsedKey:
    parts = key_parts(key, prefix, layout="<ModelId>/<batch-name>/<file>.jsonl", min_parts=3)
    model_id, batch_name = parts[0], parts[1]
    if not MODEL_ID.match(model_id):
        raise InvalidInput.single(
            "model",
            f"{model_id[:80]!r} is not a Bedrock model id "
            "(e.g. anthropic.claude-3-haiku-20240307-v1:0)",
        )
    if not key.endswith(".jsonl"):
        raise InvalidInput.single(
            "key", f"batch inputs must be .jsonl files, got {parts[-1][:80]!r}"
        )
    return ParsedKey(model_id=model_id, batch_name=batch_name)


class BatchOptions(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    timeout_hours: int | None = Field(default=None, alias="timeout-hours", ge=24, le=168)
    invocation_type: str | None = Field(default=None, alias="invocation-type")

    @classmethod
    def from_head(cls, head: ObjectHead) -> BatchOptions:
        try:
            options = cls.model_validate(head.metadata)
        except ValidationError as error:
            raise InvalidInput(
                [
                    Problem(
                        f"metadata '{METADATA_PREFIX}{str(e['loc'][0]).replace('_', '-')}'",
                        f"{e['msg']} (got {str(e.get('input'))[:40]!r})",
                    )
                    for e in error.errors()
                ]
            ) from error
        if options.invocation_type is not None and options.invocation_type not in INVOCATION_TYPES:
            raise InvalidInput.single(
                f"metadata '{METADATA_PREFIX}invocation-type'",
                f"must be one of {', '.join(INVOCATION_TYPES)}, "
                f"got {options.invocation_type[:40]!r}",
            )
        return options


@dataclass
class BedrockSubmitter:
    settings: BedrockSettings
    ledger: Ledger
    s3: S3
    invoker: LambdaInvoker
    owner: str = field(default_factory=lambda: uuid.uuid4().hex)

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
        return cls(settings, ledger, S3(client("s3")), LambdaInvoker(client("lambda")))

    def handle_record(self, message: SqsMessage) -> None:
        event = ObjectCreatedEvent.model_validate_json(message.body)
        self.submit(event.source_object())

    def submit(self, source: SourceObject) -> Job:
        keys = candidate_keys(source.key)
        target = keys[0][len(self.settings.bedrock_batch_prefix) :].partition("/")[0]
        draft = draft_job(source, KIND, keys[0], target)
        taken = claim(
            self.ledger, draft, owner=self.owner, lease_seconds=self.settings.lease_seconds
        )
        if not taken.claimed:
            if taken.job.status is JobStatus.QUEUED:  # the first delivery may not have
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
            )
        except Exception:
            self.ledger.release_lease(job.job_id, owner=self.owner)
            raise
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
        job_options = {
            "batch_name": parsed.batch_name,
            "invocation_type": invocation_type,
            "timeout_hours": options.timeout_hours or self.settings.default_timeout_hours,
        }
        counts = {"input_records": plan.records, "input_bytes": plan.bytes}
        staged = self._stage(job, plan)
        if not plan.split:
            result = self.ledger.transition(
                job.job_id,
                KIND,
                JobStatus.QUEUED,
                message=f"{plan.records} records validated; waiting for a slot",
                updates={
                    "source": job.source,
                    "options": {**job_options, "input_uri": staged[0]},
                    "counts": counts,
                },
            )
            return result.job or job
        children = [
            self._create_child(job, part, len(plan.parts), uri, job_options)
            for part, uri in zip(plan.parts, staged, strict=True)
        ]
        result = self.ledger.transition(
            job.job_id,
            KIND,
            JobStatus.SUBMITTED,
            message=f"{plan.records} records split into {len(children)} jobs",
            updates={
                "source": job.source,
                "options": job_options,
                "counts": counts,
                "children": children,
            },
        )
        return result.job or job

    def _stage(self, job: Job, plan: BatchPlan) -> list[str]:
        """Copy the validated input, normalised, to keys Bedrock accepts (the drop-zone key
        holds the model id, and Bedrock refuses ':' in input URIs): one part per job."""
        bucket = self.settings.results_bucket
        write_parts(
            self._chunks(job),
            plan,
            lambda part: self.s3.multipart_writer(bucket, _part_key(job, part)),
        )
        return [f"s3://{bucket}/{_part_key(job, part)}" for part in plan.parts]

    def _create_child(
        self, job: Job, part: Part, total: int, input_uri: str, job_options: dict[str, Any]
    ) -> str:
        child = Job(
            job_id=f"{job.job_id}-p{part.index:03d}",
            kind=KIND,
            status=JobStatus.QUEUED,
            source=job.source,
            target=job.target,
            parent_id=job.job_id,
            message=f"part {part.index} of {total}: lines {part.first_line}-{part.last_line}",
            options={**job_options, "input_uri": input_uri, "part": part.index},
            counts={"input_records": part.records, "input_bytes": part.bytes},
            created_at="",
            updated_at="",
        )
        self.ledger.create(child)
        return child.job_id


_UNSAFE_KEY_CHARACTERS = re.compile(r"[^-!_*'().a-zA-Z0-9]+")


def _part_key(job: Job, part: Part) -> str:
    name = job.source.key.rsplit("/", 1)[-1].removesuffix(".jsonl")
    safe = _UNSAFE_KEY_CHARACTERS.sub("-", name).strip("-")[:100] or "input"
    return f"{STAGING_PREFIX}{job.job_id}/{safe}.part-{part.index:03d}.jsonl"


@dataclass(frozen=True)
class AdmissionSummary:
    submitted: int = 0
    rejected: int = 0
    full_models: int = 0  # models whose slots were all taken: their jobs keep waiting


@dataclass
class BedrockAdmission:
    settings: BedrockSettings
    ledger: Ledger
    slots: ModelSlots
    bedrock: Bedrock
    s3: S3
    owner: str = field(default_factory=lambda: uuid.uuid4().hex)

    @classmethod
    def from_env(cls, client: aws.ClientSource = aws.client) -> BedrockAdmission:
        settings = BedrockSettings.from_env().require("bedrock_role_arn")
        return cls(
            settings,
            Ledger.from_settings(settings, client("dynamodb")),
            _slots(settings, client),
            Bedrock(client("bedrock")),
            S3(client("s3")),
        )

    def admit(self, model_id: str | None = None) -> AdmissionSummary:
        """Submit queued jobs, oldest first, while their model has free slots."""
        submitted = rejected = 0
        blocked: set[str] = set()
        if model_id and len(self.slots.holders(model_id)) >= self.slots.limit:
            return AdmissionSummary(full_models=1)  # one read instead of a query
        failure: Exception | None = None
        for job_id, target in self.ledger.refs_by_state(KIND, JobStatus.QUEUED):
            if model_id and model_id in blocked:
                break  # the model asked about is full: the rest can only wait
            if (model_id and target != model_id) or target in blocked:
                continue
            try:
                outcome = self._admit_one(job_id, target)
            except Exception as error:  # one job's failure must not stall every model
                logger.warning(
                    "could not submit job; its model waits until the next run",
                    extra={"job_id": job_id, "model_id": target, "error": repr(error)[:500]},
                )
                metrics.add_metric(name="BedrockSubmitErrors", unit="Count", value=1)
                failure = failure or error
                blocked.add(target)
                continue
            if outcome == "submitted":
                submitted += 1
            elif outcome == "rejected":
                rejected += 1
            elif outcome == "full":
                blocked.add(target)
        summary = AdmissionSummary(submitted, rejected, full_models=len(blocked))
        logger.info("admission finished", extra={"model_id": model_id, **summary.__dict__})
        if failure is not None:  # fail the run too, so it is retried and alarmed
            raise TransientError(f"admission left jobs queued after errors: {failure}") from failure
        return summary

    def _admit_one(self, job_id: str, model_id: str) -> str:
        if not self.ledger.acquire_lease(
            job_id,
            owner=self.owner,
            lease_seconds=self.settings.lease_seconds,
            status=JobStatus.QUEUED,
        ):
            return "busy"
        job = self.ledger.get(job_id)
        if job is None or job.status is not JobStatus.QUEUED:
            return "busy"
        if not self.slots.acquire(model_id, job_id):
            self.ledger.release_lease(job_id, owner=self.owner)
            return "full"
        try:
            job_arn = self.bedrock.create_job(**self.request(job))
        except (Backpressure, Refused) as pressure:
            logger.info(
                "Bedrock pushed back; job stays queued",
                extra={"job_id": job_id, "reason": str(pressure)},
            )
            metrics.add_metric(name="BedrockBackpressure", unit="Count", value=1)
            self._give_back(job)
            return "full"
        except InvalidInput as invalid:
            self.slots.release(model_id, job_id)
            reject(
                job,
                invalid,
                ledger=self.ledger,
                s3=self.s3,
                results_bucket=self.settings.results_bucket,
            )
            if job.parent_id:
                settle_parent(self.ledger, job.parent_id)
            return "rejected"
        except Exception:
            # 5xx or a lost connection: the job may exist in Bedrock, so it keeps its
            # slot; the retry reuses the slot and the same clientRequestToken.
            self.ledger.release_lease(job_id, owner=self.owner)
            raise
        bedrock_id = job_arn.rsplit("/", 1)[-1]
        self.ledger.transition(
            job_id,
            KIND,
            JobStatus.SUBMITTED,
            service_status="Submitted",
            updates={
                "service_ref": service_ref(job_arn),
                "job_arn": job_arn,
                "output_location": (
                    f"s3://{self.settings.results_bucket}/{OUTPUTS_PREFIX}{job_id}/{bedrock_id}/"
                ),
            },
        )
        metrics.add_metric(name="BedrockJobsSubmitted", unit="Count", value=1)
        return "submitted"

    def _give_back(self, job: Job) -> None:
        self.slots.release(job.target, job.job_id)
        self.ledger.release_lease(job.job_id, owner=self.owner)

    def request(self, job: Job) -> dict[str, Any]:
        tags = [
            {"key": "dropzone:job-id", "value": job.job_id},
            {"key": "dropzone:kind", "value": KIND.value},
        ]
        if job.parent_id:
            tags.append({"key": "dropzone:parent-id", "value": job.parent_id})
        return {
            "jobName": job.job_id,
            "roleArn": self.settings.bedrock_role_arn,
            "clientRequestToken": job.job_id,
            "modelId": job.target,
            "inputDataConfig": {
                "s3InputDataConfig": {"s3Uri": job.options["input_uri"], "s3InputFormat": "JSONL"}
            },
            "outputDataConfig": {
                "s3OutputDataConfig": {
                    "s3Uri": f"s3://{self.settings.results_bucket}/{OUTPUTS_PREFIX}{job.job_id}/"
                }
            },
            "timeoutDurationInHours": int(job.options["timeout_hours"]),
            "modelInvocationType": job.options["invocation_type"],
            "tags": tags,
        }


class _StateDetail(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    batch_job_name: str | None = Field(default=None, alias="batchJobName")
    batch_job_arn: str | None = Field(default=None, alias="batchJobArn")
    status: str | None = None


class BedrockStateEvent(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    source: str
    detail: _StateDetail


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
            _slots(settings, client),
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

    def _find(self, detail: _StateDetail) -> Job | None:
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
        details = _service_details(info)
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
            failed_records = details.get("counts", {}).get("failed_records", 0)
            if new_status is JobStatus.SUCCEEDED and failed_records:
                new_status = JobStatus.PARTIALLY_SUCCEEDED
        result = self.ledger.transition(
            job.job_id,
            KIND,
            new_status,
            service_status=service_status,
            message=info.get("message") or _summary_message(new_status, details.get("counts", {})),
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
        counts.update({name: int(info[key]) for key, name in _COUNT_FIELDS.items() if key in info})
        bucket, prefix = parse_s3_uri(output)
        try:
            manifest = json.loads(
                self.s3.read_text(f"{output}manifest.json.out", max_bytes=1 << 16)
            )
            counts.update(
                {
                    name: int(manifest[key])
                    for key, name in _MANIFEST_FIELDS.items()
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


def settle_parent(ledger: Ledger, parent_id: str) -> None:
    """Give a split parent its final status once every part has ended (idempotent)."""
    parent = ledger.get(parent_id)
    if parent is None or parent.status is not JobStatus.SUBMITTED or not parent.children:
        return  # not split yet (its submit may still be running), or already settled
    children = [ledger.get(child_id) for child_id in parent.children]
    if any(child is None or not child.status.is_terminal for child in children):
        return
    statuses = [child.status for child in children if child is not None]
    succeeded = sum(status is JobStatus.SUCCEEDED for status in statuses)
    if succeeded == len(statuses):
        final = JobStatus.SUCCEEDED
    elif all(status in _FAILED_CHILD for status in statuses):
        final = JobStatus.FAILED
    else:
        final = JobStatus.PARTIALLY_SUCCEEDED
    totals: dict[str, int] = dict(parent.counts)
    for child in children:
        if child is None:
            continue
        for name, value in child.counts.items():
            if not name.startswith("input_"):
                totals[name] = totals.get(name, 0) + value
    tally = Counter(str(status) for status in statuses)
    breakdown = ", ".join(f"{count} {status}" for status, count in sorted(tally.items()))
    ledger.transition(
        parent_id,
        KIND,
        final,
        message=f"{len(statuses)} parts: {breakdown}",
        updates={"counts": totals},
    )


def _service_details(info: dict[str, Any]) -> dict[str, Any]:
    details: dict[str, Any] = {}
    for key, name in (
        ("submitTime", "service_submitted_at"),
        ("endTime", "service_ended_at"),
        ("jobExpirationTime", "service_expires_at"),
    ):
        value = info.get(key)
        if isinstance(value, datetime):
            details[name] = iso(value)
        elif value:
            details[name] = str(value)
    return details


def _summary_message(status: JobStatus, counts: dict[str, int]) -> str | None:
    if "succeeded_records" in counts or "failed_records" in counts:
        return (
            f"{counts.get('succeeded_records', 0)} records succeeded, "
            f"{counts.get('failed_records', 0)} failed"
        )
    return None


@dataclass
class BedrockReconciler:
    settings: BedrockSettings
    tracker: BedrockTracker
    clock: Callable[[], datetime] = utcnow

    @classmethod
    def from_env(cls, client: aws.ClientSource = aws.client) -> BedrockReconciler:
        settings = BedrockSettings.from_env()
        return cls(settings, BedrockTracker.from_settings(settings))

    def run(self) -> dict[str, int]:
        """Free leaked slots first, then refresh each quiet job on its own, so that one
        unreadable job cannot stop the sweep; errors fail the run at the end (retried,
        alarmed)."""
        ledger = self.tracker.ledger
        freed = self._free_leaked_slots()
        quiet_since = self.clock() - timedelta(minutes=self.settings.reconcile_grace_minutes)
        refreshed = errors = 0
        for status in (JobStatus.SUBMITTED, JobStatus.RUNNING):
            for job in ledger.by_state(KIND, status, updated_before=quiet_since):
                try:
                    if job.children:  # a split parent settles when its children have
                        settle_parent(ledger, job.job_id)
                        continue
                    self.tracker.refresh(job, missing_is_final=True)
                    refreshed += 1
                except Exception as error:  # isolate: the next job still gets its turn
                    errors += 1
                    logger.warning(
                        "could not reconcile job",
                        extra={"job_id": job.job_id, "error": repr(error)[:500]},
                    )
        summary = {"refreshed": refreshed, "slots_freed": freed, "errors": errors}
        logger.info("bedrock reconciliation finished", extra=summary)
        if freed:
            metrics.add_metric(name="BedrockSlotsRecovered", unit="Count", value=freed)
        if errors:
            raise TransientError(f"reconciliation finished with {errors} errors: {summary}")
        return summary

    def _free_leaked_slots(self) -> int:
        ledger, slots = self.tracker.ledger, self.tracker.slots
        freed = 0
        for model_id in slots.models():
            for holder in slots.holders(model_id):
                holding = ledger.get(holder)
                if holding is None or holding.status.is_terminal:
                    slots.release(model_id, holder)
                    freed += 1
        return freed
