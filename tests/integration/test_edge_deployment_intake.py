"""Edge deployment records from uploaded documents and from packaging jobs."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from dropzone.adapters.s3 import S3
from dropzone.errors import TransientError
from dropzone.models.edge import EdgeSection
from dropzone.models.jobs import Job, JobKind, JobStatus, SourceObject
from dropzone.sqs_batch import SqsMessage
from dropzone.workflows.edge.rules import (
    deployment_of,
    devices_of,
    job_id_for_packaging,
    service_ref,
)
from dropzone_local.service_model import validate_response
from tests.support.edge import FLEET, EdgeWorld, shared_world

ARTIFACT = b"model-bytes " * 100
SHA1 = hashlib.sha1(ARTIFACT, usedforsecurity=False).hexdigest()


@pytest.fixture(scope="module")
def shared() -> Iterator[EdgeWorld]:
    yield from shared_world()


@pytest.fixture
def w(shared: EdgeWorld) -> EdgeWorld:
    return shared.reset()


def test_a_document_becomes_a_submitted_edge_manager_shaped_record(w: EdgeWorld) -> None:
    # Given a deployment document for two devices of the fleet
    source = w.drop_document(w.document("camera-01", "camera-02"))
    # When it is submitted
    job = w.deployments().submit(source)
    # Then the record holds the deployment exactly as GetDeployments returns it
    assert job.status is JobStatus.SUBMITTED
    assert job.target == FLEET
    assert job.service_ref == service_ref(FLEET, "defect-detector-v2")
    deployment = deployment_of(job)
    assert deployment is not None
    api = deployment.as_api()
    validate_response("sagemaker-edge", "GetDeployments", {"Deployments": [api]})
    assert api["Definitions"][0]["Checksum"] == {"Type": "SHA1", "Sum": SHA1}
    assert devices_of(job) == ["camera-01", "camera-02"]
    # And both devices are registered and point at the record
    for device in ("camera-01", "camera-02"):
        record = w.devices.get(FLEET, device)
        assert record is not None and record.registration == "REGISTERED"
        assert record.deployment_ids == [job.job_id]


def test_duplicate_deliveries_record_one_deployment(w: EdgeWorld) -> None:
    source = w.drop_document(w.document())
    deployments = w.deployments()
    body = w.object_created_body(source)
    first = deployments.submit(source)
    deployments.handle_record(SqsMessage("m-2", body, 2))
    again = w.ledger.get(first.job_id)
    assert again is not None and again.history == first.history
    assert len(w.ledger.find_by_service_ref(first.service_ref or "")) == 1


def test_a_given_checksum_is_verified(w: EdgeWorld) -> None:
    ok = w.drop_document(w.document(Checksum={"Type": "SHA1", "Sum": SHA1.upper()}), name="a.json")
    assert w.deployments().submit(ok).status is JobStatus.SUBMITTED
    bad = w.drop_document(w.document(Checksum={"Type": "SHA1", "Sum": "0" * 40}), name="b.json")
    job = w.deployments().submit(bad)
    assert job.status is JobStatus.REJECTED
    assert (
        job.message
        == f"Definitions[0].Checksum.Sum: does not match the object: its SHA-1 is {SHA1}"
    )


def test_an_artifact_outside_the_artifact_prefixes_is_rejected_unread(
    w: EdgeWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a document naming an object that exists, but outside the artifact prefixes
    w.put("other-team/secret.bin", ARTIFACT, ChecksumAlgorithm="SHA1")
    outside = f"s3://{w.stack.dropzone_bucket}/other-team/secret.bin"
    source = w.drop_document(w.document(S3Url=outside))
    read: list[str] = []
    real_sha1 = S3.sha1

    def recording(self: S3, bucket: str, key: str, **kwargs: Any) -> Any:
        read.append(f"s3://{bucket}/{key}")
        return real_sha1(self, bucket, key, **kwargs)

    monkeypatch.setattr(S3, "sha1", recording)
    # When it is submitted
    job = w.deployments().submit(source)
    # Then the record is REJECTED, naming the allowed prefixes, and the object was not read
    assert job.status is JobStatus.REJECTED
    assert job.message == (
        f"Definitions[0].S3Url: must be under s3://{w.stack.dropzone_bucket}/edge-artifacts/ "
        f"or s3://{w.stack.results_bucket}/model-packaging/outputs/"
    )
    assert read == []


def test_an_artifact_under_the_packaging_outputs_is_accepted(w: EdgeWorld) -> None:
    # Given a packaged component in the results bucket and a document naming it
    key = "model-packaging/outputs/dz-1/defect/1.0.0/defect.zip"
    w.put(key, ARTIFACT, bucket=w.stack.results_bucket, ChecksumAlgorithm="SHA1")
    artifact = f"s3://{w.stack.results_bucket}/{key}"
    # When the document is submitted
    job = w.deployments().submit(w.drop_document(w.document(S3Url=artifact)))
    # Then it is recorded with the artifact's SHA-1
    assert job.status is JobStatus.SUBMITTED
    deployment = deployment_of(job)
    assert deployment is not None
    (definition,) = deployment.definitions
    assert definition.s3_url == artifact
    assert definition.checksum is not None and definition.checksum.sum == SHA1


def test_an_undeploy_is_a_new_record(w: EdgeWorld) -> None:
    w.deployments().submit(w.drop_document(w.document(), name="deploy.json"))
    undeploy = {
        "DeploymentName": "defect-detector-v2-undeploy",
        "DeviceNames": ["camera-01"],
        "Definitions": [{"ModelHandle": "defect-detector", "State": "UNDEPLOY"}],
    }
    job = w.deployments().submit(w.drop_document(undeploy, name="undeploy.json"))
    assert job.status is JobStatus.SUBMITTED
    deployment = deployment_of(job)
    assert deployment is not None
    assert deployment.as_api()["Definitions"] == [
        {"ModelHandle": "defect-detector", "State": "UNDEPLOY"}
    ]
    record = w.devices.get(FLEET, "camera-01")
    assert record is not None and len(record.deployment_ids) == 2


def test_transient_s3_errors_are_retried(w: EdgeWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given S3 failing with a 503 while the artifact is checksummed
    source = w.drop_document(w.document())

    def unavailable(*args: Any, **kwargs: Any) -> Any:
        raise ClientError(
            {"Error": {"Code": "SlowDown"}, "ResponseMetadata": {"HTTPStatusCode": 503}},
            "HeadObject",
        )

    monkeypatch.setattr(S3, "sha1", unavailable)
    deployments = w.deployments()
    # When the document is submitted, Then the delivery is retried
    with pytest.raises(TransientError):
        deployments.submit(source)
    monkeypatch.undo()
    # And the next delivery completes it
    assert deployments.submit(source).status is JobStatus.SUBMITTED


# -- SHA-1 of S3 objects -----------------------------------------------------------------


def test_sha1_uses_the_s3_checksum_of_a_single_part_object(w: EdgeWorld) -> None:
    w.put("models/a.bin", ARTIFACT, ChecksumAlgorithm="SHA1")
    digest = w.stack.s3().sha1(w.stack.dropzone_bucket, "models/a.bin")
    assert (digest.hexdigest, digest.streamed) == (SHA1, False)


def test_sha1_streams_objects_without_a_checksum(w: EdgeWorld) -> None:
    w.put("models/b.bin", ARTIFACT)
    digest = w.stack.s3().sha1(w.stack.dropzone_bucket, "models/b.bin", chunk_size=100)
    assert (digest.hexdigest, digest.streamed) == (SHA1, True)


def test_sha1_never_uses_a_multipart_objects_composite_checksum(w: EdgeWorld) -> None:
    # Given a multipart upload with SHA-1 part checksums (S3's object checksum is then a
    # checksum of the parts' checksums)
    client = w.stack.s3_client
    bucket, key = w.stack.dropzone_bucket, "models/multipart.bin"
    parts = [b"a" * (5 * 1024 * 1024), b"b" * 1000]
    upload = client.create_multipart_upload(Bucket=bucket, Key=key, ChecksumAlgorithm="SHA1")
    done = []
    for number, body in enumerate(parts, 1):
        sent = client.upload_part(
            Bucket=bucket,
            Key=key,
            UploadId=upload["UploadId"],
            PartNumber=number,
            Body=body,
            ChecksumAlgorithm="SHA1",
        )
        done.append(
            {"ETag": sent["ETag"], "PartNumber": number, "ChecksumSHA1": sent["ChecksumSHA1"]}
        )
    client.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=upload["UploadId"], MultipartUpload={"Parts": done}
    )
    head = client.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    whole = hashlib.sha1(b"".join(parts), usedforsecurity=False).hexdigest()
    assert "ChecksumSHA1" in head  # present, but not the object's own SHA-1
    # When its SHA-1 is asked for, Then the object is streamed and hashed
    digest = w.stack.s3().sha1(bucket, key, chunk_size=1 << 20)
    assert (digest.hexdigest, digest.streamed) == (whole, True)


# -- records from packaging jobs -----------------------------------------------------------


def _packaging_job(w: EdgeWorld) -> Job:
    source = w.put("model-packaging/factory-line/request.json", b"{}")
    return Job(
        job_id="dz-" + "a" * 40,
        kind=JobKind.MODEL_PACKAGING,
        status=JobStatus.SUCCEEDED,
        source=source,
        target="factory-line",
        created_at="2026-11-25T12:00:00.000Z",
        updated_at="2026-11-25T12:00:00.000Z",
    )


def test_record_from_packaging_is_idempotent(w: EdgeWorld) -> None:
    # Given a succeeded packaging job whose request names a fleet
    packaging = _packaging_job(w)
    edge = EdgeSection.model_validate({"DeviceFleetName": FLEET, "DeviceNames": ["camera-01"]})
    key = f"model-packaging/outputs/{packaging.job_id}/defect.component/1.0.0/defect.component.zip"
    w.put(key, ARTIFACT, bucket=w.stack.results_bucket)
    artifact = f"s3://{w.stack.results_bucket}/{key}"
    component = {
        "ComponentName": "defect.component",
        "ComponentVersion": "1.0.0",
        "ComponentVersionArn": (
            "arn:aws:greengrass:us-east-1:123456789012:components:defect.component:versions:1.0.0"
        ),
    }
    deployments = w.deployments()
    # When the hand-off happens twice
    first = deployments.record_from_packaging(packaging, edge, artifact, component)
    second = w.deployments().record_from_packaging(packaging, edge, artifact, component)
    # Then there is one record, derived from the packaging job
    assert first.job_id == second.job_id == job_id_for_packaging(packaging.job_id)
    assert len(first.job_id) <= 63
    assert second.status is JobStatus.SUBMITTED and second.history == first.history
    assert first.parent_id == packaging.job_id
    deployment = deployment_of(first)
    assert deployment is not None
    assert deployment.deployment_name == packaging.job_id
    (definition,) = deployment.definitions
    assert definition.model_handle == "defect-component"
    assert definition.s3_url == artifact
    assert definition.checksum is not None and definition.checksum.sum == SHA1
    assert first.options["component"] == component
    record = w.devices.get(FLEET, "camera-01")
    assert record is not None and record.deployment_ids == [first.job_id]


def test_record_from_packaging_with_a_missing_artifact_is_rejected(w: EdgeWorld) -> None:
    packaging = _packaging_job(w)
    edge = EdgeSection.model_validate(
        {"DeviceFleetName": FLEET, "DeviceNames": ["camera-01"], "ModelHandle": "detector"}
    )
    artifact = f"s3://{w.stack.results_bucket}/model-packaging/outputs/none.zip"
    job = w.deployments().record_from_packaging(packaging, edge, artifact, {})
    assert job.status is JobStatus.REJECTED
    assert job.message == f"Definitions[0].S3Url: {artifact} does not exist"


def test_source_object_is_the_packaging_request(w: EdgeWorld) -> None:
    packaging = _packaging_job(w)
    edge = EdgeSection.model_validate({"DeviceFleetName": FLEET, "DeviceNames": ["camera-01"]})
    artifact = w.artifact()
    job = w.deployments().record_from_packaging(
        packaging, edge, artifact, {"ComponentName": "c0mp"}
    )
    assert isinstance(job.source, SourceObject) and job.source == packaging.source
