"""What a batch record's `modelInput` must hold, by invocation type and model family.

Converse has one request shape for every model: bedrock-runtime's Converse request, without
`modelId` (dropzone.workflows.bedrock.converse_shape). InvokeModel takes each provider's
native body, so its checks come from FAMILIES: the first family whose prefix matches the
model id (cross-region inference profile prefix and ARN stripped) applies; unknown models
pass.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any, Literal

import msgspec
from pydantic_core import CoreSchema

if TYPE_CHECKING:
    from dropzone.workflows.bedrock.converse_shape import ConverseShape

INVOCATION_TYPES = ("InvokeModel", "Converse")
INFERENCE_PROFILE_PREFIX = re.compile(r"^(?:us|us-gov|eu|apac|jp|au|ca|global)\.")

Kind = Literal["string", "positive integer", "non-empty array", "array", "object"]

_IS: dict[Kind, Callable[[Any], bool]] = {
    "string": lambda value: isinstance(value, str),
    "positive integer": lambda value: (
        isinstance(value, int) and not isinstance(value, bool) and value > 0
    ),
    "non-empty array": lambda value: isinstance(value, list) and len(value) > 0,
    "array": lambda value: isinstance(value, list),
    "object": lambda value: isinstance(value, dict),
}


def json_type(value: Any) -> str:
    """A value's JSON type in words, never the value itself (records may be private)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "an empty string" if not value else "a string"
    if isinstance(value, list):
        return "an empty array" if not value else "an array"
    return "an object"


def _wrong(path: str, kind: Kind, value: Any) -> str:
    shown = f"{value!r}" if kind == "positive integer" and isinstance(value, int | float) else ""
    return f"{path} must be {_article(kind)}, got {shown or json_type(value)}"


def _item_problem(path: str, value: Any) -> str | None:
    """The arrays a family needs (messages) hold objects."""
    if isinstance(value, list):
        for index, item in enumerate(value):
            if not isinstance(item, dict):
                return f"{path}[{index}] must be an object, got {json_type(item)}"
    return None


def _article(kind: Kind) -> str:
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"


@dataclass(frozen=True)
class Need:
    """modelInput must carry one of these (field, kind) options; usually there is one."""

    options: tuple[tuple[str, Kind], ...]

    @classmethod
    def field(cls, name: str, kind: Kind) -> Need:
        return cls(((name, kind),))

    def problem(self, model_input: Mapping[str, Any], family: str) -> str | None:
        items: str | None = None  # an array of the right kind holding something else
        for name, kind in self.options:
            if name in model_input and _IS[kind](value := model_input[name]):
                items = _item_problem(f"modelInput.{name}", value)
                if items is None:
                    return None
        if items:
            return items
        if len(self.options) > 1:
            wanted = " or ".join(f"'{name}' ({_article(kind)})" for name, kind in self.options)
            return f"modelInput needs {wanted} for {family}"
        name, kind = self.options[0]
        if name not in model_input:
            return f"modelInput.{name} is missing; {family} needs {_article(kind)}"
        return _wrong(f"modelInput.{name}", kind, model_input[name])


@dataclass(frozen=True)
class ModelFamily:
    name: str
    prefixes: tuple[str, ...]
    needs: tuple[Need, ...]
    excluded: tuple[str, ...] = ()

    def matches(self, base_model_id: str) -> bool:
        return base_model_id.startswith(self.prefixes) and not base_model_id.startswith(
            self.excluded
        )

    def problem(self, model_input: Mapping[str, Any]) -> str | None:
        for need in self.needs:
            reason = need.problem(model_input, self.name)
            if reason:
                return reason
        return None


_MESSAGES = Need.field("messages", "non-empty array")

FAMILIES: tuple[ModelFamily, ...] = (
    ModelFamily(
        "Anthropic Claude (Messages API)",
        ("anthropic.claude",),
        (
            Need.field("anthropic_version", "string"),
            Need.field("max_tokens", "positive integer"),
            _MESSAGES,
        ),
    ),
    ModelFamily(
        "Amazon Titan Multimodal Embeddings",
        ("amazon.titan-embed-image",),
        (Need((("inputText", "string"), ("inputImage", "string"))),),
    ),
    ModelFamily(
        "Amazon Titan",
        ("amazon.titan-text", "amazon.titan-embed"),
        (Need.field("inputText", "string"),),
    ),
    ModelFamily(
        "Amazon Nova",
        ("amazon.nova",),
        (_MESSAGES,),
        excluded=("amazon.nova-canvas", "amazon.nova-reel", "amazon.nova-sonic"),
    ),
    ModelFamily("Meta Llama", ("meta.llama",), (Need.field("prompt", "string"),)),
    ModelFamily(
        "Mistral",
        ("mistral.",),
        (Need((("prompt", "string"), ("messages", "non-empty array"))),),
    ),
)


