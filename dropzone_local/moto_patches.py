"""What LocalCloud's patches of moto share: reaching a moto class by module and name, and
replacing an attribute for as long as a context lasts."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def moto_class(module: str, name: str) -> Any:
    """A class of one of moto's modules, which carry no type information."""
    return getattr(importlib.import_module(module), name)


@contextmanager
def replaced(owner: Any, name: str, value: Any) -> Iterator[None]:
    """`owner.name` is `value` while the context lasts, then what it was as defined on
    `owner` (a classmethod stays one)."""
    original = vars(owner)[name]
    setattr(owner, name, value)
    try:
        yield
    finally:
        setattr(owner, name, original)
