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

import difflib
import json
import re
from collections.abc import Iterator
from typing import Annotated, Any

from pydantic import BaseModel, StringConstraints, ValidationError, model_validator
from pydantic.alias_generators import to_pascal

from dropzone.errors import InvalidInput, Problem
from dropzone.models.api_shapes import RULE_ERROR, STRICT, rule_error
from dropzone.models.base import Model
from dropzone.models.edge import EdgeSection
from dropzone.models.greengrass import (
    Description,
    GreengrassConfiguration,
    GreengrassDeploymentSection,
    S3Location,
)

MAX_REQUEST_BYTES = 64 * 1024
OUTPUTS_PREFIX = "model-packaging/outputs/"
PROJECT_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_\-]*$")
PROJECT_NAME_MAX = 255
JOB_NAME_MAX = 64
USER_JOB_NAME_MAX = JOB_NAME_MAX - 44  # room for "-" and the 43-character job id
_VERSION_PART_MAX = 6

ModelVersion = Annotated[
    str, StringConstraints(min_length=1, max_length=10, pattern=r"^([1-9][0-9]*|latest)$")
]
JobName = Annotated[
    str, StringConstraints(min_length=1, max_length=JOB_NAME_MAX, pattern=r"^[a-zA-Z0-9-]+$")
]


class ModelPackagingConfiguration(Model):
    model_config = STRICT

    greengrass: GreengrassConfiguration


class PackagingRequest(Model):
    """StartModelPackagingJob's input (less ClientToken), plus Dropzone's sections."""

    model_config = STRICT

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
            raise rule_error(
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
        field = item.get("ctx", {}).get("field") if item["type"] == RULE_ERROR else None
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
