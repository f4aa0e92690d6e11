"""Per-record faults shared by batch jobs (FakeBedrock) and on-demand calls
(FakeBedrockRuntime): the error each record gets, and for how many runs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from moto import mock_aws

from dropzone_local.bedrock import FakeBedrock
from dropzone_local.bedrock_runtime import FakeBedrockRuntime
from dropzone_local.record_faults import (
    CONTENT_FILTERED_MESSAGE,
    INTERNAL_ERROR_MESSAGE,
    MALFORMED_MESSAGE,
    MODEL_TIMEOUT_MESSAGE,
    THROTTLING_MESSAGE,
    UNAVAILABLE_MESSAGE,
    Fault,
    RecordFaults,
)
from tests.support.clock import ManualClock

MODEL = "amazon.nova-lite-v1:0"
ROLE = "arn:aws:iam::123456789012:role/dropzone-bedrock"
BUCKETS = ("dropzone-drop", "dropzone-results")
START = datetime(2026, 11, 25, 12, 0, 1, tzinfo=UTC)

MARKERS = {
    "throttle-once": Fault.throttling(),
    "timeout-once": Fault.model_timeout(),
    "internal-once": Fault.internal_error(),
    "unavailable-once": Fault.service_unavailable(),
    "malformed": Fault.malformed_input(),
    "filtered": Fault.content_filtered(),
}


@dataclass
class Bedrock:
    batch: FakeBedrock
    runtime: FakeBedrockRuntime
    faults: RecordFaults
    s3: Any
    jobs: int = 0

    def run(self, records: list[dict[str, Any]]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Run one batch job over these records; its description and output lines."""
        self.jobs += 1
        key = f"in/job-{self.jobs}.jsonl"
        body = "".join(json.dumps(record) + "\n" for record in records)
        self.s3.put_object(Bucket="dropzone-drop", Key=key, Body=body.encode())
        arn = self.batch.create_model_invocation_job(
            jobName=f"job-{self.jobs}",
            roleArn=ROLE,
            modelId=MODEL,
            inputDataConfig={"s3InputDataConfig": {"s3Uri": f"s3://dropzone-drop/{key}"}},
            outputDataConfig={"s3OutputDataConfig": {"s3Uri": "s3://dropzone-results/out/"}},
        )["jobArn"]
        self.batch.advance_until_idle()
        job = self.batch.get_model_invocation_job(jobIdentifier=arn)
        output_key = f"out/{arn.rsplit('/', 1)[-1]}/job-{self.jobs}.jsonl.out"
        text = self.s3.get_object(Bucket="dropzone-results", Key=output_key)["Body"].read()
        return job, [json.loads(line) for line in text.decode().splitlines()]


@pytest.fixture(scope="module")
def moto_s3() -> Iterator[Any]:
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        for bucket in BUCKETS:
            s3.create_bucket(Bucket=bucket)
        yield s3


@pytest.fixture
def bedrock(moto_s3: Any) -> Bedrock:
    faults = RecordFaults(MARKERS)
    batch = FakeBedrock(
        s3_client=moto_s3, deliver=lambda _: None, clock=ManualClock(START), record_faults=faults
    )
    runtime = FakeBedrockRuntime(clock=lambda: 0.0, record_faults=faults)
    return Bedrock(batch, runtime, faults, moto_s3)


def _input(text: str, **extra: Any) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": [{"text": text}]}], **extra}


def _records(special: dict[str, dict[str, Any]], total: int = 100) -> list[dict[str, Any]]:
    """These records by id, then plain ones up to `total` (the service's minimum is 100)."""
    records = [{"recordId": rid, "modelInput": model_input} for rid, model_input in special.items()]
    filler = total - len(records)
    return records + [
        {"recordId": f"FILL{index:07d}", "modelInput": _input(f"plain {index}")}
        for index in range(filler)
    ]


