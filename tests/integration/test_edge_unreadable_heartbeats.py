"""A heartbeat that cannot be read never holds its deployment open: when it still names its
fleet, device and deployment, it counts as that device's failed result (a readable report
replaces it while the deployment is open); it is reported, never retried."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from dropzone.models.jobs import Job, JobStatus
from functions.edge_heartbeat import app as heartbeat_app
from tests.support.edge import (
    EdgeWorld,
    deployment_result,
    heartbeat_detail,
    heartbeat_event,
    shared_world,
)

SECRET = "private-text-7f3a"


@pytest.fixture(scope="module")
def shared() -> Iterator[EdgeWorld]:
    yield from shared_world()


@pytest.fixture
def w(shared: EdgeWorld) -> EdgeWorld:
    return shared.reset()


def _deploy(w: EdgeWorld, *devices: str) -> Job:
    return w.deployments().submit(w.drop_document(w.document(*devices)))


def _unreadable(device: str, **result_changes: Any) -> str:
    """A heartbeat whose deployment result breaks SendHeartbeat's model."""
    result = deployment_result() | result_changes
    return heartbeat_event(heartbeat_detail(device, result=result))


def _current(w: EdgeWorld, job: Job) -> Job:
    current = w.ledger.get(job.job_id)
    assert current is not None
    return current


UNREADABLE_RESULTS: list[tuple[str, dict[str, Any]]] = [
    ("bad model status", {"DeploymentModels": [{"ModelHandle": "m", "Status": SECRET}]}),
    ("start time not a time", {"DeploymentStartTime": SECRET}),
    ("unknown field", {"Secret": SECRET}),
]


@pytest.mark.parametrize(
    ("case", "changes"), UNREADABLE_RESULTS, ids=[case for case, _ in UNREADABLE_RESULTS]
)
def test_an_unreadable_deployment_result_counts_as_the_devices_failure(
    w: EdgeWorld, lambda_context: Any, case: str, changes: dict[str, Any]
) -> None:
    # Given a deployment to two devices, one of which reported success
    job = _deploy(w, "camera-01", "camera-02")
    processor = w.processor()
    processor.process(heartbeat_event(heartbeat_detail("camera-01", result=deployment_result())))
    # When the other's heartbeat cannot be read, delivered through the function
    body = _unreadable("camera-02", **changes)
    event = {
        "Records": [
            {"messageId": "m-1", "body": body, "attributes": {"ApproximateReceiveCount": "1"}}
        ]
    }
    result = heartbeat_app.handler(event, lambda_context, processor=processor)
    # Then the message is done with (not retried), and the deployment ends
    assert result == {"batchItemFailures": []}
    final = _current(w, job)
    assert final.status is JobStatus.PARTIALLY_SUCCEEDED
    assert (final.counts["succeeded_devices"], final.counts["failed_devices"]) == (1, 1)
    (failure,) = (final.model_extra or {})["failures"]
    assert failure["device"] == "camera-02"
    assert failure["reason"].startswith("its heartbeat could not be read (detail.")
    assert "reports/edge_heartbeat/" in failure["reason"]
    assert final.message is not None and "camera-02: its heartbeat could not be read" in (
        final.message
    )
    # And the heartbeat is kept in its report, while the job holds none of its content
    listed = w.stack.s3_client.list_objects_v2(
        Bucket=w.stack.results_bucket, Prefix="reports/edge_heartbeat/"
    )
    assert len(listed["Contents"]) == 1
    assert SECRET not in json.dumps(final.model_dump())


def test_a_readable_report_replaces_an_unreadable_one_while_the_deployment_is_open(
    w: EdgeWorld,
) -> None:
    job = _deploy(w, "camera-01", "camera-02")
    processor = w.processor()
    # An unreadable result from camera-02 counts as its failure while camera-01 is pending
    processor.process(_unreadable("camera-02", DeploymentStartTime=SECRET))
    running = _current(w, job)
    assert running.status is JobStatus.RUNNING
    assert running.message == "1 of 2 devices reported, 1 failed"
    # A readable report from camera-02 then takes its place, whatever its time
    processor.process(
        heartbeat_event(
            heartbeat_detail("camera-02", result=deployment_result(start="2020-01-01T00:00:00Z"))
        )
    )
    # And a second unreadable one does not take it back
    processor.process(_unreadable("camera-02", DeploymentStartTime=SECRET))
    processor.process(heartbeat_event(heartbeat_detail("camera-01", result=deployment_result())))
    final = _current(w, job)
    assert final.status is JobStatus.SUCCEEDED
    assert final.counts["failed_devices"] == 0


def test_an_unreadable_heartbeat_that_names_no_deployment_changes_no_job(w: EdgeWorld) -> None:
    job = _deploy(w, "camera-01")
    processor = w.processor()
    for body in (
        "{not json " + SECRET,
        heartbeat_event(heartbeat_detail("camera-01") | {"AgentVersion": None}),  # no result
        _unreadable("camera-01", DeploymentName="-not a name-"),
        _unreadable("camera-09", DeploymentStartTime=SECRET),  # a device it does not target
    ):
        outcome = processor.process(body)
        assert outcome.rejected and outcome.deployment_job is None
    assert _current(w, job).status is JobStatus.SUBMITTED
