"""Converse's request shape, from botocore's bedrock-runtime service model.

A Converse batch record's modelInput is a Converse request without `modelId` (the job names
the model). `ConverseShape.problem` words the first thing in it the shape does not allow, and
`ConverseShape.schema` is the same check as a pydantic-core schema, for the fast path:
unknown members at any depth, JSON types, required members, enum values, minimum lengths and
values, one member in a union. Blobs are base64 strings in JSON; documents take any JSON.
Maximums and patterns are left to Bedrock. Dropzone also requires a non-empty `messages` (a
batch job names a model, never a prompt that could supply them) and a role of "user" or
"assistant" (the system prompt goes in `system`).
"""

from __future__ import annotations

import binascii
import difflib
import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from pydantic_core import CoreSchema, core_schema

from dropzone.workflows.bedrock.model_inputs import json_type

if TYPE_CHECKING:
    from botocore.model import Shape

ROOT = "modelInput"
# Dropzone's rules beyond the model, by (structure, member)
OMITTED = {("ConverseRequest", "modelId")}
REQUIRED = {("ConverseRequest", "messages")}
MIN_LENGTHS = {("ConverseRequest", "messages"): 1}
ENUMS = {("Message", "role"): ("user", "assistant")}
# what an unknown member of the request most likely meant
OMITTED_HINT = "a batch record takes its model from the key"
MODEL_FIELDS_HINT = "a model's own request fields go in additionalModelRequestFields"
# base64 as binascii.a2b_base64(strict_mode=True) takes it: the standard alphabet, padded
BASE64 = r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"

Hint = Callable[[str], str | None]


class _Bad(Exception):
    """A reason after the path of its value, whose parts are added as it leaves each one."""

    def __init__(self, reason: str, where: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.where = [where] if where else []

    def text(self) -> str:
        return ROOT + "".join(reversed(self.where)) + self.reason


def _shown(name: str) -> str:
    return name if len(name) <= 64 else name[:63] + "…"


def _listing(names: list[str], last: str) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} {last} {names[-1]}"


def _fold(name: str) -> str:
    return name.replace("_", "").replace("-", "").lower()


class _Node:
    """A shape: `words` say what a value must be, `check` raises _Bad. A plain _Node is a
    document member, which takes any JSON (a model's own fields, a tool's JSON schema)."""

    words = "any JSON value"
    minimum = 0
    unit = ""  # what a length counts, for minimums over 1
    numeric = False  # a wrong number is shown (JSON 1e400 reads as inf)

    def check(self, value: Any) -> None:
        return None

    def wrong(self, value: Any, short: bool = False) -> _Bad:
        """`short`: of the right type, under the minimum length."""
        if short and value and self.minimum > 1:
            got = f"{len(value)} {self.unit}"
        elif self.numeric and type(value) in (int, float):
            got = _number(value)
        else:
            got = "an empty object" if type(value) is dict and not value else json_type(value)
        return _Bad(f" must be {self.words}, got {got}")

    def schema(self) -> CoreSchema:
        return core_schema.any_schema()

    def _sized(self, minimum: int, noun: str, unit: str) -> None:
        self.minimum, self.unit = minimum, unit
        plain = f"{'an' if noun[0] in 'aeiou' else 'a'} {noun}"
        more = f"{plain} of at least {minimum} {unit}"
        self.words = more if minimum > 1 else f"a non-empty {noun}" if minimum else plain


def _number(value: float) -> str:
    if type(value) is int and len(shown := repr(value)) > 24:
        return f"a {len(shown.lstrip('-'))}-digit integer"
    return repr(value) if math.isfinite(value) else "a number beyond the float range"


class _String(_Node):
    """A string, or a blob: a base64 string in JSON."""

    def __init__(self, minimum: int, base64: bool = False) -> None:
        self.base64 = base64
        self._sized(minimum, "base64 string" if base64 else "string", "characters")

    def check(self, value: Any) -> None:
        if type(value) is not str:
            raise self.wrong(value)
        if len(value) < self.minimum:
            raise self.wrong(value, short=True)
        if self.base64:
            try:
                binascii.a2b_base64(value, strict_mode=True)
            except (binascii.Error, ValueError):
                words = f"{self.words} (A-Z, a-z, 0-9, + and /, padded with =)"
                raise _Bad(f" must be {words}") from None

    def schema(self) -> CoreSchema:
        pattern = BASE64 if self.base64 else None
        return core_schema.str_schema(min_length=self.minimum, pattern=pattern, strict=True)