def _errors(lines: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {line["recordId"]: line["error"] for line in lines if "error" in line}


def test_faulted_records_carry_the_documented_error_shape(bedrock: Bedrock) -> None:
    # Given
    special = {f"REC-{marker}": _input(marker, dz_fault=marker) for marker in MARKERS}
    # When
    job, lines = bedrock.run(_records(special))
    # Then
    assert _errors(lines) == {
        "REC-throttle-once": {"errorCode": 429, "errorMessage": THROTTLING_MESSAGE},
        "REC-timeout-once": {"errorCode": 408, "errorMessage": MODEL_TIMEOUT_MESSAGE},
        "REC-internal-once": {"errorCode": 500, "errorMessage": INTERNAL_ERROR_MESSAGE},
        "REC-unavailable-once": {"errorCode": 503, "errorMessage": UNAVAILABLE_MESSAGE},
        "REC-malformed": {"errorCode": 400, "errorMessage": MALFORMED_MESSAGE},
        "REC-filtered": {"errorCode": 400, "errorMessage": CONTENT_FILTERED_MESSAGE},
    }
    failed = [line for line in lines if "error" in line]
    assert all(set(line) == {"recordId", "modelInput", "error"} for line in failed)
    assert all(line["modelInput"] == special[line["recordId"]] for line in failed)
    assert (job["status"], job["successRecordCount"], job["errorRecordCount"]) == (
        "PartiallyCompleted",
        94,
        6,
    )


def test_records_that_failed_once_succeed_in_a_retry_job(bedrock: Bedrock) -> None:
    # Given: a job in which all six marked records failed
    special = {f"REC-{marker}": _input(marker, dz_fault=marker) for marker in MARKERS}
    _, first = bedrock.run(_records(special))
    failed = {rid: special[rid] for rid in _errors(first)}
    # When: they run again, under new record ids, among other records
    retry = {f"RETRY-{rid}": model_input for rid, model_input in failed.items()}
    job, lines = bedrock.run(_records(retry))
    # Then
    assert set(_errors(lines)) == {"RETRY-REC-malformed", "RETRY-REC-filtered"}
    succeeded = {line["recordId"] for line in lines if "modelOutput" in line}
    assert {f"RETRY-REC-{m}" for m in MARKERS if m.endswith("-once")} <= succeeded
    assert job["errorRecordCount"] == 2
    assert all(bedrock.faults.attempts(model_input) == 2 for model_input in failed.values())


def test_a_record_faulted_in_a_batch_job_is_the_same_record_on_demand(bedrock: Bedrock) -> None:
    # Given: a record that fails its first two runs, run once in a batch job
    bedrock.faults.add("throttle-twice", Fault.throttling(times=2))
    model_input = _input("twice", dz_fault="throttle-twice")
    _, lines = bedrock.run(_records({"REC-twice": model_input}))
    assert _errors(lines)["REC-twice"]["errorCode"] == 429
    # When: it is finished on demand
    with pytest.raises(bedrock.runtime.exceptions.ThrottlingException):
        bedrock.runtime.invoke_model(modelId=MODEL, body=json.dumps(model_input))
    answer = bedrock.runtime.invoke_model(
        modelId=MODEL, body=json.dumps(model_input, sort_keys=True, indent=1)
    )
    # Then
    assert json.loads(answer["body"].read())["output"]["message"]["role"] == "assistant"
    assert bedrock.faults.attempts(model_input) == 3


def test_a_record_faulted_on_demand_then_succeeds_in_a_batch_job(bedrock: Bedrock) -> None:
    # Given
    model_input = _input("first on demand", dz_fault="timeout-once")
    with pytest.raises(bedrock.runtime.exceptions.ModelTimeoutException) as error:
        bedrock.runtime.invoke_model(modelId=MODEL, body=json.dumps(model_input))
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 408
    # When
    job, lines = bedrock.run(_records({"REC-later": model_input}))
    # Then
    (line,) = [line for line in lines if line["recordId"] == "REC-later"]
    assert "modelOutput" in line and "error" not in line
    assert job["status"] == "Completed"


def test_a_converse_record_carries_its_marker_in_request_metadata(bedrock: Bedrock) -> None:
    # Given: a Converse record, as a Converse batch job's modelInput holds it
    model_input = _input("converse", requestMetadata={"dz_fault": "unavailable-once"})
    _, lines = bedrock.run(_records({"REC-converse": model_input}))
    assert _errors(lines)["REC-converse"]["errorCode"] == 503
    # When: the same request on demand
    answer = bedrock.runtime.converse(modelId=MODEL, **model_input)
    # Then: its second run
    assert answer["stopReason"] == "end_turn"
    assert bedrock.faults.attempts(model_input) == 2


def test_a_predicate_picks_records_and_record_fails_still_works(bedrock: Bedrock) -> None:
    # Given
    bedrock.faults.add(
        lambda model_input: "secret" in json.dumps(model_input), Fault.content_filtered()
    )
    special = {
        "REC-secret": _input("a secret"),
        "REC-flagged": _input("flagged", fail=True),
    }
    # When
    _, lines = bedrock.run(_records(special))
    # Then
    assert _errors(lines) == {
        "REC-secret": {"errorCode": 400, "errorMessage": CONTENT_FILTERED_MESSAGE},
        "REC-flagged": {"errorCode": 400, "errorMessage": MALFORMED_MESSAGE},
    }
