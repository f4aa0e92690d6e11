"""moto's handling of DynamoDB update and condition expressions, at a lower cost and with
the same answers, for as long as the local cloud runs (`update_expressions_at_lower_cost`).

Every UpdateItem makes moto parse its UpdateExpression twice (once to list the names and
values it uses, once to apply it) and its ConditionExpression twice (for the same two
reasons), copy the update expression's tree with `copy.deepcopy`, and walk it ten times
to validate it and resolve its names and values against the item (`moto_walks` makes the
walks cheaper). Dropzone sends the same few expression texts again and again, with other
values. None of these changes changes what moto decides:

- Parsing. The tree of each expression text is kept, pickled; outside an UpdateItem each
  parse hands out a tree of its own, unpickled from it, so nothing moto does to one tree
  reaches another (inside one, see below). An expression moto refuses is parsed (and
  refused) again each time.
- Copying. The validator copies the tree it is given before it resolves it; a pickle
  round trip makes the same copy (parent links included) several times faster than
  `copy.deepcopy`, which moto still uses for everything else.
- One tree per text. Within an UpdateItem (`DynamoHandler.update_item`), a parse of an
  UpdateExpression text hands out the one tree kept for that text across calls (unpickled
  once per text, while the text stays among the kept ones). moto only reads it (to list
  its names and values, then to give it to the validator, which copies it first), so it
  stays the tree the text parses to, and each copy is unpickled from the kept bytes. The
  second parse of the ConditionExpression, with the same text and the same names and
  values (the request's own dicts), gives the condition the first one made, and the same
  names and values found: moto only evaluates it against the item, which reads.
"""

from __future__ import annotations

import copy
import functools
import importlib
import pickle
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from dropzone_local.moto_patches import moto_class, replaced
from dropzone_local.moto_walks import walks_at_lower_cost

PARSED_EXPRESSIONS = 512  # distinct expression texts kept (least recently used dropped)
_call = threading.local()  # .scope: the UpdateItem call under way in this thread, if any


class _Scope:
    """What one UpdateItem call has parsed: trees by text, their pickles by tree, and the
    condition last parsed (its text, names, values, result, names and values found)."""

    def __init__(self) -> None:
        self.trees: dict[str, Any] = {}
        self.pickles: dict[int, tuple[Any, bytes]] = {}
        self.condition: tuple[Any, ...] | None = None


@contextmanager
def update_expressions_at_lower_cost() -> Iterator[None]:
    """The changes above, for as long as the context lasts; moto's own code after."""
    parser = moto_class("moto.dynamodb.parsing.expressions", "UpdateExpressionParser")
    conditions = moto_class("moto.dynamodb.comparisons", "ConditionExpressionParser")
    handler = moto_class("moto.dynamodb.responses", "DynamoHandler")
    validators = importlib.import_module("moto.dynamodb.parsing.validators")
    parse, parse_condition = vars(parser)["make"].__func__, vars(conditions)["parse"]
    update_item = vars(handler)["update_item"]

    @functools.lru_cache(maxsize=PARSED_EXPRESSIONS)
    def pickled(expression: str) -> bytes:
        return pickle.dumps(parse(parser, expression), protocol=pickle.HIGHEST_PROTOCOL)

    @functools.lru_cache(maxsize=PARSED_EXPRESSIONS)
    def kept(expression: str) -> tuple[Any, bytes]:
        """The tree an UpdateItem reads for a text, and the bytes its copies come from."""
        data = pickled(expression)
        return pickle.loads(data), data  # noqa: S301 - pickled by this process

    def make(cls: type, expression: Any) -> Any:
        if cls is not parser or not isinstance(expression, str):
            return parse(cls, expression)
        scope: _Scope | None = getattr(_call, "scope", None)
        if scope is None:
            return pickle.loads(pickled(expression))  # noqa: S301 - pickled by this process
        tree = scope.trees.get(expression)
        if tree is None:
            tree, data = kept(expression)
            scope.trees[expression] = tree
            scope.pickles[id(tree)] = (tree, data)
        return tree

    def parse_once(self: Any) -> Any:
        scope: _Scope | None = getattr(_call, "scope", None)
        if scope is None:
            return parse_condition(self)
        given = (
            self.condition_expression,
            self.expression_attribute_names,
            self.expression_attribute_values,
        )
        last = scope.condition
        if last is not None and last[0] == given[0] and all(map(_same, last[1:3], given[1:])):
            self.expr_attr_names_found.extend(last[4])
            self.expr_attr_values_found.extend(last[5])
            return last[3]
        scope.condition = None
        condition = parse_condition(self)
        found = (list(self.expr_attr_names_found), list(self.expr_attr_values_found))
        scope.condition = (*given, condition, *found)
        return condition

    def update_item_scoped(self: Any) -> Any:
        outer = getattr(_call, "scope", None)
        _call.scope = _Scope()
        try:
            return update_item(self)
        finally:
            _call.scope = outer

    with ExitStack() as patches:
        patches.enter_context(replaced(parser, "make", classmethod(make)))
        patches.enter_context(replaced(conditions, "parse", parse_once))
        patches.enter_context(replaced(handler, "update_item", update_item_scoped))
        patches.enter_context(replaced(validators, "deepcopy", copied_tree))
        patches.enter_context(walks_at_lower_cost())
        yield


def copied_tree(value: Any, memo: dict[int, Any] | None = None) -> Any:
    """`copy.deepcopy`, by a pickle round trip for an expression tree (from the kept
    pickle, for a tree the UpdateItem under way parsed)."""
    if memo is None and isinstance(value, moto_class("moto.dynamodb.parsing.ast_nodes", "Node")):
        scope: _Scope | None = getattr(_call, "scope", None)
        kept = None if scope is None else scope.pickles.get(id(value))
        if kept is not None and kept[0] is value:
            return pickle.loads(kept[1])  # noqa: S301 - pickled by this process
        copied = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        return pickle.loads(copied)  # noqa: S301 - bytes pickled just above
    return copy.deepcopy(value, memo)


def _same(kept: Any, given: Any) -> bool:
    """The same dict as the request's (or no dict both times)."""
    return kept is given
