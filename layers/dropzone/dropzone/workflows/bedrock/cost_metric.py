"""The per-model CloudWatch metrics: a job's actual cost, and the admission slots in use."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.metrics.functions import is_metrics_disabled

from dropzone.observability import metrics


def emit_cost(model_id: str, cost: dict[str, Any] | None) -> None:
    """`BedrockCostUsd` (unit None: US dollars) with the `model_id` and `service`
    dimensions, for a job whose cost is known. A job of unknown price emits nothing here:
    `BedrockJobsOfUnknownPrice` counts it instead, so no sum ever takes it as free."""
    if not cost:
        return
    if cost.get("usd") is None:
        metrics.add_metric(name="BedrockJobsOfUnknownPrice", unit="Count", value=1)
        return
    if is_metrics_disabled():  # as Metrics itself honours POWERTOOLS_METRICS_DISABLED
        return
    with single_metric(
        name="BedrockCostUsd",
        unit=MetricUnit.NoUnit,
        value=float(cost["usd"]),
        default_dimensions={"service": os.environ.get("POWERTOOLS_SERVICE_NAME", "dropzone")},
    ) as metric:
        metric.add_dimension(name="model_id", value=model_id[:250])


def emit_slots_in_use(model_id: str, holders: int) -> None:
    """`BedrockSlotsInUse` (a count) with the `model_id` and `service` dimensions: the jobs
    of one model holding an admission slot, to chart against BedrockMaxJobsPerModel."""
    if is_metrics_disabled():
        return
    with single_metric(
        name="BedrockSlotsInUse",
        unit=MetricUnit.Count,
        value=holders,
        default_dimensions={"service": os.environ.get("POWERTOOLS_SERVICE_NAME", "dropzone")},
    ) as metric:
        metric.add_dimension(name="model_id", value=model_id[:250])