def base_model_id(model_id: str) -> str:
    """The foundation model id inside an ARN or a cross-region inference profile id."""
    model = model_id.strip().lower()
    if model.startswith("arn:"):
        model = model.rpartition("/")[2]
    return INFERENCE_PROFILE_PREFIX.sub("", model, count=1)


@cache
def family_of(model_id: str) -> ModelFamily | None:
    base = base_model_id(model_id)
    return next((family for family in FAMILIES if family.matches(base)), None)


def check_model_input(
    model_id: str, invocation_type: str, model_input: dict[str, Any]
) -> str | None:
    """A short reason why this modelInput cannot work, or None."""
    if invocation_type == "Converse":
        return _converse_problem(model_input)
    if invocation_type == "InvokeModel":
        family = family_of(model_id)
        return family.problem(model_input) if family else None
    raise ValueError(f"unknown invocation type {invocation_type!r}; expected {INVOCATION_TYPES}")


# The InvokeModel checks as msgspec types, for the fast path of
# dropzone.workflows.bedrock.records: msgspec parses and checks a line in one call and skips
# the members no check reads without building them. Contract: a type accepts a modelInput
# only if check_model_input would return None. It may refuse more (a wrong member beside the
# option that is right, say); the caller then asks check_model_input for the verdict and its
# reason.


class AnyObject(msgspec.Struct):
    """Any JSON object; its members are skipped."""


_KIND_TYPES: dict[Kind, Any] = {
    "string": str,
    "positive integer": Annotated[int, msgspec.Meta(gt=0)],
    "non-empty array": Annotated[list[AnyObject], msgspec.Meta(min_length=1)],
    "array": list[AnyObject],
    "object": AnyObject,
}


def model_input_type(model_id: str) -> type[msgspec.Struct]:
    """The msgspec type of an InvokeModel modelInput for this model."""
    family = family_of(model_id)
    return _family_type(family) if family else AnyObject


@cache
def _family_type(family: ModelFamily) -> type[msgspec.Struct]:
    fields: list[tuple[str, Any] | tuple[str, Any, Any]] = []
    choices: list[tuple[str, ...]] = []  # needs met by any one of their options
    for need in family.needs:
        if len(need.options) == 1:
            name, kind = need.options[0]
            fields.append((name, _KIND_TYPES[kind]))
            continue
        fields += [
            (name, _KIND_TYPES[kind] | msgspec.UnsetType, msgspec.UNSET)
            for name, kind in need.options
        ]
        choices.append(tuple(name for name, _ in need.options))

    def __post_init__(self: msgspec.Struct) -> None:  # msgspec calls it after decoding
        for names in choices:
            if all(getattr(self, name) is msgspec.UNSET for name in names):
                raise ValueError(f"sets none of {', '.join(names)}")

    namespace = {"__post_init__": __post_init__} if choices else {}
    return msgspec.defstruct("ModelInput", fields, kw_only=True, namespace=namespace)


def model_input_schema(model_id: str, invocation_type: str) -> CoreSchema | None:
    """For Converse, a pydantic-core schema that accepts a JSON modelInput only when
    check_model_input would accept it (it may refuse more, never less), or None when the
    checks cannot be put as one. None for InvokeModel: its fast path is model_input_type."""
    if invocation_type == "Converse":
        return _converse().schema()
    if invocation_type == "InvokeModel":
        return None
    raise ValueError(f"unknown invocation type {invocation_type!r}; expected {INVOCATION_TYPES}")


def _converse_problem(model_input: Mapping[str, Any]) -> str | None:
    return _converse().problem(model_input)


@cache
def _converse() -> ConverseShape:
    """The Converse check, built on the first Converse record: loading botocore's model
    costs more than a process that never sees one should pay."""
    from dropzone.workflows.bedrock.converse_shape import ConverseShape

    return ConverseShape.load(hint=_invoke_model_hint)


def _invoke_model_hint(name: str) -> str | None:
    """Where a member a Converse request does not have belongs, if some family's
    InvokeModel body needs it: the record was likely written for InvokeModel."""
    for family in FAMILIES:
        if any(name == field for need in family.needs for field, _ in need.options):
            return (
                f"it belongs to an InvokeModel body for {family.name}: upload such records "
                "with invocation-type InvokeModel"
            )
    return None
