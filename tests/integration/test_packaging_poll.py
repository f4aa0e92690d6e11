"""Polling packaging jobs: status mapping, the 5 TPS budget over a large backlog, the
per-run time budget, and the hand-off to edge records and Greengrass roll-outs."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.stub import Stubber

from dropzone.errors import TransientError
from dropzone.models.jobs import Job, JobKind, JobStatus
from dropzone.workflows.edge.greengrass_rules import deployment_job_id
from dropzone.workflows.edge.rules import job_id_for_packaging
from dropzone.workflows.packaging.rules import service_ref
from tests.support.fixtures import Stack
from tests.support.packaging import (
    GROUP,
    PROJECT,
    THING,
    PackagingWorld,
    lookoutvision_client,
    request_body,
    world,
)

DESCRIBE = "DescribeModelPackagingJob"


@pytest.fixture
def w(stack: Stack) -> PackagingWorld:
    return world(stack)


def _describes(w: PackagingWorld) -> list[Any]:
    return [call for call in w.lookoutvision.calls if call.operation == DESCRIBE]


def _count(w: PackagingWorld, *statuses: JobStatus) -> int:
    return sum(len(list(w.ledger.by_state(JobKind.MODEL_PACKAGING, status))) for status in statuses)


def _status(w: PackagingWorld, job_id: str) -> JobStatus:
    job = w.ledger.get(job_id)
    assert job is not None
    return job.status


def test_the_service_statuses_map_onto_the_ledger(w: PackagingWorld) -> None:
    # Given a submitted job
    job = w.submit(request_body())
    assert job.status is JobStatus.SUBMITTED
    w.tick(5)
    # When the service reports it CREATED, then RUNNING, then SUCCEEDED
    w.poller().run()
    assert _status(w, job.job_id) is JobStatus.SUBMITTED  # CREATED
    w.lookoutvision.advance()
    w.tick(5)
    w.poller().run()
    assert _status(w, job.job_id) is JobStatus.RUNNING
    w.lookoutvision.advance()
    w.tick(5)
    w.poller().run()
    # Then it SUCCEEDED with the component the service reports
    final = w.ledger.get(job.job_id)
    assert final is not None and final.status is JobStatus.SUCCEEDED
    extra = final.model_extra or {}
    assert extra["component_name"] == "circuit-model"
    assert extra["component_version"] == "1.0.0"
    assert extra["component_version_arn"].endswith(":components:circuit-model:versions:1.0.0")
    assert [t.service_status for t in final.history][-3:] == ["CREATED", "RUNNING", "SUCCEEDED"]


def test_a_failed_job_keeps_the_service_message(w: PackagingWorld) -> None:
    w.lookoutvision.fail_next("The model version is not trained.")
    job = w.submit(request_body())
    w.lookoutvision.advance_until_idle()
    w.tick(5)
    w.poller().run()
    final = w.ledger.get(job.job_id)
    assert final is not None and final.status is JobStatus.FAILED
    assert final.message == "The model version is not trained."
    assert final.service_status == "FAILED"


def test_describe_requests_and_responses_through_a_real_client(w: PackagingWorld) -> None:
    job = w.submit(request_body())
    client = lookoutvision_client()
    name = job.options["job_name"]
    answer = {
        "ModelPackagingDescription": {
            "JobName": name,
            "ProjectName": PROJECT,
            "ModelVersion": "1",
            "Status": "SUCCEEDED",
            "StatusMessage": "done",
            "CreationTimestamp": datetime(2026, 11, 25, 12, tzinfo=UTC),
            "LastUpdatedTimestamp": datetime(2026, 11, 25, 12, 30, tzinfo=UTC),
            "ModelPackagingOutputDetails": {
                "Greengrass": {
                    "ComponentName": "circuit-model",
                    "ComponentVersion": "1.0.0",
                    "ComponentVersionArn": (
                        "arn:aws:greengrass:us-east-1:aws:components:circuit-model"
                    ),
                }
            },
        }
    }
    w.tick(5)
    with Stubber(client) as stubber:
        stubber.add_response(
            "describe_model_packaging_job", answer, {"ProjectName": PROJECT, "JobName": name}
        )
        summary = w.poller(client).run()
        stubber.assert_no_pending_responses()
    assert summary["described"] == 1 and summary["changed"] == 1
    final = w.ledger.get(job.job_id)
    assert final is not None and final.status is JobStatus.SUCCEEDED
    assert (final.model_extra or {})["service_updated_at"] == "2026-11-25T12:30:00.000Z"


def _backlog(w: PackagingWorld, count: int) -> list[Job]:
    """`count` RUNNING jobs, started in the fake and recorded in the ledger."""
    jobs = []
    for index in range(count):
        w.tick(0.25)  # within the fake's own start rate
        name = f"dz-backlog-{index:03d}"
        w.lookoutvision.start_model_packaging_job(
            ProjectName=PROJECT,
            ModelVersion="1",
            JobName=name,
            ClientToken=name,
            Configuration={
                "Greengrass": {
                    "TargetDevice": "jetson_xavier",
                    "ComponentName": f"circuit-model-{index:03d}",
                    "S3OutputLocation": {
                        "Bucket": w.stack.results_bucket,
                        "Prefix": f"model-packaging/outputs/{name}/",
                    },
                }
            },
        )
        if index % 10 == 0:
            w.lookoutvision.fail_job(name, f"job {index} failed")
        job = Job(
            job_id=name,
            kind=JobKind.MODEL_PACKAGING,
            status=JobStatus.RUNNING,
            source={
                "bucket": w.stack.dropzone_bucket,
                "key": f"model-packaging/{PROJECT}/{index}.json",
            },
            target=PROJECT,
            service_ref=service_ref(PROJECT, name),
            options={"project_name": PROJECT, "job_name": name},
            created_at="",
            updated_at="",
        )
        jobs.append(w.ledger.create(job).job)
    w.lookoutvision.advance()  # CREATED → RUNNING in the service too
    return jobs


def test_a_backlog_of_100_running_jobs_stays_within_5_tps_and_spreads_over_runs(
    w: PackagingWorld,
) -> None:
    # Given 100 running jobs and runs with time for about 40 describe calls each
    jobs = _backlog(w, 100)  # the fake moves them on only when told to
    w.tick(60)
    per_run: list[int] = []
    # When three runs go by, a minute apart
    for _ in range(3):
        summary = w.poller().run(w.time.budget(10.0))
        assert summary["out_of_time"] is True
        per_run.append(summary["described"])
        w.tick(60)
    # Then each run made a call every 1/4.5 s while more than 1 s of its 10 s remained
    assert per_run == [41, 41, 41]
    # and the runs went round the backlog: each picked up where the last one stopped, every
    # job was described once before any was described again, least recently first
    ids = [job.job_id for job in jobs]
    names = [call.params["JobName"] for call in _describes(w)]
    assert names[:100] == ids
    assert names[100:] == ids[:23]
    assert _count(w, JobStatus.RUNNING) == 100
    # and never more than 5 calls fell in any one second, and none was throttled
    assert w.lookoutvision.peak_rate(DESCRIBE) <= 5
    assert all(call.error is None for call in _describes(w))

    # When the service finishes them (one in ten fails) and the runs go on
    w.lookoutvision.advance_until_idle()
    runs = 0
    while _count(w, JobStatus.SUBMITTED, JobStatus.RUNNING):
        w.poller().run(w.time.budget(10.0))
        w.tick(60)
        runs += 1
        assert runs < 10
    # Then every job reached its final status, over several runs, still within 5 TPS
    assert runs == 3
    assert _count(w, JobStatus.FAILED) == 10
    assert _count(w, JobStatus.SUCCEEDED) == 90
    assert w.lookoutvision.peak_rate(DESCRIBE) <= 5


def test_throttling_stops_the_run_and_the_next_run_continues(w: PackagingWorld) -> None:
    jobs = _backlog(w, 6)
    w.lookoutvision.advance_until_idle()
    w.tick(60)
    w.lookoutvision.inject_faults("ThrottlingException", operation=DESCRIBE)
    summary = w.poller().run()
    assert summary["throttled"] is True and summary["described"] == 0
    assert all(_status(w, job.job_id) is JobStatus.RUNNING for job in jobs)
    w.tick(60)
    summary = w.poller().run()
    assert summary["described"] == 6
    assert all(_status(w, job.job_id).is_terminal for job in jobs)


def test_a_job_the_service_does_not_know_fails_after_the_grace_period(w: PackagingWorld) -> None:
    job = Job(
        job_id="dz-lost",
        kind=JobKind.MODEL_PACKAGING,
        status=JobStatus.SUBMITTED,
        source={"bucket": w.stack.dropzone_bucket, "key": "model-packaging/p/x.json"},
        target=PROJECT,
        options={"project_name": PROJECT, "job_name": "dz-lost"},
        created_at="",
        updated_at="",
        submitted_at=w.time.utc().isoformat(),
    )
    w.ledger.create(job)
    w.tick(60)
    w.poller().run()
    assert _status(w, "dz-lost") is JobStatus.SUBMITTED  # within the grace period
    w.tick(16 * 60)
    w.poller().run()
    final = w.ledger.get("dz-lost")
    assert final is not None and final.status is JobStatus.FAILED
    assert final.message is not None and "has no packaging job" in final.message


def test_other_errors_fail_the_run_after_the_other_jobs_had_their_turn(w: PackagingWorld) -> None:
    jobs = _backlog(w, 3)
    w.lookoutvision.advance_until_idle()
    w.tick(60)
    w.lookoutvision.inject_faults("InternalServerException", operation=DESCRIBE)
    with pytest.raises(TransientError, match="1 errors"):
        w.poller().run()
    assert [_status(w, job.job_id) for job in jobs].count(JobStatus.RUNNING) == 1


# -- hand-off ------------------------------------------------------------------------------


def _succeed(w: PackagingWorld, body: dict[str, Any]) -> Job:
    job = w.submit(body)
    assert job.status is JobStatus.SUBMITTED
    w.lookoutvision.advance_until_idle()
    w.tick(5)
    return job


def test_a_succeeded_job_hands_its_artifact_to_the_edge_records(w: PackagingWorld) -> None:
    job = _succeed(
        w, request_body(Edge={"DeviceFleetName": "line-3", "DeviceNames": ["cam-1", "cam-2"]})
    )
    w.poller().run()
    (call,) = w.edge.calls
    prefix = f"s3://{w.stack.results_bucket}/model-packaging/outputs/{job.job_id}/"
    assert call["artifact"] == f"{prefix}circuit-model/1.0.0/circuit-model.zip"
    assert call["component"]["ComponentName"] == "circuit-model"
    assert call["component"]["ComponentVersion"] == "1.0.0"
    assert call["edge"].device_names == ["cam-1", "cam-2"]
    final = w.ledger.get(job.job_id)
    assert final is not None and final.status is JobStatus.SUCCEEDED
    assert final.children == [f"{job.job_id}-edge"]


def test_a_crash_in_the_hand_off_is_repaired_by_the_next_run(w: PackagingWorld) -> None:
    job = _succeed(
        w,
        request_body(
            Edge={"DeviceFleetName": "line-3", "DeviceNames": ["cam-1"]},
            GreengrassDeployment={"TargetArn": THING},
        ),
    )
    # Given a run whose hand-off fails half-way (the edge record is made, then Greengrass
    # is unavailable)
    w.greengrass.faults.append("InternalServerException")
    with pytest.raises(TransientError):
        w.poller().run()
    # Then the job is not SUCCEEDED yet, so the next run comes back to it
    assert not _status(w, job.job_id).is_terminal
    w.tick(60)
    w.poller().run()
    final = w.ledger.get(job.job_id)
    assert final is not None and final.status is JobStatus.SUCCEEDED
    rollout = w.ledger.get(deployment_job_id(job.job_id))
    assert rollout is not None and rollout.status is JobStatus.SUBMITTED
    assert final.children == [f"{job.job_id}-edge", rollout.job_id]
    # the edge record was asked for twice and exists once; one deployment exists
    assert len(w.edge.calls) == 2
    assert len(w.greengrass.deployments) == 1
    tokens = {call["clientToken"] for call in w.greengrass.create_calls}
    assert tokens == {rollout.job_id}


def test_a_missing_artifact_fails_the_edge_record_with_the_reason(w: PackagingWorld) -> None:
    job = _succeed(w, request_body(Edge={"DeviceFleetName": "line-3", "DeviceNames": ["cam-1"]}))
    prefix = f"model-packaging/outputs/{job.job_id}/"
    for item in w.stack.s3_client.list_objects_v2(Bucket=w.stack.results_bucket, Prefix=prefix)[
        "Contents"
    ]:
        w.stack.s3_client.delete_object(Bucket=w.stack.results_bucket, Key=item["Key"])
    w.poller().run()
    final = w.ledger.get(job.job_id)
    assert final is not None and final.status is JobStatus.SUCCEEDED
    (record_id,) = final.children
    record = w.ledger.get(record_id)
    assert record is not None and record.status is JobStatus.FAILED
    assert record.kind is JobKind.EDGE_DEPLOYMENT and record.parent_id == job.job_id
    assert record.message is not None and "no packaged model under" in record.message
    assert w.edge.calls == []


def test_a_greengrass_roll_out_merges_the_targets_components(w: PackagingWorld) -> None:
    w.greengrass.create_deployment(
        targetArn=GROUP,
        components={"aws.greengrass.Nucleus": {"componentVersion": "2.12.0"}},
        clientToken="earlier",
    )
    job = _succeed(
        w,
        request_body(
            GreengrassDeployment={
                "TargetArn": GROUP,
                "CoreDeviceCount": 2,
                "DeploymentPolicies": {"FailureHandlingPolicy": "ROLLBACK"},
            }
        ),
    )
    w.poller().run()
    request = w.greengrass.create_calls[-1]
    assert request["components"] == {
        "aws.greengrass.Nucleus": {"componentVersion": "2.12.0"},
        "circuit-model": {"componentVersion": "1.0.0"},
    }
    assert request["deploymentPolicies"] == {"failureHandlingPolicy": "ROLLBACK"}
    rollout = w.ledger.get(deployment_job_id(job.job_id))
    assert rollout is not None and rollout.options["expected_core_devices"] == 2


def test_the_hand_off_reaches_a_devices_get_deployments_answer(stack: Stack) -> None:
    # Given the real edge workflow behind the hand-off
    from dropzone_local.service_model import validate_response
    from tests.support import edge as edge_support

    edge = edge_support.world(stack)
    w = world(stack)
    job = _succeed(
        w,
        request_body(
            Edge={"DeviceFleetName": "line-cameras", "DeviceNames": ["camera-01", "camera-02"]}
        ),
    )
    # When the poller sees the job succeed
    w.poller(edge=edge.deployments()).run()
    # Then the device is told to deploy the packaged model, checksum included
    final = w.ledger.get(job.job_id)
    assert final is not None and final.status is JobStatus.SUCCEEDED
    answer = edge.answers().get_deployments("camera-01", "line-cameras")
    validate_response("sagemaker-edge", "GetDeployments", answer)
    (deployment,) = answer["Deployments"]
    (definition,) = deployment["Definitions"]
    assert definition["ModelHandle"] == "circuit-model"
    assert definition["S3Url"].endswith(f"{job.job_id}/circuit-model/1.0.0/circuit-model.zip")
    assert definition["Checksum"]["Type"] == "SHA1" and len(definition["Checksum"]["Sum"]) == 40
    assert final.children and w.ledger.get(final.children[0]) is not None


def test_a_hand_off_that_keeps_failing_settles_after_its_attempts(stack: Stack) -> None:
    w = world(stack, max_handoff_attempts=3)
    job = _succeed(
        w,
        request_body(
            Edge={"DeviceFleetName": "line-3", "DeviceNames": ["cam-1"]},
            GreengrassDeployment={"TargetArn": THING},
        ),
    )
    # Given a hand-off that fails every time (the edge record cannot be made)
    w.edge.failures.extend(TransientError("edge devices table unavailable") for _ in range(3))
    # When two runs fail, the job stays unfinished and the error counts
    for attempt in (1, 2):
        with pytest.raises(TransientError):
            w.poller().run()
        current = w.ledger.get(job.job_id)
        assert current is not None and not current.status.is_terminal
        assert (current.model_extra or {})["handoff_attempts"] == attempt
        w.tick(60)
    # Then the third, last, attempt settles everything instead of failing the run again
    summary = w.poller().run()
    assert summary["errors"] == 0
    final = w.ledger.get(job.job_id)
    assert final is not None and final.status is JobStatus.SUCCEEDED
    assert final.message is not None
    assert "the hand-off failed after 3 attempts" in final.message
    assert "edge devices table unavailable" in final.message
    assert (final.model_extra or {})["handoff_failed"] is True
    # and the records it should have made are FAILED, each with a report
    assert final.children == [job_id_for_packaging(job.job_id), deployment_job_id(job.job_id)]
    for child_id in final.children:
        child = w.ledger.get(child_id)
        assert child is not None and child.status is JobStatus.FAILED
        assert child.parent_id == job.job_id
        assert child.report_location is not None
        key = child.report_location.split("/", 3)[3]
        report = json.loads(
            w.stack.s3_client.get_object(Bucket=w.stack.results_bucket, Key=key)["Body"].read()
        )
        assert report["status"] == "FAILED" and "failed 3 times" in report["reason"]
    assert w.greengrass.create_calls == []  # no roll-out was started behind its back


def test_an_attempt_cut_short_by_the_timeout_counts(stack: Stack) -> None:
    w = world(stack, max_handoff_attempts=2)
    job = _succeed(w, request_body(GreengrassDeployment={"TargetArn": THING}))
    # Given two attempts that never finished (the invocation timed out mid-way)
    w.ledger.annotate(
        job.job_id, JobKind.MODEL_PACKAGING, JobStatus.SUBMITTED, updates={"handoff_attempts": 2}
    )
    w.tick(60)
    # When the next run meets the job, it gives up without a third attempt
    w.poller().run()
    final = w.ledger.get(job.job_id)
    assert final is not None and final.status is JobStatus.SUCCEEDED
    assert final.message is not None and "did not finish in time" in final.message
    rollout = w.ledger.get(deployment_job_id(job.job_id))
    assert rollout is not None and rollout.status is JobStatus.FAILED
    assert w.greengrass.create_calls == []


def test_a_hand_off_starts_only_with_time_for_it(w: PackagingWorld) -> None:
    job = _succeed(w, request_body(GreengrassDeployment={"TargetArn": THING}))
    # When a run has less time left than a hand-off may need
    summary = w.poller().run(w.time.budget(15.0))
    # Then it leaves the job as it was, first in line for the next run
    assert summary["out_of_time"] is True
    current = w.ledger.get(job.job_id)
    assert current is not None and current.status is JobStatus.SUBMITTED
    assert "handoff_attempts" not in (current.model_extra or {})
    assert w.greengrass.create_calls == []
    w.tick(60)
    w.poller().run(w.time.budget(120.0))
    assert _status(w, job.job_id) is JobStatus.SUCCEEDED
    assert len(w.greengrass.create_calls) == 1
