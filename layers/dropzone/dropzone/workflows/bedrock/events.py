"""Bedrock "Batch Inference Job State Change" events (EventBridge, source aws.bedrock)."""

from __future__ import annotations

from pydantic import ConfigDict, Field

from dropzone.models.base import Model


class BedrockStateDetail(Model):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    batch_job_name: str | None = Field(default=None, alias="batchJobName")
    batch_job_arn: str | None = Field(default=None, alias="batchJobArn")
    status: str | None = None


class BedrockStateEvent(Model):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    source: str
    detail: BedrockStateDetail
