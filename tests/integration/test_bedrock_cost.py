"""What a Bedrock upload costs: its estimate at intake, the caps held against it, models
without a price, dry runs, and the actual cost from the tokens Bedrock reports."""

from __future__ import annotations

import json
import math

import pytest

from dropzone.models.jobs import JobStatus
from dropzone.workflows.bedrock.calibration import DISABLED
from dropzone.workflows.bedrock.estimate import INPUT_ERROR
from dropzone.workflows.bedrock.prices import PriceTable
from dropzone.workflows.bedrock.tokens import record_tokens
from dropzone_local.record_faults import Fault, RecordFaults
from tests.support.bedrock import MODEL, BedrockWorld, jsonl, record, world
from tests.support.fixtures import Stack

KEY = f"bedrock-batch/{MODEL}/reviews/in.jsonl"
UNPRICED = "acme.story-teller-v1:0"
BATCH_IN, BATCH_OUT = 0.000125, 0.000625  # per 1,000 tokens
TABLE = {
    "checked": "2026-12-01",
    "currency": "USD",
    "models": {
        MODEL: {
            "batch": {"input_per_1k": BATCH_IN, "output_per_1k": BATCH_OUT},
            "on_demand": {"input_per_1k": 2 * BATCH_IN, "output_per_1k": 2 * BATCH_OUT},
        }
    },
}


def priced(stack: Stack, *, faults: RecordFaults | None = None, **settings: object) -> BedrockWorld:
    w = world(stack, faults=faults, **settings)
    table = PriceTable.from_json(json.dumps(TABLE), "s3://prices/test.json")
    w.prices = lambda: table
    return w


def expected_range(records: int) -> tuple[float, float, int, int]:
    """The estimate's (low, high, input tokens, max output tokens) for `records` of the
    default record, by the documented method."""
    tokens = record_tokens(record()["modelInput"], MODEL, "InvokeModel")
    tokens_in = tokens.input_tokens * records
    tokens_out = tokens.max_output_tokens * records
    low = math.floor(tokens_in * (1 - INPUT_ERROR)) * BATCH_IN / 1000
    high = (
        math.ceil(tokens_in * (1 + INPUT_ERROR)) * BATCH_IN / 1000 + tokens_out * BATCH_OUT / 1000
    )
    return low, high, tokens_in, tokens_out


def test_the_estimate_is_recorded_on_the_upload_and_each_part(stack: Stack) -> None:
    w = priced(stack, max_records_per_job=150)
    upload = w.submitter().submit(w.upload(KEY, jsonl(250)))
    assert upload.status is JobStatus.SUBMITTED
    low, high, tokens_in, tokens_out = expected_range(250)
    estimate = upload.estimate
    assert estimate is not None
    assert (estimate["records"], estimate["input_tokens"]) == (250, tokens_in)
    assert estimate["max_output_tokens"] == tokens_out == 64 * 250
    assert (estimate["mode"], estimate["price"]) == ("batch", "known")
    assert estimate["low_usd"] == pytest.approx(low, abs=1e-4)
    assert estimate["high_usd"] == pytest.approx(high, abs=1e-4)
    assert estimate["low_usd"] <= low and estimate["high_usd"] >= high  # rounded outward
    assert estimate["prices_checked"] == "2026-12-01"
    # this world counts no tokens: the estimate says why it is not calibrated
    assert estimate["calibration"] == {
        "source": "CountTokens",
        "sampled": 0,
        "estimated": 0,
        "counted": 0,
        "note": DISABLED,
    }
    parts = [w.ledger.get(child) for child in upload.children]
    assert [part.estimate["records"] for part in parts if part and part.estimate] == [150, 100]
    assert sum(part.estimate["input_tokens"] for part in parts if part and part.estimate) == (
        tokens_in
    )
    assert upload.message is not None and "estimated at $" in upload.message


