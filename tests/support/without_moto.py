"""A pytest plugin for the unit tests: moto cannot be imported while it is loaded, so a test
that needs emulated AWS fails at once and belongs in tests/integration instead."""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from collections.abc import Sequence
from types import ModuleType

BLOCKED = "moto"


class _MotoBlocker(importlib.abc.MetaPathFinder):
    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname == BLOCKED or fullname.startswith(f"{BLOCKED}."):
            raise ImportError(
                f"{fullname} imported by a unit test: tests/unit runs without moto; "
                "a test that needs emulated AWS belongs in tests/integration"
            )
        return None


if BLOCKED in sys.modules:
    raise RuntimeError("moto was imported before the unit-test plugin was loaded")
sys.meta_path.insert(0, _MotoBlocker())
