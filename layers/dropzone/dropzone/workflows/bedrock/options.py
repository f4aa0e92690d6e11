"""What an upload's S3 metadata (x-amz-meta-*) may set for its batch jobs."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dropzone.adapters.s3 import ObjectHead
from dropzone.errors import InvalidInput, Problem
from dropzone.workflows.bedrock.model_inputs import INVOCATION_TYPES

METADATA_PREFIX = "x-amz-meta-"


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