def test_an_upload_over_its_own_cap_is_rejected_with_the_estimate_and_the_cap(
    stack: Stack,
) -> None:
    w = priced(stack)
    _low, high, _in, _out = expected_range(200)
    cap = round(high / 2, 4)
    job = w.submitter().submit(w.upload(KEY, jsonl(200), {"max-cost-usd": str(cap)}))
    assert job.status is JobStatus.REJECTED
    assert job.message is not None
    assert job.message.startswith("metadata 'x-amz-meta-max-cost-usd': the estimate is up to $")
    assert f"${cap:,.4f}" in job.message  # the cap, as the upload gave it
    assert job.estimate is not None  # the estimate it was refused for stays on the job
    assert f"up to ${job.estimate['high_usd']:,.4f}" in job.message
    assert "200 records" in job.message and "at batch prices checked 2026-12-01" in job.message
    assert "over the upload's cap (max-cost-usd)" in job.message
    assert w.fake.create_calls == []
    staged = w.stack.s3_client.list_objects_v2(
        Bucket=w.stack.results_bucket, Prefix="bedrock-batch/staging/"
    )
    assert staged.get("KeyCount", 0) == 0  # refused before anything was staged


def test_the_stacks_cap_applies_when_the_upload_sets_none(stack: Stack) -> None:
    w = priced(stack, max_upload_cost_usd=0.0001)
    job = w.submitter().submit(w.upload(KEY, jsonl(200)))
    assert job.status is JobStatus.REJECTED
    assert job.message is not None and job.message.startswith("cost: the estimate is up to $")
    assert "over the stack's cap per upload (BedrockMaxUploadCostUsd) of $0.0001" in job.message
    # an upload's own cap takes the place of the stack's
    allowed = w.submitter().submit(
        w.upload(f"bedrock-batch/{MODEL}/reviews/big-cap.jsonl", jsonl(200), {"max-cost-usd": "50"})
    )
    assert allowed.status is JobStatus.SUBMITTED


def test_a_bad_cap_is_rejected_with_its_reason(stack: Stack) -> None:
    w = priced(stack)
    job = w.submitter().submit(w.upload(KEY, jsonl(200), {"max-cost-usd": "lots"}))
    assert job.status is JobStatus.REJECTED
    assert job.message is not None
    assert job.message.startswith(
        "metadata 'x-amz-meta-max-cost-usd': Input should be a valid number"
    )


def test_a_model_without_a_price_is_refused_by_default(stack: Stack) -> None:
    w = priced(stack)
    job = w.submitter().submit(w.upload(f"bedrock-batch/{UNPRICED}/x/in.jsonl", jsonl(120)))
    assert job.status is JobStatus.REJECTED
    assert job.message == (
        f"model: {UNPRICED} has no price in the price table, and the stack refuses uploads of "
        "models without a price (BedrockUnknownPrice is Refuse): add the model to the price "
        "table, or set BedrockUnknownPrice to Allow"
    )


def test_a_model_without_a_price_runs_where_the_stack_allows_it_and_is_never_free(
    stack: Stack,
) -> None:
    w = priced(stack, unknown_price="Allow", max_upload_cost_usd=1.0)
    key = f"bedrock-batch/{UNPRICED}/x/in.jsonl"
    upload = w.submitter().submit(w.upload(key, jsonl(120)))
    assert upload.status is JobStatus.SUBMITTED  # the stack's default cap cannot apply
    assert upload.estimate is not None
    assert upload.estimate["price"] == "unknown"
    # (the ledger leaves out what has no value)
    assert upload.estimate.get("low_usd") is None and upload.estimate.get("high_usd") is None
    assert upload.message is not None and "validated, of unknown price;" in upload.message
    final = w.run_to_end(upload.job_id)
    assert final.cost is not None
    assert final.cost.get("usd") is None and final.cost["price"] == "unknown"
    assert final.cost["input_tokens"] > 0
    # an upload that sets its own cap cannot have it honoured: refused
    capped = w.submitter().submit(
        w.upload(f"bedrock-batch/{UNPRICED}/x/capped.jsonl", jsonl(120), {"max-cost-usd": "5"})
    )
    assert capped.status is JobStatus.REJECTED
    assert capped.message == (
        f"metadata 'x-amz-meta-max-cost-usd': {UNPRICED} has no price in the price table, so "
        "its cost cannot be held to the upload's cap (max-cost-usd) of $5.00"
    )


