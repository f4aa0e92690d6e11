"""moto's 400 KB limit on a DynamoDB item, checked at a lower cost and with the same
outcome, for as long as the local cloud runs (`item_sizes_kept_while_written`).

moto keeps an item's attributes in a dict that, before each attribute is set, measures
every attribute already there (each value walked down to its leaves) and refuses the
item if that size plus the new attribute's passes the limit. Building an item of n
attributes (a PutItem) measures it n times; an UpdateItem measures the whole item again
at each top-level SET. Here, while an item is being built or an update expression is
being applied, the size of each attribute is kept as it is set, so that each check adds
up those sizes instead of measuring the values again; the check and its error are
moto's. Every action but a top-level SET (a SET below the top level, an ADD, a DELETE, any
REMOVE) drops the kept sizes, and the next check measures
the whole item again, as moto does.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from dropzone_local.moto_patches import replaced

_kept = threading.local()  # .scopes: [(the dict's getter, its attributes' sizes)], innermost last


@contextmanager
def item_sizes_kept_while_written() -> Iterator[None]:
    """The sizes kept as described above, for as long as the context lasts."""
    types = importlib.import_module("moto.dynamodb.models.dynamo_type")
    executors = importlib.import_module("moto.dynamodb.parsing.executors")
    nodes = importlib.import_module("moto.dynamodb.parsing.ast_nodes")
    limited, item, executor = types.LimitedSizeDict, types.Item, executors.UpdateExpressionExecutor
    set_item = vars(limited)["__setitem__"]
    build, execute = vars(item)["__init__"], vars(executor)["execute"]

    def __setitem__(self: Any, key: str, value: Any) -> None:
        sizes = _sizes_of(self)
        if sizes is None:
            set_item(self, key, value)
            return
        if len(sizes) != len(self):  # dropped, or changed behind the kept sizes
            sizes.clear()
            sizes.update((name, _size(types, name, held)) for name, held in self.items())
        # moto's check, from the kept sizes: the value replaced still counts, as in moto
        size = _size(types, key, value)
        if sum(sizes.values()) + size > _LIMIT:
            raise types.ItemSizeTooLarge
        dict.__setitem__(self, key, value)
        sizes[key] = size

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        with _keeping(lambda: vars(self).get("attrs")):
            build(self, *args, **kwargs)

    def execute_keeping(self: Any, node: Any = None) -> None:
        if node is None:
            with _keeping(lambda: self.item.attrs):
                execute(self, node)
        elif self.get_specific_execution(node) is None:  # a container: its actions in turn
            execute(self, node)
        else:
            top_level_set = isinstance(node, nodes.UpdateExpressionSetAction) and (
                len(node.children[0].children) == 1
            )
            if not top_level_set:
                _drop(self.item.attrs)
            execute(self, node)
            if not top_level_set:
                _drop(self.item.attrs)

    with ExitStack() as patches:
        patches.enter_context(replaced(limited, "__setitem__", __setitem__))
        patches.enter_context(replaced(item, "__init__", __init__))
        patches.enter_context(replaced(executor, "execute", execute_keeping))
        yield


_LIMIT = 405000  # moto's limit, between the 400 KB documented and the 409 KB observed


def _size(types: Any, key: str, value: Any) -> int:
    """What moto counts for one attribute: its name and its value."""
    measured = value.size() if type(value) is types.DynamoType else types.bytesize(str(value))
    return int(types.bytesize(key) + measured)


@contextmanager
def _keeping(attrs: Callable[[], Any]) -> Iterator[None]:
    """Sizes kept for the dict `attrs()` returns when it is written (an item's attributes
    are made after the context starts), until the context ends."""
    scopes: list[tuple[Callable[[], Any], dict[str, int]]] = _kept.__dict__.setdefault("scopes", [])
    scope: tuple[Callable[[], Any], dict[str, int]] = (attrs, {})
    scopes.append(scope)
    try:
        yield
    finally:
        del scopes[next(index for index, kept in enumerate(scopes) if kept is scope)]


def _sizes_of(attrs: Any) -> dict[str, int] | None:
    scopes: list[tuple[Callable[[], Any], dict[str, int]]] = getattr(_kept, "scopes", [])
    return next((sizes for held, sizes in reversed(scopes) if held() is attrs), None)


def _drop(attrs: Any) -> None:
    sizes = _sizes_of(attrs)
    if sizes is not None:
        sizes.clear()
