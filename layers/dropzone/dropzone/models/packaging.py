"""The packaging request dropped under `model-packaging/<ProjectName>/….json`.

Its body is StartModelPackagingJob's input with the same field names and casing, so a
request can be copied from the Lookout for Vision documentation, plus two Dropzone
sections: `Edge` (record an Edge Manager deployment for a fleet) and
`GreengrassDeployment` (roll the packaged component out with Greengrass V2).

Rules Dropzone adds to the service's own constraints:
- ProjectName comes from the key. The body may repeat it, but only with the same value.
- ClientToken belongs to Dropzone (the job id): a body that sets it is refused.
- S3OutputLocation may be left out (the results bucket, `model-packaging/outputs/<job id>/`);
  when given it must stay in the results bucket under `model-packaging/outputs/`, the only
  place Dropzone's functions may write and read packaging outputs.
- ComponentVersion defaults to `<ModelVersion>.0.0` for a numbered model version, as the
  service does; for `latest` it is left to the service, which resolves the version first.
- JobName, when given, becomes the start of the job name; the job id completes it, so a
  re-uploaded request can never collide with an earlier job of the same name.
"""

from __future__ import annotations

import ast
import difflib
import json
import re
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)
from pydantic.alias_generators import to_pascal
from pydantic_core import PydanticCustomError

from dropzone.errors import InvalidInput, Problem
from dropzone.models.edge import MAX_DEVICES, EdgeSection

MAX_REQUEST_BYTES = 64 * 1024
# Every core device's result is kept on the roll-out's job, one DynamoDB item (400 KB):
# the same cap as an edge record's devices.
MAX_CORE_DEVICES = MAX_DEVICES
OUTPUTS_PREFIX = "model-packaging/outputs/"
NVIDIA_COMPILER_OPTIONS = ("gpu-code", "trt-ver", "cuda-ver")
PROJECT_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_\-]*$")
PROJECT_NAME_MAX = 255
JOB_NAME_MAX = 64
USER_JOB_NAME_MAX = JOB_NAME_MAX - 44  # room for "-" and the 43-character job id
_VERSION_PART_MAX = 6

# The shapes' patterns, anchored: the service matches the whole value.
_DESCRIPTION = r"^[a-zA-Z0-9\-_. ()':,;?]+$"
_TAG_TEXT = r"^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$"
_S3_KEY_PREFIX = r"^([a-zA-Z0-9!_.*'()-][/a-zA-Z0-9!_.*'()-]*)?$"

_STRICT = ConfigDict(
    extra="forbid",
    alias_generator=to_pascal,
    validate_by_alias=True,
    validate_by_name=False,
    serialize_by_alias=True,
    protected_namespaces=(),
    frozen=True,
)

ModelVersion = Annotated[
    str, StringConstraints(min_length=1, max_length=10, pattern=r"^([1-9][0-9]*|latest)$")
]
JobName = Annotated[
    str, StringConstraints(min_length=1, max_length=JOB_NAME_MAX, pattern=r"^[a-zA-Z0-9-]+$")
]
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


def _problem(field: str, message: str) -> PydanticCustomError:
    """An error about `field` of the model being validated (reported at that field)."""
    return PydanticCustomError("dropzone_rule", message, {"field": field})


class Tag(BaseModel):
    model_config = _STRICT

    key: Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=_TAG_TEXT)]
    value: Annotated[str, StringConstraints(min_length=0, max_length=256, pattern=_TAG_TEXT)]


class S3Location(BaseModel):
    model_config = _STRICT

    bucket: Annotated[
        str, StringConstraints(min_length=3, max_length=63, pattern=r"^[0-9A-Za-z.\-_]*$")
    ]
    prefix: Annotated[str, StringConstraints(max_length=1024, pattern=_S3_KEY_PREFIX)] | None = None


class TargetPlatform(BaseModel):
    model_config = _STRICT

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


