"""Greengrass V2 roll-outs: the exact CreateDeployment request (Stubber on a real greengrassv2
client), idempotent starts, and deployment status events that never move a job back."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.stub import Stubber
from pydantic import ValidationError

from dropzone.errors import TransientError
from dropzone.models.greengrass import GreengrassDeploymentSection
from dropzone.models.jobs import Job, JobKind, JobStatus
from dropzone.sqs_batch import SqsMessage
from dropzone.workflows.edge.greengrass_rules import deployment_job_id
from dropzone.workflows.edge.rollout import PackagedComponent
from tests.support.events import greengrass_status
from tests.support.fixtures import Stack
from tests.support.packaging import GROUP, THING, PackagingWorld, greengrass_client, world

COMPONENT = PackagedComponent(
    "circuit-model",
    "1.0.0",
    "arn:aws:greengrass:us-east-1:123456789012:components:circuit-model:versions:1.0.0",
)


@pytest.fixture
def w(stack: Stack) -> PackagingWorld:
    # Some roll-outs here replace the target's components (KeepExistingComponents false).
    return world(stack, greengrass_replace_components=True)


def _packaging_job(w: PackagingWorld, job_id: str = "dz-" + "b" * 40) -> Job:
    job = Job(
        job_id=job_id,
        kind=JobKind.MODEL_PACKAGING,
        status=JobStatus.RUNNING,
        source={"bucket": w.stack.dropzone_bucket, "key": "model-packaging/p/r.json"},
        target="circuit-boards",
        created_at="",
        updated_at="",
    )
    return w.ledger.create(job).job


def _section(**fields: Any) -> GreengrassDeploymentSection:
    return GreengrassDeploymentSection.model_validate({"TargetArn": THING, **fields})


def test_create_deployment_sends_exactly_the_documented_request(w: PackagingWorld) -> None:
    parent = _packaging_job(w)
    job_id = deployment_job_id(parent.job_id)
    section = _section(
        DeploymentName="line-3 model",
        KeepExistingComponents=False,
        DeploymentPolicies={
            "FailureHandlingPolicy": "ROLLBACK",
            "ComponentUpdatePolicy": {"TimeoutInSeconds": 60, "Action": "NOTIFY_COMPONENTS"},
            "ConfigurationValidationPolicy": {"TimeoutInSeconds": 30},
        },
        ComponentConfigurationUpdate={"Merge": '{"threshold": 0.7}'},
    )
    client = greengrass_client()
    expected = {
        "targetArn": THING,
        "deploymentName": "line-3 model",
        "components": {
            "circuit-model": {
                "componentVersion": "1.0.0",
                "configurationUpdate": {"merge": '{"threshold": 0.7}'},
            }
        },
        "deploymentPolicies": {
            "failureHandlingPolicy": "ROLLBACK",
            "componentUpdatePolicy": {"timeoutInSeconds": 60, "action": "NOTIFY_COMPONENTS"},
            "configurationValidationPolicy": {"timeoutInSeconds": 30},
        },
        "clientToken": job_id,
        "tags": {"dropzone:job-id": job_id, "dropzone:parent-id": parent.job_id},
    }
    answer = {
        "deploymentId": "4f38f1a7-3dd0-42a1-af48-c1a2b3d09681",
        "iotJobId": "gg-job-1",
        "iotJobArn": "arn:aws:iot:us-east-1:123456789012:job/gg-job-1",
    }
    with Stubber(client) as stubber:
        stubber.add_response("create_deployment", answer, expected)
        job = w.deployer(client).deploy(parent, section, COMPONENT)
        stubber.assert_no_pending_responses()
    assert job.job_id == job_id and len(job_id) <= 64
    assert job.status is JobStatus.SUBMITTED
    assert job.kind is JobKind.EDGE_DEPLOYMENT and job.parent_id == parent.job_id
    assert job.service_ref == "greengrass:4f38f1a7-3dd0-42a1-af48-c1a2b3d09681"
    assert job.target == THING
    assert (job.model_extra or {})["iot_job_arn"] == answer["iotJobArn"]


def test_the_targets_current_components_are_read_and_kept(w: PackagingWorld) -> None:
    parent = _packaging_job(w)
    client = greengrass_client()
    with Stubber(client) as stubber:
        stubber.add_response(
            "list_deployments",
            {
                "deployments": [
                    {"targetArn": GROUP, "deploymentId": "d-0", "deploymentStatus": "ACTIVE"}
                ]
            },
            {"targetArn": GROUP, "historyFilter": "LATEST_ONLY", "maxResults": 1},
        )
        stubber.add_response(
            "get_deployment",
            {
                "deploymentId": "d-0",
                "components": {
                    "aws.greengrass.Nucleus": {"componentVersion": "2.12.0"},
                    "circuit-model": {"componentVersion": "0.9.0"},
                },
            },
            {"deploymentId": "d-0"},
        )
        stubber.add_response("create_deployment", {"deploymentId": "d-1"}, None)
        job = w.deployer(client).deploy(
            parent, _section(TargetArn=GROUP, CoreDeviceCount=2), COMPONENT
        )
        stubber.assert_no_pending_responses()
    assert job.options["request"]["components"] == {
        "aws.greengrass.Nucleus": {"componentVersion": "2.12.0"},
        "circuit-model": {"componentVersion": "1.0.0"},
    }
    assert job.options["expected_core_devices"] == 2


def test_deploying_again_is_idempotent(w: PackagingWorld) -> None:
    parent = _packaging_job(w)
    first = w.deployer().deploy(parent, _section(), COMPONENT)
    second = w.deployer().deploy(parent, _section(), COMPONENT)
    assert first.job_id == second.job_id and second.status is JobStatus.SUBMITTED
    assert len(w.greengrass.create_calls) == 1


def test_a_retry_after_a_failure_sends_the_same_request(w: PackagingWorld) -> None:
    parent = _packaging_job(w)
    w.greengrass.faults.append("ThrottlingException")
    with pytest.raises(TransientError):
        w.deployer().deploy(parent, _section(), COMPONENT)
    job = w.deployer().deploy(parent, _section(), COMPONENT)
    assert job.status is JobStatus.SUBMITTED
    first, second = w.greengrass.create_calls
    assert first == second


def test_a_target_greengrass_refuses_is_rejected_with_a_report(w: PackagingWorld) -> None:
    parent = _packaging_job(w)
    w.greengrass.faults.append("ValidationException")
    job = w.deployer().deploy(parent, _section(), COMPONENT)
    assert job.status is JobStatus.REJECTED
    assert job.message is not None and "Greengrass refused the deployment" in job.message
    assert job.report_location is not None


# -- status events -------------------------------------------------------------------------


def _deploy(w: PackagingWorld, section: GreengrassDeploymentSection) -> Job:
    return w.deployer().deploy(_packaging_job(w), section, COMPONENT)


def _deliver(w: PackagingWorld, *bodies: str) -> Job:
    handler = w.state_handler()
    for body in bodies:
        handler.handle_record(SqsMessage("m", body, 1))
    job = w.ledger.get(deployment_job_id("dz-" + "b" * 40))
    assert job is not None
    return job


def test_a_thing_target_follows_its_one_device(w: PackagingWorld) -> None:
    job = _deploy(w, _section())
    deployment = (job.model_extra or {})["deployment_id"]
    final = _deliver(w, greengrass_status(deployment, "line-3-core", "FAILED"))
    assert final.status is JobStatus.FAILED
    assert (
        final.message is not None
        and "DEPLOYMENT_FAILURE > ARTIFACT_DOWNLOAD_ERROR" in final.message
    )
    entry = (final.model_extra or {})["core_devices"]["line-3-core"]
    assert entry["error_types"] == ["DEPENDENCY_ERROR", "PERMISSION_ERROR"]
    assert "Access Denied" in entry["reason"]


def test_duplicates_and_reordering_never_move_a_job_back(w: PackagingWorld) -> None:
    job = _deploy(w, _section())
    deployment = (job.model_extra or {})["deployment_id"]
    final = _deliver(
        w,
        greengrass_status(deployment, "line-3-core", "SUCCEEDED", legacy_id=True),
        greengrass_status(deployment, "line-3-core", "IN_PROGRESS"),  # late
        greengrass_status(deployment, "line-3-core", "SUCCEEDED"),  # duplicate
        greengrass_status(
            deployment, "line-3-core", "FAILED"
        ),  # contradicts the first final report
    )
    assert final.status is JobStatus.SUCCEEDED
    assert (final.model_extra or {})["core_devices"]["line-3-core"]["status"] == "SUCCEEDED"
    assert [t.status for t in final.history] == [
        JobStatus.ACCEPTED,
        JobStatus.SUBMITTED,
        JobStatus.SUCCEEDED,
    ]


def test_a_thing_group_waits_for_its_devices_and_settles_by_counts(w: PackagingWorld) -> None:
    job = _deploy(w, _section(TargetArn=GROUP, CoreDeviceCount=3, KeepExistingComponents=False))
    deployment = (job.model_extra or {})["deployment_id"]
    running = _deliver(
        w,
        greengrass_status(deployment, "core-1", "IN_PROGRESS"),
        greengrass_status(deployment, "core-1", "SUCCEEDED"),
        greengrass_status(deployment, "core-2", "FAILED"),
    )
    assert running.status is JobStatus.RUNNING
    assert running.message == "2 of 3 core devices have finished"
    final = _deliver(w, greengrass_status(deployment, "core-3", "COMPLETED"))
    assert final.status is JobStatus.PARTIALLY_SUCCEEDED
    assert final.counts["core_devices_succeeded"] == 2
    assert final.counts["core_devices_failed"] == 1
    # a late report is still kept on the job, without moving its status
    late = _deliver(w, greengrass_status(deployment, "core-4", "SUCCEEDED"))
    assert late.status is JobStatus.PARTIALLY_SUCCEEDED
    assert late.counts["core_devices_reported"] == 4


def test_a_thing_group_needs_its_core_device_count(w: PackagingWorld) -> None:
    # Without it the first device to report would decide for the whole group.
    with pytest.raises(ValidationError) as raised:
        _section(TargetArn=GROUP)
    assert "is required for a thing group target" in str(raised.value)
    with pytest.raises(ValidationError, match="less than or equal to 100"):
        _section(TargetArn=GROUP, CoreDeviceCount=101)  # one item holds every result
    assert _section(TargetArn=GROUP, CoreDeviceCount=100).expected_core_devices() == 100


def test_a_record_of_unknown_group_size_follows_the_first_final_report(
    w: PackagingWorld,
) -> None:
    # A roll-out recorded before CoreDeviceCount was required has no expected count.
    job = _deploy(w, _section(TargetArn=GROUP, CoreDeviceCount=2, KeepExistingComponents=False))
    w.stack.dynamodb.update_item(
        TableName=w.stack.table_name,
        Key={"job_id": {"S": job.job_id}},
        UpdateExpression="REMOVE #o.expected_core_devices",
        ExpressionAttributeNames={"#o": "options"},
    )
    deployment = (job.model_extra or {})["deployment_id"]
    final = _deliver(
        w,
        greengrass_status(deployment, "core-1", "CANCELED"),
        greengrass_status(deployment, "core-2", "SUCCEEDED"),
    )
    assert final.status is JobStatus.STOPPED
    assert set((final.model_extra or {})["core_devices"]) == {"core-1", "core-2"}


def test_a_target_greengrass_refuses_while_listing_is_rejected_and_settles(
    w: PackagingWorld,
) -> None:
    # Given a target whose current deployments Greengrass refuses to list
    parent = _packaging_job(w)
    client = greengrass_client()
    with Stubber(client) as stubber:
        stubber.add_client_error(
            "list_deployments",
            service_error_code="ValidationException",
            service_message="Invalid target ARN",
            http_status_code=400,
            expected_params={"targetArn": THING, "historyFilter": "LATEST_ONLY", "maxResults": 1},
        )
        # When the hand-off deploys to it
        job = w.deployer(client).deploy(parent, _section(), COMPONENT)
        stubber.assert_no_pending_responses()
    # Then the roll-out exists, REJECTED with a report, instead of an error every minute
    assert job.job_id == deployment_job_id(parent.job_id)
    assert job.status is JobStatus.REJECTED
    assert job.message is not None and "Invalid target ARN" in job.message
    assert job.report_location is not None
    # and deploying again finds it settled, without calling Greengrass
    again = w.deployer(greengrass_client()).deploy(parent, _section(), COMPONENT)
    assert again.status is JobStatus.REJECTED


def test_unknown_deployments_are_retried_then_dropped(w: PackagingWorld) -> None:
    handler = w.state_handler()
    body = greengrass_status("not-ours", "core-1", "SUCCEEDED")
    with pytest.raises(TransientError, match="no job yet"):
        handler.handle_record(SqsMessage("m", body, 1))
    handler.handle_record(SqsMessage("m", body, 3))  # given up on: no error, a metric
