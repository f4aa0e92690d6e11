"""How every command prints: `--output table|json|text`, tables that fit the terminal.

- table: for people. Rendered with rich, as wide as the terminal (or COLUMNS, else 80
  columns when standard output is not a terminal). A row never wraps: columns shrink
  (keys are trimmed in the middle, messages at the end) and, when even that is not
  enough, the least important columns are left out. Colour only on a terminal, and
  never when NO_COLOR is set.
- json: the data, stable, for programs.
- text: one tab-separated line per row, no header, no colour, nothing trimmed.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TextIO

FORMATS = ("table", "json", "text")
Format = Literal["table", "json", "text"]
GAP = 2  # spaces between two columns
ELLIPSIS = "…"
_TRAILING_SPACES = re.compile(r" +((?:\x1b\[[0-9;]*m)*)$")

STATUS_STYLES = {
    "ACCEPTED": "blue",
    "QUEUED": "blue",
    "SUBMITTED": "cyan",
    "RUNNING": "cyan",
    "SUCCEEDED": "green",
    "PARTIALLY_SUCCEEDED": "yellow",
    "FAILED": "red",
    "REJECTED": "red",
    "EXPIRED": "red",
    "STOPPED": "magenta",
    "PASS": "green",
    "FAIL": "red",
}


def trim_end(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 0)] + ELLIPSIS[:width]


def trim_middle(text: str, width: int) -> str:
    """`text` in at most `width` characters, its start and end kept. A path keeps its first
    and last parts whole when they fit: `bedrock-batch/…/reviews.jsonl`."""
    if len(text) <= width:
        return text
    if width < 3:
        return text[:width]
    parts = text.split("/")
    if len(parts) > 2:
        head = parts[0]
        # as many trailing parts as fit (they tell objects apart), with the first part when
        # it fits too
        for kept in range(len(parts) - 1, 0, -1):
            end = "/".join(parts[-kept:])
            for candidate in (f"{head}/{ELLIPSIS}/{end}", f"{ELLIPSIS}/{end}"):
                if len(candidate) <= width:
                    return candidate
    back = (width - 1) // 2
    front = width - 1 - back
    return text[:front] + ELLIPSIS + (text[-back:] if back else "")


def short_id(job_id: str, width: int = 16) -> str:
    """A job id in `width` characters that `dropzone jobs show` takes back: a leading part
    of it, or for a part (`…-p001`) or roll-out (`…-gg`), a leading part of its parent's
    id, an ellipsis and the suffix: `dz-9d3befc…-p001`."""
    if len(job_id) <= width:
        return job_id
    parent, dash, suffix = job_id.rpartition("-")
    if dash and parent.startswith("dz-") and len(parent) > width // 2 and parent.count("-") == 1:
        room = width - len(suffix) - 2
        if room >= 8:
            return f"{parent[:room]}{ELLIPSIS}-{suffix}"
    return job_id[:width]


@dataclass(frozen=True)
class Column:
    """A table column. `drop`: 0 never left out, else the higher the sooner it goes when
    the terminal is too narrow; `trim`: how a cell is shortened (None: never)."""

    header: str
    drop: int = 0
    trim: Callable[[str, int], str] | None = None
    min_width: int = 0
    styled: bool = False  # cells are statuses: coloured by STATUS_STYLES
    last_to_shrink: bool = False  # shrinks only once every other column is at its least


def fit(columns: Sequence[Column], rows: Sequence[Sequence[str]], width: int) -> list[int]:
    """Each column's width, 0 for a column left out, so a row takes at most `width`."""
    natural = [
        max([len(column.header), *(len(row[index]) for row in rows)])
        for index, column in enumerate(columns)
    ]
    smallest = [
        natural[index] if column.trim is None else min(natural[index], column.min_width)
        for index, column in enumerate(columns)
    ]
    kept = list(range(len(columns)))

    def needed(widths: Sequence[int]) -> int:
        return sum(widths[index] for index in kept) + GAP * (len(kept) - 1)

    droppable = sorted((c.drop, i) for i, c in enumerate(columns) if c.drop)
    while needed(smallest) > width and droppable:
        kept.remove(droppable.pop()[1])
    widths = [natural[index] if index in kept else 0 for index in range(len(columns))]
    excess = needed(widths) - width
    while excess > 0:  # the widest column that may shrink gives a character, and again
        shrinkable = [index for index in kept if widths[index] > smallest[index]]
        first = [index for index in shrinkable if not columns[index].last_to_shrink]
        shrinkable = first or shrinkable
        if not shrinkable:
            break
        widest = max(shrinkable, key=lambda index: (widths[index], index))
        widths[widest] -= 1
        excess -= 1
    return widths


