"""The edge reconciler in the local cloud: picked up from the template like every scheduled
function, it settles a Greengrass roll-out whose status events were all lost."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from dropzone.models.jobs import JobKind, JobStatus
from dropzone_local import LocalCloud

QUIET = {"POWERTOOLS_LOG_LEVEL": "CRITICAL", "POWERTOOLS_METRICS_DISABLED": "true"}
THING = "arn:aws:iot:us-east-1:123456789012:thing/line-3-core"
# The stack may roll out to THING: Greengrass roll-outs are off until GreengrassTargets is set.
PARAMETERS = {"GreengrassTargets": "line-3-core"}
KEY = "model-packaging/circuit-boards/release-8.json"


def test_a_roll_out_whose_events_were_lost_is_settled_by_the_schedule() -> None:
    with LocalCloud(function_environment=QUIET, parameters=PARAMETERS) as cloud:
        # Given a roll-out whose Greengrass status events never arrive
        lost: list[dict[str, Any]] = []
        cloud.greengrass.deliver = lost.append
        cloud.add_packaging_project("circuit-boards")
        cloud.add_core_devices(THING, ["line-3-core"])
        body = {
            "ModelVersion": "1",
            "Configuration": {
                "Greengrass": {"TargetDevice": "jetson_xavier", "ComponentName": "circuit-model"}
            },
            "GreengrassDeployment": {"TargetArn": THING},
        }
        cloud.put_object(KEY, json.dumps(body).encode())
        cloud.run_until_idle()
        cloud.advance(timedelta(minutes=1))
        (rollout,) = [job for job in cloud.jobs() if job.kind is JobKind.EDGE_DEPLOYMENT]
        assert rollout.status is JobStatus.SUBMITTED
        assert lost  # the device finished; nobody heard
        # When the reconciler's schedule comes round after the grace period
        cloud.advance(timedelta(minutes=45))
        # Then it asked Greengrass and the roll-out is settled
        settled = next(job for job in cloud.jobs() if job.job_id == rollout.job_id)
        assert settled.status is JobStatus.SUCCEEDED
        operations = {call.operation for call in cloud.greengrass.calls}
        assert {"GetDeployment", "ListEffectiveDeployments"} <= operations
