"""SageMaker asynchronous inference: drop a file, get a tracked InvokeEndpointAsync.

submit      S3 Object Created → ACCEPTED → InvokeEndpointAsync → SUBMITTED (or REJECTED)
results     the endpoint's SNS success / error notification → SUCCEEDED / FAILED
reconcile   SUBMITTED jobs with no news → look for their output → SUCCEEDED / FAILED / EXPIRED
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from dropzone import aws
from dropzone.adapters.s3 import S3, ObjectHead
from dropzone.adapters.sagemaker_runtime import SageMakerRuntime
from dropzone.clock import iso, utcnow
from dropzone.errors import InvalidInput, Problem, TransientError
from dropzone.models.jobs import Job, JobKind, JobStatus, SourceObject
from dropzone.models.notifications import AsyncInferenceNotification, parse_sns_delivery
from dropzone.models.s3_events import ObjectCreatedEvent, candidate_keys
from dropzone.observability import logger, metrics
from dropzone.settings import (
    SageMakerReconcileSettings,
    SageMakerResultSettings,
    SageMakerSubmitSettings,
)
from dropzone.sqs_batch import SqsMessage
from dropzone.store.ledger import Ledger
from dropzone.workflows.intake import claim, draft_job, head_of, with_head
from dropzone.workflows.rejection import reject

KIND = JobKind.SAGEMAKER_ASYNC
MAX_PAYLOAD_BYTES = 1024**3  # 1 GB, the service's limit for asynchronous payloads
MAX_INPUT_LOCATION = 1024
ENDPOINT_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9])*$")
ENDPOINT_NAME_MAX = 63
METADATA_PREFIX = "x-amz-meta-"
OUTPUT_PATH_EXTENSION = re.compile(r"^(?!s3:|https:)[a-zA-Z0-9!_.*'()/-]+$")
FILENAME = re.compile(r"^(?!.*\..*\.)[a-zA-Z0-9][a-zA-Z0-9\-_.]*$")


def service_ref(inference_id: str) -> str:
    return f"sagemaker:{inference_id}"


def _ascii(value: str) -> bool:
    return all(ord(char) < 128 for char in value)


def _visible_ascii(value: str) -> bool:
    return all(32 <= ord(char) < 127 for char in value)


class AsyncInferenceOptions(BaseModel):
    """Per-object options: the object's Content-Type and its user metadata."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    content_type: str | None = Field(default=None, alias="content-type", max_length=1024)
    accept: str | None = Field(default=None, max_length=1024)
    custom_attributes: str | None = Field(default=None, alias="custom-attributes", max_length=1024)
    inference_id: str | None = Field(
        default=None, alias="inference-id", min_length=1, max_length=64
    )
    request_ttl_seconds: int | None = Field(
        default=None, alias="request-ttl-seconds", ge=60, le=21600
    )
    invocation_timeout_seconds: int | None = Field(
        default=None, alias="invocation-timeout-seconds", ge=1, le=3600
    )
    s3_output_path_extension: str | None = Field(
        default=None,
        alias="s3-output-path-extension",
        min_length=1,
        max_length=512,
    )
    filename: str | None = Field(default=None, min_length=1, max_length=32)

    @field_validator("s3_output_path_extension")
    @classmethod
    def _output_path_extension(cls, value: str | None) -> str | None:
        if value is not None and not OUTPUT_PATH_EXTENSION.match(value):
            raise ValueError(
                "must be a relative path of letters, digits and !_.*'()/- (no s3: or https:)"
            )
        return value

    @field_validator("filename")
    @classmethod
    def _filename(cls, value: str | None) -> str | None:
        if value is not None and not FILENAME.match(value):
            raise ValueError(
                "must start with a letter or digit, use letters, digits, '-', '_' and at "
                "most one '.'"
            )
        return value

    @field_validator("content_type", "accept")
    @classmethod
    def _must_be_ascii(cls, value: str | None) -> str | None:
        if value is not None and not _ascii(value):
            raise ValueError("must be ASCII")
        return value

    @field_validator("custom_attributes")
    @classmethod
    def _must_be_visible_ascii(cls, value: str | None) -> str | None:
        if value is not None and not _visible_ascii(value):
            raise ValueError("must be visible ASCII characters only")
        return value

    @field_validator("inference_id")
    @classmethod
    def _printable_without_leading_space(cls, value: str | None) -> str | None:
        if value is not None and (value[0].isspace() or not value.isprintable()):
            raise ValueError("must be printable characters and must not start with a space")
        return value

    @field_validator("request_ttl_seconds", "invocation_timeout_seconds", mode="before")
    @classmethod
    def _strict_integer(cls, value: Any) -> Any:
        if isinstance(value, str) and not re.fullmatch(r"\s*\d+\s*", value):
            raise ValueError(f"must be a whole number of seconds, got {value[:40]!r}")
        return value

    @classmethod
    def from_head(cls, head: ObjectHead) -> AsyncInferenceOptions:
        values: dict[str, Any] = dict(head.metadata)
        if head.content_type:
            values["content-type"] = head.content_type
        try:
            return cls.model_validate(values)
        except ValidationError as error:
            raise InvalidInput([_problem(e) for e in error.errors()]) from error


