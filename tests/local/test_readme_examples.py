"""The README's example tests, run exactly as printed, so a user can copy them."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
MARKER = "# Import Powertools' tracer at collection time"


def examples() -> list[str]:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)
    return [block for block in blocks if block.startswith(MARKER)]


def test_the_readme_has_an_example_for_every_workflow() -> None:
    text = "\n".join(examples())
    for prefix in ("sagemaker-async/", "bedrock-batch/", "model-packaging/"):
        assert prefix in text


@pytest.mark.parametrize("source", examples(), ids=lambda source: source.split("def test_")[1][:40])
def test_a_readme_example_passes_as_printed(source: str) -> None:
    namespace: dict[str, Any] = {"__name__": "readme_example"}
    exec(compile(source, str(README), "exec"), namespace)  # noqa: S102 - our own README
    tests: list[Callable[[], None]] = [
        value for name, value in namespace.items() if name.startswith("test_")
    ]
    assert tests
    for test in tests:
        test()
