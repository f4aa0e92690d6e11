"""moto's writing of DynamoDB items, at a lower cost and with the same outcome, for as
long as the local cloud runs (`attribute_values_written_directly`, entered by
`moto_requests.requests_at_lower_cost`).

moto writes an item (GetItem's Item, UpdateItem's and PutItem's Attributes, a failed
condition's Item, Query's and Scan's Items, BatchGetItem's and TransactGetItems' items) by
walking the output shape: the item is a map whose values are AttributeValue structures
of ten members (S, N, B, SS, NS, BS, M, L, NULL, BOOL), and for every attribute moto asks
for each of the ten members under the names its attribute picker works out (`S` or `s`,
`ListAttributeValue`, `list_attribute_value`, `L` or `l`, ...), builds a context object
for each question and a path of keys, and dispatches each value found by its shape's type.

Here a map whose values are AttributeValue structures (recognised by their members and
their types in the model, not by name) is written directly when the serializer is moto's
JSON serializer with its own attribute picker and no response transformers, and every
value in it is exactly one of the forms moto's items take: a plain dict of at most one
key, that key a name moto would look a member up under (worked out once per shape with
moto's own picker, so `s` counts as `S` as it does for moto), holding a `str` (S, N), a
`bytes` or `str` (B, base64 of its UTF-8 as moto's `_base64`), a list of those (SS, NS,
BS), any value (NULL, BOOL, written as they are, as moto's JSON serializer has no
boolean writer), a dict of such values under non-empty `str` keys (M, and the item), or
a list of such values (L). A member holding `None` (`{"S": None}`) is written as an
empty structure, as moto does; a `None` in place of a whole value takes moto's own path.
Anything else anywhere in the map (another type, a dict of two keys, an empty attribute
name) and the whole map is written by moto's own path, which raises what it raises. The
path of keys moto keeps is read only to match response transformers, and there are none
here.
"""

from __future__ import annotations

import base64
import importlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

# member name -> how its value is written, for the members an AttributeValue has
_KINDS = {
    "S": ("string", None),
    "N": ("string", None),
    "B": ("blob", None),
    "SS": ("list", "string"),
    "NS": ("list", "string"),
    "BS": ("list", "blob"),
    "M": ("map", "structure"),
    "L": ("list", "structure"),
    "NULL": ("boolean", None),
    "BOOL": ("boolean", None),
}

# name looked up -> the members (key, kind, child shape) found under it, in shape order
_Plan = dict[str, tuple[tuple[str, str, Any], ...]]


class _Unhandled(Exception):
    """A value not of the forms written here: moto's own path writes the map."""


@contextmanager
def attribute_values_written_directly() -> Iterator[None]:
    serialize = importlib.import_module("moto.core.serialize")
    json_serializer = serialize.JSONSerializer
    picker_class = serialize.XFormedAttributePicker
    base = serialize.BaseJSONSerializer
    original = vars(base)["_serialize_type_map"]
    # alias providers -> AttributeValue shape -> plan (None: not an AttributeValue)
    plans: dict[tuple[Any, ...], dict[Any, _Plan | None]] = {}

    def plan_of(shape: Any, known: dict[Any, _Plan | None], picker: Any) -> _Plan | None:
        if shape not in known:
            if len(known) > 4096:  # shapes are the model's own; a bound all the same
                known.clear()
            try:
                known[shape] = _planned(shape, picker, serialize)
            except Exception:  # not a shape this works out: moto's path
                known[shape] = None
        return known[shape]

    def write_value(value: Any, shape: Any, known: Any, picker: Any) -> dict[str, Any]:
        plan = known.get(shape) or plan_of(shape, known, picker)
        if plan is None or type(value) is not dict or len(value) > 1:
            raise _Unhandled
        written: dict[str, Any] = {}
        for name, found in value.items():
            if found is None:
                return written
            for key, kind, child in plan.get(name, ()):
                written[key] = write_member(found, kind, child, known, picker)
        return written

    def write_member(found: Any, kind: str, child: Any, known: Any, picker: Any) -> Any:
        if kind == "string":
            if type(found) is not str:
                raise _Unhandled
            return found
        if kind == "blob":
            return _base64(found)
        if kind == "boolean":
            return found
        if kind == "map":
            return write_map(found, child, known, picker)
        if type(found) is not list:
            raise _Unhandled
        if kind == "strings":
            if any(type(item) is not str for item in found):
                raise _Unhandled
            return list(found)
        if kind == "blobs":
            return [_base64(item) for item in found]
        return [write_value(item, child, known, picker) for item in found]  # "values"

    def write_map(value: Any, shape: Any, known: Any, picker: Any) -> dict[str, Any]:
        if type(value) is not dict:
            raise _Unhandled
        written: dict[str, Any] = {}
        for name, item in value.items():
            if type(name) is not str or not name:
                raise _Unhandled
            written[name] = write_value(item, shape, known, picker)
        return written

    def _serialize_type_map(self: Any, serialized: Any, value: Any, shape: Any, key: str) -> None:
        picker = self._value_picker
        if (
            type(self) is json_serializer
            and type(value) is dict
            and type(picker) is picker_class
            and not picker.response_transformers
        ):
            aliases = tuple(picker.alias_providers)
            known = plans.get(aliases)
            if known is None:
                known = plans[aliases] = {}
            value_shape = shape.value
            if plan_of(value_shape, known, picker) is not None:
                try:
                    written = write_map(value, value_shape, known, picker)
                except _Unhandled:
                    pass
                else:
                    self._default_serialize(serialized, written, shape, key)
                    return
        original(self, serialized, value, shape, key)

    base._serialize_type_map = _serialize_type_map
    try:
        yield
    finally:
        base._serialize_type_map = original


def _base64(value: Any) -> str:
    """moto's `ResponseSerializer._base64`, for `bytes` and `str` only."""
    if type(value) is str:
        value = value.encode("utf-8")
    elif type(value) is not bytes:
        raise _Unhandled
    return base64.b64encode(value).strip().decode("utf-8")


def _planned(shape: Any, picker: Any, serialize: Any) -> _Plan | None:
    """For an AttributeValue structure: under which names moto finds each member (its
    picker's answer for a plain dict) and how the member's value is written."""
    members = getattr(shape, "members", None)
    if (
        shape.type_name != "structure"
        or shape.is_document_type
        or not members
        or set(members) != set(_KINDS)
        or "name" in shape.serialization
    ):
        return None
    plan: dict[str, list[tuple[str, str, Any]]] = {}
    for key, member in members.items():
        outer, inner = _KINDS[key]
        child = None
        if member.type_name != outer or "name" in member.serialization:
            return None
        if outer == "list":
            child = member.member
            if child.type_name != inner or "name" in child.serialization:
                return None
        elif outer == "map":
            child = member.value
            if child.type_name != inner or "name" in child.serialization:
                return None
        kind = {"blob": "blobs", "string": "strings", "structure": "values"}.get(str(inner), outer)
        if outer == "map":
            kind = "map"
        member.parent = shape  # as moto's serializer sets it before looking members up
        context = serialize.AttributePickerContext(obj={}, key=key, shape=member)
        names = dict.fromkeys(picker.get_possible_keys(context))
        if any(type(name) is not str or "." in name for name in names):
            return None  # a path, which moto's lookup follows
        for name in names:
            plan.setdefault(name, []).append((key, kind, child))
    return {name: tuple(found) for name, found in plan.items()}
