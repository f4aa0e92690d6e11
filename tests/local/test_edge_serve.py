"""`dropzone edge serve --local`, called by an unmodified `sagemaker-edge` client over
HTTP with SigV4 signing on, as a device would call the deployed endpoint.

The saved run has one edge deployment record naming cam-1 and cam-2 of fleet line-3,
still waiting for their results. The server runs as its own process, as a user starts it;
the client signs with credentials `dropzone edge credentials create --local` issued."""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from dropzone.models.jobs import JobKind, JobStatus
from dropzone_local import LocalCloud
from dropzone_local.state import STATE_FILE, load, save

FLEET = "line-3"
QUIET = {"POWERTOOLS_LOG_LEVEL": "CRITICAL", "POWERTOOLS_METRICS_DISABLED": "true"}
# How long the server may take to come up before the test gives up (not a measurement).
START_LIMIT_SECONDS = 300

pytestmark = [pytest.mark.enable_socket, pytest.mark.allow_hosts(["127.0.0.1"])]


def _cli(*argv: str) -> list[str]:
    return [sys.executable, "-m", "dropzone_cli", *argv]


def _run(*argv: str) -> Any:
    done = subprocess.run(_cli(*argv), capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("edge-run")
    with LocalCloud(function_environment=QUIET) as cloud:
        key = "edge-artifacts/detector/model.tar.gz"
        cloud.put_object(key, b"model-bytes" * 100)
        document = {
            "DeploymentName": "detector-v1",
            "FailureHandlingPolicy": "DO_NOTHING",
            "DeviceNames": ["cam-1", "cam-2"],
            "Definitions": [
                {
                    "ModelHandle": "detector",
                    "S3Url": f"s3://{cloud.dropzone_bucket}/{key}",
                    "State": "DEPLOY",
                }
            ],
        }
        cloud.put_object(
            f"edge-deployments/{FLEET}/detector-v1.json", json.dumps(document).encode()
        )
        cloud.run_until_idle()
        save(cloud, directory)
    return directory


def _create(saved: Path, device: str) -> dict[str, str]:
    """`dropzone edge credentials create --local` for one device of the fleet."""
    created: dict[str, str] = _run(
        "edge",
        "credentials",
        "create",
        "--state-dir",
        str(saved),
        "--fleet",
        FLEET,
        "--device",
        device,
    )
    return created


@pytest.fixture(scope="module")
def credentials(saved: Path) -> dict[str, dict[str, str]]:
    return {device: _create(saved, device) for device in ("cam-1", "cam-9")}


@pytest.fixture(scope="module")
def endpoint(saved: Path, credentials: dict[str, dict[str, str]]) -> Iterator[str]:
    server = subprocess.Popen(
        _cli("edge", "serve", "--state-dir", str(saved), "--port", "0", "--output", "json"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **QUIET},
    )
    assert server.stdout is not None and server.stderr is not None
    try:
        ready, _, _ = select.select([server.stdout], [], [], START_LIMIT_SECONDS)
        line = server.stdout.readline() if ready else ""
        if not line:
            server.kill()
            pytest.fail(f"the server did not start: {server.stderr.read()}")
        started = json.loads(line)
        assert started["region"] == "us-east-1"
        assert started["endpoint_url"].startswith("http://127.0.0.1:"), line
        yield started["endpoint_url"]
    finally:
        server.terminate()
        server.wait()


def _client(endpoint: str, credential: dict[str, str]) -> Any:
    return boto3.client(
        "sagemaker-edge",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=credential["AccessKeyId"],
        aws_secret_access_key=credential["SecretAccessKey"],
        config=Config(retries={"max_attempts": 1}),
    )


def test_registration_of_a_registered_and_an_unregistered_device(
    endpoint: str, credentials: dict[str, dict[str, str]]
) -> None:
    known = _client(endpoint, credentials["cam-1"]).get_device_registration(
        DeviceName="cam-1", DeviceFleetName=FLEET
    )
    unknown = _client(endpoint, credentials["cam-9"]).get_device_registration(
        DeviceName="cam-9", DeviceFleetName=FLEET
    )
    assert known["DeviceRegistration"] == "REGISTERED"
    assert unknown["DeviceRegistration"] == "NOT_REGISTERED"
    assert known["CacheTTL"] == unknown["CacheTTL"] == "3600"


def test_deployments_match_dropzone_edge_deployments(
    saved: Path, endpoint: str, credentials: dict[str, dict[str, str]]
) -> None:
    answer = _client(endpoint, credentials["cam-1"]).get_deployments(
        DeviceName="cam-1", DeviceFleetName=FLEET
    )
    answer.pop("ResponseMetadata")
    printed = _run(
        "edge", "deployments", "--state-dir", str(saved), "--fleet", FLEET, "--device", "cam-1"
    )
    assert answer == printed
    assert [d["DeploymentName"] for d in answer["Deployments"]] == ["detector-v1"]


def test_a_heartbeat_updates_the_device_record(
    saved: Path, endpoint: str, credentials: dict[str, dict[str, str]]
) -> None:
    client = _client(endpoint, credentials["cam-1"])
    client.send_heartbeat(
        AgentVersion="1.2",
        DeviceName="cam-1",
        DeviceFleetName=FLEET,
        Models=[{"ModelName": "detector", "ModelVersion": "1", "ModelMetrics": []}],
        DeploymentResult={
            "DeploymentName": "detector-v1",
            "DeploymentStatus": "SUCCESS",
            "DeploymentModels": [
                {
                    "ModelHandle": "detector",
                    "DesiredState": "DEPLOY",
                    "State": "DEPLOY",
                    "Status": "SUCCESS",
                }
            ],
        },
    )
    record = _run(
        "edge", "device", "--state-dir", str(saved), "--fleet", FLEET, "--device", "cam-1"
    )
    assert record["agent_version"] == "1.2"
    assert record["models"][0]["ModelName"] == "detector"
    assert record["deployment_results"]["detector-v1"]["outcome"] == "SUCCESS"
    (job,) = [job for job in load(saved).jobs() if job.kind is JobKind.EDGE_DEPLOYMENT]
    assert job.status is JobStatus.RUNNING  # cam-2 has not answered yet


def test_a_device_cannot_act_for_another(
    saved: Path, endpoint: str, credentials: dict[str, dict[str, str]]
) -> None:
    client = _client(endpoint, credentials["cam-1"])
    with pytest.raises(ClientError) as read:
        client.get_deployments(DeviceName="cam-2", DeviceFleetName=FLEET)
    with pytest.raises(ClientError) as sent:
        client.send_heartbeat(AgentVersion="6.6", DeviceName="cam-2", DeviceFleetName=FLEET)
    for raised in (read, sent):
        assert raised.value.response["Error"]["Code"] == "AccessDeniedException"
        assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    record = _run(
        "edge", "device", "--state-dir", str(saved), "--fleet", FLEET, "--device", "cam-2"
    )
    assert record.get("agent_version") != "6.6"


def test_errors_are_parsed_by_botocore(
    saved: Path, endpoint: str, credentials: dict[str, dict[str, str]]
) -> None:
    stranger = {"AccessKeyId": "DZEAAAAAAAAAAAAAAAAA", "SecretAccessKey": "s" * 40}
    with pytest.raises(ClientError) as unknown:
        _client(endpoint, stranger).get_deployments(DeviceName="cam-1", DeviceFleetName=FLEET)
    assert unknown.value.response["Error"]["Code"] == "UnrecognizedClientException"
    forged = {**credentials["cam-1"], "SecretAccessKey": "s" * 40}
    with pytest.raises(ClientError) as bad_signature:
        _client(endpoint, forged).get_deployments(DeviceName="cam-1", DeviceFleetName=FLEET)
    assert bad_signature.value.response["Error"]["Code"] == "InvalidSignatureException"
    # The model's own error: the heartbeat cannot be kept, so it is not acknowledged.
    client = _client(endpoint, credentials["cam-1"])
    state = saved / STATE_FILE
    kept = saved / "kept.json"
    shutil.move(state, kept)
    state.mkdir()
    try:
        with pytest.raises(client.exceptions.InternalServiceException) as internal:
            client.send_heartbeat(AgentVersion="1.3", DeviceName="cam-1", DeviceFleetName=FLEET)
    finally:
        state.rmdir()
        shutil.move(kept, state)
    assert internal.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500


def test_credentials_changed_while_it_serves_hold_from_the_next_request(
    saved: Path, endpoint: str
) -> None:
    issued = _create(saved, "cam-2")
    client = _client(endpoint, issued)
    answer = client.get_device_registration(DeviceName="cam-2", DeviceFleetName=FLEET)
    assert answer["DeviceRegistration"] == "REGISTERED"
    _run("edge", "credentials", "revoke", "--state-dir", str(saved), issued["AccessKeyId"])
    with pytest.raises(ClientError) as refused:
        client.get_device_registration(DeviceName="cam-2", DeviceFleetName=FLEET)
    assert refused.value.response["Error"]["Code"] == "UnrecognizedClientException"
    # What the server writes back after a heartbeat leaves the revocation as it is.
    other = _client(
        endpoint,
        _create(saved, "cam-1"),
    )
    other.send_heartbeat(AgentVersion="1.4", DeviceName="cam-1", DeviceFleetName=FLEET)
    listed = _run(
        "edge",
        "credentials",
        "list",
        "--state-dir",
        str(saved),
        "--fleet",
        FLEET,
        "--device",
        "cam-2",
    )
    assert [c["Status"] for c in listed["Credentials"]] == ["REVOKED"]


def test_any_other_method_or_path_is_not_an_operation(endpoint: str) -> None:
    for method, path in (("DELETE", "/GetDeployments"), ("POST", "/ListDevices")):
        request = urllib.request.Request(  # noqa: S310 - the local server, over http
            f"{endpoint}{path}", data=b"{}", method=method
        )
        with pytest.raises(urllib.error.HTTPError) as answered:
            urllib.request.urlopen(request)  # noqa: S310 - the local server's http URL
        assert answered.value.code == 404
        assert answered.value.headers["x-amzn-ErrorType"] == "UnknownOperationException"
