"""LocalCloud's cheaper paths through moto answer as moto does: the same DynamoDB calls,
run against moto alone and against moto with the paths in place, give the same answers
and the same errors; the parsed expression trees they keep are never handed out twice."""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

import boto3
import pytest
from moto import mock_aws

from dropzone_local.moto_expressions import copied_tree, update_expressions_at_lower_cost
from dropzone_local.moto_requests import requests_at_lower_cost
from tests.support.moto_tables import dynamodb_answer, job_table, job_table_on_moto

TABLE = "jobs"
# Dropzone's ledger transition, as it sends it: the same text every time, other values.
TRANSITION = (
    "SET #history = list_append(if_not_exists(#history, :empty), :entry), "
    "#status = :status, updated_at = :at, state_key = :sk REMOVE lease_owner, lease_until"
)
TRANSITION_CONDITION = "#kind = :kind AND #status IN (:p0, :p1)"
TRANSITION_NAMES = {"#history": "history", "#status": "status", "#kind": "kind"}
COUNTER = "SET tally = if_not_exists(tally, :zero) + :step, tags = :tags ADD seen :one"


def _transition(job: str, status: str, at: str, previous: tuple[str, str]) -> dict[str, Any]:
    return {
        "TableName": TABLE,
        "Key": {"job_id": {"S": job}},
        "UpdateExpression": TRANSITION,
        "ConditionExpression": TRANSITION_CONDITION,
        "ExpressionAttributeNames": TRANSITION_NAMES,
        "ExpressionAttributeValues": {
            ":empty": {"L": []},
            ":entry": {"L": [{"M": {"status": {"S": status}, "at": {"S": at}}}]},
            ":status": {"S": status},
            ":at": {"S": at},
            ":sk": {"S": f"sagemaker#{status}"},
            ":kind": {"S": "sagemaker"},
            ":p0": {"S": previous[0]},
            ":p1": {"S": previous[1]},
        },
        "ReturnValues": "ALL_NEW",
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }


def _counter(job: str, step: int, tags: list[str], returns: str) -> dict[str, Any]:
    return {
        "TableName": TABLE,
        "Key": {"job_id": {"S": job}},
        "UpdateExpression": COUNTER,
        "ExpressionAttributeValues": {
            ":zero": {"N": "0"},
            ":step": {"N": str(step)},
            ":tags": {"SS": tags},
            ":one": {"N": "1"},
        },
        "ReturnValues": returns,
    }


def _calls() -> list[tuple[str, dict[str, Any]]]:
    """UpdateItem calls that reuse a few expression texts with other values: successes,
    failed conditions, new items (which moto validates twice from one parsed tree), and
    expressions moto refuses, each twice."""
    item = {
        "job_id": {"S": "job-1"},
        "kind": {"S": "sagemaker"},
        "status": {"S": "ACCEPTED"},
        "lease_owner": {"S": "submit"},
        "lease_until": {"N": "1700000000"},
    }
    return [
        ("put_item", {"TableName": TABLE, "Item": item}),
        ("update_item", _transition("job-1", "SUBMITTED", "t1", ("ACCEPTED", "QUEUED"))),
        ("update_item", _transition("job-1", "SUCCEEDED", "t2", ("SUBMITTED", "RUNNING"))),
        ("update_item", _transition("job-1", "FAILED", "t3", ("SUBMITTED", "RUNNING"))),
        ("update_item", _transition("job-2", "SUBMITTED", "t4", ("ACCEPTED", "QUEUED"))),
        ("update_item", _counter("job-3", 2, ["a"], "ALL_NEW")),
        ("update_item", _counter("job-3", 5, ["b", "c"], "UPDATED_OLD")),
        ("update_item", _counter("job-4", 7, ["d"], "UPDATED_NEW")),
        ("update_item", _counter("job-3", 1, ["e"], "ALL_OLD")),
        ("get_item", {"TableName": TABLE, "Key": {"job_id": {"S": "job-1"}}}),
        ("get_item", {"TableName": TABLE, "Key": {"job_id": {"S": "job-3"}}}),
        *[("update_item", _refused(*refused)) for refused in _REFUSED for _ in (1, 2)],
    ]


