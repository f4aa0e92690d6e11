"""A Bedrock batch on LocalCloud: two bad records end the upload PARTIALLY_SUCCEEDED, with
one result file holding every record in input order, those two with their error.

Copy it to tests/local/test_my_bedrock_batch.py and run it with pytest, or run it as it is:
`scripts/uv.sh run python examples/localcloud_bedrock.py`.
"""

import json

# Import Powertools' tracer at collection time, before pytest-socket blocks sockets.
import dropzone.observability  # noqa: F401
from dropzone.models.jobs import JobStatus
from dropzone_local.cloud import LocalCloud

QUIET = {"POWERTOOLS_LOG_LEVEL": "CRITICAL", "POWERTOOLS_METRICS_DISABLED": "true"}
MODEL = "anthropic.claude-3-haiku-20240307-v1:0"


def batch(count: int, failing: set[int]) -> bytes:
    lines = []
    for index in range(count):
        model_input = {
            "anthropic_version": "bedrock-2023-05-31",
            "max_tokens": 64,
            "messages": [{"role": "user", "content": [{"type": "text", "text": f"#{index}"}]}],
        }
        if index in failing:
            model_input["fail"] = True  # FakeBedrock answers this record with an error
        lines.append(json.dumps({"recordId": f"r{index:04d}", "modelInput": model_input}))
    return ("\n".join(lines) + "\n").encode()


def test_a_batch_with_two_bad_records_ends_partially_succeeded() -> None:
    with LocalCloud(function_environment=QUIET) as cloud:
        key = f"bedrock-batch/{MODEL}/reviews/2026-11.jsonl"
        cloud.put_object(key, batch(150, failing={7, 70}), metadata={"timeout-hours": "48"})
        cloud.run_until_idle()  # submit → admission (async invoke) → Bedrock → state events

        upload = next(job for job in cloud.jobs() if job.parent_id is None)
        assert upload.status is JobStatus.PARTIALLY_SUCCEEDED
        assert upload.message == "148 of 150 records succeeded, 2 failed"
        result = cloud.read_object(upload.output_location or "").decode().splitlines()
        lines = [json.loads(line) for line in result]
        assert [line["recordId"] for line in lines] == [f"r{index:04d}" for index in range(150)]
        failed = [line for line in lines if "error" in line]
        assert [line["recordId"] for line in failed] == ["r0007", "r0070"]
        assert [line["error"]["code"] for line in failed] == [400, 400]  # final: no retry
        assert [line["error"]["attempts"] for line in failed] == [1, 1]
        (call,) = cloud.bedrock.create_calls
        (part_id,) = upload.children  # the one Bedrock job that ran the upload's records
        assert call["jobName"] == call["clientRequestToken"] == part_id
        assert call["timeoutDurationInHours"] == 48
        assert cloud.queue_depth("BedrockSubmitDLQUrl") == 0


if __name__ == "__main__":
    test_a_batch_with_two_bad_records_ends_partially_succeeded()
    print("ok")