def _problem(error: Any) -> Problem:
    name = str(error["loc"][0]) if error["loc"] else "metadata"
    alias = name.replace("_", "-")
    where = "Content-Type" if alias == "content-type" else f"metadata '{METADATA_PREFIX}{alias}'"
    if alias == "custom-attributes":  # may carry secrets: never echo the value
        return Problem(where, error["msg"])
    given = error.get("input")
    shown = f" (got {str(given)[:60]!r})" if isinstance(given, str | int) else ""
    return Problem(where, f"{error['msg']}{shown}")


@dataclass(frozen=True)
class ParsedKey:
    endpoint_name: str
    relative_path: str


def parse_key(key: str, prefix: str) -> ParsedKey:
    if not key.startswith(prefix):
        raise InvalidInput.single("key", f"{key!r} is not under the {prefix!r} prefix")
    endpoint, _, rest = key[len(prefix) :].partition("/")
    if not endpoint:
        raise InvalidInput.single(
            "key", f"no endpoint name: expected {prefix}<EndpointName>/<file>, got {key!r}"
        )
    if len(endpoint) > ENDPOINT_NAME_MAX or not ENDPOINT_NAME.match(endpoint):
        raise InvalidInput.single(
            "endpoint",
            f"{endpoint[:80]!r} is not a valid endpoint name (1-63 letters, digits and "
            "hyphens, starting and ending with a letter or digit)",
        )
    if not rest or rest.endswith("/"):
        raise InvalidInput.single(
            "key", f"expected a file under {prefix}{endpoint}/, got folder marker {key!r}"
        )
    return ParsedKey(endpoint_name=endpoint, relative_path=rest)


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
            source, KIND, keys[0], _target_of(keys[0], self.settings.sagemaker_async_prefix)
        )
        taken = claim(
            self.ledger, draft, owner=self.owner, lease_seconds=self.settings.lease_seconds
        )
        return self._process(taken.job, keys) if taken.claimed else taken.job

    def _process(self, job: Job, keys: list[str]) -> Job:
        try:
            head = head_of(self.s3, job.source, keys)
            request = self._request(job, head)
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

    def _request(self, job: Job, head: ObjectHead) -> dict[str, Any]:
        parsed = parse_key(head.key, self.settings.sagemaker_async_prefix)
        if head.size == 0:
            raise InvalidInput.single("object", "the object is empty (0 bytes)")
        if head.size > MAX_PAYLOAD_BYTES:
            raise InvalidInput.single(
                "object",
                f"the object is {head.size} bytes; asynchronous inference accepts at most "
                f"{MAX_PAYLOAD_BYTES} bytes (1 GB)",
            )
        input_location = f"s3://{head.bucket}/{head.key}"
        if len(input_location) > MAX_INPUT_LOCATION:
            raise InvalidInput.single(
                "key", f"the input location is {len(input_location)} characters; the limit is 1024"
            )
        options = AsyncInferenceOptions.from_head(head)
        request: dict[str, Any] = {
            "EndpointName": parsed.endpoint_name,
            "InputLocation": input_location,
            "InferenceId": options.inference_id or job.job_id,
            "RequestTTLSeconds": options.request_ttl_seconds
            or self.settings.default_request_ttl_seconds,
            "InvocationTimeoutSeconds": options.invocation_timeout_seconds
            or self.settings.default_invocation_timeout_seconds,
        }
        optional = {
            "ContentType": options.content_type,
            "Accept": options.accept,
            "CustomAttributes": options.custom_attributes,
            "S3OutputPathExtension": options.s3_output_path_extension,
            "Filename": options.filename,
        }
        request.update({name: value for name, value in optional.items() if value})
        return request