class Printer:
    """Where a command's output goes, in the format asked for."""

    def __init__(
        self, output: Format = "table", *, stream: TextIO | None = None, width: int | None = None
    ) -> None:
        self.output = output
        self._stream = stream
        self._width = width

    @property
    def stream(self) -> TextIO:
        return self._stream or sys.stdout

    def console(self) -> Any:
        try:
            from rich.console import Console
        except ImportError as error:
            from dropzone_cli.common import CliError

            raise CliError(
                "tables need rich: install the CLI with its extra, pip install "
                "'dropzone[cli]' (or run `uv sync` in the checkout), or use --output json"
            ) from error

        plain = self.output != "table" or "NO_COLOR" in os.environ
        return Console(
            file=self.stream,
            width=self._width,
            no_color=plain,
            color_system=None if plain else "auto",
            highlight=False,
            markup=False,
            emoji=False,
            soft_wrap=False,
        )

    @property
    def width(self) -> int:
        return int(self.console().width)

    def json(self, value: Any) -> None:
        print(json.dumps(value, indent=2, default=str), file=self.stream)

    def record(self, record: dict[str, Any]) -> None:
        """One result: JSON (json), or a `name<TAB>value` line per field (text, table)."""
        if self.output == "json":
            self.json(record)
            return
        for name, value in record.items():
            shown = value if isinstance(value, str) else json.dumps(value, default=str)
            print(f"{name}\t{shown}", file=self.stream)

    def line(self, text: str = "", *, style: str | None = None, crop: bool = False) -> None:
        """A line of prose (table output only): wrapped at the terminal's width, or with
        `crop`, cut there with an ellipsis."""
        if self.output == "table":
            from rich.text import Text

            self.emit(
                Text(text, style=style or ""), no_wrap=crop, overflow="ellipsis" if crop else "fold"
            )

    def fields(self, fields: Sequence[tuple[str, str]]) -> None:
        """Name and value pairs (table output): a long value wraps in its own column."""
        from rich.table import Table
        from rich.text import Text

        table = Table(box=None, show_header=False, padding=(0, GAP, 0, 0), pad_edge=False)
        table.add_column(no_wrap=True, style="bold")
        table.add_column(overflow="fold")
        for name, value in fields:
            table.add_row(Text(name), Text(value, style=STATUS_STYLES.get(value, "")))
        self.emit(table)

    def emit(self, renderable: Any, **options: Any) -> None:
        """Print `renderable` with no spaces at the ends of its lines (rich pads every
        cell to its column's width)."""
        console = self.console()
        with console.capture() as captured:
            console.print(renderable, **options)
        lines = (_TRAILING_SPACES.sub(r"\1", line) for line in captured.get().split("\n"))
        self.stream.write("\n".join(lines))
        self.stream.flush()

    def rows(
        self, columns: Sequence[Column], rows: Sequence[Sequence[str]], *, indent: int = 0
    ) -> None:
        """A table (table), or tab-separated lines with every column whole (text)."""
        if self.output == "text":
            for row in rows:
                print("\t".join(cell.replace("\t", " ") for cell in row), file=self.stream)
            return
        table = self.table(columns, rows, indent=indent)
        if indent:
            from rich.padding import Padding

            self.emit(Padding(table, (0, 0, 0, indent)))
        else:
            self.emit(table)

    def table(
        self, columns: Sequence[Column], rows: Sequence[Sequence[str]], *, indent: int = 0
    ) -> Any:
        """The rich Table of `rows`, fitted to the terminal's width less `indent`."""
        from rich.table import Table
        from rich.text import Text

        widths = fit(columns, rows, self.width - indent)
        table = Table(
            box=None,
            padding=(0, GAP, 0, 0),
            pad_edge=False,
            show_edge=False,
            header_style="bold",
        )
        kept = [index for index, width in enumerate(widths) if width]
        for index in kept:
            table.add_column(
                columns[index].header[: widths[index]],
                width=widths[index],
                no_wrap=True,
                overflow="crop",
            )
        for row in rows:
            cells = []
            for index in kept:
                column, cell, width = columns[index], row[index], widths[index]
                shown = cell if len(cell) <= width else (column.trim or trim_end)(cell, width)
                style = STATUS_STYLES.get(cell, "") if column.styled else ""
                cells.append(Text(shown, style=style))
            table.add_row(*cells)
        return table
