"""The InvokeModel fast path (msgspec) accepts only what check_record accepts, with the same
record id; what it cannot see in a line (UTF-8 of skipped strings, integers over the digit
limit, deep nesting) its per-chunk guard sends line by line."""

from __future__ import annotations

import copy
import json
import sys
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dropzone.errors import InvalidInput, Problem
from dropzone.workflows.bedrock.jsonl import plan_batch
from dropzone.workflows.bedrock.plan import BatchLimits
from dropzone.workflows.bedrock.records import REFUSED, BadRecord, FastPath, check_record, fast_path

CLAUDE = "anthropic.claude-3-haiku-20240307-v1:0"
MISTRAL = "mistral.mistral-large-2402-v1:0"
TITAN_IMAGE = "amazon.titan-embed-image-v1"
CLAUDE_OK = {"anthropic_version": "v", "max_tokens": 9, "messages": [{"role": "user"}]}
GOOD_INPUTS = {
    CLAUDE: CLAUDE_OK,
    MISTRAL: {"prompt": "hi"},
    TITAN_IMAGE: {"inputImage": "QQ=="},
    "cohere.command-r-v1:0": {"anything": [1, {"x": None}]},
}


def _path(model_id: str = CLAUDE) -> FastPath:
    path = fast_path(model_id, "InvokeModel")
    assert path is not None
    return path


def _fast(model_id: str, line: bytes) -> str | BaseException | None:
    try:
        return _path(model_id).validate(line)
    except REFUSED as refused:
        return refused


def _checked(model_id: str, line: bytes) -> str | BadRecord | None:
    try:
        return check_record(line, model_id, "InvokeModel")
    except BadRecord as bad:
        return bad


def _claude(record_id: str, **extra: Any) -> bytes:
    return json.dumps({"recordId": record_id, "modelInput": {**CLAUDE_OK, **extra}}).encode()


def _plan(lines: list[bytes]) -> None:
    body = b"\n".join(lines) + b"\n"
    limits = BatchLimits(min_records_per_job=1)
    plan_batch([body], model_id=CLAUDE, invocation_type="InvokeModel", limits=limits)


@pytest.mark.parametrize(("model_id", "model_input"), GOOD_INPUTS.items())
def test_good_records_take_the_fast_path_with_their_record_ids(
    model_id: str, model_input: dict[str, Any]
) -> None:
    line = json.dumps({"recordId": "r1", "modelInput": model_input}).encode()
    assert _fast(model_id, line) == "r1" == _checked(model_id, line)
    without_id = json.dumps({"modelInput": model_input}).encode()
    assert _fast(model_id, without_id) is None


@pytest.mark.parametrize(
    "line",
    [
        _claude("a", messages=[1]),
        _claude("a", max_tokens=True),
        b'{"recordId": null, "modelInput": {"inputText": "a"}}',
        b'{"recordId": "a", "modelInput": {"x": NaN}}',
        json.dumps({"modelInput": {"inputText": "a"}}).encode() + b" x",
    ],
)
def test_what_check_record_refuses_the_fast_path_refuses(line: bytes) -> None:
    model_id = CLAUDE if b"max_tokens" in line else "amazon.titan-text-express-v1"
    assert isinstance(_checked(model_id, line), BadRecord)
    assert isinstance(_fast(model_id, line), REFUSED)


def test_a_family_with_options_needs_one_of_them() -> None:
    line = json.dumps({"recordId": "r", "modelInput": {"inputText": 1}}).encode()
    assert isinstance(_fast(MISTRAL, line), REFUSED)
    assert isinstance(_checked(MISTRAL, line), BadRecord)


_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-1, 3) | st.sampled_from(["", "v", "QQ=="]),
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.sampled_from("ab"), inner),
    max_leaves=4,
)
_NAMES = ["anthropic_version", "max_tokens", "messages", "prompt", "inputText", "inputImage"]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(list(GOOD_INPUTS)), st.data())
def test_the_fast_path_never_accepts_what_check_record_refuses(
    model_id: str, data: st.DataObject
) -> None:
    model_input = copy.deepcopy(GOOD_INPUTS[model_id])
    for _ in range(data.draw(st.integers(1, 3))):
        name = data.draw(st.sampled_from(_NAMES))
        if name in model_input and data.draw(st.booleans()):
            del model_input[name]
        else:
            model_input[name] = data.draw(_VALUES)
    record: dict[str, Any] = {"modelInput": model_input}
    if data.draw(st.booleans()):
        record["recordId"] = data.draw(st.none() | st.sampled_from(["", "r"]) | st.integers())
    line = json.dumps(record).encode()
    fast = _fast(model_id, line)
    if not isinstance(fast, BaseException):
        assert _checked(model_id, line) == fast


def _unsure(path: FastPath, body: bytes) -> bool:
    lines = body.split(b"\n")
    return path.unsure(body, 0, len(body), lines, max(map(len, lines)) + 1)


def test_the_guard_vouches_for_short_utf8_lines() -> None:
    body = b"\n".join([_claude("a"), _claude("b", system="caf\u00e9".encode().decode())])
    assert not _unsure(_path(), body)
    assert not _unsure(_path(), "\n".join(['{"x": "\u00e9"}'] * 3).encode())


def test_bytes_that_are_not_utf8_in_a_skipped_string_go_line_by_line() -> None:
    bad = _claude("b").replace(b'"v"', b'"\xff"')
    assert _unsure(_path(), _claude("a") + b"\n" + bad)
    with pytest.raises(InvalidInput) as raised:
        _plan([_claude("a"), bad])
    assert raised.value.problems == [
        Problem("line 2", "not valid UTF-8: invalid start byte at byte offset 55 of the line")
    ]


def test_an_integer_over_the_digit_limit_goes_line_by_line() -> None:
    limit = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(1000)
    try:
        line = _claude("b", x=0).replace(b'"x": 0', b'"x": ' + b"7" * 1001)
        assert _unsure(_path(), line)
        assert not _unsure(_path(), line.replace(b"7" * 1001, b"7" * 1000))
        with pytest.raises(InvalidInput) as raised:
            _plan([_claude("a"), line])
        assert raised.value.problems[0].field == "line 2"
        assert raised.value.problems[0].reason.startswith("not valid JSON: Exceeds the limit")
    finally:
        sys.set_int_max_str_digits(limit)


def test_a_long_line_that_may_nest_deep_goes_line_by_line() -> None:
    depth = sys.getrecursionlimit() // 2
    deep = _claude("b", x=json.loads("[" * depth + "]" * depth))
    shallow = _claude("b", x=["[" * 2 * depth])  # brackets in strings count too: only slower
    flat = _claude("b", x="y" * 2 * depth)
    assert _unsure(_path(), deep)
    assert _unsure(_path(), shallow)
    assert not _unsure(_path(), flat)
    _plan([_claude("a"), deep, flat.replace(b'"b"', b'"c"')])  # json.loads reads it: accepted
