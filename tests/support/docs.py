"""Reading the documentation: the README, the pages under docs/, their Markdown tables and
the names written in backticks in them."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
README = ROOT / "README.md"
EXAMPLES = ROOT / "examples"
MKDOCS = ROOT / "mkdocs.yml"
MAKEFILE = ROOT / "Makefile"

Row = dict[str, str]

_SEPARATOR = re.compile(r"^\|(\s*:?-+:?\s*\|)+\s*$")
_CODE_SPAN = re.compile(r"`([^`]+)`")


def page(relative: str) -> str:
    """The text of docs/<relative>."""
    return (DOCS / relative).read_text(encoding="utf-8")


def pages() -> list[Path]:
    """Every page of the site."""
    return sorted(DOCS.rglob("*.md"))


def documents() -> list[Path]:
    """Every page of the site, and the README."""
    return [README, *pages()]


def prose(text: str) -> str:
    """The text without its fenced code blocks (a fence may be indented, in a list)."""
    kept: list[str] = []
    fence: str | None = None
    for line in text.splitlines():
        marker = re.match(r"^\s*(`{3,}|~{3,})", line)
        if fence is None and marker:
            fence = marker.group(1)
        elif fence is not None and line.strip().startswith(fence):
            fence = None
        elif fence is None:
            kept.append(line)
    return "\n".join(kept)


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().removeprefix("|").removesuffix("|").split("|")]


def tables(text: str) -> list[list[Row]]:
    """Every Markdown table outside code blocks, as rows keyed by the header's cells."""
    lines = prose(text).splitlines()
    found: list[list[Row]] = []
    index = 0
    while index < len(lines) - 1:
        if lines[index].startswith("|") and _SEPARATOR.match(lines[index + 1]):
            header = _cells(lines[index])
            rows: list[Row] = []
            index += 2
            while index < len(lines) and lines[index].startswith("|"):
                cells = _cells(lines[index])
                assert len(cells) == len(header), f"a row of the {header} table: {lines[index]}"
                rows.append(dict(zip(header, cells, strict=True)))
                index += 1
            found.append(rows)
        else:
            index += 1
    return found


def rows(text: str, first_header: str) -> list[Row]:
    """The rows of every table whose first column is headed `first_header`."""
    matching = [table for table in tables(text) if table and next(iter(table[0])) == first_header]
    assert matching, f"no table headed {first_header!r}"
    return [row for table in matching for row in table]


def names(cell: str) -> list[str]:
    """The names written in backticks in a cell, in order."""
    return _CODE_SPAN.findall(cell)


def first_name(cell: str) -> str:
    found = names(cell)
    assert found, f"no name in backticks in {cell!r}"
    return found[0]
