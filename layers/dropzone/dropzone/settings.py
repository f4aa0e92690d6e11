"""Each function's settings: one pydantic model, read from the environment once."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Literal, Self

from pydantic import (
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from dropzone.errors import ConfigurationError
from dropzone.leases import GuardedCall, LeaseGuard
from dropzone.models.base import Model

if TYPE_CHECKING:  # the Greengrass models are imported by the functions that roll out
    from dropzone.models.greengrass import RolloutPolicy

# GreengrassTargets: up to MAX_GREENGRASS_TARGETS thing or thing group names, each exact or
# a prefix ending in "*", comma-separated. The stack builds one IAM resource ARN per entry
# (stacks/model_packaging.yaml), hence the fixed maximum.
MAX_GREENGRASS_TARGETS = 10
_TARGET_ENTRY = r"[a-zA-Z0-9:_-]+\*?"
GREENGRASS_TARGETS_PATTERN = (
    rf"^$|^{_TARGET_ENTRY}(,{_TARGET_ENTRY}){{0,{MAX_GREENGRASS_TARGETS - 1}}}$"
)


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
_CLAIM = GuardedCall("dynamodb:PutItem")
_HEADS = GuardedCall("s3:HeadObject", count=2)  # the key's candidate spellings
_REJECT = (GuardedCall("s3:PutObject"), GuardedCall("dynamodb:UpdateItem"))  # report, REJECTED
# A change to the daily budget's window: read, then a conditional write, tried up to
# dropzone.store.spend.ATTEMPTS times while other writers get in between.
_SPEND = (GuardedCall("dynamodb:GetItem", count=8), GuardedCall("dynamodb:PutItem", count=8))


class Settings(EnvModel):
    jobs_table: str = Field(min_length=3)
    job_retention_days: int = Field(default=90, ge=1)


class SageMakerSubmitSettings(Settings):
    results_bucket: str = Field(min_length=3)
    sagemaker_async_prefix: str = "sagemaker-async/"
    default_request_ttl_seconds: int = Field(default=21600, ge=60, le=21600)
    default_invocation_timeout_seconds: int = Field(default=900, ge=1, le=3600)
    lease_seconds: int = Field(default=120, ge=10)


SAGEMAKER_SUBMIT_LEASE = (
    LeaseGuard(
        "dropzone.workflows.sagemaker.submit.SageMakerSubmitter.submit",
        (_CLAIM, _HEADS, GuardedCall("sagemaker-runtime:InvokeEndpointAsync"), *_REJECT),
    ),
)


class SageMakerResultSettings(Settings):
    result_max_receives: int = Field(default=3, ge=1)


class SageMakerReconcileSettings(Settings):
    reconcile_grace_minutes: int = Field(default=30, ge=1)
    reconcile_batch_limit: int = Field(default=500, ge=1)


class StatusPublisherSettings(EnvModel):
    event_bus_name: str = "default"


# BedrockPriceTable: empty, an object under the results bucket's bedrock-batch/prices/, or a
# parameter under /dropzone/<root stack name>/ (the only places the functions may read).
PRICE_TABLE_PATTERN = (
    r"^(|s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/bedrock-batch/prices/[A-Za-z0-9!_.*'()/-]{1,900}"
    r"|ssm:/dropzone/[A-Za-z0-9-]{1,128}/[A-Za-z0-9_./-]{1,1000})$"
)
PRICES_PREFIX = "bedrock-batch/prices/"
REFRESHED_PRICES_KEY = f"{PRICES_PREFIX}price-list.json"


class BedrockSettings(Settings):
    """Shared by the Bedrock batch functions: submit, admission, state events, reconcile."""

    results_bucket: str = Field(min_length=3)
    slots_table: str = Field(min_length=3)
    admission_function: str = ""
    finish_function: str = ""
    # retry rounds for records whose errors may pass on another try (BedrockRecordRetries)
    record_retries: int = Field(default=2, ge=0, le=10)
    # on-demand finishing (BedrockOnDemand*): off, today's batch-only behaviour
    on_demand: Literal["Enabled", "Disabled"] = "Disabled"
    on_demand_max_records: int = Field(default=1000, ge=1, le=100_000)
    on_demand_rate: float = Field(default=1.0, gt=0, le=1000)
    on_demand_queue_url: str = ""
    # deliveries of an on-demand record before its error becomes its answer (the queue's
    # maxReceiveCount is one more)
    on_demand_max_receives: int = Field(default=4, ge=1)
    bedrock_role_arn: str = Field(default="", pattern=r"^(arn:aws(-[^:]+)?:iam::\d{12}:role/.+)?$")
    bedrock_batch_prefix: str = "bedrock-batch/"
    max_jobs_per_model: int = Field(default=10, ge=1)
    min_records_per_job: int = Field(default=100, ge=1)
    max_records_per_file: int = Field(default=50_000, ge=1)
    max_records_per_job: int = Field(default=50_000, ge=1)
    max_bytes_per_file: int = Field(default=1_000_000_000, ge=1)
    max_bytes_per_job: int = Field(default=5_000_000_000, ge=1)
    default_timeout_hours: int = Field(default=24, ge=24, le=168)
    default_invocation_type: Literal["InvokeModel", "Converse"] = "InvokeModel"
    # the price table (docs/workflows/bedrock-cost.md#the-price-table): the operator's
    # override (BedrockPriceTable), and whether the refreshed copy is read (BedrockPriceRefresh)
    price_table: str = Field(default="", pattern=PRICE_TABLE_PATTERN)
    price_refresh: Literal["Enabled", "Disabled"] = "Disabled"

    @field_validator("price_table")
    @classmethod
    def _price_table_in_reach(cls, value: str, info: ValidationInfo) -> str:
        """An S3 override lives in this stack's results bucket, beside the refreshed copy
        but never as it (each refresh would overwrite it)."""
        if value.startswith("s3://"):
            bucket, _, key = value.removeprefix("s3://").partition("/")
            if bucket != info.data.get("results_bucket"):
                raise ValueError("an s3:// price table must be in the stack's results bucket")
            if key == REFRESHED_PRICES_KEY:
                raise ValueError(f"{key} is the refreshed copy; name another object")
        return value

    lease_seconds: int = Field(default=960, ge=10)
    reconcile_grace_minutes: int = Field(default=30, ge=1)
    # calibrate an upload's input-token estimate with CountTokens on a few records
    # (BedrockCountTokens; workflows/bedrock/calibration.py)
    count_tokens: Literal["Enabled", "Disabled"] = "Enabled"
    # cost (docs/workflows/bedrock-cost.md): the stack's default cap on one upload's
    # estimate (BedrockMaxUploadCostUsd; 0: none), and what becomes of uploads of a model
    # without a price (BedrockUnknownPrice)
    max_upload_cost_usd: float = Field(default=0, ge=0, allow_inf_nan=False)
    unknown_price: Literal["Refuse", "Allow"] = "Refuse"
    # the most Bedrock spend that may begin in any 24 hours (BedrockDailyBudgetUsd; 0: none)
    daily_budget_usd: float = Field(default=0, ge=0, allow_inf_nan=False)


BEDROCK_LEASE = (
    LeaseGuard(
        "dropzone.workflows.bedrock.submit.BedrockSubmitter.submit",
        (
            _CLAIM,
            _HEADS,
            # validated, estimated, then staged
            GuardedCall("s3:GetObject", count=3, data_bound=True),
            GuardedCall("s3:UploadPart", data_bound=True),
            GuardedCall("dynamodb:PutItem", data_bound=True),  # a child job per part
            GuardedCall("dynamodb:UpdateItem"),
        ),
    ),
    LeaseGuard(
        "dropzone.workflows.bedrock.admission.BedrockAdmission._admit_one",
        (
            GuardedCall("dynamodb:UpdateItem"),  # the QUEUED job's lease
            GuardedCall("dynamodb:GetItem"),
            *_SPEND,  # the job's upper estimate held in the daily budget's window
            GuardedCall("dynamodb:UpdateItem"),  # a slot
            GuardedCall("bedrock:CreateModelInvocationJob"),
            GuardedCall("dynamodb:UpdateItem"),  # the slot given back
            *_SPEND,  # and the estimate
            *_REJECT,
        ),
    ),
    LeaseGuard(
        "dropzone.workflows.bedrock.finish.BedrockFinisher.finish",
        (
            GuardedCall("dynamodb:UpdateItem"),  # the upload's lease
            # every job's outputs and held lines, then the staged parts for a round
            GuardedCall("s3:ListObjectsV2", data_bound=True),
            GuardedCall("s3:GetObject", data_bound=True),
            GuardedCall("s3:UploadPart", data_bound=True),  # a round's parts, or the result
            GuardedCall("s3:PutObject", data_bound=True),  # a round job's lines
            GuardedCall("dynamodb:PutItem", data_bound=True),  # a round's jobs
            GuardedCall("dynamodb:UpdateItem"),  # the upload: its round, or its end
        ),
    ),
)


class EdgeSettings(Settings):
    """Shared by the edge functions: deployment intake, heartbeats, Edge Manager sync."""

    results_bucket: str = Field(min_length=3)
    edge_devices_table: str = Field(min_length=3)
    # A dropped document's S3Url may name an object under this bucket's edge artifacts
    # prefix (or the results bucket's packaging outputs; workflows.edge.rules.artifact_places).
    dropzone_bucket: str = ""
    edge_deployments_prefix: str = "edge-deployments/"
    edge_manager_sync: Literal["Enabled", "Disabled"] = "Disabled"
    edge_cache_ttl_seconds: int = Field(default=3600, ge=1, le=10**9)
    lease_seconds: int = Field(default=960, ge=10)
    # The sync's own pace, in dataplane calls a second: devices share the account's limits.
    edge_sync_tps: float = Field(default=10.0, gt=0, le=100)
    # Seconds of the sync's invocation kept free when a run stops for lack of time.
    edge_sync_reserve_seconds: float = Field(default=20.0, ge=0)

    @property
    def sync_enabled(self) -> bool:
        return self.edge_manager_sync == "Enabled"


class EdgeEndpointSettings(Settings):
    """The edge endpoint's: the device records and credentials, and the region signatures
    name. (Heartbeats it takes go through the heartbeat path, which reads EdgeSettings.)"""

    edge_devices_table: str = Field(min_length=3)
    edge_credentials_table: str = ""
    edge_credentials_key_id: str = ""  # the HMAC key's ARN
    aws_region: str = ""
    edge_cache_ttl_seconds: int = Field(default=3600, ge=1, le=10**9)


# Up to 20 definitions (models.edge.MAX_DEFINITIONS), each object's SHA-1 (hashed as it is
# read when S3 has none), then up to 100 devices (models.edge.MAX_DEVICES), then SUBMITTED.
EDGE_LEASE = (
    LeaseGuard(
        "dropzone.workflows.edge.deployment_submit.EdgeDeployments.submit",
        (
            _CLAIM,
            _HEADS,
            GuardedCall("s3:GetObject"),  # the document, at most 256 KiB
            GuardedCall("s3:HeadObject", count=20),
            GuardedCall("s3:GetObject", count=20, data_bound=True),
            GuardedCall("dynamodb:UpdateItem", count=100),
            GuardedCall("dynamodb:UpdateItem"),
        ),
    ),
    LeaseGuard(
        "dropzone.workflows.edge.deployment_submit.EdgeDeployments.record_from_packaging",
        (
            _CLAIM,
            GuardedCall("s3:HeadObject"),
            GuardedCall("s3:GetObject", data_bound=True),
            GuardedCall("dynamodb:UpdateItem", count=100),
            GuardedCall("dynamodb:UpdateItem"),
        ),
    ),
)


class PackagingSettings(Settings):
    """Shared by the model packaging functions: submit and poll."""

    results_bucket: str = Field(min_length=3)
    model_packaging_prefix: str = "model-packaging/"
    lease_seconds: int = Field(default=120, ge=10)
    # DescribeModelPackagingJob's limit; the poller keeps below it by tps_safety_factor.
    describe_tps: float = Field(default=5.0, gt=0, le=100)
    tps_safety_factor: float = Field(default=0.9, gt=0, le=1)
    # Seconds of the invocation kept free after the last describe call of a run.
    poll_reserve_seconds: float = Field(default=10.0, ge=0)
    # How long a job Dropzone started may be unknown to the service before it fails.
    not_found_grace_minutes: int = Field(default=15, ge=1)
    # Needed only for the hand-off to edge deployment records (the poller).
    edge_devices_table: str = ""
    # Whether the stack deploys edge deployments: when it does not, requests that name a
    # fleet (Edge) or a Greengrass target (GreengrassDeployment) are rejected at intake.
    edge_deployments: Literal["Enabled", "Disabled"] = "Enabled"
    # The things and thing groups a GreengrassDeployment may target: comma-separated names,
    # or name prefixes ending in "*". Empty: roll-outs are off, and every request naming
    # a target is rejected at intake (and refused by the poller).
    greengrass_targets: str = Field(default="", pattern=GREENGRASS_TARGETS_PATTERN)
    # Whether a roll-out may replace the target's components (KeepExistingComponents false).
    greengrass_replace_components: bool = False
    # A hand-off may stream a large packaged model to checksum it: it starts only with
    # this much of the invocation left, else the next run does it first.
    handoff_reserve_seconds: float = Field(default=20.0, ge=0)
    # Hand-off attempts before its records are failed with a report and the packaging
    # job is settled anyway.
    max_handoff_attempts: int = Field(default=5, ge=1)
    # StartModelPackagingJob refused for the concurrent jobs quota: the message's next
    # delivery waits this long times its receive count, up to quota_retry_max_seconds.
    quota_retry_seconds: int = Field(default=900, ge=1, le=43_200)
    quota_retry_max_seconds: int = Field(default=3600, ge=1, le=43_200)

    @property
    def rollout_policy(self) -> RolloutPolicy:
        from dropzone.models.greengrass import RolloutPolicy

        return RolloutPolicy.from_setting(
            self.greengrass_targets, replace_components=self.greengrass_replace_components
        )


PACKAGING_LEASE = (
    LeaseGuard(
        "dropzone.workflows.packaging.submit.PackagingSubmitter.submit",
        (
            _CLAIM,
            _HEADS,
            GuardedCall("s3:GetObject"),  # the request, at most 64 KiB
            GuardedCall("lookoutvision:StartModelPackagingJob"),
            GuardedCall("lookoutvision:DescribeModelPackagingJob"),  # after a conflict
            *_REJECT,
        ),
    ),
)


class GreengrassSettings(Settings):
    """The Greengrass deployment status function."""

    results_bucket: str = Field(min_length=3)
    # Deliveries of an event for an unknown deployment id before it is dropped (the event
    # can arrive before the deployment is recorded).
    unknown_deployment_max_receives: int = Field(default=3, ge=1)


class EdgeReconcileSettings(Settings):
    """The edge reconciler: quiet Greengrass roll-outs, and edge deployments that never end."""

    # A roll-out with no news for this long is asked about (GetDeployment and the core
    # devices' effective deployments).
    reconcile_grace_minutes: int = Field(default=30, ge=1)
    # A deployment still SUBMITTED or RUNNING this long after it was recorded is EXPIRED.
    edge_deployment_timeout_hours: int = Field(default=72, ge=1)
    # Jobs looked at a run, and seconds of the invocation kept free after the last one.
    reconcile_batch_limit: int = Field(default=500, ge=1)
    reconcile_reserve_seconds: float = Field(default=20.0, ge=0)
    # Core devices of one roll-out asked about a run (ListEffectiveDeployments each).
    max_device_checks: int = Field(default=10, ge=0, le=100)


class BedrockPriceRefreshSettings(EnvModel):
    """The scheduled Bedrock price refresh (BedrockPricesFunction)."""

    results_bucket: str = Field(min_length=3)
    # Set by Lambda: the region whose prices are read from the Price List.
    aws_region: str = Field(min_length=1)
