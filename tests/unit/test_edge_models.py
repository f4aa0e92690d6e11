"""The Edge Manager models: the packaging request's Edge section, deployment documents,
the GetDeployments shape and heartbeats, against the service models' constraints."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from dropzone.models.edge import (
    NAME_MAX,
    Checksum,
    Definition,
    EdgeDeployment,
    EdgeDeploymentDocument,
    EdgeSection,
    FailureHandlingPolicy,
    Heartbeat,
    ModelState,
    name_from,
)
from dropzone_local.service_model import validate_response


def _errors(model: Any, data: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(data)
    return {".".join(str(p) for p in e["loc"]): e["msg"] for e in caught.value.errors()}


def test_edge_section_defaults_and_derived_names() -> None:
    # Given a minimal Edge section
    edge = EdgeSection.model_validate({"DeviceFleetName": "line-cameras", "DeviceNames": ["cam-1"]})
    # Then the defaults follow Edge Manager, and names derive from the component / job
    assert edge.failure_handling_policy is FailureHandlingPolicy.ROLLBACK_ON_FAILURE
    assert edge.model_handle_for("com.example.Defect_Detector") == "com-example-Defect-Detector"
    assert edge.deployment_name_for("dz-0123abcd") == "dz-0123abcd"
    named = edge.model_copy(update={"model_handle": "detector", "deployment_name": "v2"})
    assert named.model_handle_for("ignored") == "detector"
    assert named.deployment_name_for("ignored") == "v2"


@pytest.mark.parametrize(
    ("data", "field", "reason"),
    [
        ({"DeviceNames": ["a"]}, "DeviceFleetName", "Field required"),
        ({"DeviceFleetName": "fleet_1", "DeviceNames": ["a"]}, "DeviceFleetName", "pattern"),
        ({"DeviceFleetName": "f" * 64, "DeviceNames": ["a"]}, "DeviceFleetName", "at most 63"),
        ({"DeviceFleetName": "f", "DeviceNames": []}, "DeviceNames", "at least 1"),
        ({"DeviceFleetName": "f", "DeviceNames": ["a", "b", "a"]}, "DeviceNames", "repeated: a"),
        ({"DeviceFleetName": "f", "DeviceNames": ["-a"]}, "DeviceNames.0", "pattern"),
        (
            {"DeviceFleetName": "f", "DeviceNames": ["a"], "FailureHandlingPolicy": "ROLLBACK"},
            "FailureHandlingPolicy",
            "ROLLBACK_ON_FAILURE",
        ),
        (
            {"DeviceFleetName": "f", "DeviceNames": ["a"], "ModelHandle": "a_b"},
            "ModelHandle",
            "pattern",
        ),
        ({"DeviceFleetName": "f", "DeviceNames": ["a"], "Fleet": "x"}, "Fleet", "Extra inputs"),
    ],
)
def test_edge_section_refuses(data: dict[str, Any], field: str, reason: str) -> None:
    errors = _errors(EdgeSection, data)
    assert field in errors and reason in errors[field]


def test_name_from_fits_the_pattern() -> None:
    assert name_from("__a..b--c__") == "a-b-c"
    assert len(name_from("x" * 200)) == NAME_MAX
    assert name_from("___") == ""


def test_deployment_shape_matches_get_deployments_output() -> None:
    # Given a deployment built from the models
    deployment = EdgeDeployment(
        deployment_name="v2",
        failure_handling_policy=FailureHandlingPolicy.DO_NOTHING,
        definitions=[
            Definition(
                model_handle="detector",
                s3_url="s3://bucket/models/m.tar.gz",
                checksum=Checksum(sum="A" * 40),
                state=ModelState.DEPLOY,
            ),
            Definition(model_handle="old", state=ModelState.UNDEPLOY),
        ],
    )
    # Then its API form is exactly GetDeployments' EdgeDeployment
    api = deployment.as_api()
    validate_response("sagemaker-edge", "GetDeployments", {"Deployments": [api]})
    assert api["Type"] == "Model"
    assert api["Definitions"][0]["Checksum"] == {"Type": "SHA1", "Sum": "a" * 40}
    assert api["Definitions"][1] == {"ModelHandle": "old", "State": "UNDEPLOY"}


def test_document_rules() -> None:
    base = {"DeploymentName": "v2", "DeviceNames": ["cam-1"]}
    errors = _errors(EdgeDeploymentDocument, {**base, "Definitions": [{"ModelHandle": "m"}]})
    assert "S3Url is required when State is DEPLOY" in errors["Definitions.0"]
    errors = _errors(
        EdgeDeploymentDocument,
        {
            **base,
            "Definitions": [
                {"ModelHandle": "m", "S3Url": "s3://b/k"},
                {"ModelHandle": "m", "State": "UNDEPLOY"},
            ],
        },
    )
    assert "repeated: m" in errors["Definitions"]
    errors = _errors(
        EdgeDeploymentDocument,
        {**base, "Definitions": [{"ModelHandle": "m", "S3Url": "https://x/y"}]},
    )
    assert "s3://" in errors["Definitions.0.S3Url"]
    errors = _errors(
        EdgeDeploymentDocument,
        {
            **base,
            "Definitions": [
                {"ModelHandle": "m", "S3Url": "s3://b/k", "Checksum": {"Type": "MD5", "Sum": "x"}}
            ],
        },
    )
    assert "Definitions.0.Checksum.Type" in errors and "Definitions.0.Checksum.Sum" in errors


def test_heartbeat_accepts_the_send_heartbeat_shape() -> None:
    heartbeat = Heartbeat.model_validate(
        {
            "AgentVersion": "1.0",
            "DeviceName": "cam_1",  # the dataplane allows '_' in device names
            "DeviceFleetName": "line-cameras",
            "AgentMetrics": [{"Dimension": "agent", "MetricName": "Uptime", "Value": 1.5}],
            "DeploymentResult": {
                "DeploymentName": "v2",
                "DeploymentModels": [{"ModelHandle": "m", "Status": "FAIL"}],
            },
        }
    )
    assert heartbeat.deployment_result is not None
    assert heartbeat.deployment_result.deployment_models[0].status == "FAIL"
    errors = _errors(Heartbeat, {"DeviceName": "d", "DeviceFleetName": "f", "Extra": 1})
    assert "AgentVersion" in errors and "Extra" in errors


def test_a_deployment_result_cannot_end_before_it_starts() -> None:
    base = {"AgentVersion": "1.0", "DeviceName": "cam_1", "DeviceFleetName": "line-cameras"}
    errors = _errors(
        Heartbeat,
        {
            **base,
            "DeploymentResult": {
                "DeploymentName": "v2",
                "DeploymentStartTime": "2026-12-06T10:05:00Z",
                "DeploymentEndTime": "2026-12-06T10:00:00+00:00",
            },
        },
    )
    assert errors == {
        "DeploymentResult": "Value error, DeploymentStartTime 2026-12-06T10:05:00+00:00 is after "
        "DeploymentEndTime 2026-12-06T10:00:00+00:00"
    }
    same = {
        "DeploymentStartTime": "2026-12-06T10:00:00Z",
        "DeploymentEndTime": "2026-12-06T11:00:00+01:00",
    }
    Heartbeat.model_validate({**base, "DeploymentResult": {"DeploymentName": "v2", **same}})
