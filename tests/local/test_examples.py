"""Every file under examples/ runs as written: in the test process, the way pytest runs a
test copied from it, and as a script. The documentation includes these files as they stand,
so what it shows keeps working."""

from __future__ import annotations

import runpy
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))


def test_there_is_an_example_for_every_workflow() -> None:
    text = "\n".join(path.read_text(encoding="utf-8") for path in EXAMPLES)
    for prefix in ("sagemaker-async/", "bedrock-batch/", "model-packaging/"):
        assert prefix in text


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda path: path.stem)
def test_an_example_passes_as_written(path: Path) -> None:
    namespace = runpy.run_path(str(path), run_name="dropzone_example")
    tests: list[Callable[[], None]] = [
        value for name, value in namespace.items() if name.startswith("test_") and callable(value)
    ]
    assert tests
    for test in tests:
        test()


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda path: path.stem)
def test_an_example_runs_as_a_script(path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(path.relative_to(ROOT))],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.splitlines()[-1:] == ["ok"]
