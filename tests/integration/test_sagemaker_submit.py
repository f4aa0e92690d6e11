from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from dropzone.adapters.sagemaker_runtime import SageMakerRuntime
from dropzone.errors import TransientError
from dropzone.ids import job_id_for
from dropzone.models.jobs import JobStatus, SourceObject
from dropzone.settings.sagemaker import SageMakerSubmitSettings
from dropzone.workflows.sagemaker.submit import SageMakerSubmitter
from tests.support.fixtures import Stack

PREFIX = "sagemaker-async/"


@pytest.fixture
def runtime_client() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client("sagemaker-runtime", region_name="us-east-1")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def _settings(stack: Stack) -> SageMakerSubmitSettings:
    return SageMakerSubmitSettings(
        jobs_table=stack.table_name,
        results_bucket=stack.results_bucket,
        default_request_ttl_seconds=3600,
        default_invocation_timeout_seconds=600,
    )


def _submitter(stack: Stack, client: Any) -> SageMakerSubmitter:
    return SageMakerSubmitter(
        settings=_settings(stack),
        ledger=stack.ledger(),
        s3=stack.s3(),
        runtime=SageMakerRuntime(client),
    )


def _upload(stack: Stack, key: str, body: bytes = b'{"x": [1, 2]}', **kwargs: Any) -> SourceObject:
    response = stack.s3_client.put_object(
        Bucket=stack.dropzone_bucket, Key=key, Body=body, **kwargs
    )
    return SourceObject(
        bucket=stack.dropzone_bucket,
        key=key,
        version_id=response["VersionId"],
        etag=response["ETag"].strip('"'),
        size=len(body),
    )


def _accepted(job_id: str) -> dict[str, Any]:
    return {
        "InferenceId": job_id,
        "OutputLocation": f"s3://out/{job_id}.out",
        "FailureLocation": f"s3://out/{job_id}-error.out",
    }


def test_submits_with_every_option_from_metadata(stack: Stack, runtime_client: Any) -> None:
    client, stubber = runtime_client
    # Given an upload with a Content-Type and every supported option
    source = _upload(
        stack,
        "sagemaker-async/churn-model/batch/in 1.csv",
        ContentType="text/csv",
        Metadata={
            "accept": "application/json",
            "custom-attributes": "trace=abc",
            "request-ttl-seconds": "120",
            "invocation-timeout-seconds": "60",
            "s3-output-path-extension": "team-a/2026",
            "filename": "result.json",
        },
    )
    job_id = job_id_for(source)
    stubber.add_response(
        "invoke_endpoint_async",
        _accepted(job_id),
        expected_params={
            "EndpointName": "churn-model",
            "InputLocation": f"s3://{stack.dropzone_bucket}/{source.key}",
            "InferenceId": job_id,
            "ContentType": "text/csv",
            "Accept": "application/json",
            "CustomAttributes": "trace=abc",
            "RequestTTLSeconds": 120,
            "InvocationTimeoutSeconds": 60,
            "S3OutputPathExtension": "team-a/2026",
            "Filename": "result.json",
        },
    )
    # When it is submitted
    job = _submitter(stack, client).submit(source)
    # Then the job is SUBMITTED with the service's locations and a deadline
    assert job.status is JobStatus.SUBMITTED
    assert job.inference_id == job_id
    assert job.service_ref == f"sagemaker:{job_id}"
    assert job.output_location == f"s3://out/{job_id}.out"
    assert job.failure_location == f"s3://out/{job_id}-error.out"
    assert job.target == "churn-model"
    assert job.deadline_at is not None
    assert [t.status for t in job.history] == [JobStatus.ACCEPTED, JobStatus.SUBMITTED]


def test_defaults_come_from_settings_and_url_encoded_keys_are_decoded(
    stack: Stack, runtime_client: Any
) -> None:
    client, stubber = runtime_client
    source = _upload(stack, "sagemaker-async/ep-1/my file.json")
    encoded = source.model_copy(update={"key": "sagemaker-async/ep-1/my+file.json"})
    stubber.add_response(
        "invoke_endpoint_async",
        _accepted(job_id_for(encoded)),
        expected_params={
            "EndpointName": "ep-1",
            "InputLocation": f"s3://{stack.dropzone_bucket}/sagemaker-async/ep-1/my file.json",
            "InferenceId": job_id_for(encoded),
            "ContentType": "binary/octet-stream",
            "RequestTTLSeconds": 3600,
            "InvocationTimeoutSeconds": 600,
        },
    )
    job = _submitter(stack, client).submit(encoded)
    assert job.status is JobStatus.SUBMITTED
    assert job.source.key == "sagemaker-async/ep-1/my file.json"


