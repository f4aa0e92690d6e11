"""Check a built layer (`make build` output): it holds the runtime package `dropzone` and the
distributions requirements.txt pins, each at its pinned version, and nothing else of ours."""

from __future__ import annotations

import re
import sys
from pathlib import Path

TOOLS = ("dropzone_local", "dropzone_cli", "moto", "yaml", "pytest")


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(requirements: Path) -> dict[str, str]:
    found = {}
    for line in requirements.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, _, version = line.partition("==")
            found[normalise(name)] = version.split(";", 1)[0].strip()
    return found


def main(layer: Path, requirements: Path) -> int:
    problems = []
    installed = {}
    for dist_info in layer.glob("*.dist-info"):
        name, _, version = dist_info.name.removesuffix(".dist-info").rpartition("-")
        installed[normalise(name)] = version
    expected = pins(requirements)
    if installed != expected:
        problems.append(f"versions differ: built {installed}, pinned {expected}")
    for tool in TOOLS:
        if (layer / tool).exists() or (layer / f"{tool}.py").exists():
            problems.append(f"{tool} is in the layer")
    if not (layer / "dropzone" / "__init__.py").is_file():
        problems.append("the runtime package dropzone is missing")
    for problem in problems:
        print(f"layer check: {problem}", file=sys.stderr)
    if not problems:
        print(f"layer OK: dropzone and {len(installed)} pinned distributions")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
