"""A SageMaker async upload on LocalCloud: throttled once, delivered twice, inferred once.

Copy it to tests/local/test_my_pipeline.py and run it with pytest, or run it as it is:
`scripts/uv.sh run python examples/localcloud_sagemaker.py`.
"""

# Import Powertools' tracer at collection time, before pytest-socket blocks sockets.
import dropzone.observability  # noqa: F401
from dropzone.models.jobs import JobStatus
from dropzone_local.cloud import LocalCloud

QUIET = {"POWERTOOLS_LOG_LEVEL": "CRITICAL", "POWERTOOLS_METRICS_DISABLED": "true"}


def test_a_throttled_duplicate_upload_becomes_one_inference() -> None:
    with LocalCloud(function_environment=QUIET) as cloud:
        cloud.add_endpoint("churn-model")  # failure_reason="..." makes an endpoint fail
        cloud.sagemaker.inject_faults("ThrottlingException")  # the next call is refused
        key = "sagemaker-async/churn-model/2026/in.csv"
        put = cloud.put_object(
            key, b"42,3,0.7\n", content_type="text/csv", metadata={"accept": "application/json"}
        )
        cloud.redeliver(key, put["VersionId"])  # EventBridge may deliver twice
        cloud.run_until_idle()

        (job,) = cloud.jobs()
        assert job.status is JobStatus.SUCCEEDED
        statuses = [event["detail"]["status"] for event in cloud.status_events]
        assert statuses == ["ACCEPTED", "SUBMITTED", "SUCCEEDED"]
        assert len(cloud.sagemaker.calls) == 2  # one throttled, one accepted
        assert cloud.queue_depth("SageMakerSubmitDLQUrl") == 0


if __name__ == "__main__":
    test_a_throttled_duplicate_upload_becomes_one_inference()
    print("ok")
