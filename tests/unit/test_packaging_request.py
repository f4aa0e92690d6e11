"""Packaging requests: every bad one ends REJECTED through the real submitter, with its field
and reason in the job and in the report; good ones become exact StartModelPackagingJob
requests."""

from __future__ import annotations

import json
from typing import Any

import pytest

from dropzone.errors import InvalidInput
from dropzone.models.greengrass import parse_compiler_options
from dropzone.models.jobs import JobStatus
from dropzone.models.packaging import PackagingRequest, parse_request
from dropzone.workflows.edge.rollout import PackagedComponent
from dropzone.workflows.packaging.rules import find_artifact, job_name_for
from tests.support.fixtures import Stack
from tests.support.packaging import (
    GROUP,
    KEY,
    PROJECT,
    THING,
    PackagingWorld,
    request_body,
    world,
)

PLATFORM_GPU = {"Os": "LINUX", "Arch": "ARM64", "Accelerator": "NVIDIA"}


@pytest.fixture
def w(stack: Stack) -> PackagingWorld:
    return world(stack)


def _greengrass(**fields: Any) -> dict[str, Any]:
    body = request_body()
    config = dict(body["Configuration"]["Greengrass"])
    for name, value in fields.items():
        if value is None:
            config.pop(name, None)
        else:
            config[name] = value
    return {**body, "Configuration": {"Greengrass": config}}


def _read(w: PackagingWorld, uri: str) -> dict[str, Any]:
    bucket, _, key = uri[5:].partition("/")
    body = w.stack.s3_client.get_object(Bucket=bucket, Key=key)["Body"].read()
    return json.loads(body)  # type: ignore[no-any-return]


