"""Bedrock batch inference input files (JSONL): validate and plan in one streaming pass,
then write the planned parts in a second pass over the same bytes.

Memory is bounded by the per-job limits (one chunk's lines, the record ids of one part,
and the ids and byte sizes of the last records of the part before), never by the size of
the file.

Pass 1 takes the lines of each chunk together. A fast path (dropzone.workflows.bedrock.records:
msgspec for InvokeModel, pydantic-core for Converse) checks them with one C call per line,
which parses and applies the record and modelInput checks without building the Python
objects it does not need, and plans them in bulk; UTF-8 is checked once per chunk. It only
ever accepts what the line-by-line checks accept: lines it cannot vouch for, and every line
of a chunk in which any line fails, go through the line-by-line checks, which decide and
word the reasons.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from typing import Protocol

from dropzone.errors import InvalidInput
from dropzone.observability import logger
from dropzone.workflows.bedrock.model_inputs import INVOCATION_TYPES
from dropzone.workflows.bedrock.plan import BatchLimits, BatchPlan, Part, Planner, ProblemReport
from dropzone.workflows.bedrock.records import REFUSED, BadRecord, check_record, fast_path

INVOCATION_TYPE_FIELD = "metadata 'x-amz-meta-invocation-type'"

# number, content without its line ending (None when over the size limit), size in bytes
_Line = tuple[int, bytes | None, int]


class PartSink(Protocol):
    def write(self, data: bytes) -> None: ...

    def close(self) -> None: ...

    def abort(self) -> None: ...


class InputChanged(RuntimeError):
    """The bytes of the second pass are not those that were planned."""


def plan_batch(
    chunks: Iterable[bytes], *, model_id: str, invocation_type: str, limits: BatchLimits
) -> BatchPlan:
    """Validate every line and plan the parts; raise InvalidInput listing what is wrong."""
    if invocation_type not in INVOCATION_TYPES:
        raise InvalidInput.single(
            INVOCATION_TYPE_FIELD,
            f"{invocation_type[:40]!r} is not a batch invocation type; "
            f"use {' or '.join(INVOCATION_TYPES)}",
        )
    report = ProblemReport(limits.max_problems)
    planner = Planner(limits, report)
    checker = _Checker(model_id, invocation_type, limits.part_bytes, report, planner)
    _split(chunks, limits.part_bytes, checker)
    report.raise_if_any()
    return planner.finish()


def write_parts(
    chunks: Iterable[bytes],
    plan: BatchPlan,
    open_part: Callable[[Part], PartSink],
    stage: Callable[[bytes, int], bytes] | None = None,
) -> None:
    """Stream each planned part's lines, ending in b"\\n", into its own sink; `stage`
    rewrites each line (content, line number) on the way.

    Pass 1 proved record ids unique within each part it cut; a part that then borrowed
    records from the part before it is checked again. A sink still open when anything
    fails is aborted.
    """
    if not plan.parts:
        return
    longest_line = max(part.bytes for part in plan.parts)
    parts = iter(plan.parts)
    part: Part | None = next(parts)
    sink: PartSink | None = None
    measured = 0
    ids: dict[str, int] = {}
    try:
        for number, content, size in input_lines(chunks, longest_line):
            if part is None:
                break
            if sink is None:
                sink = open_part(part)
            if content is None or number > part.last_line:
                raise InputChanged(f"line {number} is not the line planned for part {part.index}")
            sink.write((stage(content, number) if stage else content) + b"\n")
            measured += size
            if part.borrowed:
                _check_unique_again(content, number, ids, part)
            if number == part.last_line:
                if measured != part.bytes:
                    raise InputChanged(
                        f"part {part.index} has {measured} bytes; {part.bytes} were planned"
                    )
                sink.close()
                sink, measured = None, 0
                ids.clear()
                part = next(parts, None)
        if part is not None:
            raise InputChanged(f"the input ended before the end of part {part.index}")
    except BaseException:
        if sink is not None:
            _abort(sink)
        raise


def _abort(sink: PartSink) -> None:
    try:
        sink.abort()
    except Exception as error:  # the original failure matters more
        logger.warning("could not abort a part", extra={"error": repr(error)})


def _check_unique_again(content: bytes, number: int, ids: dict[str, int], part: Part) -> None:
    record_id = json.loads(content).get("recordId")
    if record_id is None:
        return
    first = ids.setdefault(record_id, number)
    if first != number:
        raise InvalidInput.single(
            f"line {number}",
            f"'recordId' repeats line {first}; both land in job {part.index} after the split",
        )


def input_lines(chunks: Iterable[bytes], max_size: int) -> Iterator[_Line]:
    """Physical lines split on b"\\n", whatever the chunking; a trailing b"\\r" is dropped.

    A line's size counts its line ending (a missing final one as one byte). A line over
    max_size is measured but not kept, so one line never holds more than max_size bytes.
    """
    number, pending_size = 0, 0
    pending = bytearray()
    for chunk in chunks:
        start = 0
        while (end := chunk.find(b"\n", start)) >= 0:
            number += 1
            size = pending_size + end - start + 1
            if size > max_size:
                content = None
            elif pending:
                pending += memoryview(chunk)[start:end]
                content = bytes(pending)
            else:
                content = chunk[start:end]
            yield number, _without_cr(content), size
            pending.clear()
            pending_size = 0
            start = end + 1
        if start < len(chunk):
            pending_size += len(chunk) - start
            if pending_size <= max_size:
                pending += memoryview(chunk)[start:]
            else:
                pending.clear()
    if pending_size:
        size = pending_size + 1
        yield number + 1, _without_cr(bytes(pending)) if size <= max_size else None, size


def _split(chunks: Iterable[bytes], max_size: int, checker: _Checker) -> None:
    """The lines of input_lines, the same numbers, contents and sizes, handed to the checker:
    the complete lines within a chunk together, a line that spans chunks on its own."""
    number, pending_size = 0, 0
    pending = bytearray()
    for chunk in chunks:
        start = 0  # where the chunk's complete lines start
        lines = chunk.split(b"\n")
        rest = lines.pop()  # after the chunk's last b"\n": the start of the next line
        whole = len(chunk) - len(rest)  # the size of the lines, each with its b"\n"
        if pending_size and lines:
            end = lines[0]
            size = pending_size + len(end) + 1
            content: bytes | None = None
            if size <= max_size:
                pending += end
                content = bytes(pending)
            number += 1
            checker.line(number, _without_cr(content), size)
            pending.clear()
            pending_size = 0
            del lines[0]
            start = len(end) + 1
            whole -= start
        if lines:
            checker.lines(number + 1, lines, whole, chunk, start)
            number += len(lines)
        if rest:
            pending_size += len(rest)
            if pending_size <= max_size:
                pending += rest
            else:
                pending.clear()
    if pending_size:
        size = pending_size + 1
        checker.line(number + 1, _without_cr(bytes(pending)) if size <= max_size else None, size)


def _without_cr(content: bytes | None) -> bytes | None:
    return content[:-1] if content and content.endswith(b"\r") else content


class _Checker:
    """Checks each line, reports what is wrong with it and hands the records to the planner.

    Blank lines are reported only once a record follows them: trailing ones are ignored.
    """

    def __init__(
        self,
        model_id: str,
        invocation_type: str,
        max_size: int,
        report: ProblemReport,
        planner: Planner,
    ) -> None:
        self._model_id = model_id
        self._invocation_type = invocation_type
        self._max_size = max_size
        self._report = report
        self._planner = planner
        self._blank_first, self._blank_count = 0, 0
        self._fast = fast_path(model_id, invocation_type)

    def lines(self, first: int, lines: list[bytes], size: int, chunk: bytes, start: int) -> None:
        """Complete lines numbered from `first`, without their b"\\n" (a b"\\r" kept), of
        `size` bytes with their b"\\n": chunk[start:start + size]."""
        if self._fast is not None and self._fast_lines(first, lines, size, chunk, start):
            return
        max_size = self._max_size
        for number, content in enumerate(lines, first):
            length = len(content) + 1
            self.line(number, _without_cr(content) if length <= max_size else None, length)

    def line(self, number: int, content: bytes | None, size: int) -> None:
        if content is not None and (not content or content.isspace()):
            if not self._blank_count:
                self._blank_first = number
            self._blank_count += 1
            return
        self._flush_blanks()
        if content is None:
            self._report.add(
                f"line {number}",
                f"the line is {size:,} bytes; one job takes at most {self._max_size:,} bytes",
            )
            return
        try:
            record_id = check_record(content, self._model_id, self._invocation_type)
        except BadRecord as bad:
            self._report.add(f"line {number}", bad.reason)
            return
        self._planner.add(number, size, record_id)

    def _flush_blanks(self) -> None:
        if self._blank_count:
            first = self._blank_first
            for blank in range(first, first + self._blank_count):
                self._report.add(f"line {blank}", "empty line")
            self._blank_first, self._blank_count = 0, 0

    def _fast_lines(
        self, first: int, lines: list[bytes], size: int, chunk: bytes, start: int
    ) -> bool:
        """Plan the lines if every one of them is a good record; False, with nothing done,
        otherwise. A trailing b"\\r" is JSON whitespace, so it changes no verdict."""
        fast = self._fast
        assert fast is not None
        longest = max(map(len, lines)) + 1
        if longest > self._max_size or fast.unsure(chunk, start, start + size, lines, longest):
            return False
        try:
            record_ids = list(map(fast.validate, lines))
        except REFUSED:
            return False
        self._flush_blanks()
        self._planner.add_lines(first, lines, size, record_ids)
        return True
