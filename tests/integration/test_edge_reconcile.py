"""The edge reconciler: Greengrass roll-outs whose status events were lost are settled from
GetDeployment and ListEffectiveDeployments (FakeGreengrass checks both against the
greengrassv2 model), and every edge deployment that never ends is EXPIRED."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from dropzone.adapters.greengrass import Greengrass
from dropzone.errors import TransientError
from dropzone.models.greengrass import GreengrassDeploymentSection
from dropzone.models.jobs import Job, JobKind, JobStatus
from dropzone.settings.edge import EdgeReconcileSettings
from dropzone.workflows.edge.greengrass_rules import deployment_job_id
from dropzone.workflows.edge.reconcile import EdgeReconciler
from dropzone.workflows.edge.rollout import PackagedComponent
from dropzone_local.greengrass import FakeGreengrass
from functions.edge_reconcile import app as reconcile_app
from tests.support.events import load_event
from tests.support.fixtures import Stack
from tests.support.packaging import GROUP, THING, PackagingWorld, world

COMPONENT = PackagedComponent("circuit-model", "1.0.0")
GRACE = timedelta(minutes=31)


class Lost:
    """Status events that never arrive."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def __call__(self, event: dict[str, Any]) -> None:
        self.events.append(event)


@pytest.fixture
def w(stack: Stack) -> PackagingWorld:
    return world(stack)


@pytest.fixture
def fake(w: PackagingWorld) -> FakeGreengrass:
    greengrass = FakeGreengrass(clock=w.time.utc, deliver=Lost())
    greengrass.add_component_version(COMPONENT.name, COMPONENT.version)
    greengrass.add_core_devices(THING)
    greengrass.add_core_devices(GROUP, ["core-1", "core-2", "core-3"])
    return greengrass


def _reconciler(w: PackagingWorld, fake: FakeGreengrass, **settings: Any) -> EdgeReconciler:
    values: dict[str, Any] = {"jobs_table": w.stack.table_name, **settings}
    return EdgeReconciler(
        EdgeReconcileSettings(**values), w.ledger, Greengrass(fake), clock=w.time.utc
    )


def _roll_out(w: PackagingWorld, fake: FakeGreengrass, job_id: str, **section: Any) -> Job:
    parent = w.ledger.create(
        Job(
            job_id=job_id,
            kind=JobKind.MODEL_PACKAGING,
            status=JobStatus.RUNNING,
            source={"bucket": w.stack.dropzone_bucket, "key": "model-packaging/p/r.json"},
            target="circuit-boards",
            created_at="",
            updated_at="",
        )
    ).job
    rollout = GreengrassDeploymentSection.model_validate({"TargetArn": THING, **section})
    job = w.deployer(fake).deploy(parent, rollout, COMPONENT)
    assert job.status is JobStatus.SUBMITTED
    return job


def _get(w: PackagingWorld, job_id: str) -> Job:
    job = w.ledger.get(job_id)
    assert job is not None
    return job


def _calls(fake: FakeGreengrass, operation: str) -> list[dict[str, Any]]:
    return [call.params for call in fake.calls if call.operation == operation]


def test_a_roll_out_whose_event_was_lost_is_settled_after_the_grace(
    w: PackagingWorld, fake: FakeGreengrass
) -> None:
    # Given a roll-out to a thing that completed, its status event lost
    job = _roll_out(w, fake, "dz-" + "1" * 40)
    fake.advance_until_idle()
    assert len(fake.deliver.events) == 1  # type: ignore[union-attr]
    # When the reconciler runs within the grace period, it leaves the job alone
    w.tick(60)
    assert _reconciler(w, fake).run()["asked"] == 0
    assert _get(w, job.job_id).status is JobStatus.SUBMITTED
    # Then, once the job has been quiet for longer, it asks Greengrass and settles it
    w.tick(GRACE.total_seconds())
    summary = _reconciler(w, fake).run()
    assert summary["asked"] == 1 and summary["settled"] == 1
    final = _get(w, job.job_id)
    assert final.status is JobStatus.SUCCEEDED
    entry = (final.model_extra or {})["core_devices"]["line-3-core"]
    assert entry["status"] == "COMPLETED" and entry["source"] == "reconcile"
    deployment_id = (final.model_extra or {})["deployment_id"]
    assert _calls(fake, "GetDeployment") == [{"deploymentId": deployment_id}]
    assert _calls(fake, "ListEffectiveDeployments") == [
        {"coreDeviceThingName": "line-3-core", "maxResults": 100}
    ]