INVALID: list[tuple[str, bytes | dict[str, Any], str, str, str]] = [
    ("not json", b'{"ModelVersion": "1",', KEY, "object", "not valid JSON"),
    ("not an object", b'["ModelVersion"]', KEY, "object", "a packaging request is a JSON object"),
    ("empty", b"", KEY, "object", "empty"),
    ("too large", b" " * (64 * 1024 + 1), KEY, "object", "at most 65536 bytes"),
    ("not utf-8", b'{"ModelVersion": "\xff"}', KEY, "object", "not UTF-8"),
    (
        "duplicate field",
        b'{"ModelVersion": "1", "ModelVersion": "2"}',
        KEY,
        "ModelVersion",
        "twice",
    ),
    ("wrong suffix", request_body(), f"model-packaging/{PROJECT}/r.txt", "key", ".json files"),
    ("no project folder", request_body(), "model-packaging/r.json", "key", "<ProjectName>"),
    (
        "bad project name",
        request_body(),
        "model-packaging/-bad.project/r.json",
        "ProjectName",
        "not a Lookout for Vision project name",
    ),
    ("model version 0", request_body(ModelVersion="0"), KEY, "ModelVersion", "does not match"),
    (
        "missing model version",
        {"Configuration": request_body()["Configuration"]},
        KEY,
        "ModelVersion",
        "is required",
    ),
    (
        "wrong casing",
        {**request_body(), "modelversion": "1"},
        KEY,
        "modelversion",
        "did you mean ModelVersion",
    ),
    ("client token", request_body(ClientToken="mine"), KEY, "ClientToken", "set by Dropzone"),
    ("other project", request_body(ProjectName="pcb"), KEY, "ProjectName", "differs from"),
    ("job name", request_body(JobName="release 7"), KEY, "JobName", "does not match"),
    ("description", request_body(Description="x" * 257), KEY, "Description", "at most 256"),
    (
        "no target",
        _greengrass(TargetDevice=None),
        KEY,
        "Configuration.Greengrass.TargetDevice",
        "give TargetDevice (jetson_xavier) or TargetPlatform",
    ),
    (
        "both targets",
        _greengrass(TargetPlatform={"Os": "LINUX", "Arch": "X86_64"}),
        KEY,
        "Configuration.Greengrass.TargetPlatform",
        "not both",
    ),
    (
        "unknown device",
        _greengrass(TargetDevice="raspberry_pi"),
        KEY,
        "Configuration.Greengrass.TargetDevice",
        "jetson_xavier",
    ),
    (
        "compiler options with a device",
        _greengrass(CompilerOptions='{"mcpu": "cortex-a72"}'),
        KEY,
        "Configuration.Greengrass.CompilerOptions",
        "go with TargetPlatform",
    ),
    (
        "gpu without options",
        _greengrass(TargetDevice=None, TargetPlatform=PLATFORM_GPU),
        KEY,
        "Configuration.Greengrass.CompilerOptions",
        "needs CompilerOptions with gpu-code, trt-ver, cuda-ver",
    ),
    (
        "gpu options incomplete",
        _greengrass(
            TargetDevice=None, TargetPlatform=PLATFORM_GPU, CompilerOptions='{"gpu-code": "sm_72"}'
        ),
        KEY,
        "Configuration.Greengrass.CompilerOptions",
        "needs trt-ver, cuda-ver",
    ),
    (
        "options not an object",
        _greengrass(
            TargetDevice=None,
            TargetPlatform={"Os": "LINUX", "Arch": "ARM64"},
            CompilerOptions="mcpu=cortex-a72",
        ),
        KEY,
        "Configuration.Greengrass.CompilerOptions",
        "must be a JSON object",
    ),
    (
        "unknown arch",
        _greengrass(TargetDevice=None, TargetPlatform={"Os": "LINUX", "Arch": "RISCV"}),
        KEY,
        "Configuration.Greengrass.TargetPlatform.Arch",
        "'ARM64' or 'X86_64'",
    ),
    (
        "component name",
        _greengrass(ComponentName="circuit model"),
        KEY,
        "Configuration.Greengrass.ComponentName",
        "does not match",
    ),
    (
        "component version",
        _greengrass(ComponentVersion="1.0"),
        KEY,
        "Configuration.Greengrass.ComponentVersion",
        "does not match",
    ),
    (
        "default version too long",
        request_body(ModelVersion="1234567"),
        KEY,
        "Configuration.Greengrass.ComponentVersion",
        "give ComponentVersion",
    ),
    (
        "tag key",
        _greengrass(Tags=[{"Key": "", "Value": "v"}]),
        KEY,
        "Configuration.Greengrass.Tags[0].Key",
        "at least 1 character",
    ),
    (
        "output elsewhere",
        _greengrass(S3OutputLocation={"Bucket": "someone-elses", "Prefix": "out/"}),
        KEY,
        "Configuration.Greengrass.S3OutputLocation.Bucket",
        "must be the results bucket",
    ),
    (
        "greengrass target",
        request_body(GreengrassDeployment={"TargetArn": "arn:aws:iot:us-east-1:1:device/x"}),
        KEY,
        "GreengrassDeployment.TargetArn",
        "does not match",
    ),
    (
        "greengrass policy",
        request_body(
            GreengrassDeployment={
                "TargetArn": THING,
                "DeploymentPolicies": {"FailureHandlingPolicy": "ROLLBACK_ON_FAILURE"},
            }
        ),
        KEY,
        "GreengrassDeployment.DeploymentPolicies.FailureHandlingPolicy",
        "'ROLLBACK' or 'DO_NOTHING'",
    ),
    (
        "greengrass update action",
        request_body(
            GreengrassDeployment={
                "TargetArn": GROUP,
                "DeploymentPolicies": {"ComponentUpdatePolicy": {"Action": "NOTIFY"}},
            }
        ),
        KEY,
        "GreengrassDeployment.DeploymentPolicies.ComponentUpdatePolicy.Action",
        "NOTIFY_COMPONENTS",
    ),
    (
        "device count on a thing",
        request_body(GreengrassDeployment={"TargetArn": THING, "CoreDeviceCount": 2}),
        KEY,
        "GreengrassDeployment.CoreDeviceCount",
        "one core device",
    ),
    (
        "thing group without a device count",
        request_body(GreengrassDeployment={"TargetArn": GROUP}),
        KEY,
        "GreengrassDeployment.CoreDeviceCount",
        "is required for a thing group target",
    ),
    (
        "more core devices than one record holds",
        request_body(GreengrassDeployment={"TargetArn": GROUP, "CoreDeviceCount": 101}),
        KEY,
        "GreengrassDeployment.CoreDeviceCount",
        "less than or equal to 100",
    ),
    (
        "edge fleet missing",
        request_body(Edge={"DeviceNames": ["cam-1"]}),
        KEY,
        "Edge.DeviceFleetName",
        "is required",
    ),
]


