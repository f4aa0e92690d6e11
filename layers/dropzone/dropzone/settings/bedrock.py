"""The Bedrock batch functions' settings, and what their leases guard."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationInfo, field_validator

from dropzone.leases import GuardedCall, LeaseGuard
from dropzone.settings import CLAIM, HEADS, REJECT, SPEND, Settings
from dropzone.settings.bedrock_prices import PRICE_TABLE_PATTERN, REFRESHED_PRICES_KEY


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
            CLAIM,
            HEADS,
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
            *SPEND,  # the job's upper estimate held in the daily budget's window
            GuardedCall("dynamodb:UpdateItem"),  # a slot
            GuardedCall("bedrock:CreateModelInvocationJob"),
            GuardedCall("dynamodb:UpdateItem"),  # the slot given back
            *SPEND,  # and the estimate
            *REJECT,
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