class GreengrassConfiguration(BaseModel):
    model_config = _STRICT

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
            raise _problem("TargetPlatform", "give TargetDevice or TargetPlatform, not both")
        if self.target_device is None and self.target_platform is None:
            raise _problem(
                "TargetDevice",
                "give TargetDevice (jetson_xavier) or TargetPlatform {Os, Arch, Accelerator}",
            )
        if self.compiler_options is None:
            if self.target_platform is not None and self.target_platform.accelerator:
                raise _problem(
                    "CompilerOptions",
                    "the NVIDIA accelerator needs CompilerOptions with "
                    + ", ".join(NVIDIA_COMPILER_OPTIONS),
                )
            return self
        if self.target_device is not None:
            raise _problem(
                "CompilerOptions", "CompilerOptions go with TargetPlatform, not TargetDevice"
            )
        options = parse_compiler_options(self.compiler_options)
        if options is None:
            raise _problem(
                "CompilerOptions",
                'must be a JSON object as a string, e.g. "{\\"mcpu\\": \\"skylake-avx512\\"}"',
            )
        if self.target_platform is not None and self.target_platform.accelerator == "NVIDIA":
            missing = [name for name in NVIDIA_COMPILER_OPTIONS if name not in options]
            if missing:
                raise _problem(
                    "CompilerOptions",
                    f"the NVIDIA accelerator needs {', '.join(missing)} "
                    '(e.g. {"gpu-code": "sm_72", "trt-ver": "7.1.3", "cuda-ver": "10.2"})',
                )
        return self


class ModelPackagingConfiguration(BaseModel):
    model_config = _STRICT

    greengrass: GreengrassConfiguration


class ComponentUpdatePolicy(BaseModel):
    model_config = _STRICT

    timeout_in_seconds: int | None = Field(default=None, ge=1, le=2_147_483_647)
    action: Literal["NOTIFY_COMPONENTS", "SKIP_NOTIFY_COMPONENTS"] | None = None


class ConfigurationValidationPolicy(BaseModel):
    model_config = _STRICT

    timeout_in_seconds: int | None = Field(default=None, ge=1, le=2_147_483_647)


class DeploymentPolicies(BaseModel):
    model_config = _STRICT

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


class ComponentConfigurationUpdate(BaseModel):
    model_config = _STRICT

    merge: Annotated[str, StringConstraints(min_length=1, max_length=10_485_760)] | None = None
    reset: list[Annotated[str, StringConstraints(max_length=256)]] | None = None


class GreengrassDeploymentSection(BaseModel):
    """`GreengrassDeployment`: deploy the packaged component to a thing or thing group.

    CoreDeviceCount (Dropzone's own) says how many core devices a thing group holds, so
    the deployment's status waits for all of them: required for a thing group (else the
    first device to report would decide for the whole group); a thing target has one."""

    model_config = _STRICT

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
                raise _problem(
                    "ComponentConfigurationUpdate", "Merge must be a JSON object as a string"
                )
        if self.core_device_count not in (None, 1) and not self.targets_thing_group:
            raise _problem("CoreDeviceCount", "a thing target is one core device")
        if self.core_device_count is None and self.targets_thing_group:
            raise _problem(
                "CoreDeviceCount",
                f"is required for a thing group target: the number of core devices "
                f"(1-{MAX_CORE_DEVICES}) the roll-out waits for",
            )
        return self

    def expected_core_devices(self) -> int | None:
        return 1 if not self.targets_thing_group else self.core_device_count


class PackagingRequest(BaseModel):
    """StartModelPackagingJob's input (less ClientToken), plus Dropzone's sections."""

    model_config = _STRICT

    project_name: str | None = None
    model_version: ModelVersion
    job_name: JobName | None = None
    description: Description | None = None
    configuration: ModelPackagingConfiguration
    edge: EdgeSection | None = None
    greengrass_deployment: GreengrassDeploymentSection | None = None

    @property
    def greengrass(self) -> GreengrassConfiguration:
        return self.configuration.greengrass

    @model_validator(mode="after")
    def _default_version_fits(self) -> PackagingRequest:
        version = self.model_version
        if (
            self.greengrass.component_version is None
            and version != "latest"
            and len(version) > _VERSION_PART_MAX
        ):
            raise _problem(
                "Configuration.Greengrass.ComponentVersion",
                f"the default {version}.0.0 is not a valid component version "
                f"(at most {_VERSION_PART_MAX} digits a part): give ComponentVersion",
            )
        return self

    def component_version(self) -> str | None:
        """The version to ask for: the given one, else `<ModelVersion>.0.0`; None for
        `latest` (the service picks the default once it knows the version)."""
        if self.greengrass.component_version:
            return self.greengrass.component_version
        if self.model_version == "latest":
            return None
        return f"{self.model_version}.0.0"


# -- reading a request --------------------------------------------------------------------


def _field_names(model: type[BaseModel]) -> Iterator[str]:
    for name, info in model.model_fields.items():
        yield info.alias or to_pascal(name)
        for candidate in _nested_models(info.annotation):
            yield from _field_names(candidate)


def _nested_models(annotation: Any) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
        return
    for argument in getattr(annotation, "__args__", ()):
        yield from _nested_models(argument)


_KNOWN_FIELDS = sorted(set(_field_names(PackagingRequest)) | {"ClientToken"})


