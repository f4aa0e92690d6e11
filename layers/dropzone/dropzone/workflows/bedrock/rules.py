"""The rules of Bedrock batch jobs: keys, limits, and Bedrock's statuses and counts (an
upload's rounds and result: `rounds`)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dropzone.clock import iso
from dropzone.errors import InvalidInput
from dropzone.models.jobs import Job, JobKind, JobStatus
from dropzone.models.s3_events import key_parts
from dropzone.settings.bedrock import BedrockSettings
from dropzone.workflows.bedrock.plan import BatchLimits, Part
from dropzone.workflows.bedrock.staging import RECORDS_NAME

KIND = JobKind.BEDROCK_BATCH
STAGING_PREFIX = "bedrock-batch/staging/"
OUTPUTS_PREFIX = "bedrock-batch/outputs/"
MODEL_ID = re.compile(
    r"^[a-z0-9-]{1,63}[.][a-z0-9-]{1,63}([.]?[a-z0-9-]{1,63})([:][a-z0-9-]{1,63}){0,2}$"
)

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
# GetModelInvocationJob's record counts, by the name the job's counts give them
COUNT_FIELDS = {
    "totalRecordCount": "total_records",
    "processedRecordCount": "processed_records",
    "successRecordCount": "succeeded_records",
    "errorRecordCount": "failed_records",
}
# manifest.json.out's counts and tokens, by the name the job's counts give them
MANIFEST_FIELDS = {
    **COUNT_FIELDS,
    "inputTokenCount": "input_tokens",
    "outputTokenCount": "output_tokens",
}
_UNSAFE_KEY_CHARACTERS = re.compile(r"[^-!_*'().a-zA-Z0-9]+")


def service_ref(job_arn: str) -> str:
    return f"bedrock:{job_arn}"


def limits_of(settings: BedrockSettings) -> BatchLimits:
    return BatchLimits(
        min_records_per_job=settings.min_records_per_job,
        max_records_per_file=settings.max_records_per_file,
        max_records_per_job=settings.max_records_per_job,
        max_bytes_per_file=settings.max_bytes_per_file,
        max_bytes_per_job=settings.max_bytes_per_job,
        on_demand_records=(
            settings.on_demand_max_records if settings.on_demand == "Enabled" else 0
        ),
    )


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


def part_key(job: Job, part: Part) -> str:
    """Where a part of the validated input is staged for Bedrock, in the part's own folder:
    the drop-zone key holds the model id, and Bedrock refuses ':' in input URIs."""
    name = job.source.key.rsplit("/", 1)[-1].removesuffix(".jsonl")
    safe = _UNSAFE_KEY_CHARACTERS.sub("-", name).strip("-")[:100] or "input"
    return f"{part_folder(job, part)}{safe}.jsonl"


def part_folder(job: Job, part: Part) -> str:
    """A part's own folder, which its job reads: its JSONL, and the media it names."""
    return f"{STAGING_PREFIX}{job.job_id}/part-{part.index:03d}/"


def input_folder(input_uri: str) -> str:
    """The folder a job's staged JSONL is in: what Bedrock is given as its input."""
    return input_uri.rsplit("/", 1)[0] + "/"


def records_key(job: Job) -> str:
    """Where the upload's record index is staged (see `staging`)."""
    return f"{STAGING_PREFIX}{job.job_id}/{RECORDS_NAME}"


def terminal_status(status: JobStatus, counts: Mapping[str, int]) -> JobStatus:
    """A job Bedrock calls Completed that failed some of its records partially succeeded."""
    if status is JobStatus.SUCCEEDED and counts.get("failed_records", 0):
        return JobStatus.PARTIALLY_SUCCEEDED
    return status


def service_details(info: dict[str, Any]) -> dict[str, Any]:
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


def summary_message(status: JobStatus, counts: dict[str, int]) -> str | None:
    if "succeeded_records" in counts or "failed_records" in counts:
        return (
            f"{counts.get('succeeded_records', 0)} records succeeded, "
            f"{counts.get('failed_records', 0)} failed"
        )
    return None
