"""The cost rules: an estimate's range, the caps held against it, and actual costs."""

from __future__ import annotations

import json
import math

import pytest

from dropzone.models.jobs import Job, JobKind, JobStatus, SourceObject
from dropzone.workflows.bedrock.calibration import Calibration
from dropzone.workflows.bedrock.cost_metric import emit_cost
from dropzone.workflows.bedrock.estimate import (
    CALIBRATED_INPUT_ERROR,
    INPUT_ERROR,
    TokenTally,
    cap_refusal,
    estimate,
    estimate_range,
    job_cost,
    tally_upload,
    upload_cost,
    usd,
)
from dropzone.workflows.bedrock.plan import BatchPlan, Part
from dropzone.workflows.bedrock.prices import ModelPrice, PriceTable, TokenPrices
from dropzone.workflows.bedrock.token_rules import RecordTokens
from dropzone.workflows.bedrock.tokens import record_tokens
from tests.support.docs import page

MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
PRICE = ModelPrice(
    model_id=MODEL,
    batch=TokenPrices(input_per_1k=0.000125, output_per_1k=0.000625),
    on_demand=TokenPrices(input_per_1k=0.00025, output_per_1k=0.00125),
    checked="2026-12-01",
    source="shipped",
)


def test_the_range_runs_from_the_input_alone_to_the_input_and_every_maximum_output() -> None:
    tally = TokenTally(records=1000, input_tokens=2_000_000, max_output_tokens=500_000)
    result = estimate(tally, PRICE, "batch")
    # low: 1.5M input tokens at $0.000125 per 1,000; high: 2.5M input and 0.5M output
    assert result["low_usd"] == pytest.approx(1_500_000 * 0.000125 / 1000)
    assert result["high_usd"] == pytest.approx(2_500_000 * 0.000125 / 1000 + 500 * 0.000625)
    assert (result["records"], result["input_tokens"], result["max_output_tokens"]) == (
        1000,
        2_000_000,
        500_000,
    )
    assert result["price"] == "known" and result["prices_checked"] == "2026-12-01"
    assert "calibration" not in result


def test_on_demand_is_priced_at_on_demand_prices() -> None:
    tally = TokenTally(records=10, input_tokens=10_000, max_output_tokens=1000)
    batch = estimate(tally, PRICE, "batch")
    on_demand = estimate(tally, PRICE, "on_demand")
    assert on_demand["high_usd"] == pytest.approx(2 * batch["high_usd"], abs=2e-4)
    assert on_demand["mode"] == "on_demand"


def test_a_calibration_scales_the_input_and_narrows_its_error() -> None:
    tally = TokenTally(records=100, input_tokens=100_000, max_output_tokens=0)
    calibration = Calibration(
        source="CountTokens", sampled=5, estimated=5000, counted=6000, ratio=1.2, note=None
    )
    result = estimate(tally, PRICE, "batch", calibration)
    assert result["input_tokens"] == 120_000
    assert result["uncalibrated_input_tokens"] == 100_000
    assert result["high_usd"] == pytest.approx(
        math.ceil(120_000 * (1 + CALIBRATED_INPUT_ERROR)) * 0.000125 / 1000, abs=1e-4
    )
    assert result["calibration"]["ratio"] == 1.2


def test_a_model_without_a_price_has_no_amounts_and_is_never_free() -> None:
    result = estimate(TokenTally(5, 50, 50), None, "batch")
    assert result["price"] == "unknown"
    assert "low_usd" not in result and "high_usd" not in result
    assert estimate_range(result) == "price unknown"
    refusal = cap_refusal(result, 10.0, cap_from="upload's cap", model_id="acme.x-v1")
    assert refusal == (
        "acme.x-v1 has no price in the price table, so its cost cannot be held to the "
        "upload's cap of $10.00"
    )


def test_the_cap_is_held_against_the_high_end() -> None:
    result = estimate(TokenTally(100, 1_000_000, 1_000_000), PRICE, "batch")
    high = result["high_usd"]
    assert cap_refusal(result, high, cap_from="cap", model_id=MODEL) is None  # at the cap: runs
    assert cap_refusal(result, None, cap_from="cap", model_id=MODEL) is None
    refusal = cap_refusal(result, 0.5, cap_from="upload's cap", model_id=MODEL)
    assert refusal == (
        f"the estimate is up to {usd(high)} (100 records, about 1,000,000 input and at most "
        "1,000,000 output tokens at batch prices checked 2026-12-01), over the upload's cap "
        "of $0.50"
    )


def test_amounts_are_rounded_outward_and_written_plainly() -> None:
    result = estimate(TokenTally(1, 1, 1), PRICE, "batch")
    assert result["low_usd"] == 0.0 and result["high_usd"] == 0.0001  # never rounded to free
    assert usd(1234.5) == "$1,234.50"
    assert usd(0.0421) == "$0.0421"
    assert estimate_range({"price": "known", "low_usd": 0.5, "high_usd": 12}) == "$0.50 to $12.00"
    assert estimate_range(None) == ""


def _job(mode: str | None = None, cost: dict[str, object] | None = None) -> Job:
    return Job(
        job_id="dz-1-p001",
        kind=JobKind.BEDROCK_BATCH,
        status=JobStatus.SUCCEEDED,
        source=SourceObject(bucket="b", key="k"),
        target=MODEL,
        created_at="",
        updated_at="",
        options={"mode": mode} if mode else {},
        cost=cost,
    )