def _path(location: tuple[int | str, ...]) -> str:
    path = ""
    for part in location:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path or "request"


def _reason(error: Any) -> str:
    kind = error["type"]
    got = error.get("input")
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        name = str(error["loc"][-1])
        close = difflib.get_close_matches(name, _KNOWN_FIELDS, n=1)
        hint = f"; did you mean {close[0]}?" if close else ""
        return f"is not a field of a packaging request (names are case-sensitive){hint}"
    if kind == "string_pattern_mismatch":
        pattern = error.get("ctx", {}).get("pattern", "")
        return f"{str(got)[:80]!r} does not match {pattern}"
    message = str(error["msg"])
    if kind == "value_error":
        message = message.removeprefix("Value error, ")
    if got is not None and kind in ("literal_error", "enum"):
        message += f" (got {str(got)[:40]!r})"
    return message


def problems_of(error: ValidationError) -> list[Problem]:
    """One Problem per pydantic error, with the request's own field path and casing."""
    problems = []
    for item in error.errors():
        location = tuple(item["loc"])
        field = item.get("ctx", {}).get("field") if item["type"] == "dropzone_rule" else None
        if field:
            location = location + tuple(str(field).split("."))
        problems.append(Problem(_path(location), _reason(item)))
    return problems


def _no_duplicate_fields(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for name, value in pairs:
        if name in seen:
            raise InvalidInput.single(name, "appears twice in the same object")
        seen[name] = value
    return seen


def parse_request(body: bytes, *, project_name: str) -> PackagingRequest:
    """Decode, parse and validate a packaging request; InvalidInput names every problem."""
    if len(body) > MAX_REQUEST_BYTES:
        raise InvalidInput.single(
            "object", f"a packaging request is at most {MAX_REQUEST_BYTES} bytes, got {len(body)}"
        )
    if not body.strip():
        raise InvalidInput.single("object", "the packaging request is empty")
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise InvalidInput.single(
            "object", f"not UTF-8 text (byte {error.start} cannot be decoded)"
        ) from error
    try:
        document = json.loads(text, object_pairs_hook=_no_duplicate_fields)
    except json.JSONDecodeError as error:
        raise InvalidInput.single(
            "object", f"not valid JSON: {error.msg} at line {error.lineno} column {error.colno}"
        ) from error
    if not isinstance(document, dict):
        raise InvalidInput.single(
            "object", f"a packaging request is a JSON object, got a {type(document).__name__}"
        )
    problems: list[Problem] = []
    if "ClientToken" in document:
        problems.append(
            Problem("ClientToken", "is set by Dropzone (the job id); remove it from the request")
        )
        document = {name: value for name, value in document.items() if name != "ClientToken"}
    given_project = document.get("ProjectName")
    if given_project is not None and given_project != project_name:
        problems.append(
            Problem(
                "ProjectName",
                f"{str(given_project)[:80]!r} differs from the project in the key "
                f"({project_name!r}); leave it out or make them match",
            )
        )
    try:
        request = PackagingRequest.model_validate(document)
    except ValidationError as error:
        problems.extend(problems_of(error))
        raise InvalidInput(problems) from error
    if problems:
        raise InvalidInput(problems)
    return request


def check_project_name(name: str) -> None:
    if not name or len(name) > PROJECT_NAME_MAX or not PROJECT_NAME.match(name):
        raise InvalidInput.single(
            "ProjectName",
            f"{name[:80]!r} from the key is not a Lookout for Vision project name "
            f"(1-{PROJECT_NAME_MAX} characters, {PROJECT_NAME.pattern})",
        )


def check_output_location(location: S3Location, *, results_bucket: str) -> None:
    """Dropzone's functions may write packaging outputs only in the results bucket, under
    the outputs prefix."""
    problems = []
    field = "Configuration.Greengrass.S3OutputLocation"
    if location.bucket != results_bucket:
        problems.append(
            Problem(
                f"{field}.Bucket",
                f"must be the results bucket {results_bucket!r} (or leave S3OutputLocation "
                "out): Dropzone may write packaging outputs nowhere else",
            )
        )
    prefix = location.prefix or ""
    if not prefix.startswith(OUTPUTS_PREFIX) or prefix == OUTPUTS_PREFIX:
        problems.append(
            Problem(
                f"{field}.Prefix",
                f"must be a folder under {OUTPUTS_PREFIX!r} (e.g. {OUTPUTS_PREFIX}my-run/), "
                f"got {prefix[:80]!r}",
            )
        )
    if problems:
        raise InvalidInput(problems)
