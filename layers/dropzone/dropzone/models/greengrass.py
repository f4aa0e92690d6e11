"""Greengrass shapes of a packaging request.

`Configuration.Greengrass` describes the component the packaging job builds, as
StartModelPackagingJob takes it; `GreengrassDeployment` (Dropzone's own section) rolls
that component out to a thing or thing group with Greengrass V2.
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, model_validator

from dropzone.errors import InvalidInput, Problem
from dropzone.models.api_shapes import STRICT, rule_error
from dropzone.models.base import Model
from dropzone.models.edge import MAX_DEVICES

# Every core device's result is kept on the roll-out's job, one DynamoDB item (400 KB):
# the same cap as an edge record's devices.
MAX_CORE_DEVICES = MAX_DEVICES
NVIDIA_COMPILER_OPTIONS = ("gpu-code", "trt-ver", "cuda-ver")

# The shapes' patterns, anchored: the service matches the whole value.
_DESCRIPTION = r"^[a-zA-Z0-9\-_. ()':,;?]+$"
_TAG_TEXT = r"^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$"
_S3_KEY_PREFIX = r"^([a-zA-Z0-9!_.*'()-][/a-zA-Z0-9!_.*'()-]*)?$"

Description = Annotated[str, StringConstraints(min_length=1, max_length=256, pattern=_DESCRIPTION)]
ComponentName = Annotated[
    str, StringConstraints(min_length=1, max_length=128, pattern=r"^[a-zA-Z0-9\-_.]+$")
]
ComponentVersion = Annotated[
    str,
    StringConstraints(
        min_length=1, max_length=64, pattern=r"^([0-9]{1,6})\.([0-9]{1,6})\.([0-9]{1,6})$"
    ),
]
TargetArn = Annotated[
    str,
    StringConstraints(
        min_length=1, max_length=2048, pattern=r"^arn:[^:]*:iot:[^:]*:[0-9]+:(thing|thinggroup)/.+$"
    ),
]


class Tag(Model):
    model_config = STRICT

    key: Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=_TAG_TEXT)]
    value: Annotated[str, StringConstraints(min_length=0, max_length=256, pattern=_TAG_TEXT)]


class S3Location(Model):
    model_config = STRICT

    bucket: Annotated[
        str, StringConstraints(min_length=3, max_length=63, pattern=r"^[0-9A-Za-z.\-_]*$")
    ]
    prefix: Annotated[str, StringConstraints(max_length=1024, pattern=_S3_KEY_PREFIX)] | None = None


class TargetPlatform(Model):
    model_config = STRICT

    os: Literal["LINUX"]
    arch: Literal["ARM64", "X86_64"]
    accelerator: Literal["NVIDIA"] | None = None


def parse_compiler_options(text: str) -> dict[str, Any] | None:
    """CompilerOptions is a string holding a JSON object (the documentation's examples
    also use Python's quoting, {'mcpu': 'skylake-avx512'}); None when it holds neither."""
    for parse in (json.loads, ast.literal_eval):
        try:
            value = parse(text)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            continue
        if isinstance(value, dict):
            return value
    return None


class GreengrassConfiguration(Model):
    model_config = STRICT

    compiler_options: Annotated[str, StringConstraints(min_length=3, max_length=1024)] | None = None
    target_device: Literal["jetson_xavier"] | None = None
    target_platform: TargetPlatform | None = None
    s3_output_location: S3Location | None = None
    component_name: ComponentName
    component_version: ComponentVersion | None = None
    component_description: Description | None = None
    tags: list[Tag] | None = Field(default=None, max_length=200)

    @model_validator(mode="after")
    def _target_rules(self) -> GreengrassConfiguration:
        if self.target_device is not None and self.target_platform is not None:
            raise rule_error("TargetPlatform", "give TargetDevice or TargetPlatform, not both")
        if self.target_device is None and self.target_platform is None:
            raise rule_error(
                "TargetDevice",
                "give TargetDevice (jetson_xavier) or TargetPlatform {Os, Arch, Accelerator}",
            )
        if self.compiler_options is None:
            if self.target_platform is not None and self.target_platform.accelerator:
                raise rule_error(
                    "CompilerOptions",
                    "the NVIDIA accelerator needs CompilerOptions with "
                    + ", ".join(NVIDIA_COMPILER_OPTIONS),
                )
            return self
        if self.target_device is not None:
            raise rule_error(
                "CompilerOptions", "CompilerOptions go with TargetPlatform, not TargetDevice"
            )
        options = parse_compiler_options(self.compiler_options)
        if options is None:
            raise rule_error(
                "CompilerOptions",
                'must be a JSON object as a string, e.g. "{\\"mcpu\\": \\"skylake-avx512\\"}"',
            )
        if self.target_platform is not None and self.target_platform.accelerator == "NVIDIA":
            missing = [name for name in NVIDIA_COMPILER_OPTIONS if name not in options]
            if missing:
                raise rule_error(
                    "CompilerOptions",
                    f"the NVIDIA accelerator needs {', '.join(missing)} "
                    '(e.g. {"gpu-code": "sm_72", "trt-ver": "7.1.3", "cuda-ver": "10.2"})',
                )
        return self


class ComponentUpdatePolicy(Model):
    model_config = STRICT

    timeout_in_seconds: int | None = Field(default=None, ge=1, le=2_147_483_647)
    action: Literal["NOTIFY_COMPONENTS", "SKIP_NOTIFY_COMPONENTS"] | None = None


class ConfigurationValidationPolicy(Model):
    model_config = STRICT

    timeout_in_seconds: int | None = Field(default=None, ge=1, le=2_147_483_647)


class DeploymentPolicies(Model):
    model_config = STRICT

    failure_handling_policy: Literal["ROLLBACK", "DO_NOTHING"] | None = None
    component_update_policy: ComponentUpdatePolicy | None = None
    configuration_validation_policy: ConfigurationValidationPolicy | None = None

    def as_api(self) -> dict[str, Any]:
        """Greengrass V2 spells these members in camelCase."""
        policies: dict[str, Any] = {}
        if self.failure_handling_policy:
            policies["failureHandlingPolicy"] = self.failure_handling_policy
        if self.component_update_policy:
            update = self.component_update_policy
            policies["componentUpdatePolicy"] = {
                name: value
                for name, value in (
                    ("timeoutInSeconds", update.timeout_in_seconds),
                    ("action", update.action),
                )
                if value is not None
            }
        if self.configuration_validation_policy:
            timeout = self.configuration_validation_policy.timeout_in_seconds
            policies["configurationValidationPolicy"] = (
                {} if timeout is None else {"timeoutInSeconds": timeout}
            )
        return policies


class ComponentConfigurationUpdate(Model):
    model_config = STRICT

    merge: Annotated[str, StringConstraints(min_length=1, max_length=10_485_760)] | None = None
    reset: list[Annotated[str, StringConstraints(max_length=256)]] | None = None


class GreengrassDeploymentSection(Model):
    """`GreengrassDeployment`: deploy the packaged component to a thing or thing group.

    CoreDeviceCount (Dropzone's own) says how many core devices a thing group holds, so
    the deployment's status waits for all of them: required for a thing group (else the
    first device to report would decide for the whole group); a thing target has one."""

    model_config = STRICT

    target_arn: TargetArn
    deployment_name: Annotated[str, StringConstraints(min_length=1, max_length=256)] | None = None
    deployment_policies: DeploymentPolicies | None = None
    component_configuration_update: ComponentConfigurationUpdate | None = None
    keep_existing_components: bool = True
    core_device_count: int | None = Field(default=None, ge=1, le=MAX_CORE_DEVICES)

    @property
    def targets_thing_group(self) -> bool:
        return ":thinggroup/" in self.target_arn

    @model_validator(mode="after")
    def _merge_is_json(self) -> GreengrassDeploymentSection:
        update = self.component_configuration_update
        if update is not None and update.merge is not None:
            try:
                merged = json.loads(update.merge)
            except ValueError:
                merged = None
            if not isinstance(merged, dict):
                raise rule_error(
                    "ComponentConfigurationUpdate", "Merge must be a JSON object as a string"
                )
        if self.core_device_count not in (None, 1) and not self.targets_thing_group:
            raise rule_error("CoreDeviceCount", "a thing target is one core device")
        if self.core_device_count is None and self.targets_thing_group:
            raise rule_error(
                "CoreDeviceCount",
                f"is required for a thing group target: the number of core devices "
                f"(1-{MAX_CORE_DEVICES}) the roll-out waits for",
            )
        return self

    def expected_core_devices(self) -> int | None:
        return 1 if not self.targets_thing_group else self.core_device_count


@dataclass(frozen=True)
class RolloutPolicy:
    """What the stack lets a request roll out to Greengrass: the things and thing groups it
    may target (GreengrassTargets: names, or name prefixes ending in "*"; none means
    roll-outs are off), and whether a roll-out may replace the components already running
    on its target (GreengrassReplaceComponents)."""

    targets: tuple[str, ...] = ()
    replace_components: bool = False

    @classmethod
    def from_setting(cls, targets: str, *, replace_components: bool) -> RolloutPolicy:
        entries = tuple(entry.strip() for entry in targets.split(",") if entry.strip())
        return cls(entries, replace_components)

    def allows(self, target_arn: str) -> bool:
        """Whether the target's name is listed, or starts with a listed prefix."""
        _, name = target_of(target_arn)
        return any(
            name.startswith(entry[:-1]) if entry.endswith("*") else name == entry
            for entry in self.targets
        )

    def problems(self, section: GreengrassDeploymentSection) -> list[Problem]:
        found: list[Problem] = []
        if not self.targets:
            found.append(
                Problem(
                    "GreengrassDeployment.TargetArn",
                    "Greengrass roll-outs are off in this stack (GreengrassTargets is empty): "
                    "remove the section, or deploy the stack with GreengrassTargets naming the "
                    'things and thing groups (or name prefixes ending in "*") it may deploy to',
                )
            )
        elif not self.allows(section.target_arn):
            kind, name = target_of(section.target_arn)
            found.append(
                Problem(
                    "GreengrassDeployment.TargetArn",
                    f"{kind} {name!r} is not a target this stack may deploy to; "
                    f"GreengrassTargets allows {', '.join(self.targets)}",
                )
            )
        if not section.keep_existing_components and not self.replace_components:
            found.append(
                Problem(
                    "GreengrassDeployment.KeepExistingComponents",
                    "false would remove the components already running on the target, which "
                    "this stack allows only with GreengrassReplaceComponents set to true: "
                    "leave KeepExistingComponents out, or deploy the stack with "
                    "GreengrassReplaceComponents=true",
                )
            )
        return found

    def check(self, section: GreengrassDeploymentSection) -> None:
        """Raise InvalidInput, naming each reason, when the roll-out is not allowed."""
        found = self.problems(section)
        if found:
            raise InvalidInput(found)


def target_of(target_arn: str) -> tuple[str, str]:
    """("thing" or "thing group", name) of a Greengrass target ARN."""
    resource = target_arn.split(":", 5)[-1]
    kind, _, name = resource.partition("/")
    return ("thing group" if kind == "thinggroup" else "thing"), name
