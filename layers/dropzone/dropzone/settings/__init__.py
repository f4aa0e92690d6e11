"""Each function's settings: one pydantic model, read from the environment once.

This package holds what they share: reading the environment (EnvModel), the ledger's
settings (Settings) and the calls that each lease guard is made of. Each workflow's settings
live in their own module (bedrock, bedrock_prices, edge, packaging, sagemaker, status), so a
function builds only its own workflow's models at cold start.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Self

from pydantic import ConfigDict, Field, ValidationError

from dropzone.errors import ConfigurationError
from dropzone.leases import GuardedCall
from dropzone.models.base import Model


class EnvModel(Model):
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

    def require(self, *names: str) -> Self:
        """Fail at cold start when a function needs a setting that has no default."""
        missing = [name.upper() for name in names if not getattr(self, name)]
        if missing:
            raise ConfigurationError(f"{type(self).__name__} needs {', '.join(missing)}")
        return self


# What each lease guards, from taking it (the conditional create, or the UpdateItem that
# takes an expired lease over) to the write that ends it, on the longest path. A lease lasts
# at least `dropzone.leases.holder_bound_seconds` of its calls (tests/unit/test_leases.py).
CLAIM = GuardedCall("dynamodb:PutItem")
HEADS = GuardedCall("s3:HeadObject", count=2)  # the key's candidate spellings
REJECT = (GuardedCall("s3:PutObject"), GuardedCall("dynamodb:UpdateItem"))  # report, REJECTED
# A change to the daily budget's window: read, then a conditional write, tried up to
# dropzone.store.spend.ATTEMPTS times while other writers get in between.
SPEND = (GuardedCall("dynamodb:GetItem", count=8), GuardedCall("dynamodb:PutItem", count=8))


class Settings(EnvModel):
    jobs_table: str = Field(min_length=3)
    job_retention_days: int = Field(default=90, ge=1)