def test_a_literal_plus_in_a_key_still_works(stack: Stack, runtime_client: Any) -> None:
    client, stubber = runtime_client
    source = _upload(stack, "sagemaker-async/ep/a+b.json")
    stubber.add_response("invoke_endpoint_async", _accepted(job_id_for(source)))
    job = _submitter(stack, client).submit(source)
    assert job.status is JobStatus.SUBMITTED
    assert job.source.key == "sagemaker-async/ep/a+b.json"


def test_user_inference_id_is_used_and_indexed(stack: Stack, runtime_client: Any) -> None:
    client, stubber = runtime_client
    source = _upload(stack, "sagemaker-async/ep/x.json", Metadata={"inference-id": "order-42"})
    stubber.add_response(
        "invoke_endpoint_async",
        _accepted("order-42"),
        expected_params={
            "EndpointName": "ep",
            "InputLocation": f"s3://{stack.dropzone_bucket}/sagemaker-async/ep/x.json",
            "InferenceId": "order-42",
            "ContentType": "binary/octet-stream",
            "RequestTTLSeconds": 3600,
            "InvocationTimeoutSeconds": 600,
        },
    )
    job = _submitter(stack, client).submit(source)
    assert job.inference_id == "order-42"
    assert [j.job_id for j in stack.ledger().find_by_service_ref("sagemaker:order-42")] == [
        job.job_id
    ]


def test_a_duplicate_delivery_after_submission_makes_no_call(
    stack: Stack, runtime_client: Any
) -> None:
    client, stubber = runtime_client
    source = _upload(stack, "sagemaker-async/ep/x.json")
    stubber.add_response("invoke_endpoint_async", _accepted(job_id_for(source)))
    submitter = _submitter(stack, client)
    first = submitter.submit(source)
    # The stubber has no second response queued: a second call would fail the test.
    second = submitter.submit(source)
    assert first.job_id == second.job_id
    assert second.status is JobStatus.SUBMITTED


@pytest.mark.parametrize("code", ["ThrottlingException", "ServiceUnavailable", "InternalFailure"])
def test_throttling_and_5xx_leave_the_job_for_a_retry(
    stack: Stack, runtime_client: Any, code: str
) -> None:
    client, stubber = runtime_client
    source = _upload(stack, "sagemaker-async/ep/x.json")
    stubber.add_client_error(
        "invoke_endpoint_async",
        service_error_code=code,
        http_status_code=503 if code != "ThrottlingException" else 400,
    )
    stubber.add_response("invoke_endpoint_async", _accepted(job_id_for(source)))
    submitter = _submitter(stack, client)
    # When the service fails transiently
    with pytest.raises(TransientError, match=code):
        submitter.submit(source)
    # Then the job is still ACCEPTED, its lease released, nothing lost
    job = stack.ledger().get(job_id_for(source))
    assert job is not None and job.status is JobStatus.ACCEPTED
    # And the redelivered message (any container) submits it exactly once
    retried = _submitter(stack, client).submit(source)
    assert retried.status is JobStatus.SUBMITTED
    assert stack.s3_client.list_objects_v2(Bucket=stack.results_bucket).get("KeyCount") == 0


def test_unknown_endpoint_is_rejected_with_the_services_reason(
    stack: Stack, runtime_client: Any
) -> None:
    client, stubber = runtime_client
    source = _upload(stack, "sagemaker-async/no-such-endpoint/x.json")
    stubber.add_client_error(
        "invoke_endpoint_async",
        service_error_code="ValidationError",
        service_message="Endpoint no-such-endpoint of account 123456789012 not found.",
        http_status_code=400,
    )
    job = _submitter(stack, client).submit(source)
    assert job.status is JobStatus.REJECTED
    assert (
        job.message is not None
        and "no-such-endpoint of account 123456789012 not found" in job.message
    )
    report = _report(stack, job.report_location)
    assert report["status"] == "REJECTED"
    assert report["problems"][0]["field"] == "endpoint"


def _report(stack: Stack, location: str | None) -> dict[str, Any]:
    assert location is not None
    bucket, _, key = location[5:].partition("/")
    assert bucket == stack.results_bucket
    assert key.startswith("reports/sagemaker_async/")
    return json.loads(stack.s3_client.get_object(Bucket=bucket, Key=key)["Body"].read())  # type: ignore[no-any-return]