def test_every_bad_request_is_rejected_with_its_field_and_reason(w: PackagingWorld) -> None:
    # One stack for the whole corpus: each case is its own upload, so its own job.
    wrong = []
    for name, body, key, field, reason in INVALID:
        # Given a bad packaging request in the drop zone
        # When the submitter handles its upload
        job = w.submit(body, key)
        # Then the job is REJECTED with the field and the reason, in the ledger and report
        report = _read(w, job.report_location) if job.report_location else {"problems": []}
        in_report = [p["reason"] for p in report["problems"] if p["field"] == field]
        if (
            job.status is not JobStatus.REJECTED
            or job.message is None
            or f"{field}: " not in job.message
            or not any(reason in text for text in in_report)
        ):
            wrong.append((name, job.status, job.message))
    assert wrong == []
    # and nothing was asked of Lookout for Vision
    starts = [call for call in w.lookoutvision.calls if call.operation == "StartModelPackagingJob"]
    assert starts == []


def test_the_corpus_is_large_enough() -> None:
    assert len(INVALID) >= 12
    assert len({case[3] for case in INVALID}) >= 12  # distinct fields


def test_every_problem_is_reported_not_just_the_first() -> None:
    body = request_body(ClientToken="t", ModelVersion="0", JobName="a b")
    with pytest.raises(InvalidInput) as raised:
        parse_request(json.dumps(body).encode(), project_name=PROJECT)
    fields = [problem.field for problem in raised.value.problems]
    assert fields == ["ClientToken", "ModelVersion", "JobName"]


def test_defaults_for_numbered_and_latest_versions() -> None:
    numbered = PackagingRequest.model_validate(request_body(ModelVersion="12"))
    latest = PackagingRequest.model_validate(request_body(ModelVersion="latest"))
    given = PackagingRequest.model_validate(_greengrass(ComponentVersion="3.1.4"))
    assert numbered.component_version() == "12.0.0"
    assert latest.component_version() is None
    assert given.component_version() == "3.1.4"


def test_a_matching_project_name_in_the_body_is_accepted() -> None:
    body = json.dumps(request_body(ProjectName=PROJECT)).encode()
    assert parse_request(body, project_name=PROJECT).project_name == PROJECT


def test_compiler_options_accept_json_and_the_documented_python_quoting() -> None:
    assert parse_compiler_options('{"gpu-code": "sm_72"}') == {"gpu-code": "sm_72"}
    assert parse_compiler_options("{'mcpu': 'skylake-avx512'}") == {"mcpu": "skylake-avx512"}
    assert parse_compiler_options("mcpu=skylake") is None


def test_job_names_keep_the_users_name_and_stay_unique_and_valid() -> None:
    job_id = "dz-" + "a" * 40
    assert job_name_for(job_id, None) == job_id
    name = job_name_for(job_id, "nightly-build-" + "x" * 60)
    assert name.endswith(job_id) and name.startswith("nightly-build-")
    assert len(name) <= 64


def test_the_artifact_is_found_robustly() -> None:
    component = PackagedComponent("circuit-model", "1.0.0")
    prefix = "model-packaging/outputs/dz-1/"
    layout = [
        f"{prefix}circuit-model/1.0.0/circuit-model.zip",
        f"{prefix}circuit-model/1.0.0/recipe.json",
    ]
    assert find_artifact(layout, prefix, component) == layout[0]
    flat = [f"{prefix}model.tar.gz", f"{prefix}recipe.yaml"]
    assert find_artifact(flat, prefix, component) == flat[0]
    assert find_artifact([f"{prefix}recipe.json"], prefix, component) is None
    assert find_artifact([f"{prefix}a.bin", f"{prefix}b.bin"], prefix, component) is None
