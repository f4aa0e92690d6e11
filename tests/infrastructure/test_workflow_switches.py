"""Each workflow switched off deploys none of its resources and grants none of its
permissions: the whole stack, with that workflow off, expanded by AWS SAM's translator."""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from dropzone_local.intrinsics import NO_VALUE, Resolver
from dropzone_local.template import load_template, read_document

ROOT = Path(__file__).resolve().parents[2]
SAM_CLI_VERSION = re.search(
    r"^SAM_CLI_VERSION \?= (\S+)$", (ROOT / "Makefile").read_text(), re.MULTILINE
).group(1)  # type: ignore[union-attr]
# switch parameter → (nested template, what only that workflow's permissions name)
WORKFLOWS = {
    "EnableSageMakerAsync": ("sagemaker_async", ["sagemaker:InvokeEndpointAsync"]),
    "EnableBedrockBatch": ("bedrock_batch", ["bedrock:", "bedrock.amazonaws.com"]),
    "EnableModelPackaging": ("model_packaging", ["lookoutvision:"]),
    "EnableEdgeDeployment": (
        "edge_deployment",
        # (creating a Greengrass component is packaging's own: Lookout for Vision does it)
        [
            "greengrass:CreateDeployment",
            "greengrass:GetDeployment",
            "iot:",
            "sagemaker:SendHeartbeat",
            "sagemaker:GetDeviceRegistration",
        ],
    ),
}
POLICY_TYPES = {
    "AWS::IAM::Role",
    "AWS::IAM::Policy",
    "AWS::SQS::QueuePolicy",
    "AWS::SNS::TopicPolicy",
    "AWS::S3::BucketPolicy",
    "AWS::Lambda::Permission",
}


def _deployed(switches: dict[str, str]) -> dict[str, Any]:
    """The stack as CloudFormation would create it with these parameters: resources whose
    Condition is false left out, and every Fn::If decided."""
    template = copy.deepcopy(load_template())
    parameters = {
        name: str(switches.get(name, spec.get("Default", "")))
        for name, spec in template["Parameters"].items()
    }
    resolver = Resolver(
        template,
        parameters=parameters,
        pseudo={"AWS::Region": "us-east-1", "AWS::AccountId": "123456789012"},
        ref=lambda name: f"ref-{name}",
        get_att=lambda name, attribute: f"att-{name}-{attribute}",
    )

    def decided(value: Any) -> Any:
        if isinstance(value, list):
            return [item for item in (decided(v) for v in value) if item is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if set(value) == {"Fn::If"}:
            name, when_true, when_false = value["Fn::If"]
            return decided(when_true if resolver.condition(name) else when_false)
        if value == {"Ref": "AWS::NoValue"}:
            return NO_VALUE
        return {k: v for k, v in ((k, decided(v)) for k, v in value.items()) if v is not NO_VALUE}

    resources = {}
    for logical_id, resource in template["Resources"].items():
        condition = resource.pop("Condition", None)
        if condition is None or resolver.condition(condition):
            resources[logical_id] = decided(resource)
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Transform": "AWS::Serverless-2016-10-31",
        "Parameters": template["Parameters"],
        "Mappings": template.get("Mappings", {}),
        "Resources": resources,
    }


def _expand(templates: list[dict[str, Any]]) -> list[dict[str, Any]]:
    result = subprocess.run(
        [
            str(ROOT / "scripts" / "uv.sh"),
            "tool",
            "run",
            "--from",
            f"aws-sam-cli=={SAM_CLI_VERSION}",
            "python",
            str(ROOT / "scripts" / "sam_expand.py"),
        ],
        input=json.dumps(templates),
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "SAM_CLI_TELEMETRY": "0", "AWS_DEFAULT_REGION": "us-east-1"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)  # type: ignore[no-any-return]


@cache
def _expansions() -> dict[str, dict[str, Any]]:
    """Every switch off in turn, and all on, expanded in one run of the translator."""
    # The parts that are off by default: Edge Manager sync, the edge endpoint, Greengrass
    # roll-outs (on only for the targets GreengrassTargets names), Bedrock's on-demand
    # finishing and its daily price refresh
    everything = {
        "EdgeManagerSync": "Enabled",
        "EdgeEndpoint": "Enabled",
        "GreengrassTargets": "line-3-core,factory-a-*",
        "BedrockOnDemand": "Enabled",
        "BedrockPriceRefresh": "Enabled",
    }
    cases = {"all on": everything} | {
        switch: {**everything, switch: "false"} for switch in WORKFLOWS
    }
    expanded = _expand([_deployed(switches) for switches in cases.values()])
    return dict(zip(cases, expanded, strict=True))


def _own_resources(workflow: str) -> set[str]:
    return set(read_document(ROOT / "stacks" / f"{workflow}.yaml")["Resources"])


def _permissions(template: dict[str, Any]) -> str:
    return json.dumps(
        [r for r in template["Resources"].values() if r["Type"] in POLICY_TYPES], sort_keys=True
    )


def test_with_every_workflow_on_each_workflows_resources_and_permissions_are_there() -> None:
    expanded = _expansions()["all on"]
    permissions = _permissions(expanded)
    for workflow, markers in WORKFLOWS.values():
        assert _own_resources(workflow) <= set(expanded["Resources"]), workflow
        assert all(marker in permissions for marker in markers), workflow


@pytest.mark.parametrize("switch", sorted(WORKFLOWS))
def test_a_switched_off_workflow_leaves_no_resource_and_no_permission(switch: str) -> None:
    workflow, markers = WORKFLOWS[switch]
    expanded = _expansions()[switch]
    own = _own_resources(workflow)
    # None of its resources, nor any SAM derives from them (roles, permissions, mappings)
    left = [name for name in expanded["Resources"] if any(name.startswith(mine) for mine in own)]
    assert left == []
    # No statement grants what only it needs, or names any of its resources
    permissions = _permissions(expanded)
    assert [marker for marker in markers if marker in permissions] == []
    assert [name for name in own if re.search(rf"\b{name}\b", permissions)] == []
    # The other workflows are all there
    for other, (other_workflow, _) in WORKFLOWS.items():
        if other != switch:
            assert _own_resources(other_workflow) <= set(expanded["Resources"]), other
