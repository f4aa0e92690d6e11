"""Reading what Bedrock wrote for a job: manifest.json.out and the `<input>.jsonl.out` lines.

Neither is trusted to be well formed. An output line that cannot be decoded counts as a
failed record; a manifest, or a field of it, that cannot be decoded gives no counts. Each
problem is worded with where it is and what is wrong, never with the content, which may be
private.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from dropzone.errors import Problem
from dropzone.workflows.bedrock.model_inputs import json_type
from dropzone.workflows.bedrock.rules import MANIFEST_FIELDS

MANIFEST_NAME = "manifest.json.out"
OUTPUT_SUFFIX = ".jsonl.out"
# problems kept on the job and logged one by one; the rest are only counted
PROBLEMS_KEPT = 20
_REASON_MAX = 160


class UnreadableOutput(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def numbered_lines(chunks: Iterable[bytes]) -> Iterator[tuple[int, bytes]]:
    """The non-blank lines of a stream of chunks, with their line numbers (from 1).
    Memory holds one chunk and one line."""
    pending = b""
    number = 0
    for chunk in chunks:
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            number += 1
            if line.strip():
                yield number, line
    if pending.strip():
        yield number + 1, pending


def decode_output_line(line: bytes) -> dict[str, Any]:
    """An output line's record; UnreadableOutput with the reason when it cannot be used."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as error:
        raise UnreadableOutput(
            f"not valid UTF-8: {error.reason} at byte offset {error.start} of the line"
        ) from None
    record = _decode_json(text)
    if not isinstance(record, dict):
        raise UnreadableOutput(f"expected a JSON object, got {json_type(record)}")
    record_id = record.get("recordId")
    if record_id is not None and not isinstance(record_id, str):
        raise UnreadableOutput(f"'recordId' must be a string, got {json_type(record_id)}")
    return record


def decode_manifest(text: str) -> tuple[dict[str, int], list[str]]:
    """The counts and tokens of manifest.json.out, by the name the job's counts give them,
    and the reasons its other fields could not be used; UnreadableOutput with the reason
    when it is not a JSON object at all."""
    manifest = _decode_json(text)
    if not isinstance(manifest, dict):
        raise UnreadableOutput(f"expected a JSON object, got {json_type(manifest)}")
    counts: dict[str, int] = {}
    refused: list[str] = []
    for key, name in MANIFEST_FIELDS.items():
        if key not in manifest:
            continue
        value = manifest[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            refused.append(f"{key!r} must be a whole number, got {_number(value)}")
        else:
            counts[name] = value
    return counts, refused


@dataclass
class OutputTally:
    """What the output lines of a job hold, line by line, and what could not be read."""

    succeeded: int = 0
    errored: int = 0
    unreadable: int = 0
    problems: list[Problem] = field(default_factory=list)
    problems_not_kept: int = 0

    @property
    def lines(self) -> int:
        return self.succeeded + self.errored + self.unreadable

    def add_problem(self, where: str, reason: str) -> bool:
        """Keep a problem; False once PROBLEMS_KEPT are kept (the rest are only counted)."""
        if len(self.problems) >= PROBLEMS_KEPT:
            self.problems_not_kept += 1
            return False
        self.problems.append(Problem(where, reason))
        return True

    def counts(self, service: Mapping[str, int]) -> dict[str, int]:
        """Record counts from the lines, to replace Bedrock's `service` counts, when a line
        could not be read (it counts as failed) or Bedrock gave none; else nothing."""
        if not self.unreadable and (
            not self.lines or {"succeeded_records", "failed_records"} & service.keys()
        ):
            return {}
        counts = {
            "succeeded_records": self.succeeded,
            "failed_records": self.errored + self.unreadable,
        }
        if self.unreadable:
            counts["unreadable_records"] = self.unreadable
        return counts

    def note(self) -> str:
        """A short account of the problems, for the job's message; "" when there were none."""
        if not self.problems:
            return ""
        shown = "; ".join(f"{problem.field}: {problem.reason}" for problem in self.problems[:3])
        more = len(self.problems) + self.problems_not_kept - 3
        if more > 0:
            shown += f" (and {more} more)"
        if not self.unreadable:
            return f"Bedrock's output could not all be read: {shown}"
        lines = "line" if self.unreadable == 1 else "lines"
        return f"{self.unreadable} output {lines} could not be read, counted as failed: {shown}"


def _decode_json(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        where = f"column {error.colno}"
        if error.lineno > 1:
            where = f"line {error.lineno} {where}"
        raise UnreadableOutput(_short(f"not valid JSON: {error.msg} at {where}")) from None
    except RecursionError:
        raise UnreadableOutput("not valid JSON: nested too deeply") from None
    except ValueError as error:  # e.g. an integer literal over the digit limit
        raise UnreadableOutput(_short(f"not valid JSON: {error}")) from None


def _number(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return "a negative number"
    if isinstance(value, float):
        return "a decimal number"
    return json_type(value)


def _short(text: str) -> str:
    return text if len(text) <= _REASON_MAX else text[: _REASON_MAX - 1] + "…"
