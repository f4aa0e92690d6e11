"""What a line of a batch input must hold, checked two ways.

check_record checks one line and words the reason it cannot be used. fast_path gives, where
it can, one C call per line that parses and applies the record and modelInput checks without
building the Python objects it does not need: msgspec for InvokeModel, pydantic-core for
Converse. It only ever accepts what check_record accepts, and says of a chunk's lines before
any is read whether they may hold what its parser reads differently (bytes that are not
UTF-8, say); the caller then checks them line by line.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, lru_cache
from operator import itemgetter
from typing import Annotated, Any

import msgspec
from pydantic_core import SchemaValidator, ValidationError, core_schema

from dropzone.workflows.bedrock.model_inputs import (
    AnyObject,
    check_model_input,
    json_type,
    model_input_schema,
    model_input_type,
)

RECORD_ID_MAX = 256
JSON_ERROR_MAX = 120
# the largest integer literal, in digits, that pydantic-core's JSON parser reads; json.loads
# reads up to sys.get_int_max_str_digits() digits (0: no limit)
PARSER_INT_DIGITS = 4300


# what a fast path's validate raises for a line it does not vouch for
REFUSED = (ValueError, msgspec.MsgspecError, RecursionError)


class BadRecord(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def check_record(content: bytes, model_id: str, invocation_type: str) -> str | None:
    """The line's record id (None when it has none) if it holds an acceptable record;
    BadRecord with the reason otherwise."""
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as error:
        raise BadRecord(
            f"not valid UTF-8: {error.reason} at byte offset {error.start} of the line"
        ) from None
    if text.startswith("\ufeff"):
        raise BadRecord("starts with a byte order mark (BOM); save the file as UTF-8 without BOM")
    try:
        record = _DECODER.decode(text)
    except json.JSONDecodeError as error:
        raise BadRecord(_short(f"not valid JSON: {error.msg} at column {error.colno}")) from None
    except ValueError as error:
        raise BadRecord(_short(f"not valid JSON: {error}")) from None
    except RecursionError:
        raise BadRecord("not valid JSON: nested too deeply") from None
    if not isinstance(record, dict):
        raise BadRecord(f"expected a JSON object, got {json_type(record)}")
    if "modelInput" not in record:
        raise BadRecord("'modelInput' is missing")
    model_input = record["modelInput"]
    if not isinstance(model_input, dict):
        raise BadRecord(f"'modelInput' must be a JSON object, got {json_type(model_input)}")
    record_id = record.get("recordId")
    if "recordId" in record:
        if not isinstance(record_id, str) or not record_id:
            raise BadRecord(f"'recordId' must be a non-empty string, got {json_type(record_id)}")
        if len(record_id) > RECORD_ID_MAX:
            raise BadRecord(
                f"'recordId' is {len(record_id)} characters; the limit is {RECORD_ID_MAX}"
            )
    reason = check_model_input(model_id, invocation_type, model_input)
    if reason:
        raise BadRecord(reason)
    return record_id


def _short(text: str) -> str:
    return text if len(text) <= JSON_ERROR_MAX else text[: JSON_ERROR_MAX - 1] + "…"


# Lines the line-by-line checks refuse, or read differently, that the fast parser must refuse
# as well; the fast path is only used if it does. NaN and Infinity it takes: see
# may_hold_constants.
_PARSER_PROBES = (
    b'{"modelInput": {}, "x": "\xff"}',  # not UTF-8
    b'{"modelInput": {}, "x": "\xed\xa0\x80"}',  # an encoded surrogate
    b'{"modelInput": {}, "x": "\\ud800"}',  # json.loads keeps a lone surrogate as is
    b'{"modelInput": {}, "x": "a\tb"}',  # a control character in a string
    b'{"modelInput": {}, "x": 1%s}' % (b"0" * PARSER_INT_DIGITS),  # over the digit limit
    b'{"modelInput": {}, "recordId": "a", "recordId": 1}',  # the last repeated key counts
    b'{"modelInput": {}} x',
    b'\xef\xbb\xbf{"modelInput": {}}',
)


def _record_schema(model_input: core_schema.CoreSchema) -> core_schema.CoreSchema:
    """A line's record id (None when it has none) if the line holds an acceptable record."""
    record_id = core_schema.str_schema(strict=True, min_length=1, max_length=RECORD_ID_MAX)
    record = core_schema.typed_dict_schema(
        {
            "recordId": core_schema.typed_dict_field(
                core_schema.with_default_schema(record_id, default=None), required=False
            ),
            "modelInput": core_schema.typed_dict_field(model_input),
        },
        extra_behavior="ignore",
        strict=True,
    )
    return core_schema.no_info_after_validator_function(itemgetter("recordId"), record)


def _validator(schema: core_schema.CoreSchema) -> Callable[[bytes], str | None]:
    # cache the keys only: record ids are all different, caching them only costs memory
    config = core_schema.CoreConfig(cache_strings="keys")
    validate: Callable[[bytes], str | None] = SchemaValidator(schema, config).validate_json
    return validate


@cache
def _parser_agrees() -> bool:
    validate = _validator(_record_schema(core_schema.typed_dict_schema({})))
    if validate(b'{"recordId": "a", "modelInput": {"x": [1.5, null, true]}} ') != "a":
        return False
    for probe in _PARSER_PROBES:
        try:
            validate(probe)
        except ValidationError:
            continue
        return False
    return True