def test_a_dry_run_submits_nothing_and_writes_a_report(stack: Stack) -> None:
    w = priced(stack, max_records_per_job=150)
    job = w.submitter().submit(w.upload(KEY, jsonl(250), {"dry-run": "true"}))
    assert job.status is JobStatus.SUCCEEDED
    assert job.children == []
    assert w.fake.create_calls == []
    assert w.lambda_client.invocations == []  # admission is not even woken
    listed = w.stack.s3_client.list_objects_v2(
        Bucket=w.stack.results_bucket, Prefix="bedrock-batch/"
    )
    assert listed.get("KeyCount", 0) == 0  # nothing staged
    assert job.report_location == (
        f"s3://{w.stack.results_bucket}/reports/bedrock_batch/{job.job_id}.dry-run.json"
    )
    report = json.loads(
        w.stack.s3_client.get_object(
            Bucket=w.stack.results_bucket, Key=f"reports/bedrock_batch/{job.job_id}.dry-run.json"
        )["Body"].read()
    )
    assert report["dry_run"] is True and report["would_run"] is True
    assert report["records"] == 250
    assert [part["records"] for part in report["parts"]] == [150, 100]
    assert report["estimate"] == job.estimate
    assert job.message is not None
    assert job.message.startswith("dry run: 250 records in 2 jobs, estimated at $")
    assert job.message.endswith("; would run; nothing submitted")


def test_a_dry_run_over_its_cap_reports_that_it_would_be_rejected(stack: Stack) -> None:
    w = priced(stack)
    job = w.submitter().submit(
        w.upload(KEY, jsonl(200), {"dry-run": "true", "max-cost-usd": "0.0001"})
    )
    assert job.status is JobStatus.SUCCEEDED
    report = json.loads(
        w.stack.s3_client.get_object(
            Bucket=w.stack.results_bucket, Key=f"reports/bedrock_batch/{job.job_id}.dry-run.json"
        )["Body"].read()
    )
    assert report["would_run"] is False
    assert report["would_be_rejected"].startswith(
        "metadata 'x-amz-meta-max-cost-usd': the estimate is up to $"
    )
    assert job.message is not None and "would be rejected: the estimate is up to $" in job.message


def test_a_dry_run_of_bad_input_is_rejected_as_any_upload_is(stack: Stack) -> None:
    w = priced(stack)
    job = w.submitter().submit(w.upload(KEY, b"not json\n" * 150, {"dry-run": "true"}))
    assert job.status is JobStatus.REJECTED
    assert job.message is not None and job.message.startswith("line 1: not valid JSON")


def test_the_actual_cost_comes_from_the_manifests_tokens(stack: Stack) -> None:
    w = priced(stack, max_records_per_job=150)
    upload = w.submitter().submit(w.upload(KEY, jsonl(250)))
    final = w.run_to_end(upload.job_id)
    assert final.status is JobStatus.SUCCEEDED
    parts = [w.ledger.get(child) for child in final.children]
    total = 0.0
    for part in parts:
        assert part is not None and part.cost is not None
        tokens_in, tokens_out = part.counts["input_tokens"], part.counts["output_tokens"]
        assert tokens_in > 0 and tokens_out > 0  # as the fake's manifest reported them
        assert part.cost["input_tokens"] == tokens_in
        assert part.cost["output_tokens"] == tokens_out
        expected = tokens_in * BATCH_IN / 1000 + tokens_out * BATCH_OUT / 1000
        assert part.cost["usd"] == pytest.approx(expected, abs=1e-6)
        assert part.cost["mode"] == "batch"
        total += part.cost["usd"]
    assert final.cost is not None
    assert final.cost["usd"] == pytest.approx(total, abs=1e-6)
    assert final.cost["input_tokens"] == final.counts["input_tokens"]


