"""SageMaker asynchronous inference's rules: the upload's key and options, the service's
limits, and what an endpoint's failure file says."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import ConfigDict, Field, ValidationError, field_validator

from dropzone.errors import InvalidInput, Problem
from dropzone.models.base import Model
from dropzone.models.jobs import Job, JobKind

if TYPE_CHECKING:
    from dropzone.settings.sagemaker import SageMakerSubmitSettings

KIND = JobKind.SAGEMAKER_ASYNC
MAX_PAYLOAD_BYTES = 1024**3  # 1 GB, the service's limit for asynchronous payloads
MAX_INPUT_LOCATION = 1024
ENDPOINT_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9])*$")
ENDPOINT_NAME_MAX = 63
METADATA_PREFIX = "x-amz-meta-"
OUTPUT_PATH_EXTENSION = re.compile(r"^(?!s3:|https:)[a-zA-Z0-9!_.*'()/-]+$")
FILENAME = re.compile(r"^(?!.*\..*\.)[a-zA-Z0-9][a-zA-Z0-9\-_.]*$")


class UploadHead(Protocol):
    """What the rules read of an uploaded object's head (`dropzone.adapters.s3.ObjectHead`)."""

    @property
    def bucket(self) -> str: ...

    @property
    def key(self) -> str: ...

    @property
    def size(self) -> int: ...

    @property
    def content_type(self) -> str | None: ...

    @property
    def metadata(self) -> dict[str, str]: ...


def service_ref(inference_id: str) -> str:
    return f"sagemaker:{inference_id}"


def _ascii(value: str) -> bool:
    return all(ord(char) < 128 for char in value)


def _visible_ascii(value: str) -> bool:
    return all(32 <= ord(char) < 127 for char in value)


