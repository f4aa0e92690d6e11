"""moto's handling of DynamoDB update expressions, at a lower cost and with the same
answers, for as long as the local cloud runs (`update_expressions_at_lower_cost`).

Every UpdateItem makes moto parse its UpdateExpression twice (once to list the names and
values it uses, once to apply it), copy the tree with `copy.deepcopy`, and walk it ten
times to validate it and resolve its names and values against the item. Dropzone sends
the same few expression texts again and again, with other values. Three changes, none of
which changes what moto decides:

- Parsing. The tree of each expression text is kept, pickled; each parse hands out a tree
  of its own, unpickled from it, so nothing moto does to one tree reaches another. An
  expression moto refuses is parsed (and refused) again each time.
- Copying. The validator copies the tree it is given before it resolves it; a pickle
  round trip makes the same copy (parent links included) several times faster than
  `copy.deepcopy`, which moto still uses for everything else.
- Walking. moto's depth-first walk asks each visitor for its node types at every node,
  and matches each node against them with `isinstance` on abstract classes (a Python
  call each); collecting a tree's clauses does the same. Here the types are asked for
  once per walk and each node class matched once, and nodes are visited, processed and
  replaced in moto's order. Visitors that change how they walk keep moto's own walk.
- Checking. Two of the validator's walks only check: that each of ADD, REMOVE and SET
  appears once (`ActionCountValidator`), and that no two actions touch overlapping paths
  (`OverlappingPathsValidator`). moto runs each check at every node of the tree (nearly
  every node is an update expression), and each check searches the node's whole subtree
  for clauses: a cost that grows with the square of the actions. Here one walk counts, for
  every node, the clauses its search would find (as moto's search does: not below a
  clause found, only into expressions and functions), and moto's check runs, in moto's
  order, only at the nodes where it can refuse: where a clause type is found more than
  once, or where any action is found. Elsewhere it finds nothing to refuse and returns the
  node unchanged.
"""

from __future__ import annotations

import copy
import functools
import importlib
import pickle
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

PARSED_EXPRESSIONS = 512  # distinct expression texts kept (least recently used dropped)
_OWN_WALK = ("traverse_node_recursively", "nodes_to_be_processed", "process")
_NOT_A_NODE = object()
_DESCENDED: dict[type, bool] = {}  # node class -> whether find_clauses descends into it


@contextmanager
def update_expressions_at_lower_cost() -> Iterator[None]:
    """The three changes above, for as long as the context lasts; moto's own code after."""
    parser = _moto("moto.dynamodb.parsing.expressions", "UpdateExpressionParser")
    traverser = _moto("moto.dynamodb.parsing.ast_nodes", "DepthFirstTraverser")
    node_class = _moto("moto.dynamodb.parsing.ast_nodes", "Node")
    validators = importlib.import_module("moto.dynamodb.parsing.validators")
    parse = vars(parser)["make"].__func__
    walk = vars(traverser)["traverse"]

    @functools.lru_cache(maxsize=PARSED_EXPRESSIONS)
    def pickled(expression: str) -> bytes:
        return pickle.dumps(parse(parser, expression), protocol=pickle.HIGHEST_PROTOCOL)

    def make(cls: type, expression: Any) -> Any:
        if cls is not parser or not isinstance(expression, str):
            return parse(cls, expression)
        return pickle.loads(pickled(expression))  # noqa: S301 - pickled by this process

    checks = _checks(validators)

    def traverse(self: Any, node: Any) -> Any:
        own = (getattr(type(self), name) is not getattr(traverser, name) for name in _OWN_WALK)
        if any(own):
            return walk(self, node)
        check = checks.get(type(self))
        return _walk(self, node) if check is None else _checked(self, node, *check)

    with ExitStack() as patches:
        patches.enter_context(_replaced(parser, "make", classmethod(make)))
        patches.enter_context(_replaced(validators, "deepcopy", copied_tree))
        patches.enter_context(_replaced(traverser, "traverse", traverse))
        patches.enter_context(_replaced(node_class, "find_clauses", _find_clauses))
        yield


def copied_tree(value: Any, memo: dict[int, Any] | None = None) -> Any:
    """`copy.deepcopy`, by a pickle round trip for an expression tree."""
    if memo is None and isinstance(value, _moto("moto.dynamodb.parsing.ast_nodes", "Node")):
        copied = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        return pickle.loads(copied)  # noqa: S301 - bytes pickled just above
    return copy.deepcopy(value, memo)


def _moto(module: str, name: str) -> Any:
    """A class of moto's parsing modules, which carry no type information."""
    return getattr(importlib.import_module(module), name)


