"""DynamoDB items written directly are written as moto writes them: the same calls, run
against moto alone and against moto with the direct writing in place, give byte-for-byte
the same response bodies and the same parsed answers; values of any other form, written
by moto's serializer with and without it, give the same output or the same error."""

from __future__ import annotations

import base64
from collections.abc import Callable
from contextlib import nullcontext
from functools import partial
from typing import Any

import pytest

from dropzone_local.moto_attribute_values import attribute_values_written_directly
from dropzone_local.moto_requests import requests_at_lower_cost
from tests.support.moto_tables import dynamodb_answer, job_table_on_moto

TABLE = "jobs"


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"S": "bottom"}
    for level in range(depth):
        value = {"M": {f"level{level}": value}} if level % 2 else {"L": [value, {"N": "1"}]}
    return value


def _item(job: str, size: int = 0) -> dict[str, Any]:
    """An item with every AttributeValue type, empty ones, unicode and binary values."""
    return {
        "job_id": {"S": job},
        "status": {"S": "ACCEPTED"},
        "empty": {"S": ""},
        "unicode": {"S": 'ünïcödé ✓ 日本語 \U0001f600 "quoted" \\ \n\t'},
        "count": {"N": "-12.5e3"},
        "blob": {"B": bytes(range(256))},
        "empty_blob": {"B": b""},
        "names": {"SS": ["a", "ß", "日"]},
        "numbers": {"NS": ["1", "2.5", "-3"]},
        "blobs": {"BS": [b"\x00\x01", b"\xff", b"text"]},
        "null": {"NULL": True},
        "yes": {"BOOL": True},
        "no": {"BOOL": False},
        "empty_list": {"L": []},
        "empty_map": {"M": {}},
        "history": {
            "L": [
                {"M": {"status": {"S": s}, "at": {"S": f"t{n}"}, "n": {"N": str(n)}}}
                for n, s in enumerate(["ACCEPTED", "SUBMITTED", "RUNNING"])
            ]
        },
        "mixed": {"L": [{"S": "x"}, {"N": "1"}, {"B": b"\x02"}, {"NULL": True}, {"SS": ["q"]}]},
        "deep": _nested(30),
        "big": {"S": "x" * size},
        "big_blob": {"B": b"\xab" * (size // 4)},
    }


def _calls() -> list[tuple[str, dict[str, Any]]]:
    key = {"job_id": {"S": "job-1"}}
    update = {
        "TableName": TABLE,
        "Key": key,
        "UpdateExpression": "SET #s = :s, history = list_append(history, :h)",
        "ExpressionAttributeNames": {"#s": "status"},
        "ExpressionAttributeValues": {
            ":s": {"S": "SUBMITTED"},
            ":h": {"L": [{"M": {"status": {"S": "SUBMITTED"}, "b": {"B": b"\x00"}}}]},
        },
    }
    failing = {
        **update,
        "ConditionExpression": "#s = :p",
        "ExpressionAttributeValues": {**update["ExpressionAttributeValues"], ":p": {"S": "?"}},
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }
    return [
        ("put_item", {"TableName": TABLE, "Item": _item("job-1")}),
        ("put_item", {"TableName": TABLE, "Item": _item("job-1"), "ReturnValues": "ALL_OLD"}),
        ("put_item", {"TableName": TABLE, "Item": _item("job-big", 300_000)}),
        ("put_item", {"TableName": TABLE, "Item": {"job_id": {"S": "job-2"}}}),
        ("get_item", {"TableName": TABLE, "Key": key}),
        ("get_item", {"TableName": TABLE, "Key": {"job_id": {"S": "job-big"}}}),
        ("get_item", {"TableName": TABLE, "Key": {"job_id": {"S": "absent"}}}),
        ("get_item", {"TableName": TABLE, "Key": key, "ProjectionExpression": "blob, deep"}),
        ("update_item", {**update, "ReturnValues": "ALL_NEW"}),
        ("update_item", {**update, "ReturnValues": "UPDATED_OLD"}),
        ("update_item", {**update, "ReturnValues": "ALL_OLD"}),
        ("update_item", failing),
        ("query", {"TableName": TABLE, "KeyConditionExpression": "job_id = :j",
                   "ExpressionAttributeValues": {":j": {"S": "job-1"}}}),
        ("scan", {"TableName": TABLE}),
        ("scan", {"TableName": TABLE, "Limit": 1}),
        ("batch_get_item", {"RequestItems": {TABLE: {"Keys": [key, {"job_id": {"S": "job-2"}}]}}}),
        ("transact_get_items", {"TransactItems": [{"Get": {"TableName": TABLE, "Key": key}}]}),
        ("delete_item", {"TableName": TABLE, "Key": key, "ReturnValues": "ALL_OLD"}),
    ]  # fmt: skip


def _answers(paths: Callable[[], Any]) -> list[Any]:
    with job_table_on_moto(TABLE, paths) as dynamodb:
        bodies: list[bytes] = []
        dynamodb.meta.events.register(
            "after-call.dynamodb.*",
            lambda http_response, **_: bodies.append(http_response.content),
        )
        answers = [
            dynamodb_answer(partial(getattr(dynamodb, operation), **params))
            for operation, params in _calls()
        ]
        return [*zip(answers, bodies, strict=True)]


@pytest.mark.parametrize("paths", [attribute_values_written_directly, requests_at_lower_cost])
def test_items_are_answered_byte_for_byte_as_moto_answers_them(paths: Any) -> None:
    expected = _answers(nullcontext)
    assert _answers(paths) == expected
    assert any(b'"B": "AAEC' in body for _, body in expected)
    assert max(len(body) for _, body in expected) > 390_000  # near DynamoDB's 400 KB
    assert any(answer[0] == "error" and answer[2] for answer, _ in expected)


class _Named:
    def __init__(self, value: Any) -> None:
        self.S = value


ODD_VALUES: list[Any] = [
    {"s": "lower"},  # moto finds S under `s`
    {"ListAttributeValue": [{"S": "x"}]},  # and L under its shape's name
    {"list_attribute_value": [{"S": "x"}]},
    {"l": [{"N": "1"}]},
    {"S": "one", "N": "1"},  # two keys
    {"unknown": "x"},
    {},
    {"S": None},
    None,
    "plain",
    _Named("obj"),
    {"S": 5},
    {"N": 12},
    {"B": "text"},  # a str, base64 of its UTF-8
    {"B": bytearray(b"\x01")},
    {"B": 5},
    {"SS": ("a", "b")},
    {"SS": {"a"}},
    {"SS": ["a", None]},
    {"SS": []},
    {"BS": ["a", b"b"]},
    {"BS": [5]},
    {"NULL": "yes"},
    {"BOOL": [1]},
    {"M": {"": {"S": "empty name"}}},
    {"M": {1: {"S": "int name"}}},
    {"M": {"a": None}},
    {"M": [("a", {"S": "b"})]},
    {"L": [None]},
    {"L": [{}]},
    {"L": ({"S": "t"},)},
    {"M": {"in": {"L": [{"M": {"x": {"s": "deep lower"}}}]}}},
]


def _written(item: Any) -> Any:
    from moto.core.serialize import JSONSerializer, XFormedAttributePicker
    from moto.core.utils import get_service_model

    operation = get_service_model("dynamodb").operation_model("GetItem")
    serializer = JSONSerializer(operation, value_picker=XFormedAttributePicker())
    try:
        return serializer.serialize({"Item": item})
    except Exception as error:  # the same error either way
        return ("raised", type(error), str(error))


@pytest.mark.parametrize("value", ODD_VALUES, ids=range(len(ODD_VALUES)))
def test_values_of_other_forms_are_written_as_moto_writes_them(value: Any) -> None:
    items = [{"a": value}, {"a": {"S": "fine"}, "b": value}, {"a": {"L": [value]}}]
    items.append({"a": {"M": {"k": value}}})
    expected = [_written(item) for item in items]
    with attribute_values_written_directly():
        assert [_written(item) for item in items] == expected
    assert [_written(item) for item in items] == expected  # restored


def test_names_moto_does_not_use_as_a_map_s_keys_fall_back() -> None:
    items: list[Any] = [{"": {"S": "x"}}, {5: {"S": "x"}}, [("a", {"S": "x"})], {}]
    expected = [_written(item) for item in items]
    with attribute_values_written_directly():
        assert [_written(item) for item in items] == expected


def test_binary_values_are_base64_of_their_bytes() -> None:
    with attribute_values_written_directly():
        body = _written({"b": {"B": b"\xff\x00"}, "s": {"BS": ["\u00e9"]}})["body"]
    assert base64.b64encode(b"\xff\x00").decode() in body
    assert base64.b64encode("\u00e9".encode()).decode() in body


def test_the_original_writer_is_restored_on_exit() -> None:
    from moto.core.serialize import BaseJSONSerializer

    before = vars(BaseJSONSerializer)["_serialize_type_map"]
    with attribute_values_written_directly():
        assert vars(BaseJSONSerializer)["_serialize_type_map"] is not before
    assert vars(BaseJSONSerializer)["_serialize_type_map"] is before


def test_an_item_s_attribute_values_are_not_walked_member_by_member(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from moto.core.serialize import BaseJSONSerializer

    walked: list[str] = []
    original = BaseJSONSerializer._serialize_type_structure

    def spy(self: Any, serialized: Any, value: Any, shape: Any, key: str) -> None:
        walked.append(shape.name)
        original(self, serialized, value, shape, key)

    monkeypatch.setattr(BaseJSONSerializer, "_serialize_type_structure", spy)
    item = _item("job-1")
    expected = _written(item)
    assert walked.count("AttributeValue") > 60
    walked.clear()
    with attribute_values_written_directly():
        assert _written(item) == expected
    assert walked == ["GetItemOutput"]