def _target_of(key: str, prefix: str) -> str:
    return key[len(prefix) :].partition("/")[0] if key.startswith(prefix) else ""


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


@dataclass(frozen=True)
class ReconcileSummary:
    examined: int = 0
    succeeded: int = 0
    failed: int = 0
    expired: int = 0
    unresolved: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class SageMakerReconciler:
    settings: SageMakerReconcileSettings
    ledger: Ledger
    s3: S3
    clock: Callable[[], datetime] = utcnow

    @classmethod
    def from_env(cls, client: aws.ClientSource = aws.client) -> SageMakerReconciler:
        settings = SageMakerReconcileSettings.from_env()
        return cls(settings, Ledger.from_settings(settings, client("dynamodb")), S3(client("s3")))

    def run(self) -> ReconcileSummary:
        now = self.clock()
        quiet_since = now - timedelta(minutes=self.settings.reconcile_grace_minutes)
        counts = {"examined": 0, "succeeded": 0, "failed": 0, "expired": 0, "unresolved": 0}
        for job in self.ledger.by_state(KIND, JobStatus.SUBMITTED, updated_before=quiet_since):
            if counts["examined"] >= self.settings.reconcile_batch_limit:
                break
            counts["examined"] += 1
            counts[self._reconcile(job, now)] += 1
        summary = ReconcileSummary(**counts)
        logger.info("reconciliation finished", extra=summary.as_dict())
        for name, value in counts.items():
            if name != "examined" and value:
                metrics.add_metric(name=f"Reconciled{name.capitalize()}", unit="Count", value=value)
        return summary

    def _reconcile(self, job: Job, now: datetime) -> str:
        try:
            if job.output_location and self.s3.exists(job.output_location):
                self.ledger.transition(
                    job.job_id,
                    KIND,
                    JobStatus.SUCCEEDED,
                    service_status="Completed",
                    message="output found by reconciliation; no success notification arrived",
                )
                return "succeeded"
            if job.failure_location and self.s3.exists(job.failure_location):
                reason = self.s3.read_text(job.failure_location, max_bytes=1024).strip()
                self.ledger.transition(
                    job.job_id,
                    KIND,
                    JobStatus.FAILED,
                    service_status="Failed",
                    message=_failure_message(reason),
                )
                return "failed"
        except (ClientError, ValueError) as error:  # e.g. outputs in a bucket we cannot read
            logger.warning(
                "could not check job outputs", extra={"job_id": job.job_id, "error": repr(error)}
            )
        if job.deadline_at and job.deadline_at < iso(now):
            self.ledger.transition(
                job.job_id,
                KIND,
                JobStatus.EXPIRED,
                message=(
                    f"no output and no failure by {job.deadline_at} "
                    "(request TTL plus invocation timeout)"
                ),
            )
            return "expired"
        return "unresolved"


def _failure_message(body: str) -> str:
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        for name in ("failureReason", "message", "Message", "error"):
            if isinstance(parsed.get(name), str):
                return str(parsed[name])[:500]
    return body[:500] or "the endpoint wrote a failure without a reason"