def test_on_demand_finishing_is_estimated_and_costed_at_on_demand_prices(stack: Stack) -> None:
    w = priced(stack, on_demand="Enabled")
    upload = w.submitter().submit(w.upload(KEY, jsonl(40)))
    assert upload.estimate is not None and upload.estimate["mode"] == "on_demand"
    tokens = record_tokens(record()["modelInput"], MODEL, "InvokeModel")
    high_in = math.ceil(tokens.input_tokens * 40 * (1 + INPUT_ERROR))
    high = high_in * 2 * BATCH_IN / 1000 + tokens.max_output_tokens * 40 * 2 * BATCH_OUT / 1000
    assert upload.estimate["high_usd"] == pytest.approx(high, abs=1e-4)
    final = w.run_to_end(upload.job_id)
    (part_id,) = final.children
    part = w.ledger.get(part_id)
    assert part is not None and part.cost is not None and part.cost["mode"] == "on_demand"
    tokens_in, tokens_out = part.counts["input_tokens"], part.counts["output_tokens"]
    expected = tokens_in * 2 * BATCH_IN / 1000 + tokens_out * 2 * BATCH_OUT / 1000
    assert part.cost["usd"] == pytest.approx(expected, abs=1e-6)
    assert final.cost is not None and final.cost["usd"] == part.cost["usd"]


def test_a_retry_round_is_estimated_from_its_own_records(stack: Stack) -> None:
    # Given 900 short records and 100 long ones with a large max_tokens, the long ones
    # throttled once
    faults = RecordFaults({"once": Fault.throttling()})
    w = priced(stack, faults=faults, record_retries=1)
    lines = []
    for index in range(1000):
        item = record(record_id=f"r{index:06d}")
        if index % 10 == 0:
            text = f"#{index:04d} " + "long " * 4000  # each its own record, of one length
            item["modelInput"]["messages"][0]["content"][0]["text"] = text
            item["modelInput"]["max_tokens"] = 4096
            item["modelInput"]["dz_fault"] = "once"
        lines.append(json.dumps(item))
    upload = w.submitter().submit(w.upload(KEY, ("\n".join(lines) + "\n").encode()))
    final = w.run_to_end(upload.job_id)
    assert final.status is JobStatus.SUCCEEDED
    (round_job,) = [w.ledger.get(c) for c in final.children if "-r1-" in c]
    assert round_job is not None and round_job.estimate is not None and round_job.cost
    # Then the round's estimate is that of the long records, not a tenth of the upload's
    long_one = record_tokens(json.loads(lines[0])["modelInput"], MODEL, "InvokeModel")
    assert round_job.estimate["records"] == 100
    assert round_job.estimate["input_tokens"] == 100 * long_one.input_tokens
    assert round_job.estimate["max_output_tokens"] == 100 * 4096
    assert round_job.cost["usd"] <= round_job.estimate["high_usd"]


def test_an_upload_whose_job_could_never_fit_the_daily_budget_is_refused_at_intake(
    stack: Stack,
) -> None:
    w = priced(stack, daily_budget_usd=0.001)
    dry = w.submitter().submit(w.upload(KEY, jsonl(200), {"dry-run": "true"}))
    assert dry.status is JobStatus.SUCCEEDED and dry.message is not None
    assert "would be rejected: its job may cost up to $" in dry.message
    job = w.submitter().submit(w.upload(f"bedrock-batch/{MODEL}/reviews/real.jsonl", jsonl(200)))
    assert job.status is JobStatus.REJECTED and job.estimate is not None
    assert job.message == (
        f"cost: its job may cost up to ${job.estimate['high_usd']:,.4f}, more than the whole "
        "daily budget of $0.0010 (BedrockDailyBudgetUsd), so it could never be submitted"
    )
    assert w.fake.create_calls == []


def test_the_scheduled_admission_run_reports_each_models_slots_in_use(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    w = priced(stack, max_records_per_job=150)
    w.submitter().submit(w.upload(KEY, jsonl(250)))  # two parts: two slots once admitted
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "bedrock-admission")
    capsys.readouterr()
    w.admission().admit()  # the scheduled run names no model
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if "_aws" in line]
    (slots,) = [line for line in lines if "BedrockSlotsInUse" in line]
    assert (slots["model_id"], slots["service"], slots["BedrockSlotsInUse"]) == (
        MODEL,
        "bedrock-admission",
        [2.0],
    )
    w.admission().admit(MODEL)  # a run woken for one model reports nothing of the kind
    assert "BedrockSlotsInUse" not in capsys.readouterr().out
