"""The optional Edge Manager sync and heartbeat forwarding, against a real
`sagemaker-edge` client held by botocore's Stubber (expected parameters checked)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from dropzone.adapters.sagemaker_edge import EdgeManagerRefused, SageMakerEdge
from dropzone.errors import ConfigurationError, TransientError
from dropzone.workflows.edge_sync import EdgeSync
from tests.support.edge import FLEET, EdgeWorld, heartbeat_detail, heartbeat_event, shared_world

DEPLOYMENT = {
    "DeploymentName": "defect-detector-v2",
    "Type": "Model",
    "FailureHandlingPolicy": "ROLLBACK_ON_FAILURE",
    "Definitions": [
        {
            "ModelHandle": "defect-detector",
            "S3Url": "s3://models/defect.tar.gz",
            "Checksum": {"Type": "SHA1", "Sum": "a" * 40},
            "State": "DEPLOY",
        }
    ],
}


@pytest.fixture(scope="module")
def shared() -> Iterator[EdgeWorld]:
    yield from shared_world()


@pytest.fixture
def w(shared: EdgeWorld) -> EdgeWorld:
    return shared.reset()


@pytest.fixture
def edge_client() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client("sagemaker-edge", region_name="us-east-1")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def _expect_device(stubber: Stubber, device: str, registration: str = "REGISTERED") -> None:
    params = {"DeviceName": device, "DeviceFleetName": FLEET}
    stubber.add_response(
        "get_device_registration",
        {"DeviceRegistration": registration, "CacheTTL": "600"},
        params,
    )
    stubber.add_response("get_deployments", {"Deployments": [DEPLOYMENT]}, params)


def test_sync_records_what_edge_manager_says(
    w: EdgeWorld, edge_client: tuple[Any, Stubber]
) -> None:
    # Given two known devices
    w.devices.register(FLEET, ["camera-01", "camera-02"], "dz-" + "1" * 40)
    client, stubber = edge_client
    _expect_device(stubber, "camera-01")
    _expect_device(stubber, "camera-02", registration="DEREGISTERED")
    # When the sync runs
    summary = EdgeSync(w.devices, SageMakerEdge(client)).run()
    # Then each device record keeps the service's view beside Dropzone's own
    assert summary.synced == 2
    first, second = (w.devices.get(FLEET, name) for name in ("camera-01", "camera-02"))
    assert first is not None and second is not None
    assert first.service["deployments"] == [DEPLOYMENT]
    assert first.service["cache_ttl"] == "600"
    assert second.service["registration"] == "DEREGISTERED"
    assert second.registration == "REGISTERED"


def test_one_failing_device_does_not_stop_the_sync(
    w: EdgeWorld, edge_client: tuple[Any, Stubber]
) -> None:
    w.devices.register(FLEET, ["camera-01", "camera-02", "camera-03"], "dz-" + "1" * 40)
    client, stubber = edge_client
    params = {"DeviceName": "camera-01", "DeviceFleetName": FLEET}
    order = [fleet_device[1] for fleet_device in w.devices.known_devices()]
    for device in order:
        if device == "camera-01":
            stubber.add_client_error(
                "get_device_registration",
                service_error_code="InternalFailure",
                http_status_code=500,
                expected_params=params,
            )
        elif device == "camera-02":
            stubber.add_client_error(
                "get_device_registration",
                service_error_code="AccessDeniedException",
                http_status_code=403,
                expected_params={"DeviceName": "camera-02", "DeviceFleetName": FLEET},
            )
        else:
            _expect_device(stubber, device)
    # When the sync runs, Then the healthy device is synced and the run still fails
    with pytest.raises(TransientError, match="1 device"):
        EdgeSync(w.devices, SageMakerEdge(client)).run()
    synced = w.devices.get(FLEET, "camera-03")
    refused = w.devices.get(FLEET, "camera-02")
    failed = w.devices.get(FLEET, "camera-01")
    assert synced is not None and synced.service["registration"] == "REGISTERED"
    assert refused is not None and "AccessDeniedException" in refused.service["error"]
    assert failed is not None and failed.service == {}


def test_sync_needs_the_parameter(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOBS_TABLE", "jobs")
    monkeypatch.setenv("RESULTS_BUCKET", "results")
    monkeypatch.setenv("EDGE_DEVICES_TABLE", "devices")
    monkeypatch.setenv("EDGE_MANAGER_SYNC", "Disabled")
    with pytest.raises(ConfigurationError, match="EDGE_MANAGER_SYNC=Enabled"):
        EdgeSync.from_env()


def test_heartbeats_are_forwarded_when_sync_is_enabled(
    w: EdgeWorld, edge_client: tuple[Any, Stubber]
) -> None:
    client, stubber = edge_client
    detail = heartbeat_detail(
        models=[
            {
                "ModelName": "model-defect",
                "ModelVersion": "1",
                "LatestInference": "2026-11-25T12:00:00Z",
            }
        ]
    )
    forwarded = {**detail, "Models": [{**detail["Models"][0]}]}
    stubber.add_response("send_heartbeat", {}, forwarded)
    outcome = w.processor(SageMakerEdge(client)).process(heartbeat_event(detail))
    assert outcome.device_updated


def test_forwarding_errors(w: EdgeWorld, edge_client: tuple[Any, Stubber]) -> None:
    client, stubber = edge_client
    detail = heartbeat_detail()
    stubber.add_client_error("send_heartbeat", "ThrottlingException", http_status_code=400)
    stubber.add_client_error("send_heartbeat", "ValidationException", http_status_code=400)
    processor = w.processor(SageMakerEdge(client))
    # A throttled forward is retried (the local record is already written) ...
    with pytest.raises(TransientError):
        processor.process(heartbeat_event(detail, event_id="one"))
    assert w.devices.get(FLEET, "camera-01") is not None
    # ... a refusal is logged and counted, and the heartbeat is done
    assert processor.process(heartbeat_event(detail, event_id="two")).device_updated


def test_adapter_classifies_errors(edge_client: tuple[Any, Stubber]) -> None:
    client, stubber = edge_client
    stubber.add_client_error("get_deployments", "ServiceUnavailable", http_status_code=503)
    stubber.add_client_error("get_deployments", "ResourceNotFound", http_status_code=404)
    edge = SageMakerEdge(client)
    with pytest.raises(TransientError):
        edge.get_deployments("camera-01", FLEET)
    with pytest.raises(EdgeManagerRefused, match="ResourceNotFound"):
        edge.get_deployments("camera-01", FLEET)
