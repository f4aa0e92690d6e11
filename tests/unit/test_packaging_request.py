"""Packaging requests: the corpus of bad ones covers every rule, every problem is reported,
and good ones become exact StartModelPackagingJob requests."""

from __future__ import annotations

import json

import pytest

from dropzone.errors import ConfigurationError, InvalidInput
from dropzone.models.greengrass import (
    GreengrassDeploymentSection,
    RolloutPolicy,
    parse_compiler_options,
)
from dropzone.models.packaging import PackagingRequest, parse_request
from dropzone.settings.packaging import PackagingSettings
from dropzone.workflows.edge.rollout import PackagedComponent
from dropzone.workflows.packaging.rules import check_rollout, find_artifact, job_name_for
from tests.support.packaging import (
    PROJECT,
    request_body,
)
from tests.support.packaging_corpus import INVALID, greengrass_request


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
    given = PackagingRequest.model_validate(greengrass_request(ComponentVersion="3.1.4"))
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


IOT = "arn:aws:iot:us-east-1:123456789012"


def _section(target: str, **fields: object) -> GreengrassDeploymentSection:
    extra = {"CoreDeviceCount": 2} if ":thinggroup/" in target else {}
    return GreengrassDeploymentSection.model_validate({"TargetArn": target, **extra, **fields})


@pytest.mark.parametrize(
    ("target", "allowed"),
    [
        (f"{IOT}:thing/line-3-core", True),
        (f"{IOT}:thinggroup/line-3-core", True),  # a name allows the thing and the group
        (f"{IOT}:thing/line-3-core-2", False),  # an exact name is no prefix
        (f"{IOT}:thing/factory-a-", True),
        (f"{IOT}:thinggroup/factory-a-presses", True),
        (f"{IOT}:thing/factory-b-press", False),
        (f"{IOT}:thing/Line-3-core", False),  # names are case-sensitive
        (f"{IOT}:thing/ns:factory-a-1", False),
    ],
)
def test_rollout_targets_are_exact_names_or_prefixes(target: str, allowed: bool) -> None:
    policy = RolloutPolicy.from_setting("line-3-core,factory-a-*", replace_components=False)
    assert policy.allows(target) is allowed
    if allowed:
        check_rollout(_section(target), policy)
    else:
        with pytest.raises(InvalidInput, match="GreengrassTargets allows line-3-core, factory-a-"):
            check_rollout(_section(target), policy)


def test_no_targets_means_no_rollouts_and_replacing_needs_the_opt_in() -> None:
    off = RolloutPolicy.from_setting("", replace_components=False)
    with pytest.raises(InvalidInput) as raised:
        check_rollout(_section(f"{IOT}:thing/a", KeepExistingComponents=False), off)
    assert [p.field for p in raised.value.problems] == [
        "GreengrassDeployment.TargetArn",
        "GreengrassDeployment.KeepExistingComponents",
    ]
    assert "GreengrassTargets is empty" in raised.value.message
    assert "GreengrassReplaceComponents" in raised.value.message
    on = RolloutPolicy.from_setting("a", replace_components=True)
    check_rollout(_section(f"{IOT}:thing/a", KeepExistingComponents=False), on)


@pytest.mark.parametrize(
    "value", ["*", "a, b", "a,,b", "a*b", ",".join("t" * n for n in range(1, 12))]
)
def test_packaging_settings_refuse_a_malformed_target_list(value: str) -> None:
    environ = {"JOBS_TABLE": "jobs", "RESULTS_BUCKET": "results", "GREENGRASS_TARGETS": value}
    with pytest.raises(ConfigurationError, match="GREENGRASS_TARGETS"):
        PackagingSettings.from_env(environ)


def test_packaging_settings_read_the_targets_and_the_switch() -> None:
    settings = PackagingSettings.from_env(
        {
            "JOBS_TABLE": "jobs",
            "RESULTS_BUCKET": "results",
            "GREENGRASS_TARGETS": "line-3-core,factory-a-*",
            "GREENGRASS_REPLACE_COMPONENTS": "true",
        }
    )
    assert settings.rollout_policy == RolloutPolicy(("line-3-core", "factory-a-*"), True)
    defaults = PackagingSettings.from_env({"JOBS_TABLE": "jobs", "RESULTS_BUCKET": "results"})
    assert defaults.rollout_policy == RolloutPolicy((), False)