def test_a_jobs_cost_comes_from_its_reported_tokens_at_its_modes_prices() -> None:
    counts = {"input_tokens": 40_000, "output_tokens": 8_000}
    batch = job_cost(_job(), counts, PRICE)
    assert batch == {
        "usd": pytest.approx(40 * 0.000125 + 8 * 0.000625),
        "input_tokens": 40_000,
        "output_tokens": 8_000,
        "mode": "batch",
        "price": "known",
    }
    on_demand = job_cost(_job("on_demand"), counts, PRICE)
    assert on_demand["usd"] == pytest.approx(2 * batch["usd"])
    unknown = job_cost(_job(), counts, None)
    assert "usd" not in unknown and unknown["price"] == "unknown"


def test_an_uploads_cost_sums_its_jobs_and_an_unknown_price_is_not_left_out() -> None:
    one = {"usd": 1.5, "input_tokens": 10, "output_tokens": 1, "mode": "batch", "price": "known"}
    two = {"usd": 0.25, "input_tokens": 5, "output_tokens": 2, "mode": "on_demand"}
    total = upload_cost([_job(cost=one), _job(cost=two), _job()])
    assert total == {
        "usd": 1.75,
        "input_tokens": 15,
        "output_tokens": 3,
        "mode": "mixed",
        "price": "known",
    }
    unknown = {**one, "usd": None, "price": "unknown"}
    total = upload_cost([_job(cost=one), _job(cost=unknown)])
    assert total is not None and "usd" not in total and total["price"] == "unknown"
    assert upload_cost([_job()]) is None


def _line(text: str, max_tokens: int) -> bytes:
    model_input = {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": max_tokens,
        "messages": [{"role": "user", "content": text}],
    }
    return json.dumps({"modelInput": model_input}).encode()


def test_the_tally_follows_the_plans_parts_and_keeps_the_samples_asked_for() -> None:
    lines = [_line("x" * (10 * index), 10 + index) for index in range(6)]
    body = b"\n".join(lines) + b"\n\n"  # a trailing blank line, as validation allows
    plan = BatchPlan(
        records=6,
        bytes=len(body) - 1,
        parts=(
            Part(1, 1, 3, 3, sum(len(line) + 1 for line in lines[:3])),
            Part(2, 4, 6, 3, sum(len(line) + 1 for line in lines[3:])),
        ),
    )
    chunks = [body[i : i + 7] for i in range(0, len(body), 7)]  # lines across chunks
    tally = tally_upload(
        chunks, plan, model_id=MODEL, invocation_type="InvokeModel", sample_positions=[0, 4]
    )
    each = [record_tokens(json.loads(line)["modelInput"], MODEL, "InvokeModel") for line in lines]
    assert [part.records for part in tally.parts] == [3, 3]
    assert tally.parts[0].input_tokens == sum(t.input_tokens for t in each[:3])
    assert tally.parts[1].max_output_tokens == 13 + 14 + 15
    assert tally.total.records == 6
    assert [tokens for _input, tokens in tally.samples] == [
        each[0].input_tokens,
        each[4].input_tokens,
    ]
    assert tally.samples[1][0]["max_tokens"] == 14


def test_the_docs_worked_example_is_what_the_code_works_out() -> None:
    text = page("workflows/bedrock-cost.md")
    model_input = {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 200,
        "messages": [{"role": "user", "content": "x" * 700}],
    }
    tokens = record_tokens(model_input, MODEL, "InvokeModel")
    assert tokens == RecordTokens(input_tokens=212, max_output_tokens=200)
    assert "212 input tokens a record" in text
    price = PriceTable.shipped().price(MODEL)
    assert price is not None
    assert f"${price.batch.input_per_1k} per 1,000\n   input tokens" in text
    assert f"${price.batch.output_per_1k} per 1,000 output tokens" in text
    tally = TokenTally(1000, 1000 * tokens.input_tokens, 1000 * tokens.max_output_tokens)
    batch = estimate(tally, price, "batch")
    assert f"${batch['low_usd']}" in text and f"{usd(batch['high_usd'])}" in text
    assert f"$0.125): ${batch['high_usd']}. The amounts" in text
    assert f"up to ${estimate(tally, price, 'on_demand')['high_usd']}" in text
    refusal = cap_refusal(batch, 0.10, cap_from="upload's cap (max-cost-usd)", model_id=MODEL)
    assert f"metadata 'x-amz-meta-max-cost-usd': {refusal}" in text
    assert f"{round(INPUT_ERROR * 100)}% on input tokens" in text
    assert f"±{round(CALIBRATED_INPUT_ERROR * 100)}% once CountTokens" in text


def test_a_jobs_cost_is_a_metric_per_model_and_an_unknown_one_is_counted_apart(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "Dropzone/test")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "bedrock-state")
    emit_cost(MODEL, {"usd": 0.25, "input_tokens": 1, "output_tokens": 1})
    (line,) = [json.loads(text) for text in capsys.readouterr().out.splitlines() if text]
    assert line["BedrockCostUsd"] == [0.25]
    assert (line["model_id"], line["service"]) == (MODEL, "bedrock-state")
    (directive,) = line["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "Dropzone/test"
    assert directive["Dimensions"] == [["service", "model_id"]]
    assert directive["Metrics"] == [{"Name": "BedrockCostUsd", "Unit": "None"}]
    emit_cost(MODEL, {"input_tokens": 1, "price": "unknown"})  # no amount: no dollars sent
    emit_cost(MODEL, None)
    assert capsys.readouterr().out == ""
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    emit_cost(MODEL, {"usd": 0.25})
    assert capsys.readouterr().out == ""