def test_a_device_failure_learned_by_reconciliation_keeps_its_reason(
    w: PackagingWorld, fake: FakeGreengrass
) -> None:
    fake.fail_device(
        "line-3-core", error_types=["DEPENDENCY_ERROR"], reason="artifact download failed"
    )
    job = _roll_out(w, fake, "dz-" + "2" * 40)
    fake.advance_until_idle()
    w.tick(GRACE.total_seconds())
    _reconciler(w, fake).run()
    final = _get(w, job.job_id)
    assert final.status is JobStatus.FAILED
    assert final.message is not None and "line-3-core: DEPLOYMENT_FAILURE" in final.message
    entry = (final.model_extra or {})["core_devices"]["line-3-core"]
    assert entry["error_types"] == ["DEPENDENCY_ERROR"]
    assert entry["reason"] == "artifact download failed"


def test_a_canceled_deployment_is_stopped(w: PackagingWorld, fake: FakeGreengrass) -> None:
    job = _roll_out(w, fake, "dz-" + "3" * 40, TargetArn=GROUP, CoreDeviceCount=3)
    fake.cancel_deployment(deploymentId=(job.model_extra or {})["deployment_id"])
    w.tick(GRACE.total_seconds())
    _reconciler(w, fake).run()
    final = _get(w, job.job_id)
    assert final.status is JobStatus.STOPPED
    assert final.service_status == "CANCELED"
    assert final.message is not None and "CANCELED" in final.message
    assert "3 more counted as canceled" in final.message


def test_a_replaced_group_deployment_counts_its_reports(
    w: PackagingWorld, fake: FakeGreengrass, stack: Stack
) -> None:
    # Given a group roll-out: one device's success arrived, then a newer deployment to the
    # group replaced it before the others reported
    job = _roll_out(w, fake, "dz-" + "4" * 40, TargetArn=GROUP, CoreDeviceCount=3)
    deployment_id = (job.model_extra or {})["deployment_id"]
    fake.slow_devices.update({"core-2": 10, "core-3": 10})
    fake.advance()
    fake.advance()
    (succeeded,) = fake.deliver.events  # type: ignore[union-attr]
    w.state_handler().handle_record(_sqs(succeeded))
    assert _get(w, job.job_id).status is JobStatus.RUNNING
    fake.create_deployment(
        targetArn=GROUP, components={COMPONENT.name: {"componentVersion": COMPONENT.version}}
    )
    assert fake.get_deployment(deploymentId=deployment_id)["deploymentStatus"] == "INACTIVE"
    # When the reconciler asks
    w.tick(GRACE.total_seconds())
    _reconciler(w, fake).run()
    # Then the two that never reported count as canceled: partly succeeded
    final = _get(w, job.job_id)
    assert final.status is JobStatus.PARTIALLY_SUCCEEDED
    assert final.message is not None and "INACTIVE" in final.message
    assert "2 more counted as canceled" in final.message


def test_a_deployment_greengrass_does_not_know_fails(
    w: PackagingWorld, fake: FakeGreengrass
) -> None:
    job = _roll_out(w, fake, "dz-" + "5" * 40)
    w.ledger.annotate(
        job.job_id,
        JobKind.EDGE_DEPLOYMENT,
        JobStatus.SUBMITTED,
        updates={"service_ref": "greengrass:7c5c4b1e-0f43-4a56-9d4a-1b2c3d4e5f60"},
    )
    w.tick(GRACE.total_seconds())
    summary = _reconciler(w, fake).run()
    assert summary["unknown"] == 1
    final = _get(w, job.job_id)
    assert final.status is JobStatus.FAILED
    assert final.message is not None and "Greengrass has no deployment" in final.message


def _edge_record(w: PackagingWorld, job_id: str, results: dict[str, Any]) -> Job:
    """An Edge Manager-shaped record for three devices, with some results in."""
    w.ledger.create(
        Job(
            job_id=job_id,
            kind=JobKind.EDGE_DEPLOYMENT,
            status=JobStatus.ACCEPTED,
            source={"bucket": w.stack.dropzone_bucket, "key": "edge-deployments/line/d.json"},
            target="line",
            created_at="",
            updated_at="",
        )
    )
    moved = w.ledger.transition(
        job_id,
        JobKind.EDGE_DEPLOYMENT,
        JobStatus.RUNNING if results else JobStatus.SUBMITTED,
        updates={
            "service_ref": f"edge:line/{job_id}",
            "devices": ["cam-1", "cam-2", "cam-3"],
            "device_results": results,
        },
    )
    assert moved.job is not None
    return moved.job


