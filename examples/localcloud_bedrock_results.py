"""A Bedrock upload's result file on LocalCloud: records throttled once are retried, the few
of them finished on demand; a record the model refuses keeps its error; and an upload whose
deadline passes while its batch job runs is finished on demand too.

Copy it to tests/local/test_my_bedrock_results.py and run it with pytest, or run it as it is:
`scripts/uv.sh run python examples/localcloud_bedrock_results.py`.
"""

import json
from datetime import timedelta
from typing import Any

# Import Powertools' tracer at collection time, before pytest-socket blocks sockets.
import dropzone.observability  # noqa: F401
from dropzone.models.jobs import JobStatus
from dropzone_local.cloud import LocalCloud
from dropzone_local.record_faults import Fault

QUIET = {"POWERTOOLS_LOG_LEVEL": "CRITICAL", "POWERTOOLS_METRICS_DISABLED": "true"}
MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
ON_DEMAND = {"BedrockOnDemand": "Enabled", "BedrockOnDemandRecordsPerSecond": "100"}


def batch(count: int, faults: dict[int, str] | None = None) -> bytes:
    lines = []
    for index in range(count):
        model_input = {
            "anthropic_version": "bedrock-2023-05-31",
            "max_tokens": 64,
            "messages": [{"role": "user", "content": [{"type": "text", "text": f"#{index}"}]}],
        }
        if faults and index in faults:
            model_input["dz_fault"] = faults[index]  # LocalCloud's stand-ins fail this record
        lines.append(json.dumps({"recordId": f"r{index:04d}", "modelInput": model_input}))
    return ("\n".join(lines) + "\n").encode()


def result_of(cloud: LocalCloud) -> tuple[JobStatus, list[dict[str, Any]]]:
    upload = next(job for job in cloud.jobs() if job.parent_id is None)
    lines = cloud.read_object(upload.output_location or "").decode().splitlines()
    return upload.status, [json.loads(line) for line in lines]


def test_retried_records_succeed_and_refused_ones_keep_their_error() -> None:
    with LocalCloud(function_environment=QUIET, parameters=ON_DEMAND) as cloud:
        cloud.record_faults.add("throttle-once", Fault.throttling())
        cloud.record_faults.add("refused", Fault.malformed_input())
        faults = {3: "throttle-once", 42: "throttle-once", 77: "refused"}
        cloud.put_object(f"bedrock-batch/{MODEL}/reviews/in.jsonl", batch(150, faults))
        cloud.run_until_idle()  # one batch job, then a retry round of 2 records, on demand

        status, lines = result_of(cloud)
        assert status is JobStatus.PARTIALLY_SUCCEEDED
        assert [line["recordId"] for line in lines] == [f"r{i:04d}" for i in range(150)]
        assert "modelOutput" in lines[3] and "modelOutput" in lines[42]
        assert lines[77]["error"]["code"] == 400 and lines[77]["error"]["attempts"] == 1
        assert cloud.bedrock_runtime.calls_per_model(answered_only=True) == {MODEL: 2}


def test_an_upload_past_its_deadline_is_finished_on_demand() -> None:
    with LocalCloud(function_environment=QUIET, parameters=ON_DEMAND) as cloud:
        cloud.slow("bedrock", 1000)  # Bedrock keeps the batch job running
        key = f"bedrock-batch/{MODEL}/urgent/in.jsonl"
        cloud.put_object(key, batch(150), metadata={"deadline": "30"})  # due in 30 minutes
        cloud.run_until_idle()
        cloud.advance(timedelta(minutes=45))  # the reconciler stops the job past the deadline

        status, lines = result_of(cloud)
        assert status is JobStatus.SUCCEEDED
        assert len(lines) == 150 and all("modelOutput" in line for line in lines)
        assert cloud.bedrock.stop_calls  # the batch job was stopped, keeping its answers


if __name__ == "__main__":
    test_retried_records_succeed_and_refused_ones_keep_their_error()
    test_an_upload_past_its_deadline_is_finished_on_demand()
    print("ok")
