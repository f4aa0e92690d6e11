"""The README's reference tables list every parameter, output and alarm of the template."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.mark.parametrize("section", ["Parameters", "Outputs"])
def test_every_parameter_and_output_is_documented(template: dict[str, Any], section: str) -> None:
    readme = README.read_text()
    missing = [name for name in template[section] if f"`{name}`" not in readme]
    assert missing == []


def test_every_alarm_is_documented(alarms: dict[str, dict[str, Any]]) -> None:
    readme = README.read_text()
    assert [name for name in alarms if f"`{name}`" not in readme] == []
