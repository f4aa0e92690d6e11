"""Model packaging to devices, offline: Lookout for Vision, Greengrass and edge devices
stood in for, the real handlers wired by the template, time moved by the local cloud."""

from __future__ import annotations

import hashlib
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dropzone import aws, clock
from dropzone.models.jobs import Job, JobKind, JobStatus
from dropzone_local import LocalCloud
from dropzone_local.service_model import validate_response
from tests.support.stack_copy import copy_stack

QUIET = {"POWERTOOLS_LOG_LEVEL": "CRITICAL", "POWERTOOLS_METRICS_DISABLED": "true"}
THING = "arn:aws:iot:us-east-1:123456789012:thing/line-3-core"
# The stack may roll out to THING: Greengrass roll-outs are off until GreengrassTargets is set.
PARAMETERS = {"GreengrassTargets": "line-3-core"}
KEY = "model-packaging/circuit-boards/release-7.json"


def request(**extra: object) -> bytes:
    body = {
        "ModelVersion": "1",
        "Description": "release 7",
        "Configuration": {
            "Greengrass": {"TargetDevice": "jetson_xavier", "ComponentName": "circuit-model"}
        },
        "Edge": {"DeviceFleetName": "line-3", "DeviceNames": ["cam-1", "cam-2"]},
        **extra,
    }
    return json.dumps(body).encode()


def by_kind(cloud: LocalCloud, kind: JobKind) -> list[Job]:
    return [job for job in cloud.jobs() if job.kind is kind]


def test_a_packaging_request_reaches_the_devices_and_their_answers() -> None:
    with LocalCloud(function_environment=QUIET, parameters=PARAMETERS) as cloud:
        # Given a project, a Greengrass core and two cameras, one of which cannot load models
        cloud.add_packaging_project("circuit-boards")
        cloud.add_core_devices(THING, ["line-3-core"])
        cloud.add_device("line-3", "cam-1")
        cloud.add_device("line-3", "cam-2").fail("circuit-model", "out of memory")
        # When the request is dropped (twice delivered) and a minute passes
        put = cloud.put_object(KEY, request(GreengrassDeployment={"TargetArn": THING}))
        cloud.redeliver(KEY, put["VersionId"])
        cloud.run_until_idle()
        assert cloud.lookoutvision.calls[0].operation == "StartModelPackagingJob"
        runs = cloud.advance(timedelta(minutes=1))
        # Then the poller ran once, and one packaging job led to one record of each kind
        assert runs == 1
        (packaging,) = by_kind(cloud, JobKind.MODEL_PACKAGING)
        assert packaging.status is JobStatus.SUCCEEDED
        starts = [c for c in cloud.lookoutvision.calls if c.operation == "StartModelPackagingJob"]
        assert len(starts) == 1
        deployments = {
            (job.service_ref or "").split(":", 1)[0]: job
            for job in by_kind(cloud, JobKind.EDGE_DEPLOYMENT)
        }
        assert deployments["greengrass"].status is JobStatus.SUCCEEDED
        edge = deployments["edge"]
        assert edge.status is JobStatus.PARTIALLY_SUCCEEDED
        assert "cam-2/circuit-model: out of memory" in (edge.message or "")
        # And a device's GetDeployments answer has the real shape and the artifact's SHA-1
        answer = cloud.edge_answers().get_deployments("cam-1", "line-3")
        validate_response("sagemaker-edge", "GetDeployments", answer)
        (definition,) = answer["Deployments"][0]["Definitions"]
        artifact = cloud.read_object(definition["S3Url"])
        assert definition["Checksum"] == {
            "Type": "SHA1",
            "Sum": hashlib.sha1(artifact).hexdigest(),  # noqa: S324 - the format's checksum
        }
        assert definition["State"] == "DEPLOY"
        registration = cloud.edge_answers().get_device_registration("cam-1", "line-3")
        assert registration["DeviceRegistration"] == "REGISTERED"
        # And every transition was published
        transitions = sum(len(job.history) for job in cloud.jobs())
        assert len(cloud.status_events) == transitions


