"""What an upload's S3 metadata (x-amz-meta-*) may set for its batch jobs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pydantic import ConfigDict, Field, ValidationError, field_validator

from dropzone.adapters.s3 import ObjectHead
from dropzone.errors import InvalidInput, Problem
from dropzone.models.base import Model
from dropzone.workflows.bedrock.model_inputs import INVOCATION_TYPES

METADATA_PREFIX = "x-amz-meta-"


class BatchOptions(Model):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    timeout_hours: int | None = Field(default=None, alias="timeout-hours", ge=24, le=168)
    invocation_type: str | None = Field(default=None, alias="invocation-type")
    # an ISO 8601 time with its offset, or a number of minutes from the upload's intake
    deadline: str | None = Field(default=None, max_length=64)
    # the most the upload may cost, in US dollars, at its estimate's high end
    max_cost_usd: float | None = Field(
        default=None, alias="max-cost-usd", gt=0, allow_inf_nan=False
    )
    # validate and estimate only: a report, nothing submitted
    dry_run: bool = Field(default=False, alias="dry-run")

    @field_validator("dry_run", mode="before")
    @classmethod
    def _true_or_false(cls, value: object) -> object:
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        if isinstance(value, bool):
            return value
        raise ValueError("must be true or false")

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

    def deadline_at(self, now: datetime) -> str | None:
        """The deadline as an ISO 8601 UTC time; InvalidInput when it is neither a time with
        its offset nor a number of minutes."""
        if self.deadline is None:
            return None
        text = self.deadline.strip()
        field = f"metadata '{METADATA_PREFIX}deadline'"
        if text.isdigit():
            minutes = int(text)
            if not 1 <= minutes <= 7 * 24 * 60:
                raise InvalidInput.single(field, f"{minutes} minutes is not within 1 to 10080")
            moment = now + timedelta(minutes=minutes)
        else:
            try:
                moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError:
                raise InvalidInput.single(
                    field,
                    "must be an ISO 8601 time with its offset (2026-12-06T18:00:00Z) or a "
                    f"number of minutes from 1 to 10080, got {text[:40]!r}",
                ) from None
            if moment.tzinfo is None:
                raise InvalidInput.single(
                    field, f"{text[:40]!r} has no offset: add Z or +hh:mm to say which time zone"
                )
        return moment.astimezone(UTC).isoformat(timespec="seconds")
