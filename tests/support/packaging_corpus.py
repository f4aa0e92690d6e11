"""The corpus of bad packaging requests: each with the field and the reason its rejection
names."""

from __future__ import annotations

from typing import Any

from tests.support.packaging import GROUP, KEY, PROJECT, THING, request_body

PLATFORM_GPU = {"Os": "LINUX", "Arch": "ARM64", "Accelerator": "NVIDIA"}


def greengrass_request(**fields: Any) -> dict[str, Any]:
    body = request_body()
    config = dict(body["Configuration"]["Greengrass"])
    for name, value in fields.items():
        if value is None:
            config.pop(name, None)
        else:
            config[name] = value
    return {**body, "Configuration": {"Greengrass": config}}


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
        greengrass_request(TargetDevice=None),
        KEY,
        "Configuration.Greengrass.TargetDevice",
        "give TargetDevice (jetson_xavier) or TargetPlatform",
    ),
    (
        "both targets",
        greengrass_request(TargetPlatform={"Os": "LINUX", "Arch": "X86_64"}),
        KEY,
        "Configuration.Greengrass.TargetPlatform",
        "not both",
    ),
    (
        "unknown device",
        greengrass_request(TargetDevice="raspberry_pi"),
        KEY,
        "Configuration.Greengrass.TargetDevice",
        "jetson_xavier",
    ),
    (
        "compiler options with a device",
        greengrass_request(CompilerOptions='{"mcpu": "cortex-a72"}'),
        KEY,
        "Configuration.Greengrass.CompilerOptions",
        "go with TargetPlatform",
    ),
    (
        "gpu without options",
        greengrass_request(TargetDevice=None, TargetPlatform=PLATFORM_GPU),
        KEY,
        "Configuration.Greengrass.CompilerOptions",
        "needs CompilerOptions with gpu-code, trt-ver, cuda-ver",
    ),
    (
        "gpu options incomplete",
        greengrass_request(
            TargetDevice=None, TargetPlatform=PLATFORM_GPU, CompilerOptions='{"gpu-code": "sm_72"}'
        ),
        KEY,
        "Configuration.Greengrass.CompilerOptions",
        "needs trt-ver, cuda-ver",
    ),
    (
        "options not an object",
        greengrass_request(
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
        greengrass_request(TargetDevice=None, TargetPlatform={"Os": "LINUX", "Arch": "RISCV"}),
        KEY,
        "Configuration.Greengrass.TargetPlatform.Arch",
        "'ARM64' or 'X86_64'",
    ),
    (
        "component name",
        greengrass_request(ComponentName="circuit model"),
        KEY,
        "Configuration.Greengrass.ComponentName",
        "does not match",
    ),
    (
        "component version",
        greengrass_request(ComponentVersion="1.0"),
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
        greengrass_request(Tags=[{"Key": "", "Value": "v"}]),
        KEY,
        "Configuration.Greengrass.Tags[0].Key",
        "at least 1 character",
    ),
    (
        "output elsewhere",
        greengrass_request(S3OutputLocation={"Bucket": "someone-elses", "Prefix": "out/"}),
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