def test_schedules_follow_the_clock_and_their_template_rates() -> None:
    with LocalCloud(function_environment=QUIET, parameters=PARAMETERS) as cloud:
        rates = {
            function.logical_id: function.schedules
            for function in cloud.functions.values()
            if function.schedules
        }
        assert rates["PackagingPollFunction"] == ["rate(1 minute)"]
        before = len(cloud.invocations)
        cloud.advance(timedelta(minutes=15))
        ran = [logical_id for logical_id, _ in cloud.invocations[before:]]
        # Fifteen minutes: the poller every minute, the 5- and 15-minute schedules in step
        assert ran.count("PackagingPollFunction") == 15
        assert ran.count("BedrockAdmissionFunction") == 3
        assert ran.count("SageMakerReconcileFunction") == 1


def test_failures_and_unreliable_events_still_end_every_job_truly() -> None:
    with LocalCloud(function_environment=QUIET, parameters=PARAMETERS) as cloud:
        cloud.add_packaging_project("circuit-boards")
        cloud.add_core_devices(THING, ["line-3-core"])
        cloud.add_device("line-3", "cam-1")
        cloud.add_device("line-3", "cam-2")
        cloud.unreliable_events(seed=3, hold=0.5, duplicate=0.5)
        # The first start is throttled and retried through the queue
        cloud.inject_faults("lookoutvision", "ThrottlingException")
        cloud.put_object(KEY, request(GreengrassDeployment={"TargetArn": THING}))
        cloud.run_until_idle()
        cloud.advance(timedelta(minutes=1))
        assert {(job.kind, job.status) for job in cloud.jobs()} == {
            (JobKind.MODEL_PACKAGING, JobStatus.SUCCEEDED),
            (JobKind.EDGE_DEPLOYMENT, JobStatus.SUCCEEDED),
        }
        assert len(cloud.jobs()) == 3
        assert cloud.unreliable is not None and cloud.unreliable.delivered
        assert cloud.queue_depth("PackagingSubmitDLQUrl") == 0


def test_heartbeats_of_a_device_no_record_names_end_in_reports() -> None:
    with LocalCloud(function_environment=QUIET, parameters=PARAMETERS) as cloud:
        # Given a device agent that no deployment record names
        cloud.add_device("line-3", "cam-9")
        # When two minutes pass, each with its periodic heartbeat
        cloud.advance(timedelta(minutes=1))
        cloud.advance(timedelta(minutes=1))
        # Then each heartbeat is in a report, and no device record exists
        s3 = cloud.client("s3")
        listed = s3.list_objects_v2(Bucket=cloud.results_bucket, Prefix="reports/edge_heartbeat/")
        reports = [
            json.loads(s3.get_object(Bucket=cloud.results_bucket, Key=item["Key"])["Body"].read())
            for item in listed.get("Contents", [])
        ]
        assert len(reports) == 2
        assert {report["rejected_as"] for report in reports} == {"unknown_device"}
        assert {report["event"]["detail"]["DeviceName"] for report in reports} == {"cam-9"}
        devices = cloud.client("dynamodb").scan(TableName=cloud.output("EdgeDevicesTableName"))
        assert devices["Items"] == []
        registration = cloud.edge_answers().get_device_registration("cam-9", "line-3")
        assert registration["DeviceRegistration"] == "NOT_REGISTERED"
        assert cloud.queue_depth("EdgeHeartbeatDLQUrl") == 0


def test_an_unknown_service_for_faults_is_refused() -> None:
    with (
        LocalCloud(function_environment=QUIET, parameters=PARAMETERS) as cloud,
        pytest.raises(ValueError, match="no stand-in"),
    ):
        cloud.inject_faults("rekognition", "ThrottlingException")


def test_a_slow_packaging_job_is_polled_until_it_ends() -> None:
    with LocalCloud(function_environment=QUIET, parameters=PARAMETERS) as cloud:
        # Given a packaging job that runs for five minutes
        cloud.add_packaging_project("circuit-boards")
        cloud.lookoutvision.run_time = timedelta(minutes=5)
        cloud.put_object(KEY, request())
        cloud.run_until_idle()
        # When a minute passes, the poller finds it running, and keeps polling
        cloud.advance(timedelta(minutes=1))
        (packaging,) = by_kind(cloud, JobKind.MODEL_PACKAGING)
        assert packaging.status is JobStatus.RUNNING
        for _ in range(5):
            cloud.advance(timedelta(minutes=1))
        # Then it ends, and only then is the edge record made
        (packaging,) = by_kind(cloud, JobKind.MODEL_PACKAGING)
        assert packaging.status is JobStatus.SUCCEEDED
        assert [h.status for h in packaging.history][-2:] == [
            JobStatus.RUNNING,
            JobStatus.SUCCEEDED,
        ]
        assert len(by_kind(cloud, JobKind.EDGE_DEPLOYMENT)) == 1


