"""The SageMaker async functions' settings: submit, result and reconcile."""

from __future__ import annotations

from pydantic import Field

from dropzone.leases import GuardedCall, LeaseGuard
from dropzone.settings import CLAIM, HEADS, REJECT, Settings


class SageMakerSubmitSettings(Settings):
    results_bucket: str = Field(min_length=3)
    sagemaker_async_prefix: str = "sagemaker-async/"
    default_request_ttl_seconds: int = Field(default=21600, ge=60, le=21600)
    default_invocation_timeout_seconds: int = Field(default=900, ge=1, le=3600)
    lease_seconds: int = Field(default=120, ge=10)


SAGEMAKER_SUBMIT_LEASE = (
    LeaseGuard(
        "dropzone.workflows.sagemaker.submit.SageMakerSubmitter.submit",
        (CLAIM, HEADS, GuardedCall("sagemaker-runtime:InvokeEndpointAsync"), *REJECT),
    ),
)


class SageMakerResultSettings(Settings):
    result_max_receives: int = Field(default=3, ge=1)


class SageMakerReconcileSettings(Settings):
    reconcile_grace_minutes: int = Field(default=30, ge=1)
    reconcile_batch_limit: int = Field(default=500, ge=1)
