"""The optional Edge Manager sync and heartbeat forwarding, against a real
`sagemaker-edge` client held by botocore's Stubber (expected parameters checked)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.stub import Stubber

from dropzone.adapters.sagemaker_edge import EdgeManagerRefused, SageMakerEdge
from dropzone.errors import ConfigurationError, TransientError
from dropzone.ratelimit import Pacer
from dropzone.workflows.edge.sync import EdgeSync, SyncSummary
from dropzone_local.service_model import validate_response
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
    w.register("camera-01")
    outcome = w.processor(SageMakerEdge(client)).process(heartbeat_event(detail))
    assert outcome.device_updated


def test_heartbeats_from_unknown_devices_are_not_forwarded(
    w: EdgeWorld, edge_client: tuple[Any, Stubber]
) -> None:
    # Given forwarding on, and no deployment record naming the device (no call expected)
    client, _ = edge_client
    outcome = w.processor(SageMakerEdge(client)).process(heartbeat_event(heartbeat_detail()))
    # Then the heartbeat ends in its report only
    assert outcome.unknown_device
    assert w.devices.get(FLEET, "camera-01") is None


def test_forwarding_errors(w: EdgeWorld, edge_client: tuple[Any, Stubber]) -> None:
    client, stubber = edge_client
    detail = heartbeat_detail()
    stubber.add_client_error("send_heartbeat", "ThrottlingException", http_status_code=400)
    stubber.add_client_error("send_heartbeat", "ValidationException", http_status_code=400)
    w.register("camera-01")
    processor = w.processor(SageMakerEdge(client))
    # A throttled forward is retried (the local record is already written) ...
    with pytest.raises(TransientError):
        processor.process(heartbeat_event(detail, event_id="one"))
    record = w.devices.get(FLEET, "camera-01")
    assert record is not None and record.last_heartbeat is not None
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


# -- many devices, little time -------------------------------------------------------------


@dataclass
class FakeClock:
    now: float = 1000.0

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class TimedEdgeManager:
    """`sagemaker-edge` answered in-process on a real client: botocore checks each request
    against the service model, each answer is checked against the operation's output
    shape, and each call takes `call_seconds` of a fake clock."""

    ANSWERS: ClassVar[dict[str, dict[str, Any]]] = {
        "GetDeviceRegistration": {"DeviceRegistration": "REGISTERED", "CacheTTL": "600"},
        "GetDeployments": {"Deployments": [DEPLOYMENT]},
    }

    def __init__(self, clock: FakeClock, call_seconds: float) -> None:
        self.clock = clock
        self.call_seconds = call_seconds
        self.calls: list[tuple[float, str, str]] = []  # (started at, operation, device)
        self.fail_after: int | None = None
        self.on_failure: Callable[[], None] = lambda: None
        self.client = boto3.client("sagemaker-edge", region_name="us-east-1")
        self.client.meta.events.register("before-call.sagemaker-edge.*", self._answer)

    def _answer(self, model: Any, params: dict[str, Any], **_: Any) -> tuple[Any, Any]:
        if self.fail_after is not None and len(self.calls) >= self.fail_after:
            self.on_failure()
            raise RuntimeError("the invocation timed out")
        body = json.loads(params["body"])
        self.calls.append((self.clock.now, model.name, body["DeviceName"]))
        self.clock.now += self.call_seconds
        answer = self.ANSWERS[model.name]
        validate_response("sagemaker-edge", model.name, answer)
        return AWSResponse("https://edge.local", 200, {}, None), dict(answer)

    def synced(self) -> Counter[str]:
        return Counter(device for _, op, device in self.calls if op == "GetDeployments")


def _many(w: EdgeWorld, count: int) -> list[str]:
    names = [f"camera-{index:03d}" for index in range(count)]
    for start in range(0, count, 50):
        w.devices.register(FLEET, names[start : start + 50], "dz-" + "1" * 40)
    return names


def test_many_devices_are_all_synced_across_runs_within_each_runs_time(w: EdgeWorld) -> None:
    # Given 100 devices, calls of 0.1 s paced at 4 a second, and invocations of 32 s
    names = _many(w, 100)
    clock = FakeClock()
    edge = TimedEdgeManager(clock, call_seconds=0.1)
    pacer = Pacer(4.0, clock=clock.time, sleep=clock.sleep)
    sync = EdgeSync(w.devices, SageMakerEdge(edge.client), pacer, reserve_seconds=20.0)

    def invocation() -> tuple[SyncSummary, float]:
        deadline = clock.now + 32.0

        def seconds_left() -> float:
            return deadline - clock.now

        summary = sync.run(seconds_left)
        left = seconds_left()
        clock.now += 900  # the next scheduled run
        return summary, left

    # When the sync runs on its schedule until every device has been synced once
    summaries = []
    while set(edge.synced()) != set(names):
        summary, left = invocation()
        summaries.append(summary)
        # Then each run stops early, leaving most of its reserve free
        assert left > 15.0, left
        assert len(summaries) <= 10
    # And runs took turns: each continued where the last stopped, none went over a device twice
    assert len(summaries) == 5
    assert all(s.out_of_time and not s.pass_complete for s in summaries[:-1])
    assert summaries[-1].pass_complete
    assert sum(s.synced for s in summaries) == 100 and max(edge.synced().values()) == 1
    assert all(s.synced >= 20 for s in summaries[:-1])
    # And the next pass starts over at the beginning: after more runs, no device starves
    for _ in range(6):
        invocation()
    counts = edge.synced()
    assert set(counts) == set(names)
    assert max(counts.values()) - min(counts.values()) <= 1
    record = w.devices.get(FLEET, names[-1])
    assert record is not None and record.service["deployments"] == [DEPLOYMENT]
    # And no second of calls ever went over the pace
    starts = [at for at, _, _ in edge.calls]
    assert all(sum(1 for other in starts if at <= other < at + 1.0) <= 5 for at in starts)


def test_a_run_cut_short_keeps_its_progress(w: EdgeWorld) -> None:
    # Given 60 devices, and a run that dies after its 70th call (35 devices)
    names = _many(w, 60)
    clock = FakeClock()
    edge = TimedEdgeManager(clock, call_seconds=0.0)
    sync = EdgeSync(w.devices, SageMakerEdge(edge.client))
    edge.fail_after = 70
    seen: list[str | None] = []
    edge.on_failure = lambda: seen.append(w.devices.sync_cursor())
    with pytest.raises(RuntimeError, match="timed out"):
        sync.run(lambda: 300.0)
    # (had the invocation been killed there, its checkpoint would have kept 25 devices)
    assert seen == [f"{FLEET}#{names[24]}"]
    # When the next run comes
    edge.fail_after = None
    summary = sync.run(lambda: 300.0)
    # Then it continues where the first stopped, and every device is synced once
    assert summary.pass_complete and summary.synced == 25
    assert edge.synced() == Counter(dict.fromkeys(names, 1))
    assert w.devices.sync_cursor() is None  # the next pass starts over
