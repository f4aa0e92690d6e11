"""A Lookout for Vision packaging request on LocalCloud, all the way to two cameras of a
device fleet, one of which cannot load the model.

Copy it to tests/local/test_my_edge.py and run it with pytest, or run it as it is:
`scripts/uv.sh run python examples/localcloud_edge.py`.
"""

import json
from datetime import timedelta

# Import Powertools' tracer at collection time, before pytest-socket blocks sockets.
import dropzone.observability  # noqa: F401
from dropzone.models.jobs import JobKind, JobStatus
from dropzone_local import LocalCloud

QUIET = {"POWERTOOLS_LOG_LEVEL": "CRITICAL", "POWERTOOLS_METRICS_DISABLED": "true"}


def test_a_packaged_model_reaches_the_fleet() -> None:
    with LocalCloud(function_environment=QUIET) as cloud:
        cloud.add_packaging_project("circuit-boards")
        cloud.add_device("line-3", "cam-1")
        cloud.add_device("line-3", "cam-2").fail("circuit-model", "not enough GPU memory")
        cloud.inject_faults("lookoutvision", "ThrottlingException")  # retried via the queue
        request = {
            "ModelVersion": "1",
            "Configuration": {
                "Greengrass": {"TargetDevice": "jetson_xavier", "ComponentName": "circuit-model"}
            },
            "Edge": {"DeviceFleetName": "line-3", "DeviceNames": ["cam-1", "cam-2"]},
        }
        cloud.put_object("model-packaging/circuit-boards/r7.json", json.dumps(request).encode())
        cloud.run_until_idle()
        cloud.advance(timedelta(minutes=1))  # the packaging poller's schedule comes due

        jobs = {job.kind: job for job in cloud.jobs()}
        assert jobs[JobKind.MODEL_PACKAGING].status is JobStatus.SUCCEEDED
        edge = jobs[JobKind.EDGE_DEPLOYMENT]
        assert edge.status is JobStatus.PARTIALLY_SUCCEEDED
        assert edge.message == (
            "failed on 1 of 2 devices: cam-2/circuit-model: not enough GPU memory"
        )
        (deployment,) = cloud.edge_answers().get_deployments("cam-1", "line-3")["Deployments"]
        assert deployment["Definitions"][0]["ModelHandle"] == "circuit-model"


if __name__ == "__main__":
    test_a_packaged_model_reaches_the_fleet()
    print("ok")