_REFUSED = (  # each with the values it uses, so that moto's unused-values check passes
    ("SET tally = :v,", {":v"}),  # a syntax error
    ("SET job_id = :v", {":v"}),  # the table's key
    ("SET tally = :v, tally = :w", {":v", ":w"}),  # the same path twice
    ("SET tally = :missing + :v", {":v"}),  # a value not given
    ("SET a = :v ADD b :v ADD c :v", {":v"}),  # two ADD clauses
)


def _refused(expression: str, values: set[str]) -> dict[str, Any]:
    return {
        "TableName": TABLE,
        "Key": {"job_id": {"S": "job-1"}},
        "UpdateExpression": expression,
        "ExpressionAttributeValues": {name: {"N": "1"} for name in sorted(values)},
    }


def _answers(paths: Callable[[], Any] | None) -> list[Any]:
    """What moto answers to `_calls()`, with the given paths in place or none."""
    with job_table_on_moto(TABLE, paths) as dynamodb:
        return [
            dynamodb_answer(partial(getattr(dynamodb, operation), **params))
            for operation, params in _calls()
        ]


@contextmanager
def _both() -> Iterator[None]:
    with update_expressions_at_lower_cost(), requests_at_lower_cost():
        yield


def test_the_cheaper_paths_answer_every_call_as_moto_does() -> None:
    expected = _answers(None)
    assert _answers(_both) == expected
    # and the calls did what they say: applied, refused on their condition, refused
    outcomes = [answer[0] for answer in expected]
    assert outcomes[:9] == ["ok", "ok", "ok", "error", "error", "ok", "ok", "ok", "ok"]
    assert expected[3][1]["Code"] == expected[4][1]["Code"] == "ConditionalCheckFailedException"
    assert expected[3][2]["status"] == {"S": "SUCCEEDED"}  # ALL_OLD on the failed check
    assert expected[4][2] is None  # no such job
    history = expected[2][1]["Attributes"]["history"]["L"]
    assert [entry["M"]["status"]["S"] for entry in history] == ["SUBMITTED", "SUCCEEDED"]
    assert expected[5][1]["Attributes"]["tally"] == {"N": "2"}
    assert expected[6][1]["Attributes"]["tally"] == {"N": "2"}  # UPDATED_OLD
    assert [answer[0] for answer in expected[11:]] == ["error"] * 2 * len(_REFUSED)


def test_the_same_expression_with_other_values_is_resolved_afresh() -> None:
    with mock_aws(), _both():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        job_table(dynamodb, TABLE)
        first = dynamodb.update_item(**_counter("job", 2, ["a"], "ALL_NEW"))["Attributes"]
        second = dynamodb.update_item(**_counter("job", 40, ["z"], "ALL_NEW"))["Attributes"]
    assert (first["tally"], first["tags"], first["seen"]) == ({"N": "2"}, {"SS": ["a"]}, {"N": "1"})
    assert (second["tally"], second["tags"], second["seen"]) == (
        {"N": "42"},
        {"SS": ["z"]},
        {"N": "2"},
    )


def _shape(node: Any) -> Any:
    """A tree as nested (type, fields, children), every child's parent checked."""
    from moto.dynamodb.parsing.ast_nodes import Node

    if not isinstance(node, Node):
        return node
    for child in node.children or []:
        if isinstance(child, Node):
            assert child.parent is node
    fields = {
        name: value for name, value in vars(node).items() if name not in ("children", "parent")
    }
    return (type(node).__name__, fields, [_shape(child) for child in node.children or []])


def test_each_parse_hands_out_a_tree_of_its_own() -> None:
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser

    fresh = _shape(UpdateExpressionParser.make(TRANSITION))
    with update_expressions_at_lower_cost():
        first = UpdateExpressionParser.make(TRANSITION)
        assert _shape(first) == fresh
        first.children[0].children.clear()  # what moto's walks do to a tree: change it
        first.children.append("changed")
        second = UpdateExpressionParser.make(TRANSITION)
        assert second is not first
        assert _shape(second) == fresh
    assert _shape(UpdateExpressionParser.make(TRANSITION)) == fresh  # moto's own, again


