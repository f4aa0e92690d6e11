"""Each function's settings: one pydantic model, read from the environment once."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dropzone.errors import ConfigurationError


class EnvModel(BaseModel):
    """Fields map to upper-case environment variables of the same name."""

    model_config = ConfigDict(frozen=True)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Self:
        environ = os.environ if environ is None else environ
        values = {
            name: environ[name.upper()] for name in cls.model_fields if name.upper() in environ
        }
        try:
            return cls.model_validate(values)
        except ValidationError as error:
            problems = "; ".join(f"{str(e['loc'][0]).upper()}: {e['msg']}" for e in error.errors())
            raise ConfigurationError(f"{cls.__name__} is misconfigured: {problems}") from error


class Settings(EnvModel):
    jobs_table: str = Field(min_length=3)
    job_retention_days: int = Field(default=90, ge=1)


class SageMakerSubmitSettings(Settings):
    results_bucket: str = Field(min_length=3)
    sagemaker_async_prefix: str = "sagemaker-async/"
    default_request_ttl_seconds: int = Field(default=21600, ge=60, le=21600)
    default_invocation_timeout_seconds: int = Field(default=900, ge=1, le=3600)
    lease_seconds: int = Field(default=120, ge=10)


class SageMakerResultSettings(Settings):
    result_max_receives: int = Field(default=3, ge=1)


class SageMakerReconcileSettings(Settings):
    reconcile_grace_minutes: int = Field(default=30, ge=1)
    reconcile_batch_limit: int = Field(default=500, ge=1)


class StatusPublisherSettings(EnvModel):
    event_bus_name: str = "default"
