"""An upload's cost at intake: its estimate (calibrated by CountTokens where the model
supports it), whether its caps and the stack let it run, and a dry run's report.

`estimate` holds the pure rules; this module reads the price table, calls CountTokens on a
few records, and words what the submit step records.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from dropzone.adapters.bedrock_runtime import BedrockRuntime
from dropzone.errors import InvalidInput, Problem
from dropzone.models.jobs import Job
from dropzone.settings.bedrock import BedrockSettings
from dropzone.workflows.bedrock.calibration import (
    NO_RECORDS,
    Calibration,
    calibrate,
    sample_lines,
    supports_count_tokens,
)
from dropzone.workflows.bedrock.estimate import (
    BATCH,
    UNKNOWN,
    cap_refusal,
    estimate,
    estimate_range,
    tally_upload,
    unknown_price_refusal,
    usd,
)
from dropzone.workflows.bedrock.options import METADATA_PREFIX, BatchOptions
from dropzone.workflows.bedrock.plan import BatchPlan
from dropzone.workflows.bedrock.prices import PriceTable
from dropzone.workflows.bedrock.rounds import ON_DEMAND
from dropzone.workflows.rejection import REPORTS_PREFIX

# CountTokens calls an upload's calibration may make, one after another
CALIBRATION_CALLS = 5


class OverBudget(InvalidInput):
    """An upload its estimate may not run: over a cap, or of a model without a price. The
    estimate goes on the rejected job and into its report."""

    def __init__(self, refusal: tuple[str, str], details: dict[str, Any]) -> None:
        super().__init__([Problem(*refusal)])
        self.details = details


@dataclass(frozen=True)
class Costing:
    """An upload's estimate, and each part's."""

    upload: dict[str, Any]
    parts: list[dict[str, Any]]


@dataclass
class UploadCosts:
    settings: BedrockSettings
    prices: Callable[[], PriceTable]
    runtime: BedrockRuntime | None = None  # CountTokens, for calibration (None: none)

    def estimate(
        self,
        chunks: Iterable[bytes],
        plan: BatchPlan,
        *,
        model_id: str,
        invocation_type: str,
        on_demand: bool,
    ) -> Costing:
        """The upload's estimate and each part's, from one pass over the validated input,
        calibrated by CountTokens on a few records where the model supports that."""
        calibrating = self.runtime is not None and supports_count_tokens(model_id)
        positions = sample_lines(plan.records, CALIBRATION_CALLS) if calibrating else []
        tally = tally_upload(
            chunks,
            plan,
            model_id=model_id,
            invocation_type=invocation_type,
            sample_positions=positions,
        )
        calibration = self._calibrate(model_id, invocation_type, tally.samples)
        price = self.prices().price(model_id)
        mode = ON_DEMAND if on_demand else BATCH
        parts = [estimate(part, price, mode, calibration) for part in tally.parts]
        return Costing(estimate(tally.total, price, mode, calibration), parts)

    def _calibrate(
        self, model_id: str, invocation_type: str, samples: list[tuple[dict[str, Any], int]]
    ) -> Calibration:
        """The calibration, or why there is none: counting switched off, or a model that
        cannot count."""
        runtime = self.runtime
        if runtime is None:
            return Calibration.disabled()
        if not supports_count_tokens(model_id):
            return Calibration.unsupported(model_id)
        if not samples:
            return Calibration.skipped(NO_RECORDS)
        return calibrate(
            [(model_input, invocation_type, tokens) for model_input, tokens in samples],
            lambda model_input, kind: runtime.count_tokens(model_id, kind, model_input),
            max_calls=CALIBRATION_CALLS,
        )

    def refusal(
        self, costing: Costing, options: BatchOptions, model_id: str
    ) -> tuple[str, str] | None:
        """(where, why) an upload with this estimate may not run, or None. Its own cap
        (max-cost-usd) takes the place of the stack's; a model without a price runs only
        where the stack allows it, and never under a cap of the upload's own, which could not
        be honoured; and a batch job that alone may cost more than the whole daily budget
        could never be submitted."""
        upload = costing.upload
        unknown = upload.get("price") == UNKNOWN
        if unknown and self.settings.unknown_price == "Refuse":
            return "model", unknown_price_refusal(model_id)
        if options.max_cost_usd is not None:
            where = f"metadata '{METADATA_PREFIX}max-cost-usd'"
            cap, cap_from = options.max_cost_usd, "upload's cap (max-cost-usd)"
        elif unknown:
            return None  # allowed, and the stack's default cap cannot apply to it
        else:
            where = "cost"
            cap = self.settings.max_upload_cost_usd
            cap_from = "stack's cap per upload (BedrockMaxUploadCostUsd)"
        reason = cap_refusal(upload, cap, cap_from=cap_from, model_id=model_id)
        if reason:
            return where, reason
        return self._over_daily_budget(costing)

    def _over_daily_budget(self, costing: Costing) -> tuple[str, str] | None:
        budget = self.settings.daily_budget_usd
        if budget <= 0 or costing.upload.get("mode") != BATCH:
            return None  # on-demand spend is not held against the budget
        for index, part in enumerate(costing.parts, 1):
            high = part.get("high_usd")
            if high is not None and high > budget:
                which = "its job" if len(costing.parts) == 1 else f"part {index}"
                return "cost", (
                    f"{which} may cost up to {usd(float(high))}, more than the whole daily "
                    f"budget of {usd(budget)} (BedrockDailyBudgetUsd), so it could never be "
                    "submitted"
                )
        return None


def dry_run_key(job: Job) -> str:
    """Where a dry run's report is written, beside the rejection reports."""
    return f"{REPORTS_PREFIX}{job.kind}/{job.job_id}.dry-run.json"


def dry_run_report(
    job: Job,
    plan: BatchPlan,
    costing: Costing,
    invocation_type: str,
    refusal: tuple[str, str] | None,
    at: str,
) -> dict[str, Any]:
    return {
        "job_id": job.job_id,
        "kind": job.kind,
        "dry_run": True,
        "source": job.source.model_dump(exclude_none=True),
        "model_id": job.target,
        "invocation_type": invocation_type,
        "records": plan.records,
        "bytes": plan.bytes,
        "estimate": costing.upload,
        "parts": [
            {
                "part": part.index,
                "first_line": part.first_line,
                "last_line": part.last_line,
                "records": part.records,
                "bytes": part.bytes,
                "estimate": part_estimate,
            }
            for part, part_estimate in zip(plan.parts, costing.parts, strict=True)
        ],
        "would_run": refusal is None,
        "would_be_rejected": f"{refusal[0]}: {refusal[1]}" if refusal else None,
        "estimated_at": at,
    }


def dry_run_message(plan: BatchPlan, costing: Costing, refusal: tuple[str, str] | None) -> str:
    verdict = f"would be rejected: {refusal[1]}" if refusal else "would run"
    jobs = "1 job" if len(plan.parts) == 1 else f"{len(plan.parts)} jobs"
    return (
        f"dry run: {plan.records} records in {jobs}, estimated at "
        f"{estimate_range(costing.upload)}; {verdict}; nothing submitted"
    )
