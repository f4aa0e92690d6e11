"""Submitting packaging requests: the exact StartModelPackagingJob request (checked by
botocore's Stubber on a real lookoutvision client), one job per object version however
often it is delivered, and the service's errors."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from botocore.stub import Stubber

from dropzone.errors import TransientError
from dropzone.ids import job_id_for
from dropzone.models.jobs import Job, JobKind, JobStatus
from dropzone.models.packaging import PackagingRequest
from tests.support.fixtures import Stack
from tests.support.packaging import (
    KEY,
    PROJECT,
    THING,
    PackagingWorld,
    lookoutvision_client,
    request_body,
    world,
)

START = "StartModelPackagingJob"


@pytest.fixture
def w(stack: Stack) -> PackagingWorld:
    return world(stack)


def _starts(w: PackagingWorld) -> list[Any]:
    return [call for call in w.lookoutvision.calls if call.operation == START]


def test_a_valid_request_starts_exactly_the_documented_request(w: PackagingWorld) -> None:
    # Given a packaging request with a JobName and no S3OutputLocation
    source = w.upload(request_body(JobName="release-7"))
    client = lookoutvision_client()
    submitter = w.submitter(client)
    job_id = job_id_for(source)
    job_name = f"release-7-{job_id}"
    expected = {
        "ProjectName": PROJECT,
        "ModelVersion": "1",
        "JobName": job_name,
        "ClientToken": job_id,
        "Description": "release 7 of the circuit board model",
        "Configuration": {
            "Greengrass": {
                "TargetDevice": "jetson_xavier",
                "ComponentName": "circuit-model",
                "ComponentDescription": "Circuit board anomaly detection",
                "ComponentVersion": "1.0.0",
                "Tags": [{"Key": "team", "Value": "vision"}],
                "S3OutputLocation": {
                    "Bucket": w.stack.results_bucket,
                    "Prefix": f"model-packaging/outputs/{job_id}/",
                },
            }
        },
    }
    # When it is submitted (the real client checks the request against the model)
    with Stubber(client) as stubber:
        stubber.add_response("start_model_packaging_job", {"JobName": job_name}, expected)
        job = submitter.submit(source)
        stubber.assert_no_pending_responses()
    # Then the job is SUBMITTED with what the poller needs
    assert job.status is JobStatus.SUBMITTED
    assert job.service_status == "CREATED"
    assert job.service_ref == f"lookoutvision:{PROJECT}/{job_name}"
    assert job.target == PROJECT
    assert job.output_location == (
        f"s3://{w.stack.results_bucket}/model-packaging/outputs/{job_id}/"
    )
    assert job.options["project_name"] == PROJECT and job.options["job_name"] == job_name
    assert [t.status for t in job.history] == [JobStatus.ACCEPTED, JobStatus.SUBMITTED]


def test_latest_leaves_the_component_version_to_the_service(w: PackagingWorld) -> None:
    job = w.submit(request_body(ModelVersion="latest"))
    assert job.status is JobStatus.SUBMITTED
    (start,) = _starts(w)
    assert "ComponentVersion" not in start.params["Configuration"]["Greengrass"]
    assert start.params["ModelVersion"] == "latest"


def test_a_gpu_platform_request_passes_the_service_checks(w: PackagingWorld) -> None:
    body = request_body()
    body["Configuration"]["Greengrass"].pop("TargetDevice")
    body["Configuration"]["Greengrass"]["TargetPlatform"] = {
        "Os": "LINUX",
        "Arch": "ARM64",
        "Accelerator": "NVIDIA",
    }
    body["Configuration"]["Greengrass"]["CompilerOptions"] = json.dumps(
        {"gpu-code": "sm_72", "trt-ver": "7.1.3", "cuda-ver": "10.2"}
    )
    job = w.submit(body)
    assert job.status is JobStatus.SUBMITTED


def test_the_same_upload_delivered_three_times_starts_one_job(w: PackagingWorld) -> None:
    source = w.upload(request_body())
    jobs = [w.submitter().submit(source) for _ in range(3)]
    assert len({job.job_id for job in jobs}) == 1
    assert len(_starts(w)) == 1
    assert w.stack.dynamodb.scan(TableName=w.stack.table_name)["Count"] == 1


def test_concurrent_deliveries_start_one_job(stack: Stack, atomic_dynamodb: None) -> None:
    w = world(stack)
    source = w.upload(request_body())
    results: list[Any] = []
    errors: list[Exception] = []

    def deliver() -> None:
        try:
            results.append(w.submitter().submit(source))
        except TransientError as error:  # busy elsewhere: the queue delivers it again
            errors.append(error)

    threads = [threading.Thread(target=deliver) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # the deliveries sent back to the queue come again later
    for _ in errors:
        results.append(w.submitter().submit(source))
    assert len(_starts(w)) == 1
    assert {job.status for job in results} <= {JobStatus.SUBMITTED, JobStatus.ACCEPTED}
    final = w.ledger.get(results[0].job_id)
    assert final is not None and final.status is JobStatus.SUBMITTED


def test_a_conflict_on_retry_means_the_job_already_started(w: PackagingWorld) -> None:
    # Given a first attempt that started the job but crashed before recording it
    source = w.upload(request_body())
    submitter = w.submitter()
    draft = Job(
        job_id=job_id_for(source),
        kind=JobKind.MODEL_PACKAGING,
        status=JobStatus.ACCEPTED,
        source=source,
        target=PROJECT,
        created_at="",
        updated_at="",
    )
    params = submitter.start_request(
        draft, PROJECT, PackagingRequest.model_validate(request_body())
    )
    w.lookoutvision.start_model_packaging_job(**{**params, "ClientToken": "another-token"})
    # When the delivery comes again (its lease has run out)
    w.tick(600)
    job = w.submitter().submit(source)
    # Then the service's ConflictException is read as "started already"
    assert job.status is JobStatus.SUBMITTED
    assert [call.error for call in _starts(w)] == [None, "ConflictException"]


def test_a_conflict_with_something_else_is_rejected(w: PackagingWorld) -> None:
    w.lookoutvision.inject_faults("ConflictException", operation=START)
    job = w.submit(request_body())
    assert job.status is JobStatus.REJECTED
    assert job.message is not None and "Lookout for Vision refused the job" in job.message


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("ValidationException", "Lookout for Vision refused the job"),
        ("ResourceNotFoundException", "no such project or model version"),
    ],
)
def test_refusals_of_the_request_are_rejected(w: PackagingWorld, code: str, reason: str) -> None:
    w.lookoutvision.inject_faults(code, operation=START)
    job = w.submit(request_body())
    assert job.status is JobStatus.REJECTED
    assert job.message is not None and reason in job.message


def test_an_unknown_model_version_is_rejected_by_the_service(w: PackagingWorld) -> None:
    job = w.submit(request_body(ModelVersion="9"))
    assert job.status is JobStatus.REJECTED
    assert job.message is not None and "ModelVersion" in job.message


@pytest.mark.parametrize(
    "code",
    [
        "ThrottlingException",
        "ServiceQuotaExceededException",
        "InternalServerException",
        "AccessDeniedException",
    ],
)
def test_transient_failures_are_retried_with_the_same_token(w: PackagingWorld, code: str) -> None:
    source = w.upload(request_body())
    w.lookoutvision.inject_faults(code, operation=START)
    with pytest.raises(TransientError):
        w.submitter().submit(source)
    job = w.submitter().submit(source)  # the lease was released: the retry goes through
    assert job.status is JobStatus.SUBMITTED
    tokens = {call.params["ClientToken"] for call in _starts(w)}
    assert tokens == {job.job_id}


def test_a_request_under_a_subfolder_and_with_an_output_prefix(w: PackagingWorld) -> None:
    body = request_body()
    body["Configuration"]["Greengrass"]["S3OutputLocation"] = {
        "Bucket": w.stack.results_bucket,
        "Prefix": "model-packaging/outputs/nightly/",
    }
    job = w.submit(body, f"model-packaging/{PROJECT}/nightly/2026-11-25.json")
    assert job.status is JobStatus.SUBMITTED
    assert job.output_location == f"s3://{w.stack.results_bucket}/model-packaging/outputs/nightly/"
    assert job.source.key != KEY


def test_with_edge_deployments_switched_off_a_request_for_one_is_rejected(stack: Stack) -> None:
    # Given a stack deployed with EnableEdgeDeployment=false
    w = world(stack, edge_deployments="Disabled")
    # When a request names a fleet and a Greengrass target
    job = w.submit(
        request_body(
            Edge={"DeviceFleetName": "line-3", "DeviceNames": ["cam-1"]},
            GreengrassDeployment={"TargetArn": THING},
        )
    )
    # Then it is REJECTED, naming both sections and the switch, and nothing is started
    assert job.status is JobStatus.REJECTED
    assert job.message is not None
    assert "Edge: edge deployments are switched off" in job.message
    assert "GreengrassDeployment: edge deployments are switched off" in job.message
    assert "EnableEdgeDeployment" in job.message
    assert _starts(w) == []
    # while the same stack still packages a request that asks for no edge deployment
    assert w.submit(request_body(), key=KEY.replace(".json", "-2.json")).status is (
        JobStatus.SUBMITTED
    )
