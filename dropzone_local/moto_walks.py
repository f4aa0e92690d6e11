"""moto's walks of a DynamoDB update expression's tree, at a lower cost and with the same
outcome (`walks_at_lower_cost`, entered by `update_expressions_at_lower_cost`).

moto validates an update expression in ten walks of a copy of its tree, one visitor each,
in turn; the tree of one of Dropzone's transitions has about ninety nodes.

- Walking. moto's depth-first walk asks each visitor for its node types at every node,
  and matches each node against them with `isinstance` on abstract classes (a Python
  call each); collecting a tree's clauses does the same. Here the types are asked for
  once per walk and each node class matched once, and nodes are visited, processed and
  replaced in moto's order. Visitors that change how they walk keep moto's own walk.
- Checking. Two of the walks only check: that each of ADD, REMOVE and SET appears once
  (`ActionCountValidator`), and that no two actions touch overlapping paths
  (`OverlappingPathsValidator`). moto runs each check at every node of the tree (nearly
  every node is an update expression), and each check searches the node's whole subtree
  for clauses: a cost that grows with the square of the actions. Here one walk counts, for
  every node, the clauses moto's search would find there (as it does: not below a clause
  found, only into expressions and functions), and gathers every action found at any
  node; their paths are then checked once, as moto checks a node's. moto's path checks
  refuse a list when some pair in it overlaps or repeats: when the list of all found
  actions passes, each node's, a part of it, passes too. If a clause type is found twice
  under a node, or the gathered paths overlap, or anything raises, moto might refuse: as
  below, moto's walks run again, and refuse as moto does (or do not).
- Merging. The other eight walks run as two: one for the four visitors that check the
  key, put the values in, resolve the paths against the item and apply the functions, one
  for the four that refuse paths not found, do the arithmetic and check the types of what
  is set. In a merged walk each node is processed by each visitor in moto's order, once
  its children have been processed by all of them, and each visitor is told of each child
  before it is visited, as in its own walk. No visitor of a merged walk processes a node
  another one of it makes, nor looks below a node at anything another one changes; so a
  merged walk that succeeds ends with the tree moto's walks make, and every check moto's
  walks make has been made, on the same nodes. moto's order of refusals is its walks':
  when a merged walk raises anything, the validation is run again, on a new copy of the
  tree with new visitors, by moto's own walks, which refuse as moto does (validation reads
  the item and the values, and changes only its copy of the tree).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from dropzone_local.moto_patches import moto_class, replaced

_OWN_WALK = ("traverse_node_recursively", "nodes_to_be_processed", "process")
_NOT_A_NODE = object()
_DESCENDED: dict[type, bool] = {}  # node class -> whether find_clauses descends into it
_MERGED = (  # moto's visitors of an update expression, in moto's order, as walked here
    ("ActionCountValidator", "OverlappingPathsValidator"),
    (
        "UpdateHashRangeKeyValidator",
        "ExpressionAttributeValueProcessor",
        "ExpressionAttributeResolvingProcessor",
        "UpdateExpressionFunctionEvaluator",
    ),
    (
        "NoneExistingPathChecker",
        "ExecuteOperations",
        "TypeMismatchValidator",
        "EmptyStringKeyValueValidator",
    ),
)


@contextmanager
def walks_at_lower_cost() -> Iterator[None]:
    """The walks above, for as long as the context lasts; moto's own after."""
    traverser = moto_class("moto.dynamodb.parsing.ast_nodes", "DepthFirstTraverser")
    node_class = moto_class("moto.dynamodb.parsing.ast_nodes", "Node")
    validators = importlib.import_module("moto.dynamodb.parsing.validators")
    validator, walk = validators.Validator, vars(traverser)["traverse"]
    build, validate = vars(validator)["__init__"], vars(validator)["validate"]
    merged = [tuple(getattr(validators, name) for name in group) for group in _MERGED]
    kinds = tuple(kind for group in merged for kind in group)

    def traverse(self: Any, node: Any) -> Any:
        own = (getattr(type(self), name) is not getattr(traverser, name) for name in _OWN_WALK)
        return walk(self, node) if any(own) else _walk(self, node)

    def __init__(self: Any, expression: Any, *args: Any, **kwargs: Any) -> None:
        build(self, expression, *args, **kwargs)
        self._expression_given = expression  # for moto's walks, when the merged ones raise

    def merged_validate(self: Any) -> Any:
        processors = self.processors
        given = vars(self).get("_expression_given", _NOT_A_NODE)
        if tuple(map(type, processors)) != kinds or given is _NOT_A_NODE:
            return validate(self)
        try:
            node = self.node_to_validate
            _checked(node, processors[1].expression_attribute_names)  # the first group
            processors = processors[len(merged[0]) :]
            for group in merged[1:]:
                visitors, processors = processors[: len(group)], processors[len(group) :]
                node = _walk(visitors, node)
            return node
        except Exception:  # moto's walks, from the start, refuse as moto does
            self.node_to_validate = validators.deepcopy(given)
            self.processors = self.get_ast_processors()
            return validate(self)

    with ExitStack() as patches:
        patches.enter_context(replaced(traverser, "traverse", traverse))
        patches.enter_context(replaced(node_class, "find_clauses", _find_clauses))
        patches.enter_context(replaced(validator, "__init__", __init__))
        patches.enter_context(replaced(validator, "validate", merged_validate))
        yield


