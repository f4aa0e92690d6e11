"""GetDeployments / GetDeviceRegistration answered from the records, in the service's
own output shapes; simulated devices that act on them and report back through
EventBridge (moto) and SQS."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from dropzone.models.jobs import JobStatus
from dropzone_local.edge_devices import FakeEdgeDevice
from dropzone_local.service_model import validate_response
from tests.support.edge import FLEET, EdgeWorld, shared_world


@pytest.fixture(scope="module")
def shared() -> Iterator[EdgeWorld]:
    yield from shared_world()


@pytest.fixture
def w(shared: EdgeWorld) -> EdgeWorld:
    return shared.reset()


def _answers(w: EdgeWorld, device: str = "camera-01") -> dict[str, Any]:
    answer = w.answers().get_deployments(device, FLEET)
    validate_response("sagemaker-edge", "GetDeployments", answer)
    return answer


def test_registration_answers(w: EdgeWorld) -> None:
    w.deployments().submit(w.drop_document(w.document("camera-01")))
    known = w.answers().get_device_registration("camera-01", FLEET)
    unknown = w.answers().get_device_registration("camera-99", FLEET)
    for answer in (known, unknown):
        validate_response("sagemaker-edge", "GetDeviceRegistration", answer)
    assert known == {"DeviceRegistration": "REGISTERED", "CacheTTL": "3600"}
    assert unknown["DeviceRegistration"] == "NOT_REGISTERED"


def test_newest_record_per_model_handle_wins(w: EdgeWorld) -> None:
    # Given two models deployed, then a newer version of one, then an undeploy of the other
    first = w.document("camera-01", "camera-02", name="first")
    first["Definitions"].append(
        {
            "ModelHandle": "counter",
            "S3Url": w.artifact("edge-artifacts/counter.bin", b"c"),
            "State": "DEPLOY",
        }
    )
    w.deployments().submit(w.drop_document(first, name="first.json"))
    newer = w.document("camera-01", name="second", S3Url=w.artifact("edge-artifacts/v2.bin", b"v2"))
    w.deployments().submit(w.drop_document(newer, name="second.json"))
    undeploy = {
        "DeploymentName": "third",
        "DeviceNames": ["camera-01"],
        "Definitions": [{"ModelHandle": "counter", "State": "UNDEPLOY"}],
    }
    w.deployments().submit(w.drop_document(undeploy, name="third.json"))
    # When camera-01 asks, Then each handle comes from its newest record
    deployments = _answers(w)["Deployments"]
    assert [d["DeploymentName"] for d in deployments] == ["second", "third"]
    assert deployments[0]["Definitions"][0]["S3Url"].endswith("edge-artifacts/v2.bin")
    assert deployments[1]["Definitions"] == [{"ModelHandle": "counter", "State": "UNDEPLOY"}]
    # And camera-02, named only by the first record, still gets both models from it
    (only,) = _answers(w, "camera-02")["Deployments"]
    assert only["DeploymentName"] == "first"
    assert [d["ModelHandle"] for d in only["Definitions"]] == ["defect-detector", "counter"]


def test_rejected_and_other_fleets_records_are_not_answered(w: EdgeWorld) -> None:
    w.deployments().submit(w.drop_document(w.document("camera-01"), fleet="other-fleet"))
    bad = w.document("camera-01", Checksum={"Type": "SHA1", "Sum": "0" * 40})
    assert w.deployments().submit(w.drop_document(bad)).status is JobStatus.REJECTED
    assert _answers(w) == {"Deployments": []}


def test_expired_records_are_forgotten(w: EdgeWorld) -> None:
    job = w.deployments().submit(w.drop_document(w.document("camera-01")))
    w.stack.dynamodb.delete_item(TableName=w.stack.table_name, Key={"job_id": {"S": job.job_id}})
    assert _answers(w) == {"Deployments": []}
    record = w.devices.get(FLEET, "camera-01")
    assert record is not None and record.deployment_ids == []


def _route_heartbeats_through_eventbridge() -> tuple[Any, str]:
    """A rule like EdgeHeartbeatRule, delivering to an SQS queue (moto)."""
    events = boto3.client("events", region_name="us-east-1")
    sqs = boto3.client("sqs", region_name="us-east-1")
    queue = sqs.create_queue(QueueName="edge-heartbeats")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events.put_rule(
        Name="edge-heartbeats",
        EventPattern=json.dumps(
            {"source": ["dropzone.edge"], "detail-type": ["Edge Agent Heartbeat"]}
        ),
    )
    events.put_targets(Rule="edge-heartbeats", Targets=[{"Id": "queue", "Arn": arn}])
    return events, queue


def _drain(queue: str) -> list[str]:
    sqs = boto3.client("sqs", region_name="us-east-1")
    bodies = []
    while True:
        received = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)
        messages = received.get("Messages", [])
        if not messages:
            return bodies
        for message in messages:
            bodies.append(message["Body"])
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])


def test_simulated_devices_settle_a_deployment(w: EdgeWorld) -> None:
    # Given a deployment to three devices, one of which fails the model and its rollback
    job = w.deployments().submit(w.drop_document(w.document("camera-01", "camera-02", "camera-03")))
    events, queue = _route_heartbeats_through_eventbridge()
    devices = [FakeEdgeDevice(FLEET, f"camera-0{n}") for n in (1, 2, 3)]
    devices[2].fail("defect-detector", "not enough memory", rollback_failure="no previous model")
    # When every device polls, installs, and reports (duplicated and out of order)
    for device in devices:
        details = device.poll(w.answers())
        details.append(device.heartbeat())
        device.send(events, details, duplicate=True, reorder=True)
    processor = w.processor()
    bodies = _drain(queue)
    assert len(bodies) == 12
    for body in bodies:
        processor.process(body)
    # Then the deployment is settled by counts, with the rollback reason kept
    final = w.ledger.get(job.job_id)
    assert final is not None and final.status is JobStatus.PARTIALLY_SUCCEEDED
    assert final.counts["succeeded_devices"] == 2
    assert (final.model_extra or {})["failures"][0][
        "rollback_failure_reason"
    ] == "no previous model"
    assert devices[0].installed and not devices[2].installed
    # And the devices' records hold their models
    record = w.devices.get(FLEET, "camera-01")
    assert record is not None and record.models[0]["ModelName"] == "model-defect-detector"
    # And a second poll finds nothing new to do
    assert "DeploymentResult" not in devices[0].poll(w.answers())[0]
