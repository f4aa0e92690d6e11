"""Heartbeats: device records that never move back, and deployment records settled by
counts over their devices, whatever the order or repetition of deliveries."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from dropzone.models.jobs import Job, JobStatus
from dropzone.sqs_batch import SqsMessage
from dropzone.workflows.edge import KIND
from dropzone.workflows.edge.rules import RESULTS, results_of, settle
from tests.support.edge import (
    FLEET,
    EdgeWorld,
    deployment_result,
    heartbeat_detail,
    heartbeat_event,
    shared_world,
)


@pytest.fixture(scope="module")
def shared() -> Iterator[EdgeWorld]:
    yield from shared_world()


@pytest.fixture
def w(shared: EdgeWorld) -> EdgeWorld:
    return shared.reset()


def _deploy(w: EdgeWorld, *devices: str) -> Job:
    return w.deployments().submit(w.drop_document(w.document(*devices)))


def _status(w: EdgeWorld, job: Job) -> JobStatus:
    current = w.ledger.get(job.job_id)
    assert current is not None
    return current.status


# -- device records ------------------------------------------------------------------------


def test_reordered_heartbeats_never_move_a_device_back(w: EdgeWorld) -> None:
    w.register("camera-01")
    processor = w.processor()
    newer = heartbeat_event(
        heartbeat_detail(agent_version="2.0"), time="2026-11-25T12:02:00Z", event_id="e2"
    )
    older = heartbeat_event(
        heartbeat_detail(agent_version="1.0"), time="2026-11-25T12:01:00Z", event_id="e1"
    )
    # When the newer heartbeat arrives first, then the older one, then a duplicate
    assert processor.process(newer).device_updated
    assert not processor.process(older).device_updated
    assert not processor.process(newer).device_updated
    # Then the record holds the newer heartbeat
    record = w.devices.get(FLEET, "camera-01")
    assert record is not None
    assert (record.agent_version, record.registration) == ("2.0", "REGISTERED")
    assert record.last_heartbeat == "2026-11-25T12:02:00.000Z"


def test_within_one_second_the_devices_own_times_order_heartbeats(w: EdgeWorld) -> None:
    def beat(version: str, stamp: str, event_id: str) -> str:
        model = {"ModelName": "model-defect", "ModelVersion": version, "LatestInference": stamp}
        return heartbeat_event(
            heartbeat_detail(agent_version=version, models=[model]),
            time="2026-11-25T12:01:00Z",
            event_id=event_id,
        )

    w.register("camera-01")
    processor = w.processor()
    processor.process(beat("2.0", "2026-11-25T12:00:59.900Z", "a-event"))
    processor.process(beat("1.0", "2026-11-25T12:00:59.100Z", "z-event"))
    record = w.devices.get(FLEET, "camera-01")
    assert record is not None and record.agent_version == "2.0"
    assert record.models == [
        {
            "ModelName": "model-defect",
            "ModelVersion": "2.0",
            "LatestInference": "2026-11-25T12:00:59.900Z",
        }
    ]


def test_models_and_metrics_are_kept(w: EdgeWorld) -> None:
    detail = heartbeat_detail(
        models=[
            {
                "ModelName": "model-defect",
                "ModelVersion": "1",
                "ModelMetrics": [
                    {"Dimension": "model/defect", "MetricName": "Latency", "Value": 12.5}
                ],
            }
        ]
    )
    detail["AgentMetrics"] = [{"Dimension": "agent", "MetricName": "Uptime", "Value": 360.0}]
    w.register("camera-01")
    w.processor().process(heartbeat_event(detail))
    record = w.devices.get(FLEET, "camera-01")
    assert record is not None
    assert record.models[0]["ModelMetrics"][0]["Value"] == 12.5
    assert record.agent_metrics == [{"Dimension": "agent", "MetricName": "Uptime", "Value": 360}]


def _reports(w: EdgeWorld) -> list[dict[str, Any]]:
    listed = w.stack.s3_client.list_objects_v2(
        Bucket=w.stack.results_bucket, Prefix="reports/edge_heartbeat/"
    )
    return [
        json.loads(
            w.stack.s3_client.get_object(Bucket=w.stack.results_bucket, Key=item["Key"])[
                "Body"
            ].read()
        )
        for item in listed.get("Contents", [])
    ]


def test_a_heartbeat_from_an_unknown_device_is_reported_not_stored(w: EdgeWorld) -> None:
    # Given a device no deployment record names (another fleet's camera is known)
    w.register("camera-01", fleet="other-fleet")
    # When it sends heartbeats, one with a deployment result
    processor = w.processor()
    plain = processor.process(heartbeat_event(heartbeat_detail("camera-01"), event_id="u-1"))
    with_result = heartbeat_event(
        heartbeat_detail("camera-01", result=deployment_result()), event_id="u-2"
    )
    processor.handle_record(SqsMessage("message-2", with_result, 1))
    # Then nothing is stored, and the device is not registered
    assert plain.unknown_device and not plain.device_updated and not plain.rejected
    assert w.devices.get(FLEET, "camera-01") is None
    assert w.answers().get_device_registration("camera-01", FLEET)["DeviceRegistration"] == (
        "NOT_REGISTERED"
    )
    scanned = w.stack.dynamodb.scan(TableName=w.devices.table_name)["Items"]
    assert [item["device_key"]["S"] for item in scanned] == ["other-fleet#camera-01"]
    # And each heartbeat is kept in a report naming the device
    reports = sorted(_reports(w), key=lambda report: report["event"]["id"])
    assert [report["event"]["id"] for report in reports] == ["u-1", "u-2"]
    assert {report["rejected_as"] for report in reports} == {"unknown_device"}
    assert reports[1]["message_id"] == "message-2"
    assert reports[1]["event"]["detail"]["DeploymentResult"]["DeploymentName"] == (
        "defect-detector-v2"
    )
    assert reports[0]["problems"][0]["field"] == "detail.DeviceName"
    assert "no deployment record names device 'camera-01'" in reports[0]["reason"]


def test_a_device_is_known_once_a_deployment_record_names_it(w: EdgeWorld) -> None:
    # Given a heartbeat before any record names the device, and one after
    processor = w.processor()
    early = heartbeat_event(heartbeat_detail(agent_version="1.0"), time="2026-11-25T12:00:00Z")
    late = heartbeat_event(heartbeat_detail(agent_version="2.0"), time="2026-11-25T12:05:00Z")
    assert processor.process(early).unknown_device
    _deploy(w, "camera-01")
    # When the device's heartbeat comes after it was named, Then it is recorded
    assert processor.process(late).device_updated
    record = w.devices.get(FLEET, "camera-01")
    assert record is not None
    assert (record.registration, record.agent_version) == ("REGISTERED", "2.0")
    assert len(_reports(w)) == 1


# -- deployment status by counts ---------------------------------------------------------------


def test_all_devices_succeeding_settles_succeeded(w: EdgeWorld) -> None:
    job = _deploy(w, "camera-01", "camera-02")
    processor = w.processor()
    outcome = processor.process(
        heartbeat_event(heartbeat_detail("camera-01", result=deployment_result()))
    )
    assert outcome.status is JobStatus.RUNNING
    current = w.ledger.get(job.job_id)
    assert current is not None and current.message == "1 of 2 devices reported"
    outcome = processor.process(
        heartbeat_event(heartbeat_detail("camera-02", result=deployment_result()))
    )
    assert outcome.status is JobStatus.SUCCEEDED
    final = w.ledger.get(job.job_id)
    assert final is not None
    assert final.counts == {
        "devices": 2,
        "succeeded_devices": 2,
        "failed_devices": 0,
        "pending_devices": 0,
    }
    assert [h.status for h in final.history] == [
        JobStatus.ACCEPTED,
        JobStatus.SUBMITTED,
        JobStatus.RUNNING,
        JobStatus.SUCCEEDED,
    ]
    # And each device record keeps its result for the deployment
    record = w.devices.get(FLEET, "camera-02")
    assert record is not None
    assert record.deployment_results["defect-detector-v2"]["outcome"] == "SUCCESS"
    assert record.deployment_results["defect-detector-v2"]["job_id"] == job.job_id


def test_a_mix_settles_partially_succeeded_with_rollback_reasons(w: EdgeWorld) -> None:
    job = _deploy(w, "camera-01", "camera-02", "camera-03")
    processor = w.processor()
    failing = deployment_result(
        status="FAIL", reason="out of memory", rollback_failure="previous model missing"
    )
    processor.process(heartbeat_event(heartbeat_detail("camera-01", result=deployment_result())))
    processor.process(heartbeat_event(heartbeat_detail("camera-02", result=failing)))
    outcome = processor.process(
        heartbeat_event(heartbeat_detail("camera-03", result=deployment_result()))
    )
    assert outcome.status is JobStatus.PARTIALLY_SUCCEEDED
    final = w.ledger.get(job.job_id)
    assert final is not None
    assert final.counts["succeeded_devices"] == 2 and final.counts["failed_devices"] == 1
    assert (final.model_extra or {})["failures"] == [
        {
            "device": "camera-02",
            "model_handle": "defect-detector",
            "reason": "out of memory",
            "rollback_failure_reason": "previous model missing",
        }
    ]
    assert final.message == (
        "failed on 1 of 3 devices: camera-02/defect-detector: out of memory "
        "(rollback failed: previous model missing)"
    )


def test_every_device_failing_settles_failed(w: EdgeWorld) -> None:
    job = _deploy(w, "camera-01", "camera-02")
    processor = w.processor()
    for device in ("camera-01", "camera-02"):
        result = deployment_result(status="FAIL", reason="checksum mismatch")
        processor.process(heartbeat_event(heartbeat_detail(device, result=result)))
    assert _status(w, job) is JobStatus.FAILED


def test_reordered_and_duplicated_results_never_move_back(w: EdgeWorld) -> None:
    # Given one device's in-progress report and its final report
    job = _deploy(w, "camera-01", "camera-02")
    processor = w.processor()
    done = heartbeat_event(
        heartbeat_detail("camera-01", result=deployment_result()),
        time="2026-11-25T12:01:00Z",
        event_id="done",
    )
    in_progress = heartbeat_event(
        heartbeat_detail("camera-01", result=deployment_result(status="PENDING")),
        time="2026-11-25T12:00:10Z",
        event_id="in-progress",
    )
    # When the final report comes first, then the older one, then the final one again
    processor.process(done)
    processor.process(in_progress)
    processor.process(done)
    # Then the device's result stays final
    current = w.ledger.get(job.job_id)
    assert current is not None
    assert results_of(current)["camera-01"]["outcome"] == "SUCCESS"
    assert current.status is JobStatus.RUNNING
    # And once settled, a late failure report of an older attempt changes nothing
    processor.process(heartbeat_event(heartbeat_detail("camera-02", result=deployment_result())))
    late = deployment_result(status="FAIL", reason="old", start="2026-11-25T11:00:00.000Z")
    processor.process(heartbeat_event(heartbeat_detail("camera-02", result=late)))
    assert _status(w, job) is JobStatus.SUCCEEDED
    record = w.devices.get(FLEET, "camera-02")
    assert record is not None
    assert record.deployment_results["defect-detector-v2"]["outcome"] == "SUCCESS"


def test_a_report_dated_in_the_future_does_not_bury_the_devices_later_reports(
    w: EdgeWorld,
) -> None:
    # Given a failure report whose device clock ran a day ahead, received at 12:01
    job = _deploy(w, "camera-01", "camera-02")
    processor = w.processor()
    ahead = deployment_result(
        status="FAIL", reason="clock ahead", start="2026-11-26T12:00:00.000Z", end=None
    )
    processor.process(
        heartbeat_event(
            heartbeat_detail("camera-01", result=ahead),
            time="2026-11-25T12:01:00Z",
            event_id="ahead",
        )
    )
    # When the device's next report, correctly dated, arrives a minute later
    fixed = deployment_result(start="2026-11-25T12:01:30.000Z", end="2026-11-25T12:01:50.000Z")
    processor.process(
        heartbeat_event(
            heartbeat_detail("camera-01", result=fixed),
            time="2026-11-25T12:02:00Z",
            event_id="fixed",
        )
    )
    # Then the later report is the device's result
    current = w.ledger.get(job.job_id)
    assert current is not None
    assert results_of(current)["camera-01"]["outcome"] == "SUCCESS"


def test_a_report_that_ends_before_it_starts_is_refused_with_its_reason(w: EdgeWorld) -> None:
    # Given a deployment to two devices, and a report from one that ends before it starts
    job = _deploy(w, "camera-01", "camera-02")
    backwards = deployment_result(start="2026-11-25T12:00:30.000Z", end="2026-11-25T12:00:00.000Z")
    outcome = w.processor().process(
        heartbeat_event(heartbeat_detail("camera-01", result=backwards))
    )
    assert outcome.rejected
    # Then it is refused, naming the contradiction, and counts as that device's failure
    assert "DeploymentStartTime 2026-11-25T12:00:30+00:00 is after DeploymentEndTime" in (
        outcome.reason
    )
    current = w.ledger.get(job.job_id)
    assert current is not None
    entry = results_of(current)["camera-01"]
    assert entry["outcome"] == "FAIL" and "DeploymentResult" in entry["message"]
    assert current.status is JobStatus.RUNNING  # camera-02 has not reported


def test_a_result_recorded_before_a_crash_still_settles_the_job(w: EdgeWorld) -> None:
    # Given a result written to the record by a delivery that crashed before settling
    job = _deploy(w, "camera-01")
    body = heartbeat_event(heartbeat_detail("camera-01", result=deployment_result()))
    processor = w.processor()
    processor.process(body)
    # (rewind: put the job back to SUBMITTED state is impossible, so check the retry path
    # on a second job whose result entry is written directly)
    second = w.deployments().submit(
        w.drop_document(w.document("camera-01", name="second-deployment"), name="second.json")
    )
    entry = {"order": "2026-11-25T12:00:00.000Z|2026-11-25T12:00:30.000Z|x", "outcome": "SUCCESS"}
    assert w.ledger.record_entry(
        second.job_id, KIND, [JobStatus.SUBMITTED], attribute=RESULTS, key="camera-01", entry=entry
    )
    # When the same report is delivered again
    retry = heartbeat_detail("camera-01", result=deployment_result("second-deployment"))
    processor.process(heartbeat_event(retry, time="2026-11-25T11:00:00Z"))
    # Then the job settles anyway
    assert _status(w, second) is JobStatus.SUCCEEDED
    assert _status(w, job) is JobStatus.SUCCEEDED


def test_a_result_for_an_unknown_deployment_is_kept_on_the_device(w: EdgeWorld) -> None:
    w.register("camera-01")
    outcome = w.processor().process(
        heartbeat_event(heartbeat_detail(result=deployment_result("someone-elses")))
    )
    assert outcome.deployment_job is None
    record = w.devices.get(FLEET, "camera-01")
    assert record is not None
    assert record.deployment_results["someone-elses"]["outcome"] == "SUCCESS"


def test_settle_counts_over_the_targeted_devices() -> None:
    ok = {"outcome": "SUCCESS"}
    bad = {"outcome": "FAIL", "models": [{"ModelHandle": "m", "Status": "FAIL"}]}
    assert settle(["a", "b"], {"a": ok}).status is JobStatus.RUNNING
    assert settle(["a", "b"], {"a": ok, "b": ok}).status is JobStatus.SUCCEEDED
    assert settle(["a", "b"], {"a": bad, "b": bad}).status is JobStatus.FAILED
    assert settle(["a", "b"], {"a": ok, "b": bad}).status is JobStatus.PARTIALLY_SUCCEEDED
    # a device no longer targeted does not count
    assert settle(["a"], {"a": ok, "z": bad}).status is JobStatus.SUCCEEDED
    running = settle(["a", "b", "c"], {"a": ok, "b": bad})
    assert running.message == "2 of 3 devices reported, 1 failed"


# -- invalid heartbeats -------------------------------------------------------------------------

INVALID_HEARTBEATS: list[tuple[str, Any, str]] = [
    ("not json", "{nope", "event"),
    ("no time", {"remove": "time"}, "event.time"),
    ("wrong source", {"source": "someone.else"}, "event"),
    (
        "no agent version",
        {"detail": heartbeat_detail() | {"AgentVersion": None}},
        "detail.AgentVersion",
    ),
    ("bad device name", {"detail": heartbeat_detail("-cam")}, "detail.DeviceName"),
    (
        "bad status",
        {
            "detail": heartbeat_detail(
                result={"DeploymentName": "x", "DeploymentModels": [{"Status": "OK"}]}
            )
        },
        "detail.DeploymentResult.DeploymentModels[0].Status",
    ),
    ("unknown field", {"detail": heartbeat_detail() | {"Extra": 1}}, "detail"),
]


@pytest.mark.parametrize(
    ("case", "change", "field"), INVALID_HEARTBEATS, ids=[c[0] for c in INVALID_HEARTBEATS]
)
def test_invalid_heartbeats_are_reported_not_lost(
    w: EdgeWorld, case: str, change: Any, field: str
) -> None:
    # Given an invalid heartbeat
    if isinstance(change, str):
        body = change
    else:
        event = json.loads(
            heartbeat_event(heartbeat_detail(), event_id=f"bad-{case.replace(' ', '-')}")
        )
        if "remove" in change:
            event.pop(change["remove"])
        else:
            event.update(change)
            if isinstance(event.get("detail"), dict):
                event["detail"] = {k: v for k, v in event["detail"].items() if v is not None}
        body = json.dumps(event)
    # When it is delivered
    processor = w.processor()
    processor.handle_record(SqsMessage("message-1", body, 1))
    # Then it leaves a report with the field and reason, and changes no device
    listed = w.stack.s3_client.list_objects_v2(
        Bucket=w.stack.results_bucket, Prefix="reports/edge_heartbeat/"
    )
    (item,) = listed["Contents"]
    report = json.loads(
        w.stack.s3_client.get_object(Bucket=w.stack.results_bucket, Key=item["Key"])["Body"].read()
    )
    assert report["problems"] and report["problems"][0]["field"].startswith(field), report
    assert report["event"]  # the heartbeat itself is kept
    assert w.devices.get(FLEET, "camera-01") is None