BAD_INPUTS: list[tuple[str, str, bytes, dict[str, Any], str]] = [
    ("empty file", "sagemaker-async/ep/empty.json", b"", {}, "empty (0 bytes)"),
    ("no endpoint", "sagemaker-async//x.json", b"1", {}, "no endpoint name"),
    ("invalid endpoint", "sagemaker-async/bad_name!/x.json", b"1", {}, "not a valid endpoint name"),
    (
        "endpoint too long",
        f"sagemaker-async/{'e' * 64}/x.json",
        b"1",
        {},
        "not a valid endpoint name",
    ),
    ("folder marker", "sagemaker-async/ep/folder/", b"", {}, "folder marker"),
    (
        "ttl not a number",
        "sagemaker-async/ep/x.json",
        b"1",
        {"Metadata": {"request-ttl-seconds": "soon"}},
        "request-ttl-seconds",
    ),
    (
        "ttl too short",
        "sagemaker-async/ep/x.json",
        b"1",
        {"Metadata": {"request-ttl-seconds": "59"}},
        "greater than or equal to 60",
    ),
    (
        "ttl too long",
        "sagemaker-async/ep/x.json",
        b"1",
        {"Metadata": {"request-ttl-seconds": "21601"}},
        "less than or equal to 21600",
    ),
    (
        "timeout zero",
        "sagemaker-async/ep/x.json",
        b"1",
        {"Metadata": {"invocation-timeout-seconds": "0"}},
        "invocation-timeout-seconds",
    ),
    (
        "timeout too long",
        "sagemaker-async/ep/x.json",
        b"1",
        {"Metadata": {"invocation-timeout-seconds": "3601"}},
        "less than or equal to 3600",
    ),
    (
        "inference id too long",
        "sagemaker-async/ep/x.json",
        b"1",
        {"Metadata": {"inference-id": "i" * 65}},
        "inference-id",
    ),
    (
        "inference id leading space",
        "sagemaker-async/ep/x.json",
        b"1",
        {"Metadata": {"inference-id": " abc"}},
        "must not start with a space",
    ),
    (
        "custom attributes too long",
        "sagemaker-async/ep/x.json",
        b"1",
        {"Metadata": {"custom-attributes": "a" * 1025}},
        "custom-attributes",
    ),
    (
        "output path extension with scheme",
        "sagemaker-async/ep/x.json",
        b"1",
        {"Metadata": {"s3-output-path-extension": "s3:x"}},
        "no s3: or https:",
    ),
    (
        "filename with two dots",
        "sagemaker-async/ep/x.json",
        b"1",
        {"Metadata": {"filename": "a.b.c"}},
        "at most one '.'",
    ),
]


@pytest.mark.parametrize(
    ("key", "body", "put_kwargs", "reason"),
    [case[1:] for case in BAD_INPUTS],
    ids=[case[0] for case in BAD_INPUTS],
)
def test_bad_input_is_rejected_with_a_specific_reason(
    stack: Stack,
    runtime_client: Any,
    key: str,
    body: bytes,
    put_kwargs: dict[str, Any],
    reason: str,
) -> None:
    client, _stubber = runtime_client  # no response queued: any call to SageMaker fails the test
    source = _upload(stack, key, body, **put_kwargs)
    job = _submitter(stack, client).submit(source)
    assert job.status is JobStatus.REJECTED
    assert job.message is not None and reason in job.message
    report = _report(stack, job.report_location)
    assert reason in report["reason"]
    assert report["source"]["key"] == key


def test_object_deleted_before_processing_is_rejected(stack: Stack, runtime_client: Any) -> None:
    client, _ = runtime_client
    source = _upload(stack, "sagemaker-async/ep/x.json")
    stack.s3_client.delete_object(
        Bucket=stack.dropzone_bucket, Key=source.key, VersionId=source.version_id
    )
    job = _submitter(stack, client).submit(source)
    assert job.status is JobStatus.REJECTED
    assert job.message is not None and "no longer exists" in job.message


def test_custom_attributes_are_never_echoed_in_reasons(stack: Stack, runtime_client: Any) -> None:
    client, _ = runtime_client
    secret = "token=s3cr3t\x01"
    source = _upload(stack, "sagemaker-async/ep/x.json", Metadata={"custom-attributes": secret})
    job = _submitter(stack, client).submit(source)
    assert job.status is JobStatus.REJECTED
    assert job.message is not None and "s3cr3t" not in job.message


def test_oversized_payload_is_rejected_without_reading_it(
    stack: Stack, runtime_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, _ = runtime_client
    source = _upload(stack, "sagemaker-async/ep/huge.bin", b"0123456789")
    monkeypatch.setattr("dropzone.workflows.sagemaker.rules.MAX_PAYLOAD_BYTES", 9)
    job = _submitter(stack, client).submit(source)
    assert job.status is JobStatus.REJECTED
    assert job.message is not None and "at most 9 bytes" in job.message
