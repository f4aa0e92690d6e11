"""The Edge Manager-compatible endpoint, driven by an unmodified `sagemaker-edge` client
in-process: each operation's answer, per-device authorization, authentication failures,
and errors as botocore parses them."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from dropzone import clock
from dropzone.clock import iso
from dropzone.models.jobs import JobStatus
from dropzone.workflows.edge.credentials import looks_like_access_key_id, secret_from_mac
from dropzone.workflows.edge.endpoint_protocol import MAX_BODY_BYTES
from dropzone.workflows.edge.rules import service_ref
from tests.support.edge import FLEET, EdgeWorld, deployment_result, heartbeat_detail, shared_world
from tests.support.edge_endpoint import EndpointWorld, endpoint_world
from tests.support.fixtures import create_table


@pytest.fixture(scope="module")
def shared() -> Iterator[EndpointWorld]:
    for edge in shared_world():
        yield endpoint_world(edge)


@pytest.fixture
def w(shared: EndpointWorld) -> EndpointWorld:
    shared.edge.reset()
    dynamodb = shared.edge.stack.dynamodb
    for page in dynamodb.get_paginator("scan").paginate(TableName=shared.store.table_name):
        for item in page.get("Items", []):
            dynamodb.delete_item(
                TableName=shared.store.table_name,
                Key={"access_key_id": item["access_key_id"]},
            )
    return shared


def _deploy(w: EndpointWorld, *devices: str) -> None:
    edge: EdgeWorld = w.edge
    edge.deployments().submit(edge.drop_document(edge.document(*devices)))


def _error(raised: pytest.ExceptionInfo[ClientError]) -> tuple[str, int, str]:
    response = raised.value.response
    return (
        response["Error"]["Code"],
        response["ResponseMetadata"]["HTTPStatusCode"],
        response["Error"]["Message"],
    )


# -- the three operations -------------------------------------------------------------------


def test_registration_of_a_registered_and_an_unregistered_device(w: EndpointWorld) -> None:
    _deploy(w, "camera-01")
    registered = w.client(w.issuer().issue(FLEET, "camera-01"))
    unregistered = w.client(w.issuer().issue(FLEET, "camera-77"))
    known = registered.get_device_registration(DeviceName="camera-01", DeviceFleetName=FLEET)
    unknown = unregistered.get_device_registration(DeviceName="camera-77", DeviceFleetName=FLEET)
    assert (known["DeviceRegistration"], known["CacheTTL"]) == ("REGISTERED", "3600")
    assert unknown["DeviceRegistration"] == "NOT_REGISTERED"


def test_deployments_are_what_dropzone_answers_the_device(w: EndpointWorld) -> None:
    _deploy(w, "camera-01", "camera-02")
    client = w.client(w.issuer().issue(FLEET, "camera-01"))
    answer = client.get_deployments(DeviceName="camera-01", DeviceFleetName=FLEET)
    answer.pop("ResponseMetadata")
    assert answer == w.edge.answers().get_deployments("camera-01", FLEET)
    (deployment,) = answer["Deployments"]
    assert deployment["DeploymentName"] == "defect-detector-v2"
    assert deployment["Definitions"][0]["ModelHandle"] == "defect-detector"


def test_a_heartbeat_updates_the_device_record_and_settles_the_deployment(
    w: EndpointWorld,
) -> None:
    _deploy(w, "camera-01")
    client = w.client(w.issuer().issue(FLEET, "camera-01"))
    detail = heartbeat_detail(agent_version="2.5", result=deployment_result())
    answer = client.send_heartbeat(**detail)
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200
    record = w.edge.devices.get(FLEET, "camera-01")
    assert record is not None
    assert record.agent_version == "2.5" and record.last_heartbeat is not None
    (job,) = w.edge.ledger.find_by_service_ref(service_ref(FLEET, "defect-detector-v2"))
    assert job.status is JobStatus.SUCCEEDED


def test_heartbeats_are_ordered_by_the_time_the_endpoint_took_them(w: EndpointWorld) -> None:
    _deploy(w, "camera-01")
    client = w.client(w.issuer().issue(FLEET, "camera-01"))
    client.send_heartbeat(**heartbeat_detail(agent_version="1.0"))
    client.send_heartbeat(**heartbeat_detail(agent_version="1.1"))
    record = w.edge.devices.get(FLEET, "camera-01")
    assert record is not None and record.agent_version == "1.1"
    assert record.heartbeat_order is not None


# -- one device, its own records ----------------------------------------------------------


def test_a_device_cannot_read_another_devices_deployments(w: EndpointWorld) -> None:
    _deploy(w, "camera-01", "camera-02")
    client = w.client(w.issuer().issue(FLEET, "camera-01"))
    for call in (client.get_deployments, client.get_device_registration):
        with pytest.raises(ClientError) as raised:
            call(DeviceName="camera-02", DeviceFleetName=FLEET)
        code, status, message = _error(raised)
        assert (code, status) == ("AccessDeniedException", 403)
        assert "'camera-01'" in message and "'camera-02'" in message
    with pytest.raises(ClientError) as other_fleet:
        client.get_deployments(DeviceName="camera-01", DeviceFleetName="other-fleet")
    assert _error(other_fleet)[0] == "AccessDeniedException"


def test_a_device_cannot_send_another_devices_heartbeat(w: EndpointWorld) -> None:
    _deploy(w, "camera-01", "camera-02")
    client = w.client(w.issuer().issue(FLEET, "camera-01"))
    before = w.edge.devices.get(FLEET, "camera-02")
    with pytest.raises(ClientError) as raised:
        client.send_heartbeat(**heartbeat_detail("camera-02", result=deployment_result()))
    assert _error(raised)[:2] == ("AccessDeniedException", 403)
    assert w.edge.devices.get(FLEET, "camera-02") == before
    (job,) = w.edge.ledger.find_by_service_ref(service_ref(FLEET, "defect-detector-v2"))
    assert "camera-02" not in job.model_dump().get("results", {})
    assert job.status is not JobStatus.SUCCEEDED


# -- who signed it -----------------------------------------------------------------------


def test_a_revoked_credential_is_refused_from_its_next_request(w: EndpointWorld) -> None:
    _deploy(w, "camera-01")
    issued = w.issuer().issue(FLEET, "camera-01")
    client = w.client(issued)
    client.get_device_registration(DeviceName="camera-01", DeviceFleetName=FLEET)
    w.issuer().revoke(issued.credential.access_key_id)
    with pytest.raises(ClientError) as raised:
        client.get_device_registration(DeviceName="camera-01", DeviceFleetName=FLEET)
    assert _error(raised)[:2] == ("UnrecognizedClientException", 403)


@pytest.mark.parametrize(
    ("keys", "region", "code"),
    [
        (
            {"access_key_id": "DZEAAAAAAAAAAAAAAAAA", "secret": "x" * 40},
            "us-east-1",
            "UnrecognizedClientException",
        ),
        (
            {"access_key_id": "AKIAIOSFODNN7EXAMPLE", "secret": "x" * 40},
            "us-east-1",
            "UnrecognizedClientException",
        ),
        ({"secret": "not-the-secret-" * 3}, "us-east-1", "InvalidSignatureException"),
        ({}, "eu-west-1", "InvalidSignatureException"),
    ],
    ids=["unknown-key", "an-aws-key", "wrong-secret", "wrong-region"],
)
def test_requests_that_are_not_signed_by_a_device_credential_are_refused(
    w: EndpointWorld, keys: dict[str, str], region: str, code: str
) -> None:
    _deploy(w, "camera-01")
    issued = w.issuer().issue(FLEET, "camera-01")
    client = w.client(issued, region=region, endpoint=w.endpoint(), **keys)
    with pytest.raises(ClientError) as raised:
        client.get_deployments(DeviceName="camera-01", DeviceFleetName=FLEET)
    assert _error(raised)[:2] == (code, 403)


def test_temporary_credentials_are_refused(w: EndpointWorld) -> None:
    client = w.client(w.issuer().issue(FLEET, "camera-01"), session_token="a-session-token")
    with pytest.raises(ClientError) as raised:
        client.get_deployments(DeviceName="camera-01", DeviceFleetName=FLEET)
    code, status, message = _error(raised)
    assert (code, status) == ("UnrecognizedClientException", 403)
    assert "Temporary credentials" in message


# -- errors in the model's shapes --------------------------------------------------------


def test_a_failing_dependency_answers_the_models_internal_service_exception(
    w: EndpointWorld,
) -> None:
    issued = w.issuer().issue(FLEET, "camera-01")
    client = w.client(issued)
    dynamodb = w.edge.stack.dynamodb
    dynamodb.delete_table(TableName=w.store.table_name)  # the credentials can't be read
    try:
        with pytest.raises(client.exceptions.InternalServiceException) as raised:
            client.get_deployments(DeviceName="camera-01", DeviceFleetName=FLEET)
    finally:
        create_table(dynamodb, "EdgeCredentialsTable", w.store.table_name)
    error = raised.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert error["Error"]["Message"] == "Dropzone could not answer the request now; try again."


def test_an_invalid_heartbeat_is_refused_with_its_reasons_and_kept_as_a_report(
    w: EndpointWorld,
) -> None:
    _deploy(w, "camera-01")
    client = w.client(w.issuer().issue(FLEET, "camera-01"), validate=False)
    with pytest.raises(ClientError) as raised:
        client.send_heartbeat(**heartbeat_detail(agent_version=""))
    code, status, message = _error(raised)
    assert (code, status) == ("ValidationException", 400)
    assert "detail.AgentVersion" in message
    reports = w.edge.stack.s3_client.list_objects_v2(
        Bucket=w.edge.stack.results_bucket, Prefix="reports/edge_heartbeat/"
    )
    assert reports["KeyCount"] == 1


def test_a_heartbeat_from_a_device_no_record_names_is_refused(w: EndpointWorld) -> None:
    client = w.client(w.issuer().issue(FLEET, "camera-77"))
    with pytest.raises(ClientError) as raised:
        client.send_heartbeat(**heartbeat_detail("camera-77"))
    code, status, message = _error(raised)
    assert (code, status) == ("ValidationException", 400)
    assert "not registered" in message
    assert w.edge.devices.get(FLEET, "camera-77") is None


def test_an_invalid_read_request_is_refused_with_the_models_reasons(w: EndpointWorld) -> None:
    client = w.client(w.issuer().issue(FLEET, "camera-01"), validate=False)
    with pytest.raises(ClientError) as raised:
        client.get_deployments(DeviceFleetName=FLEET)
    code, status, message = _error(raised)
    assert (code, status) == ("ValidationException", 400)
    assert "request" in message and "DeviceName" in message


def _signed_event(w: EndpointWorld, operation: str = "GetDeployments") -> dict[str, Any]:
    seen: list[dict[str, Any]] = []
    client = w.client(w.issuer().issue(FLEET, "camera-01"), seen=seen)
    client.get_device_registration(DeviceName="camera-01", DeviceFleetName=FLEET)
    return seen[0]


def test_other_paths_and_methods_are_not_operations(w: EndpointWorld) -> None:
    event = _signed_event(w)
    for method, path in (("POST", "/ListDevices"), ("GET", "/GetDeviceRegistration")):
        answer = w.endpoint().handle(
            {
                **event,
                "rawPath": path,
                "requestContext": {
                    **event["requestContext"],
                    "http": {**event["requestContext"]["http"], "method": method},
                },
            }
        )
        assert answer["statusCode"] == 404
        assert answer["headers"]["x-amzn-ErrorType"] == "UnknownOperationException"


def test_a_body_over_the_limit_is_refused_before_it_is_parsed(w: EndpointWorld) -> None:
    _deploy(w, "camera-01")
    client = w.client(w.issuer().issue(FLEET, "camera-01"), validate=False)
    with pytest.raises(ClientError) as raised:
        client.send_heartbeat(
            **heartbeat_detail(),
            AgentMetrics=[{"Dimension": "d" * 1000, "MetricName": "m", "Value": 1.0}] * 300,
        )
    code, status, message = _error(raised)
    assert (code, status) == ("ValidationException", 400)
    assert f"at most {MAX_BODY_BYTES}" in message


def test_logs_hold_neither_the_secret_nor_the_signature_nor_the_body(
    w: EndpointWorld, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    _deploy(w, "camera-01")
    issued = w.issuer().issue(FLEET, "camera-01")
    seen: list[dict[str, Any]] = []
    client = w.client(issued, seen=seen)
    other = w.client(issued, seen=seen, validate=False)
    with caplog.at_level(logging.INFO):  # botocore's client-side DEBUG lines are not ours
        client.send_heartbeat(**heartbeat_detail(agent_version="9.9 secretive"))
        with pytest.raises(ClientError):
            other.get_deployments(DeviceName="camera-02", DeviceFleetName=FLEET)
    logged = caplog.text + "".join(capsys.readouterr())
    signatures = [event["headers"]["authorization"].rsplit("=", 1)[1] for event in seen]
    assert issued.secret_access_key not in logged
    assert not any(signature in logged for signature in signatures)
    assert "secretive" not in logged
    assert json.dumps(heartbeat_detail()) not in logged


# -- credentials ------------------------------------------------------------------------


def test_credentials_are_drawn_per_device_and_their_secret_is_never_stored(
    w: EndpointWorld,
) -> None:
    first = w.issuer().issue(FLEET, "camera-01")
    second = w.issuer().issue(FLEET, "camera-01")
    assert first.credential.access_key_id != second.credential.access_key_id
    assert all(looks_like_access_key_id(c.credential.access_key_id) for c in (first, second))
    assert len(first.secret_access_key) == 40
    kms = boto3.client("kms", region_name="us-east-1")
    mac = kms.generate_mac(
        KeyId=w.key_arn,
        Message=f"dropzone-edge-credential:{first.credential.access_key_id}".encode(),
        MacAlgorithm="HMAC_SHA_256",
    )["Mac"]
    assert secret_from_mac(mac) == first.secret_access_key
    stored = json.dumps(w.edge.stack.dynamodb.scan(TableName=w.store.table_name)["Items"])
    assert first.secret_access_key not in stored and second.secret_access_key not in stored
    listed = w.issuer().for_device(FLEET, "camera-01")
    assert {c.access_key_id for c in listed} == {
        first.credential.access_key_id,
        second.credential.access_key_id,
    }
    assert all(c.active for c in listed)


def test_a_credential_needs_dataplane_names(w: EndpointWorld) -> None:
    from dropzone.errors import InvalidInput

    with pytest.raises(InvalidInput) as raised:
        w.issuer().issue("line cameras", "camera-01")
    assert raised.value.problems[0].field == "DeviceFleetName"


def test_a_refusal_is_logged_with_the_access_key_id_the_request_names(
    w: EndpointWorld, caplog: pytest.LogCaptureFixture
) -> None:
    from dropzone.observability import logger

    issued = w.issuer().issue(FLEET, "camera-77")
    client = w.client(issued)
    with caplog.at_level(logging.INFO, logger=logger.name):
        with pytest.raises(ClientError):
            client.send_heartbeat(**heartbeat_detail("camera-77"))  # no record names it
        with pytest.raises(ClientError):
            client.get_deployments(DeviceName="camera-01", DeviceFleetName=FLEET)  # not its own
    refusals = [
        (record.code, record.access_key_id)  # type: ignore[attr-defined]
        for record in caplog.records
        if hasattr(record, "access_key_id")
    ]
    assert refusals == [
        ("ValidationException", issued.credential.access_key_id),
        ("AccessDeniedException", issued.credential.access_key_id),
    ]


def test_signatures_are_checked_against_the_wall_clock_and_records_take_the_records_clock(
    w: EndpointWorld,
) -> None:
    # A local cloud resuming a saved run keeps the run's time, a day ahead of its clients.
    _deploy(w, "camera-01")
    client = w.client(w.issuer().issue(FLEET, "camera-01"))
    clock.advance(timedelta(days=1))
    try:
        client.send_heartbeat(**heartbeat_detail(agent_version="3.0"))
        record = w.edge.devices.get(FLEET, "camera-01")
        assert record is not None and record.last_heartbeat is not None
        assert record.last_heartbeat >= iso(clock.utcnow() - timedelta(minutes=1))
    finally:
        clock.reset()