def test_an_edge_record_that_never_ends_expires_naming_its_silent_devices(
    w: PackagingWorld, fake: FakeGreengrass
) -> None:
    job = _edge_record(w, "dz-" + "6" * 40, {"cam-2": {"outcome": "SUCCESS", "order": "1"}})
    w.tick(71 * 3600)
    assert _reconciler(w, fake).run()["expired"] == 0
    w.tick(2 * 3600)
    summary = _reconciler(w, fake).run()
    assert summary["expired"] == 1
    final = _get(w, job.job_id)
    assert final.status is JobStatus.EXPIRED
    assert final.message == "no final report within 72 hours from 2 of 3 devices: cam-1, cam-3"
    assert (final.model_extra or {})["unreported_devices"] == ["cam-1", "cam-3"]
    assert fake.calls == []  # Edge Manager-shaped records are not Greengrass's


def test_a_group_roll_out_stuck_in_progress_expires(
    w: PackagingWorld, fake: FakeGreengrass
) -> None:
    fake.slow_devices["*"] = 10_000
    job = _roll_out(w, fake, "dz-" + "7" * 40, TargetArn=GROUP, CoreDeviceCount=3)
    fake.advance()
    w.tick(73 * 3600)
    summary = _reconciler(w, fake, edge_deployment_timeout_hours=72).run()
    assert summary["asked"] == 1 and summary["expired"] == 1
    final = _get(w, job.job_id)
    assert final.status is JobStatus.EXPIRED
    assert final.message is not None
    assert final.message.startswith("no final report within 72 hours from 3 of 3 core devices")
    assert "3 that never reported" in final.message


def test_runs_are_bounded_by_their_limit_and_time(w: PackagingWorld, fake: FakeGreengrass) -> None:
    for index in range(5):
        _edge_record(w, f"dz-{index:040d}", {})
        w.tick(1)
    w.tick(73 * 3600)
    assert _reconciler(w, fake).run(lambda: 5.0) == {
        "examined": 0,
        "asked": 0,
        "settled": 0,
        "unknown": 0,
        "expired": 0,
        "errors": 0,
        "throttled": False,
        "out_of_time": True,
    }
    first = _reconciler(w, fake, reconcile_batch_limit=2).run(lambda: 300.0)
    assert first["examined"] == 2 and first["expired"] == 2
    oldest = [_get(w, f"dz-{index:040d}").status for index in range(5)]
    assert oldest == [JobStatus.EXPIRED] * 2 + [JobStatus.SUBMITTED] * 3
    second = _reconciler(w, fake, reconcile_batch_limit=2).run(lambda: 300.0)
    assert second["expired"] == 2


def test_throttling_skips_greengrass_for_the_run_but_not_expiry(
    w: PackagingWorld, fake: FakeGreengrass
) -> None:
    rollout = _roll_out(w, fake, "dz-" + "8" * 40)
    record = _edge_record(w, "dz-" + "9" * 40, {})
    w.tick(73 * 3600)
    fake.inject_faults("ThrottlingException", operation="GetDeployment")
    summary = _reconciler(w, fake).run()
    assert summary["throttled"] is True and summary["errors"] == 0
    assert _get(w, rollout.job_id).status is JobStatus.SUBMITTED  # asked again next run
    assert _get(w, record.job_id).status is JobStatus.EXPIRED


def test_other_errors_fail_the_run_after_the_other_jobs(
    w: PackagingWorld, fake: FakeGreengrass
) -> None:
    rollout = _roll_out(w, fake, "dz-" + "a" * 40)
    record = _edge_record(w, "dz-" + "b" * 40, {})
    w.tick(73 * 3600)
    fake.inject_faults("InternalServerException", operation="GetDeployment")
    with pytest.raises(TransientError, match="1 errors"):
        _reconciler(w, fake).run()
    assert _get(w, rollout.job_id).status is JobStatus.SUBMITTED
    assert _get(w, record.job_id).status is JobStatus.EXPIRED


def test_the_handler_runs_the_reconciler_with_its_event(
    w: PackagingWorld, fake: FakeGreengrass, lambda_context: Any
) -> None:
    job = _roll_out(w, fake, "dz-" + "c" * 40)
    fake.advance_until_idle()
    w.tick(GRACE.total_seconds())
    result = reconcile_app.handler(
        load_event("edge_reconcile.json"), lambda_context, reconciler=_reconciler(w, fake)
    )
    assert result["settled"] == 1
    assert _get(w, job.job_id).status is JobStatus.SUCCEEDED
    assert _get(w, deployment_job_id("dz-" + "c" * 40)).job_id == job.job_id


def _sqs(event: dict[str, Any]) -> Any:
    import json

    from dropzone.sqs_batch import SqsMessage

    return SqsMessage("m", json.dumps(event), 1)
