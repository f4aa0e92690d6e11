"""Invalid edge deployment documents: each ends REJECTED through the real intake, with
the field and the reason in its report. One moto world serves the whole module (every
document is its own object, so its own job)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from dropzone.models.jobs import JobStatus
from tests.support.edge import EdgeWorld, shared_world


@pytest.fixture(scope="module")
def w() -> Iterator[EdgeWorld]:
    yield from shared_world()


def _valid(w: EdgeWorld) -> dict[str, Any]:
    return w.document("camera-01")


INVALID: list[tuple[str, Any, str, str]] = [
    # (case, document (or a function of the world), field, words in the reason)
    ("not json", b"{nope", "document", "is not JSON"),
    ("not an object", b"[1, 2]", "document", "must be a JSON object"),
    ("empty", b"", "document", "empty (0 bytes)"),
    ("missing name", lambda d: d.pop("DeploymentName"), "DeploymentName", "Field required"),
    ("bad name", lambda d: d.update(DeploymentName="v_2"), "DeploymentName", "pattern"),
    ("no devices", lambda d: d.update(DeviceNames=[]), "DeviceNames", "at least 1"),
    (
        "duplicate devices",
        lambda d: d.update(DeviceNames=["cam-1", "cam-1"]),
        "DeviceNames",
        "repeated: cam-1",
    ),
    (
        "bad policy",
        lambda d: d.update(FailureHandlingPolicy="ROLLBACK"),
        "FailureHandlingPolicy",
        "ROLLBACK_ON_FAILURE",
    ),
    ("no definitions", lambda d: d.update(Definitions=[]), "Definitions", "at least 1"),
    (
        "deploy without S3Url",
        lambda d: d["Definitions"][0].pop("S3Url"),
        "Definitions[0]",
        "S3Url is required",
    ),
    (
        "https url",
        lambda d: d["Definitions"][0].update(S3Url="https://example.com/m.tar.gz"),
        "Definitions[0].S3Url",
        "s3://",
    ),
    (
        "foreign bucket",
        lambda d: d["Definitions"][0].update(S3Url="s3://someone-elses-bucket/m.tar.gz"),
        "Definitions[0].S3Url",
        "must be under s3://dropzone-drop/edge-artifacts/ or "
        "s3://dropzone-results/model-packaging/outputs/",
    ),
    (
        "outside the artifact prefixes",
        lambda d: d["Definitions"][0].update(S3Url="s3://dropzone-results/reports/x.json"),
        "Definitions[0].S3Url",
        "must be under s3://dropzone-drop/edge-artifacts/ or "
        "s3://dropzone-results/model-packaging/outputs/",
    ),
    (
        "missing artifact",
        lambda d: d["Definitions"][0].update(S3Url="s3://dropzone-drop/edge-artifacts/none.tar.gz"),
        "Definitions[0].S3Url",
        "does not exist",
    ),
    (
        "duplicate handles",
        lambda d: d["Definitions"].append(dict(d["Definitions"][0])),
        "Definitions",
        "repeated: defect-detector",
    ),
    (
        "bad state",
        lambda d: d["Definitions"][0].update(State="INSTALL"),
        "Definitions[0].State",
        "DEPLOY",
    ),
    (
        "bad checksum",
        lambda d: d["Definitions"][0].update(Checksum={"Type": "SHA1", "Sum": "xyz"}),
        "Definitions[0].Checksum.Sum",
        "40 hexadecimal",
    ),
    (
        "other fleet",
        lambda d: d.update(DeviceFleetName="other-fleet"),
        "DeviceFleetName",
        "differs from the fleet in the key",
    ),
    ("unknown field", lambda d: d.update(Devices=["a"]), "Devices", "Extra inputs"),
    (
        "handle too long",
        lambda d: d["Definitions"][0].update(ModelHandle="m" * 64),
        "Definitions[0].ModelHandle",
        "at most 63",
    ),
]


@pytest.mark.parametrize(
    ("case", "change", "field", "reason"), INVALID, ids=[c[0] for c in INVALID]
)
def test_invalid_documents_end_rejected_with_field_and_reason(
    w: EdgeWorld, case: str, change: Any, field: str, reason: str
) -> None:
    # Given an invalid document
    if isinstance(change, bytes):
        body: bytes = change
    else:
        document = _valid(w)
        change(document)
        body = json.dumps(document).encode()
    source = w.drop_document(body)
    # When it goes through the real intake
    job = w.deployments().submit(source)
    # Then the record is REJECTED, with the field and the reason in its report
    assert job.status is JobStatus.REJECTED, case
    report = json.loads(
        w.stack.s3_client.get_object(
            Bucket=w.stack.results_bucket, Key=f"reports/edge_deployment/{job.job_id}.json"
        )["Body"].read()
    )
    fields = {p["field"]: p["reason"] for p in report["problems"]}
    assert field in fields, fields
    assert reason in fields[field], fields


@pytest.mark.parametrize(
    ("key", "field", "reason"),
    [
        ("edge-deployments/deploy.json", "key", "expected edge-deployments/<DeviceFleetName>"),
        ("edge-deployments/fleet_1/deploy.json", "DeviceFleetName", "letters, digits"),
        ("edge-deployments/line-cameras/deploy.yaml", "key", ".json"),
    ],
)
def test_bad_keys_are_rejected(w: EdgeWorld, key: str, field: str, reason: str) -> None:
    source = w.put(key, json.dumps(_valid(w)).encode())
    job = w.deployments().submit(source)
    assert job.status is JobStatus.REJECTED
    assert job.message is not None and job.message.startswith(f"{field}: ")
    assert reason in job.message