def test_a_copied_tree_is_a_deep_copy() -> None:
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser

    tree = UpdateExpressionParser.make(COUNTER)
    copied = copied_tree(tree)
    assert _shape(copied) == _shape(copy.deepcopy(tree)) == _shape(tree)
    originals = {id(node) for node in _nodes(tree)}
    assert not originals & {id(node) for node in _nodes(copied)}
    assert copied_tree({"a": [1]}) == {"a": [1]}  # anything else: copy.deepcopy


def _nodes(node: Any) -> list[Any]:
    children = [
        child for child in getattr(node, "children", None) or [] if hasattr(child, "parent")
    ]
    return [node, *(found for child in children for found in _nodes(child))]


def test_s3_urls_follow_the_custom_endpoint_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.s3.models import s3_backends

    monkeypatch.delenv("MOTO_S3_CUSTOM_ENDPOINTS", raising=False)
    with mock_aws(), requests_at_lower_cost():
        backend = s3_backends["123456789012"]["aws"]
        before = list(backend.url_bases)
        monkeypatch.setenv("MOTO_S3_CUSTOM_ENDPOINTS", "https://s3.example.internal")
        assert backend.url_bases == [*before, "https://s3.example.internal"]
        monkeypatch.delenv("MOTO_S3_CUSTOM_ENDPOINTS")
        assert backend.url_bases == before
    assert "MOTO_S3_CUSTOM_ENDPOINTS" not in os.environ


@pytest.mark.parametrize("service", ["dynamodb", "sqs", "s3", "events"])
def test_the_names_a_member_is_looked_up_under_are_moto_s(service: str) -> None:
    """Every member of every structure of the service's model, in turn, in one run: the
    names worked out once are those moto works out each time."""
    from moto.core.serialize import AttributePickerContext, XFormedAttributePicker
    from moto.core.utils import get_service_model

    model = get_service_model(service)
    picker = XFormedAttributePicker()
    contexts = []
    for name in model.shape_names:
        structure = model.shape_for(name)
        for key, member in getattr(structure, "members", {}).items():
            contexts.append((structure, AttributePickerContext(obj={}, key=key, shape=member)))

    def names() -> list[list[str]]:
        looked_up = []
        for structure, context in contexts:
            context.shape.parent = structure  # as moto's serializer sets it
            looked_up.append(list(picker.get_possible_keys(context)))
        return looked_up

    expected = names()
    with requests_at_lower_cost():
        assert names() == expected
        assert names() == expected  # from what was worked out
    assert len({tuple(found) for found in expected}) > 1


@pytest.mark.parametrize("service", ["dynamodb", "sqs", "s3", "events"])
def test_a_member_of_a_plain_dict_is_found_as_moto_finds_it(service: str) -> None:
    """Every member of every structure of the service's model, looked up in dicts that
    hold it under each name moto tries, under none, and under two at once: the values
    found directly are those moto's lookup finds."""
    from moto.core.serialize import JSONSerializer, XFormedAttributePicker
    from moto.core.utils import get_service_model

    model = get_service_model(service)
    operation = model.operation_model(model.operation_names[0])
    serializer = JSONSerializer(operation, value_picker=XFormedAttributePicker())
    cases = []
    for name in model.shape_names:
        structure = model.shape_for(name)
        for key, member in getattr(structure, "members", {}).items():
            member.parent = structure  # as moto's serializer sets it
            candidates = [key, f"{key}_", key.lower(), key.upper()]
            cases += [(member, key, {candidate: candidate}) for candidate in candidates]
            cases.append((member, key, {"absent": 1}))
            cases.append((member, key, {key.lower(): "second", key: "first"}))

    def found() -> list[Any]:
        return [serializer.get_value(obj, key, member) for member, key, obj in cases]

    expected = found()
    with requests_at_lower_cost():
        assert found() == expected
        assert found() == expected  # from the names worked out
    assert "first" in expected and None in expected