def _walk(visitors: Any, root: Any) -> Any:
    """moto's `DepthFirstTraverser.traverse_node_recursively`, for one visitor or several
    in turn, with each visitor's node types looked up once (moto's visitors answer the
    same at every node) and each node class matched against them once: children first,
    left to right, each announced to every visitor's `pre_processing_of_child`; then the
    node itself, by each visitor in turn that processes its type, replaced in its parent
    by what the visitor's first matching processor returns."""
    traverser = moto_class("moto.dynamodb.parsing.ast_nodes", "DepthFirstTraverser")
    node_class = moto_class("moto.dynamodb.parsing.ast_nodes", "Node")
    visitors = tuple(visitors) if isinstance(visitors, (list, tuple)) else (visitors,)
    maps = [tuple(visitor._processing_map().items()) for visitor in visitors]
    told = vars(traverser)["pre_processing_of_child"]
    before = [
        v.pre_processing_of_child for v in visitors if type(v).pre_processing_of_child is not told
    ]
    matched: dict[type, Any] = {}  # node class -> its processors (None: none), or _NOT_A_NODE

    def match(cls: type) -> Any:
        if not issubclass(cls, node_class):
            return _NOT_A_NODE
        return [
            next((process for kind, process in processors if issubclass(cls, kind)), None)
            for processors in maps
        ]

    def visit(node: Any, child_id: int) -> Any:
        parent = None
        for index in range(len(maps)):
            cls = type(node)
            processes = matched[cls] if cls in matched else matched.setdefault(cls, match(cls))
            if processes is _NOT_A_NODE:
                return node
            if index == 0:
                parent = node.parent
                if node.children is not None:
                    for position, child in enumerate(node.children):
                        for announce in before:
                            announce(node, position)
                        visit(child, position)
            process = processes[index]
            if process is not None:
                node = process(node)
                node.parent = parent
                if parent:
                    parent.children[child_id] = node
        return node

    return visit(root, -1)


class _MightRefuse(Exception):
    """The merged check walk found what moto's checks might refuse."""


def _checked(root: Any, names: dict[str, str]) -> None:
    """`ActionCountValidator` and `OverlappingPathsValidator` in one walk of moto's nodes:
    raises `_MightRefuse` (or what checking a path raises) where either might refuse."""
    nodes = importlib.import_module("moto.dynamodb.parsing.ast_nodes")
    utils = importlib.import_module("moto.dynamodb.utils")
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
    gathered: dict[int, Any] = {}  # every action found at a checked node, by id

    def visit(node: Any) -> tuple[list[int], list[Any]]:
        """What `node.find_clauses` finds: the clauses counted by type, and the actions."""
        counts, found = [0, 0, 0], []
        for child in node.children or ():
            below = visit(child) if isinstance(child, nodes.Node) else ([0, 0, 0], [])
            cls = type(child)
            if cls in counted:
                counts[counted.index(cls)] += 1
            elif _descended(cls):
                counts = [mine + theirs for mine, theirs in zip(counts, below[0], strict=True)]
            if cls in actions:
                found.append(child)
            elif _descended(cls):
                found += below[1]
        if isinstance(node, nodes.UpdateExpression):
            if max(counts) > 1:
                raise _MightRefuse
            gathered.update((id(action), action) for action in found)
        return counts, found

    if not isinstance(root, nodes.Node):
        return
    visit(root)
    plain, named = [], []
    for action in gathered.values():  # moto's reading of each action's path
        path = action.children[0]
        name = path.children[0]
        if isinstance(name, nodes.ExpressionAttributeName) and len(path.children) == 1:
            named.append(names[name.get_attribute_name_placeholder()])
        else:
            plain.append(path.to_str())
    if utils.find_path_overlaps(plain) or utils.find_duplicates(plain + named):
        raise _MightRefuse


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