class AsyncInferenceOptions(Model):
    """Per-object options: the object's Content-Type and its user metadata."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    content_type: str | None = Field(default=None, alias="content-type", max_length=1024)
    accept: str | None = Field(default=None, max_length=1024)
    custom_attributes: str | None = Field(default=None, alias="custom-attributes", max_length=1024)
    inference_id: str | None = Field(
        default=None, alias="inference-id", min_length=1, max_length=64
    )
    request_ttl_seconds: int | None = Field(
        default=None, alias="request-ttl-seconds", ge=60, le=21600
    )
    invocation_timeout_seconds: int | None = Field(
        default=None, alias="invocation-timeout-seconds", ge=1, le=3600
    )
    s3_output_path_extension: str | None = Field(
        default=None,
        alias="s3-output-path-extension",
        min_length=1,
        max_length=512,
    )
    filename: str | None = Field(default=None, min_length=1, max_length=32)

    @field_validator("s3_output_path_extension")
    @classmethod
    def _output_path_extension(cls, value: str | None) -> str | None:
        if value is not None and not OUTPUT_PATH_EXTENSION.match(value):
            raise ValueError(
                "must be a relative path of letters, digits and !_.*'()/- (no s3: or https:)"
            )
        return value

    @field_validator("filename")
    @classmethod
    def _filename(cls, value: str | None) -> str | None:
        if value is not None and not FILENAME.match(value):
            raise ValueError(
                "must start with a letter or digit, use letters, digits, '-', '_' and at "
                "most one '.'"
            )
        return value

    @field_validator("content_type", "accept")
    @classmethod
    def _must_be_ascii(cls, value: str | None) -> str | None:
        if value is not None and not _ascii(value):
            raise ValueError("must be ASCII")
        return value

    @field_validator("custom_attributes")
    @classmethod
    def _must_be_visible_ascii(cls, value: str | None) -> str | None:
        if value is not None and not _visible_ascii(value):
            raise ValueError("must be visible ASCII characters only")
        return value

    @field_validator("inference_id")
    @classmethod
    def _printable_without_leading_space(cls, value: str | None) -> str | None:
        if value is not None and (value[0].isspace() or not value.isprintable()):
            raise ValueError("must be printable characters and must not start with a space")
        return value

    @field_validator("request_ttl_seconds", "invocation_timeout_seconds", mode="before")
    @classmethod
    def _strict_integer(cls, value: Any) -> Any:
        if isinstance(value, str) and not re.fullmatch(r"\s*\d+\s*", value):
            raise ValueError(f"must be a whole number of seconds, got {value[:40]!r}")
        return value

    @classmethod
    def from_head(cls, head: UploadHead) -> AsyncInferenceOptions:
        values: dict[str, Any] = dict(head.metadata)
        if head.content_type:
            values["content-type"] = head.content_type
        try:
            return cls.model_validate(values)
        except ValidationError as error:
            raise InvalidInput([_problem(e) for e in error.errors()]) from error


def _problem(error: Any) -> Problem:
    name = str(error["loc"][0]) if error["loc"] else "metadata"
    alias = name.replace("_", "-")
    where = "Content-Type" if alias == "content-type" else f"metadata '{METADATA_PREFIX}{alias}'"
    if alias == "custom-attributes":  # may carry secrets: never echo the value
        return Problem(where, error["msg"])
    given = error.get("input")
    shown = f" (got {str(given)[:60]!r})" if isinstance(given, str | int) else ""
    return Problem(where, f"{error['msg']}{shown}")


@dataclass(frozen=True)
class ParsedKey:
    endpoint_name: str
    relative_path: str


def parse_key(key: str, prefix: str) -> ParsedKey:
    if not key.startswith(prefix):
        raise InvalidInput.single("key", f"{key!r} is not under the {prefix!r} prefix")
    endpoint, _, rest = key[len(prefix) :].partition("/")
    if not endpoint:
        raise InvalidInput.single(
            "key", f"no endpoint name: expected {prefix}<EndpointName>/<file>, got {key!r}"
        )
    if len(endpoint) > ENDPOINT_NAME_MAX or not ENDPOINT_NAME.match(endpoint):
        raise InvalidInput.single(
            "endpoint",
            f"{endpoint[:80]!r} is not a valid endpoint name (1-63 letters, digits and "
            "hyphens, starting and ending with a letter or digit)",
        )
    if not rest or rest.endswith("/"):
        raise InvalidInput.single(
            "key", f"expected a file under {prefix}{endpoint}/, got folder marker {key!r}"
        )
    return ParsedKey(endpoint_name=endpoint, relative_path=rest)


def target_of(key: str, prefix: str) -> str:
    """The endpoint a key names, or '' when the key is not under the prefix."""
    return key[len(prefix) :].partition("/")[0] if key.startswith(prefix) else ""


def invocation_request(
    job: Job, head: UploadHead, settings: SageMakerSubmitSettings
) -> dict[str, Any]:
    """InvokeEndpointAsync's parameters for the uploaded object; InvalidInput when the
    object, its key or its options are outside what the service accepts."""
    parsed = parse_key(head.key, settings.sagemaker_async_prefix)
    if head.size == 0:
        raise InvalidInput.single("object", "the object is empty (0 bytes)")
    if head.size > MAX_PAYLOAD_BYTES:
        raise InvalidInput.single(
            "object",
            f"the object is {head.size} bytes; asynchronous inference accepts at most "
            f"{MAX_PAYLOAD_BYTES} bytes (1 GB)",
        )
    input_location = f"s3://{head.bucket}/{head.key}"
    if len(input_location) > MAX_INPUT_LOCATION:
        raise InvalidInput.single(
            "key", f"the input location is {len(input_location)} characters; the limit is 1024"
        )
    options = AsyncInferenceOptions.from_head(head)
    request: dict[str, Any] = {
        "EndpointName": parsed.endpoint_name,
        "InputLocation": input_location,
        "InferenceId": options.inference_id or job.job_id,
        "RequestTTLSeconds": options.request_ttl_seconds or settings.default_request_ttl_seconds,
        "InvocationTimeoutSeconds": options.invocation_timeout_seconds
        or settings.default_invocation_timeout_seconds,
    }
    optional = {
        "ContentType": options.content_type,
        "Accept": options.accept,
        "CustomAttributes": options.custom_attributes,
        "S3OutputPathExtension": options.s3_output_path_extension,
        "Filename": options.filename,
    }
    request.update({name: value for name, value in optional.items() if value})
    return request


def failure_message(body: str) -> str:
    """The reason an endpoint wrote to its failure location, at most 500 characters."""
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        for name in ("failureReason", "message", "Message", "error"):
            if isinstance(parsed.get(name), str):
                return str(parsed[name])[:500]
    return body[:500] or "the endpoint wrote a failure without a reason"