def test_slow_bedrock_jobs_take_more_rounds() -> None:
    model = "anthropic.claude-3-haiku-20240307-v1:0"
    record = {
        "modelInput": {
            "anthropic_version": "bedrock-2023-05-31",
            "max_tokens": 16,
            "messages": [{"role": "user", "content": "hi"}],
        }
    }
    body = "\n".join(json.dumps({"recordId": f"r{i}", **record}) for i in range(100)) + "\n"
    with LocalCloud(function_environment=QUIET, parameters=PARAMETERS) as cloud:
        with pytest.raises(ValueError, match="no jobs to slow down"):
            cloud.slow("sagemaker-runtime", 3)
        # Given a Bedrock that keeps every job running three rounds longer
        cloud.slow("bedrock", 3)
        cloud.put_object(f"bedrock-batch/{model}/reviews/in.jsonl", body.encode())
        # When everything else has settled, the job is still running
        cloud.run_until_idle()
        (job,) = [job for job in cloud.jobs() if job.parent_id]
        assert job.status is JobStatus.RUNNING
        # Then it ends after more rounds
        rounds = 1
        while not job.status.is_terminal and rounds < 10:
            cloud.run_until_idle()
            rounds += 1
            job = cloud.job(job.job_id) or job
        assert job.status is JobStatus.SUCCEEDED
        assert rounds > 1


def test_a_quota_refusal_waits_out_its_backoff_on_the_local_clock() -> None:
    with LocalCloud(function_environment=QUIET, parameters=PARAMETERS) as cloud:
        # Given Lookout for Vision refusing the first start for its concurrent-jobs quota
        cloud.add_packaging_project("circuit-boards")
        cloud.inject_faults("lookoutvision", "ServiceQuotaExceededException")
        cloud.put_object(KEY, request())
        cloud.run_until_idle()
        # Then the request waits, hidden in its queue, rather than being retried at once
        (job,) = cloud.jobs()
        assert job.status is JobStatus.ACCEPTED
        starts = [c for c in cloud.lookoutvision.calls if c.operation == "StartModelPackagingJob"]
        assert len(starts) == 1
        cloud.advance(timedelta(minutes=5))
        assert cloud.job(job.job_id).status is JobStatus.ACCEPTED  # type: ignore[union-attr]
        # And once its backoff has passed, it is started
        cloud.advance(timedelta(minutes=15))
        assert cloud.job(job.job_id).status is JobStatus.SUCCEEDED  # type: ignore[union-attr]
        assert cloud.queue_depth("PackagingSubmitDLQUrl") == 0


def test_a_failed_provisioning_leaves_nothing_behind(tmp_path: Path) -> None:
    # Given a template whose rule targets a queue that does not exist
    target = "Arn: !GetAtt SageMakerSubmitQueue.Arn"
    broken = copy_stack(
        tmp_path, {"stacks/sagemaker_async.yaml": (target, "Arn: !GetAtt Nope.Arn")}
    )
    clock.advance(timedelta(hours=1))  # left over from an earlier run
    # When provisioning fails
    with pytest.raises(Exception, match="Nope"), LocalCloud(broken):
        pass
    # and the failed one does not count as open: the next attempt gets as far again
    with pytest.raises(Exception, match="Nope"), LocalCloud(broken):
        pass
    # Then no moto, fake credentials or moved clock are left behind
    assert abs(clock.utcnow() - datetime.now(UTC)) < timedelta(seconds=5)
    assert os.environ.get("AWS_ACCESS_KEY_ID") != "local"
    assert aws.client("sqs").__class__.__name__ != "_WatchedSqs"