class _Enum(_Node):
    def __init__(self, values: tuple[str, ...]) -> None:
        self.values = values
        quoted = [f'"{value}"' for value in values]
        self.words = " or ".join(quoted) if len(quoted) <= 2 else f"one of {_listing(quoted, 'or')}"

    def check(self, value: Any) -> None:
        if type(value) is not str:
            raise self.wrong(value)
        if value not in self.values:  # the value is not shown: records may be private
            raise _Bad(f" must be {self.words}")

    def schema(self) -> CoreSchema:
        return core_schema.literal_schema(list(self.values))


class _Number(_Node):
    numeric = True

    def __init__(self, minimum: float | None, integer: bool) -> None:
        self.least, self.integer = minimum, integer
        noun = "integer" if integer else "number"
        if minimum is None:
            self.words = f"an {noun}" if integer else f"a {noun}"
        elif minimum == 0 or (minimum == 1 and integer):
            self.words = f"a {'non-negative' if minimum == 0 else 'positive'} {noun}"
        else:
            self.words = f"{'an' if integer else 'a'} {noun} of at least {minimum:g}"

    def check(self, value: Any) -> None:
        kind = type(value)
        if kind is not int and (self.integer or kind is not float):
            raise self.wrong(value)
        try:
            finite = math.isfinite(value)  # 1e400 reads as inf
        except OverflowError:  # an integer beyond the largest float
            finite = self.integer
        if not finite or (self.least is not None and value < self.least):
            raise self.wrong(value)

    def schema(self) -> CoreSchema:
        if self.integer:
            least = None if self.least is None else math.ceil(self.least)
            return core_schema.int_schema(ge=least, strict=True)
        return core_schema.float_schema(ge=self.least, allow_inf_nan=False, strict=True)


class _Boolean(_Node):
    words = "a boolean"

    def check(self, value: Any) -> None:
        if type(value) is not bool:
            raise self.wrong(value)

    def schema(self) -> CoreSchema:
        return core_schema.bool_schema(strict=True)


class _List(_Node):
    def __init__(self, member: _Node, minimum: int) -> None:
        self.member = member
        self._sized(minimum, "array", "items")

    def check(self, value: Any) -> None:
        if type(value) is not list:
            raise self.wrong(value)
        if len(value) < self.minimum:
            raise self.wrong(value, short=True)
        check = self.member.check
        for index, item in enumerate(value):
            try:
                check(item)
            except _Bad as bad:
                bad.where.append(f"[{index}]")
                raise

    def schema(self) -> CoreSchema:
        member = self.member.schema()
        return core_schema.list_schema(member, min_length=self.minimum, strict=True)


class _Map(_Node):
    def __init__(self, key: _Node, value: _Node, minimum: int) -> None:
        self.key, self.value = key, value
        self._sized(minimum, "object", "entries")

    def check(self, value: Any) -> None:
        if type(value) is not dict:
            raise self.wrong(value)
        if len(value) < self.minimum:
            raise self.wrong(value, short=True)
        check_key, check_value = self.key.check, self.value.check
        for key, item in value.items():
            try:
                check_key(key)
            except _Bad as bad:
                raise _Bad(f" keys{bad.reason}") from None  # the key itself is not shown
            try:
                check_value(item)
            except _Bad as bad:
                bad.where.append(f".{_shown(key)}")
                raise

    def schema(self) -> CoreSchema:
        key, value = self.key.schema(), self.value.schema()
        return core_schema.dict_schema(key, value, min_length=self.minimum, strict=True)


class _Structure(_Node):
    words = "an object"

    def __init__(self, name: str, title: str, hint: Hint) -> None:
        self.name, self.title, self.hint = name, title, hint
        self.members: dict[str, _Node] = {}
        self.required: tuple[str, ...] = ()
        self.union = False
        self._schema: CoreSchema | None = None

    def check(self, value: Any) -> None:
        if type(value) is not dict:
            raise self.wrong(value)
        members = self.members
        if not value.keys() <= members.keys():
            unknown = next(name for name in value if name not in members)
            hint = self._hint(unknown)
            where = f".{_shown(unknown)}"
            raise _Bad(f" is not a member of {self.title}{f'; {hint}' if hint else ''}", where)
        for name in self.required:
            if name not in value:
                raise _Bad(f" is missing; Converse needs {members[name].words}", f".{name}")
        if self.union and len(value) != 1:
            if not value:
                listing = _listing(list(members), "or")
                raise _Bad(f" sets no member; {self.title} takes exactly one of {listing}")
            listing = _listing(list(value), "and")
            raise _Bad(f" sets {listing}; {self.title} takes exactly one member")
        for name, item in value.items():
            try:
                members[name].check(item)
            except _Bad as bad:
                bad.where.append(f".{name}")
                raise

    def _hint(self, name: str) -> str | None:
        folded = _fold(name)
        close = [member for member in self.members if _fold(member) == folded]
        close = close or difflib.get_close_matches(name, list(self.members), n=1)
        return f"did you mean {close[0]}?" if close else self.hint(name)

    def schema(self) -> CoreSchema:
        if self._schema is not None:
            return self._schema
        fields = {name: member.schema() for name, member in self.members.items()}
        if self.union:
            choices: list[CoreSchema | tuple[CoreSchema, str]] = [
                _object({name: schema}, {name}) for name, schema in fields.items()
            ]
            self._schema = core_schema.union_schema(choices, mode="left_to_right")
        else:
            self._schema = _object(fields, set(self.required))
        return self._schema