@contextmanager
def _replaced(owner: Any, name: str, value: Any) -> Iterator[None]:
    original = vars(owner)[name]  # as defined: a classmethod stays one
    setattr(owner, name, value)
    try:
        yield
    finally:
        setattr(owner, name, original)


def _walk(visitor: Any, root: Any) -> Any:
    """moto's `DepthFirstTraverser.traverse_node_recursively`, with the visitor's node
    types looked up once (moto's visitors answer the same at every node) and each node
    class matched against them once: children first, left to right, each announced to
    `pre_processing_of_child`; then the node itself, if it is of a type the visitor
    processes, replaced in its parent by what the first matching processor returns."""
    node_class = _moto("moto.dynamodb.parsing.ast_nodes", "Node")
    processors = tuple(visitor._processing_map().items())
    before_child = visitor.pre_processing_of_child
    matched: dict[type, Any] = {}  # node class -> its processor, None, or _NOT_A_NODE

    def match(cls: type) -> Any:
        if not issubclass(cls, node_class):
            return _NOT_A_NODE
        return next((process for kind, process in processors if issubclass(cls, kind)), None)

    def visit(node: Any, child_id: int) -> Any:
        cls = type(node)
        process = matched[cls] if cls in matched else matched.setdefault(cls, match(cls))
        if process is _NOT_A_NODE:
            return node
        parent = node.parent
        if node.children is not None:
            for index, child in enumerate(node.children):
                before_child(node, index)
                visit(child, index)
        if process is not None:
            node = process(node)
            node.parent = parent
            if parent:
                parent.children[child_id] = node
        return node

    return visit(root, -1)


def _checks(validators: Any) -> dict[type, tuple[tuple[type, ...], Any]]:
    """For each checking validator: the clause types its check searches for, and from
    their counts under a node, whether the check can refuse there."""
    nodes = importlib.import_module("moto.dynamodb.parsing.ast_nodes")
    counted = (
        nodes.UpdateExpressionAddClause,
        nodes.UpdateExpressionRemoveClause,
        nodes.UpdateExpressionSetClause,
    )
    actions = (
        nodes.UpdateExpressionSetAction,
        nodes.UpdateExpressionAddAction,
        nodes.UpdateExpressionRemoveAction,
        nodes.UpdateExpressionDeleteAction,
    )
    return {
        validators.ActionCountValidator: (counted, lambda found: max(found) > 1),
        validators.OverlappingPathsValidator: (actions, lambda found: sum(found) > 0),
    }


def _checked(visitor: Any, root: Any, clause_types: tuple[type, ...], refusable: Any) -> Any:
    """A checking validator's walk: moto's nodes, children first, left to right, each
    announced to `pre_processing_of_child`; the clauses `Node.find_clauses` would find
    under each node counted from its children's counts; the check (which returns the node
    it is given, or raises) run where `refusable(counts)` says it might refuse."""
    node_class = _moto("moto.dynamodb.parsing.ast_nodes", "Node")
    checked = _moto("moto.dynamodb.parsing.ast_nodes", "UpdateExpression")
    before_child = visitor.pre_processing_of_child
    none = (0,) * len(clause_types)

    def visit(node: Any) -> tuple[int, ...]:
        """What `node.find_clauses` finds, by type; the node checked on the way."""
        found = list(none)
        for index, child in enumerate(node.children or ()):
            before_child(node, index)
            below = visit(child) if isinstance(child, node_class) else none
            cls = type(child)
            if cls in clause_types:
                found[clause_types.index(cls)] += 1
            elif _descended(cls):
                found = [mine + theirs for mine, theirs in zip(found, below, strict=True)]
        counts = tuple(found)
        if isinstance(node, checked) and refusable(counts):
            visitor.process(node)
        return counts

    if isinstance(root, node_class):
        visit(root)
    return root


def _find_clauses(node: Any, clause_types: Any) -> list[Any]:
    """moto's `Node.find_clauses`, with each child class asked once whether it is one to
    descend into (an Expression or an UpdateExpressionFunction)."""
    clauses = []
    for child in node.children or []:
        if type(child) in clause_types:
            clauses.append(child)
        elif _descended(type(child)):
            clauses.extend(child.find_clauses(clause_types))
    return clauses


def _descended(cls: type) -> bool:
    found = _DESCENDED.get(cls)
    if found is None:
        nodes = importlib.import_module("moto.dynamodb.parsing.ast_nodes")
        found = _DESCENDED[cls] = issubclass(
            cls, (nodes.Expression, nodes.UpdateExpressionFunction)
        )
    return found
