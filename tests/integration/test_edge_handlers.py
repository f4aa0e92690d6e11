"""The edge functions, driven through their handlers with their files from events/."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from dropzone.adapters.sagemaker_edge import SageMakerEdge
from dropzone.models.jobs import JobStatus
from dropzone.workflows.edge.sync import EdgeSync
from functions.edge_deployment_submit import app as submit_app
from functions.edge_heartbeat import app as heartbeat_app
from functions.edge_sync import app as sync_app
from tests.support.edge import EdgeWorld, world
from tests.support.events import load_event
from tests.support.fixtures import Stack


@pytest.fixture
def w(stack: Stack) -> EdgeWorld:
    return world(stack)


def test_submit_handler(w: EdgeWorld, lambda_context: Any) -> None:
    # Given the upload named in events/, with its document in the drop zone
    event = load_event("edge_deployment_submit.json")
    s3_event = json.loads(event["Records"][0]["body"])
    key = s3_event["detail"]["object"]["key"]
    fleet = key.split("/")[1]
    document = w.document("camera-01", name="defect-detector-v2")
    source = w.drop_document(document, fleet=fleet, name=key.split("/", 2)[2])
    s3_event["detail"]["object"].update(
        {"version-id": source.version_id, "etag": source.etag, "size": source.size}
    )
    event["Records"][0]["body"] = json.dumps(s3_event)
    # When the handler runs
    result = submit_app.handler(event, lambda_context, deployments=w.deployments())
    # Then the document is recorded
    assert result == {"batchItemFailures": []}
    (job,) = w.ledger.find_by_service_ref(f"edge:{fleet}/defect-detector-v2")
    assert job.status is JobStatus.SUBMITTED


def test_heartbeat_handler_settles_the_deployment(w: EdgeWorld, lambda_context: Any) -> None:
    event = load_event("edge_heartbeat.json")
    detail = json.loads(event["Records"][0]["body"])["detail"]
    fleet, device = detail["DeviceFleetName"], detail["DeviceName"]
    name = detail["DeploymentResult"]["DeploymentName"]
    document = w.document(device, name=name)
    w.deployments().submit(w.drop_document(document, fleet=fleet))
    result = heartbeat_app.handler(event, lambda_context, processor=w.processor())
    assert result == {"batchItemFailures": []}
    (job,) = w.ledger.find_by_service_ref(f"edge:{fleet}/{name}")
    assert job.status is JobStatus.SUCCEEDED
    record = w.devices.get(fleet, device)
    assert record is not None and record.agent_version == detail["AgentVersion"]


def test_heartbeat_handler_reports_failures_for_retry(w: EdgeWorld, lambda_context: Any) -> None:
    # Given Edge Manager forwarding that is throttled
    client = boto3.client("sagemaker-edge", region_name="us-east-1")
    with Stubber(client) as stubber:
        stubber.add_client_error("send_heartbeat", "ThrottlingException", http_status_code=400)
        event = load_event("edge_heartbeat.json")
        detail = json.loads(event["Records"][0]["body"])["detail"]
        w.register(detail["DeviceName"], fleet=detail["DeviceFleetName"])
        result = heartbeat_app.handler(
            event, lambda_context, processor=w.processor(SageMakerEdge(client))
        )
    # Then the message is reported as failed, to be delivered again
    assert result == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}


def test_sync_handler(w: EdgeWorld, lambda_context: Any) -> None:
    w.devices.register("line-cameras", ["camera-01"], "dz-" + "2" * 40)
    client = boto3.client("sagemaker-edge", region_name="us-east-1")
    params = {"DeviceName": "camera-01", "DeviceFleetName": "line-cameras"}
    with Stubber(client) as stubber:
        stubber.add_response(
            "get_device_registration",
            {"DeviceRegistration": "REGISTERED", "CacheTTL": "60"},
            params,
        )
        stubber.add_response("get_deployments", {"Deployments": []}, params)
        result = sync_app.handler(
            load_event("edge_sync.json"),
            lambda_context,
            sync=EdgeSync(w.devices, SageMakerEdge(client)),
        )
    assert result == {
        "synced": 1,
        "refused": 0,
        "failed": 0,
        "out_of_time": False,
        "pass_complete": True,
    }