def _object(fields: Mapping[str, CoreSchema], required: set[str]) -> CoreSchema:
    typed = {
        name: core_schema.typed_dict_field(schema, required=name in required)
        for name, schema in fields.items()
    }
    return core_schema.typed_dict_schema(typed, extra_behavior="forbid", strict=True)


class ConverseShape:
    """The check of a Converse modelInput, compiled once from botocore's shapes; `hint` says
    where an unknown member of the request belongs, when it knows."""

    def __init__(self, request: Shape, hint: Hint = lambda name: None) -> None:
        self._compiled: dict[str, _Structure] = {}
        self._open: set[str] = set()  # the structures being compiled
        self.recursive = False  # a structure holds itself: no schema can be built
        self._outside_hint = hint
        self.root = self._structure(request, "a Converse request", self._root_hint)
        self._nested = {
            _fold(name): f"{member}.{name}"
            for member, node in self.root.members.items()
            if isinstance(node, _Structure) and not node.union
            for name in node.members
        }

    @classmethod
    def load(cls, hint: Hint = lambda name: None) -> ConverseShape:
        # Here, not at import: only Converse files need it. Through the session the clients
        # share, so the model is found as theirs are and parsed once.
        from dropzone.aws import service_model

        model = service_model("bedrock-runtime")
        request = model.operation_model("Converse").input_shape
        assert request is not None
        return cls(request, hint)

    def problem(self, model_input: Any) -> str | None:
        """The first thing wrong with a Converse modelInput, or None."""
        try:
            self.root.check(model_input)
        except _Bad as bad:
            return bad.text()
        return None

    def schema(self) -> CoreSchema | None:
        """A pydantic-core schema that accepts, as JSON, exactly what `problem` accepts;
        None if the shape cannot be put as one."""
        return None if self.recursive else self.root.schema()

    def _root_hint(self, name: str) -> str | None:
        if any(name == member for _, member in OMITTED):
            return OMITTED_HINT
        nested = self._nested.get(_fold(name))
        if nested:
            return f"did you mean {nested}?"
        return self._outside_hint(name) or MODEL_FIELDS_HINT

    def _node(self, shape: Shape, owner: str, member: str) -> _Node:
        if (owner, member) in ENUMS:
            return _Enum(ENUMS[owner, member])
        kind, minimum = shape.type_name, shape.metadata.get("min")
        floor = int(max(minimum or 0, MIN_LENGTHS.get((owner, member), 0)))

        def inner(part: str) -> _Node:  # a list's member, a map's key or value
            return self._node(getattr(shape, part), shape.name, part)

        if kind == "structure":
            if shape.metadata.get("document"):
                return _Node()
            return self._structure(shape, shape.name, lambda name: None)
        if kind == "list":
            return _List(inner("member"), floor)
        if kind == "map":
            return _Map(inner("key"), inner("value"), floor)
        if kind == "string":
            enum = getattr(shape, "enum", None)
            return _Enum(tuple(enum)) if enum else _String(floor)
        if kind == "blob":
            return _String(floor, base64=True)
        if kind in ("integer", "long", "float", "double"):
            return _Number(minimum, integer=kind in ("integer", "long"))
        if kind == "boolean":
            return _Boolean()
        return _Node()  # a kind Converse has no member of (a timestamp): left to Bedrock

    def _structure(self, shape: Shape, title: str, hint: Hint) -> _Structure:
        name = shape.name
        if name in self._compiled:
            self.recursive = self.recursive or name in self._open
            return self._compiled[name]
        node = self._compiled[name] = _Structure(name, title, hint)  # before its members
        self._open.add(name)
        members: dict[str, Shape] = getattr(shape, "members")  # noqa: B009 - StructureShape
        node.members = {
            member: self._node(member_shape, name, member)
            for member, member_shape in members.items()
            if (name, member) not in OMITTED
        }
        required = [member for member in shape.required_members if member in node.members]
        required += sorted(m for owner, m in REQUIRED if owner == name and m not in required)
        node.required = tuple(required)
        node.union = bool(shape.metadata.get("union"))
        self._open.discard(name)
        return node
