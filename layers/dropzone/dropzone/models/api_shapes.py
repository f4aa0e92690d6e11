"""Request sections that copy an AWS API's input shapes: the service's PascalCase names,
nothing unknown, immutable once read, and Dropzone's own rules reported at their field."""

from __future__ import annotations

from pydantic import ConfigDict
from pydantic.alias_generators import to_pascal
from pydantic_core import PydanticCustomError

STRICT = ConfigDict(
    extra="forbid",
    alias_generator=to_pascal,
    validate_by_alias=True,
    validate_by_name=False,
    serialize_by_alias=True,
    protected_namespaces=(),
    frozen=True,
)
RULE_ERROR = "dropzone_rule"


def rule_error(field: str, message: str) -> PydanticCustomError:
    """An error about `field` of the model being validated (reported at that field)."""
    return PydanticCustomError(RULE_ERROR, message, {"field": field})