@lru_cache(maxsize=32)
def fast_validator(model_id: str, invocation_type: str) -> Callable[[bytes], str | None] | None:
    """validate_json of a line: its record id (None when it has none) when check_record would
    accept the line, ValidationError otherwise or whenever unsure. None when there is no
    fast path for this model."""
    model_input = model_input_schema(model_id, invocation_type)
    if model_input is None or not _parser_agrees():
        return None
    return _validator(_record_schema(model_input))


def may_hold_constants(chunk: bytes) -> bool:
    """Whether `chunk` might hold NaN, Infinity or -Infinity outside a string: the fast
    parser takes them, check_record does not. b"N" is rare in text; finding each one (memchr)
    is much faster than searching for b"NaN"."""
    if b"Infinity" in chunk:
        return True
    at = chunk.find(b"N")
    for _ in range(len(chunk) >> 8):
        if at < 0:
            return False
        if chunk.startswith(b"aN", at + 1):
            return True
        at = chunk.find(b"N", at + 1)
    return chunk.find(b"NaN", at) >= 0  # b"N" after b"N" (base64, say): one search


@dataclass(frozen=True)
class FastPath:
    """`validate(line)`: the record id (None when it has none) when check_record would accept
    the line; one of REFUSED otherwise or whenever unsure. `unsure(chunk, start, end, lines,
    longest)`: whether the lines, chunk[start:end] split on b"\\n" and the longest of
    `longest` bytes, may hold what validate reads differently; they then go line by line."""

    validate: Callable[[bytes], str | None]
    unsure: Callable[[bytes, int, int, list[bytes], int], bool]


def fast_path(model_id: str, invocation_type: str) -> FastPath | None:
    """The fast path for this model and invocation type, or None."""
    if invocation_type == "InvokeModel":
        validate = _msgspec_validator(model_id)
        if validate is None:
            return None
        return FastPath(validate, _MsgspecGuard(sys.getrecursionlimit(), _int_digits()).unsure)
    digits = _int_digits()
    validate = fast_validator(model_id, invocation_type)
    if validate is None or 0 < digits < PARSER_INT_DIGITS:
        return None  # pydantic-core must refuse every integer json.loads refuses
    return FastPath(validate, lambda chunk, start, end, lines, longest: may_hold_constants(chunk))


def _int_digits() -> int:
    return sys.get_int_max_str_digits()


# msgspec (InvokeModel). It checks the UTF-8 of the strings it decodes, not of those it skips,
# reads integers of any length, and nests as deep as the C stack allows: _MsgspecGuard checks
# these per chunk. What else check_record refuses, or reads differently, it must refuse too.
_MSGSPEC_PROBES = (
    b'{"modelInput": {}, "x": "a\tb"}',  # a control character in a string
    b'{"modelInput": {}} x',
    b'\xef\xbb\xbf{"modelInput": {}}',
    b'{"modelInput": {"x": NaN}}',
    b'{"modelInput": {"x": Infinity}}',
    b'{"modelInput": {"x": -Infinity}}',
    b'{"modelInput": {}, "recordId": null}',
    b'{"modelInput": {}, "recordId": ""}',
    b'{"modelInput": {}, "recordId": "a", "recordId": 1}',  # the last repeated key counts
)
_RecordId = Annotated[str, msgspec.Meta(min_length=1, max_length=RECORD_ID_MAX)]
_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"0" * 9)


def _msgspec_record(model_input: type[msgspec.Struct]) -> Callable[[bytes], str | None]:
    # a missing recordId reads as "", which no line can set
    record = msgspec.defstruct(
        "Record", [("modelInput", model_input), ("recordId", _RecordId, "")], kw_only=True
    )
    decode = msgspec.json.Decoder(record).decode

    def validate(line: bytes) -> str | None:
        return decode(line).recordId or None  # type: ignore[attr-defined]

    return validate


@lru_cache(maxsize=32)
def _msgspec_validator(model_id: str) -> Callable[[bytes], str | None] | None:
    return _msgspec_record(model_input_type(model_id)) if _msgspec_agrees() else None


@cache
def _msgspec_agrees() -> bool:
    validate = _msgspec_record(AnyObject)
    line = b'{"recordId": "a", "modelInput": {"x": [1.5, null, {}]}, "recordId": "b"} \r'
    if validate(line) != "b" or validate(b'{"modelInput": {}}') is not None:
        return False
    for probe in _MSGSPEC_PROBES:
        try:
            validate(probe)
        except REFUSED:
            continue
        return False
    return True


@dataclass(frozen=True)
class _MsgspecGuard:
    recursion_limit: int
    int_digits: int  # 0: no limit

    def unsure(self, chunk: bytes, start: int, end: int, lines: list[bytes], longest: int) -> bool:
        if not chunk.isascii():
            try:
                str(memoryview(chunk)[start:end], "utf-8")
            except UnicodeDecodeError:
                return True
        # a line nests at most half its length deep, and json.loads reads any line nesting
        # less than half the recursion limit deep (the stack takes less than the other half)
        depth, digits = self.recursion_limit // 2, self.int_digits
        if longest < 2 * depth and not 0 < digits < longest:
            return False
        too_many = b"0" * (digits + 1)
        for line in lines:
            if len(line) >= 2 * depth and line.count(b"[") + line.count(b"{") >= depth:
                return True
            if 0 < digits < len(line) and too_many in line.translate(_DIGITS_AS_ZERO):
                return True
        return False
