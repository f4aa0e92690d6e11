"""DynamoDB attribute values and items, to and from plain data, for every store.

Going in: pydantic models as their JSON dump, floats as Decimal (non-finite ones as
text), datetimes as ISO text, dict keys as text, and None left out. Coming back: whole
numbers as int, other numbers as float, and sets as sorted lists.
"""

from __future__ import annotations

import math
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from dropzone.clock import iso

CONDITION_FAILED = "ConditionalCheckFailedException"

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def attribute_value(value: Any) -> dict[str, Any]:
    """One value as a typed attribute value (`{"S": ...}`, `{"M": {...}}`, ...)."""
    return cast(dict[str, Any], _serializer.serialize(_to_dynamo(value)))


def item_from_record(record: dict[str, Any]) -> dict[str, Any]:
    """A record (a dict of plain values) as an item; None values are left out."""
    plain: dict[str, Any] = _to_dynamo(record)
    return {name: _serializer.serialize(value) for name, value in plain.items()}


def record_from_item(item: dict[str, Any]) -> dict[str, Any]:
    """An item (or a stream image) as a dict of plain values."""
    return {name: _from_dynamo(_deserializer.deserialize(value)) for name, value in item.items()}


def set_clauses(fields: dict[str, Any], names: dict[str, str], values: dict[str, Any]) -> list[str]:
    """The `#name = :value` clauses of an update's SET for the fields that are not None,
    with their placeholders added to `names` and `values`."""
    clauses = []
    for index, (name, value) in enumerate(fields.items()):
        if value is None:
            continue
        names[f"#f{index}"] = name
        values[f":f{index}"] = attribute_value(value)
        clauses.append(f"#f{index} = :f{index}")
    return clauses


def _to_dynamo(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return _to_dynamo(value.model_dump(mode="json", exclude_none=True))
    if isinstance(value, bool):
        return value
    if isinstance(value, float):
        return Decimal(str(value)) if math.isfinite(value) else str(value)
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, dict):
        return {str(k): _to_dynamo(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_to_dynamo(v) for v in value]
    return value


def _from_dynamo(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _from_dynamo(v) for k, v in value.items()}
    if isinstance(value, set):
        return sorted(_from_dynamo(v) for v in value)
    if isinstance(value, list):
        return [_from_dynamo(v) for v in value]
    return value
