"""LocalCloud's cheaper UpdateItem in moto (one parse of each expression per call, the
validation's walks merged) answers as moto does: the same calls, on moto alone and with the
cheaper paths, give the same answers and the same errors, message for message, for every
kind of action, every ReturnValues, failed conditions, nested paths, names and values
used or not, and expressions moto refuses (in moto's order, when one has several faults)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from dropzone_local.moto_expressions import update_expressions_at_lower_cost
from dropzone_local.moto_items import item_sizes_kept_while_written
from dropzone_local.moto_requests import requests_at_lower_cost
from tests.support.moto_tables import job_table, job_table_on_moto

TABLE = "updates"
ITEM = {
    "job_id": {"S": "j"},
    "kind": {"S": "sagemaker"},
    "status": {"S": "ACCEPTED"},
    "history": {"L": [{"M": {"status": {"S": "ACCEPTED"}}}]},
    "meta": {"M": {"tries": {"N": "1"}, "tags": {"L": [{"S": "a"}, {"S": "b"}]}}},
    "labels": {"SS": ["x", "y"]},
    "tally": {"N": "3"},
    "spare": {"SS": ["p", "q"]},
    "lease_owner": {"S": "submit"},
}
RETURNS = ("NONE", "ALL_OLD", "ALL_NEW", "UPDATED_OLD", "UPDATED_NEW")


def _update(
    expression: str,
    values: dict[str, Any] | None = None,
    names: dict[str, str] | None = None,
    condition: str | None = None,
    returns: str = "ALL_NEW",
    job: str = "j",
) -> dict[str, Any]:
    call: dict[str, Any] = {
        "TableName": TABLE,
        "Key": {"job_id": {"S": job}},
        "UpdateExpression": expression,
        "ReturnValues": returns,
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }
    for key, given in (
        ("ExpressionAttributeValues", values),
        ("ExpressionAttributeNames", names),
        ("ConditionExpression", condition),
    ):
        if given is not None:
            call[key] = given
    return call


S, N1 = {"S": "v"}, {"N": "1"}
_APPLIED = [
    _update(
        "SET #h = list_append(if_not_exists(#h, :empty), :entry), #s = :s REMOVE lease_owner",
        {
            ":empty": {"L": []},
            ":entry": {"L": [S]},
            ":s": {"S": "SUBMITTED"},
            ":k": {"S": "sagemaker"},
        },
        {"#h": "history", "#s": "status", "#k": "kind"},
        condition="#k = :k OR #s IN (:s)",
    ),
    _update(
        "SET fresh = if_not_exists(absent, :d), meta.tries = meta.tries + :one",
        {":d": S, ":one": N1},
    ),
    _update("SET meta.tags[1] = :v, meta.tags[5] = :v, meta.#n = :v", {":v": S}, {"#n": "nested"}),
    _update("SET meta.nested = :m", {":m": {"M": {"deep": S}}}),
    _update("SET meta.tags[0] = :v, tally = tally - :one", {":v": {"N": "7"}, ":one": N1}),
    _update(
        "ADD labels :l, tally :one DELETE spare :gone",
        {":l": {"SS": ["z"]}, ":one": N1, ":gone": {"SS": ["p"]}},
    ),
    _update("REMOVE meta.tags[0], labels", returns="ALL_OLD"),
    _update("SET entries = list_append(:a, :b)", {":a": {"L": [S]}, ":b": {"L": [N1]}}, job="new"),
    _update(
        "SET tally = if_not_exists(tally, :z) + :one ADD seen :one",
        {":z": {"N": "0"}, ":one": N1},
        job="new2",
    ),
]
_CONDITIONS = [  # failed conditions, on an item there and on none
    _update("SET a = :v", {":v": S, ":k": {"S": "other"}}, {"#k": "kind"}, "#k = :k"),
    _update("SET a = :v", {":v": S}, condition="attribute_exists(job_id)", job="none"),
    _update(
        "SET a = :v",
        {":v": S, ":p0": S, ":p1": N1},
        {"#s": "status"},
        "#s IN (:p0, :p1) AND attribute_not_exists(lease_owner)",
    ),
]
_REFUSED = [
    _update("SET a = :v,", {":v": S}),  # syntax
    _update("SET a = :v", {":v": S, ":unused": S}),  # a value not used
    _update("SET a = :v", {":v": S}, {"#unused": "x"}),  # a name not used
    _update("SET #a = :v", {":v": S}),  # a name not given (moto raises a KeyError)
    _update("SET a = :missing"),  # a value not given
    _update("SET job_id = :v", {":v": S}),  # the key
    _update("SET a = :v, a = :v", {":v": S}),  # the same path twice
    _update("SET meta = :v REMOVE meta.tries", {":v": S}),  # overlapping paths
    _update("SET a = :v ADD b :one ADD c :one", {":v": S, ":one": N1}),  # two ADD clauses
    _update("SET a = nothing.deeper"),  # a path not there
    _update("SET a = list_append(nothing, :l)", {":l": {"L": []}}),  # list_append on none
    _update("SET a = list_append(tally, :l)", {":l": {"L": []}}),  # not a list
    _update("SET a = tally + :s", {":s": S}),  # adding a string
    _update("SET tally[0] = :v", {":v": S}),  # a number indexed
    _update("SET a = :missing, job_id = :v", {":v": S}),  # two faults: moto's first
    _update("SET a = nothing, b = tally + :s", {":s": S}),  # two faults: moto's first
    _update("SET job_id = :e", {":e": {"S": ""}}),  # an empty key
    _update("SET #k = :n", {":n": N1}, {"#k": "job_id"}),  # the key, by name
    _update("ADD labels :n", {":n": N1}),  # a number added to a set
    _update("DELETE tally :l", {":l": {"SS": ["x"]}}),  # a set deleted from a number
    _update("SET a = :v", {":v": S}, condition="#nope = :v"),  # condition: name not given
    _update("SET a = :v", {":v": S}, condition="a = :nope"),  # condition: value not given
    _update("SET a = :v", {":v": S}, returns="SOME"),
    _update("SET meta.count = :v", {":v": S}),  # a reserved word
    _update("SET a = :v", {":v": S, ":k": S}, {"#k": "kind"}, "#k = :k AND"),  # bad condition
]


def _calls() -> list[dict[str, Any]]:
    calls = [*_APPLIED, *_CONDITIONS, *_REFUSED]
    counter = "SET n = if_not_exists(n, :z) + :one ADD seen :one"
    calls += [_update(counter, {":z": {"N": "0"}, ":one": N1}, returns=r) for r in RETURNS]
    return calls


def _answers(paths: Callable[[], Any] | None) -> list[Any]:
    """What moto answers to `_calls()` (each on the item as the calls before left it),
    with the given paths in place or none; every call twice, for the kept trees."""
    with job_table_on_moto(TABLE, paths) as dynamodb:
        answers: list[Any] = []
        for call in _calls():
            dynamodb.put_item(TableName=TABLE, Item=ITEM)
            for _ in (1, 2):
                try:
                    response = dynamodb.update_item(**call)
                except ClientError as error:
                    answers.append(("error", error.response["Error"], error.response.get("Item")))
                except Exception as error:  # moto's own faults, as raised through botocore
                    answers.append(("raised", type(error).__name__, str(error)))
                else:
                    response.pop("ResponseMetadata")
                    answers.append(("ok", response))
            answers.append(dynamodb.get_item(TableName=TABLE, Key=call["Key"]).get("Item"))
        return answers


@contextmanager
def _cheaper() -> Iterator[None]:
    with (
        update_expressions_at_lower_cost(),
        requests_at_lower_cost(),
        item_sizes_kept_while_written(),
    ):
        yield


def test_every_update_is_answered_and_refused_as_moto_does() -> None:
    expected = _answers(None)
    assert _answers(_cheaper) == expected
    assert _answers(update_expressions_at_lower_cost) == expected
    # and the calls did what they say
    applied = expected[: 3 * len(_APPLIED) : 3]
    assert all(answer[0] == "ok" for answer in applied)
    failed = expected[3 * len(_APPLIED) : 3 * (len(_APPLIED) + len(_CONDITIONS)) : 3]
    assert [answer[1]["Code"] for answer in failed] == ["ConditionalCheckFailedException"] * 3
    assert failed[0][2]["kind"] == {"S": "sagemaker"} and failed[1][2] is None
    refused = expected[3 * (len(_APPLIED) + len(_CONDITIONS)) :][: 3 * len(_REFUSED) : 3]
    assert all(answer[0] in ("error", "raised") for answer in refused)  # raised: moto's faults
    assert len({str(answer[1]) for answer in refused}) > 15


@pytest.mark.parametrize("returns", RETURNS)
def test_each_return_values_answers_as_moto_does(returns: str) -> None:
    def run(paths: Callable[[], Any] | None) -> list[Any]:
        with job_table_on_moto(TABLE, paths) as dynamodb:
            dynamodb.put_item(TableName=TABLE, Item=ITEM)
            answers = []
            for step in ("a", "b"):
                call = _update(
                    "SET meta.tries = meta.tries + :one, #s = :s REMOVE labels",
                    {":one": N1, ":s": {"S": step}},
                    {"#s": "status"},
                    returns=returns,
                )
                answers.append(dynamodb.update_item(**call).get("Attributes"))
            return answers

    assert run(_cheaper) == run(None)


_SET_VALUES = {":v": S, ":one": N1, ":s": {"SS": ["p"]}}
_CHECKED = [  # (call, whether moto refuses it, in its checks but for the last)
    (_update("SET a = :v, b = :v REMOVE c ADD tally :one DELETE spare :s", _SET_VALUES), False),
    (_update("SET meta.tags[0] = :v, meta.tags[1] = :v, ab = :v, a = :v", {":v": S}), False),
    (_update("SET #a = :v, meta.#b = :v", {":v": S}, {"#a": "x", "#b": "x"}), False),
    # two DELETE clauses: moto counts only ADD, REMOVE and SET
    (_update("SET a = :v DELETE spare :s DELETE labels :s", {":v": S, ":s": {"SS": ["p"]}}), False),
    (_update("SET #a = :v, #b = :v", {":v": S}, {"#a": "x", "#b": "x"}), True),
    (_update("SET a = :v REMOVE a", {":v": S}), True),
    (_update("REMOVE a, a.b"), True),
    (_update("SET a.b = :v, a = :v", {":v": S}), True),
    (_update("SET a[1] = :v REMOVE a[1]", {":v": S}), True),
    (_update("ADD tally :one DELETE tally :s", {":one": N1, ":s": {"SS": ["p"]}}), True),
    (_update("SET #a = :v REMOVE #a", {":v": S}, {"#a": "x"}), True),
    (_update("REMOVE a REMOVE b"), True),
    (_update("SET #a = :v, #b.x = :v", {":v": S}, {"#a": "x", "#b": "x"}), True),  # no x.x
]


def test_the_one_check_walk_refuses_what_moto_s_two_do_and_passes_the_rest() -> None:
    from moto.dynamodb.parsing import validators

    checks = vars(validators.ActionCountValidator)["verify_action_counts"]
    ran: list[str] = []

    def counted(self: Any, node: Any) -> Any:
        ran.append(type(node).__name__)
        return checks(self, node)

    def run(paths: Callable[[], Any] | None) -> list[Any]:
        with job_table_on_moto(TABLE, paths) as dynamodb:
            answers: list[Any] = []
            for call, refused in _CHECKED:
                dynamodb.put_item(TableName=TABLE, Item=ITEM)
                ran.clear()
                try:
                    answers.append(("ok", dynamodb.update_item(**call)["Attributes"]))
                except ClientError as error:
                    answers.append(("error", error.response["Error"]))
                # with the paths, moto's own checks run only to refuse, and then always
                # with the paths, moto's own walks run only to refuse, and then check again
                assert paths is None or bool(ran) == refused, call["UpdateExpression"]
            return answers

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(validators.ActionCountValidator, "verify_action_counts", counted)
        expected = run(None)
        assert run(_cheaper) == expected
    outcomes = [answer[0] == "error" for answer in expected]
    assert outcomes == [refused for _, refused in _CHECKED]


def test_the_tree_kept_for_each_text_is_only_read_by_the_updates() -> None:
    import pickle

    from moto.dynamodb.parsing.expressions import UpdateExpressionParser

    from dropzone_local import moto_expressions

    texts = {call["UpdateExpression"] for call in _calls()}
    with mock_aws(), update_expressions_at_lower_cost():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        job_table(dynamodb, TABLE)
        for call in _calls() * 2:
            dynamodb.put_item(TableName=TABLE, Item=ITEM)
            with contextlib.suppress(Exception):  # refusals are compared in the tests above
                dynamodb.update_item(**call)
        moto_expressions._call.scope = moto_expressions._Scope()
        try:
            kept = {}
            for text in texts:
                try:
                    kept[text] = UpdateExpressionParser.make(text)
                except Exception:  # noqa: S112 - a text moto cannot parse keeps no tree
                    continue
        finally:
            moto_expressions._call.scope = None
    assert len(kept) > 10

    def unpickled_pickle(tree: Any) -> bytes:  # what a tree unpickled from its pickle pickles to
        once = pickle.dumps(tree, protocol=pickle.HIGHEST_PROTOCOL)
        return pickle.dumps(pickle.loads(once), protocol=pickle.HIGHEST_PROTOCOL)  # noqa: S301

    for text, tree in kept.items():  # as the text parses afresh: nothing wrote to it
        fresh = unpickled_pickle(UpdateExpressionParser.make(text))
        assert pickle.dumps(tree, protocol=pickle.HIGHEST_PROTOCOL) == fresh, text
