"""The cold-init benchmark's ratio: the median over pairs of adjacent children."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[ModuleType]:
    """benchmarks/run.py, imported afresh with temporary files going to tmp_path."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))  # run.py imports its siblings by name
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    sys.modules.pop("run", None)
    try:
        yield importlib.import_module("run")
    finally:
        sys.modules.pop("run", None)


def test_importing_the_benchmarks_makes_no_temporary_directory(
    run: ModuleType, tmp_path: Path
) -> None:
    assert run.recordings_dir.cache_info().currsize == 0
    assert list(tmp_path.iterdir()) == []


def test_a_busy_spell_that_slows_both_children_of_a_pair_does_not_move_the_ratio(
    run: ModuleType,
) -> None:
    # Pairs 3 and 4 ran while the machine was busy: both children took twice as long.
    function = [0.24, 0.25, 0.50, 0.48, 0.24]
    baseline = [0.20, 0.20, 0.40, 0.40, 0.20]
    assert run.paired_ratio(function, baseline) == pytest.approx(1.2)
    # The ratio of the two sides' medians reads the busy spell as a difference.
    assert run.statistics.median(function) / run.statistics.median(baseline) > 1.2


def test_samples_that_do_not_pair_up_are_refused(run: ModuleType) -> None:
    with pytest.raises(ValueError, match="3 function and 2 baseline samples"):
        run.paired_ratio([0.2, 0.2, 0.2], [0.2, 0.2])
    with pytest.raises(ValueError, match="0 function and 0 baseline samples: expected one"):
        run.paired_ratio([], [])
