"""Bedrock batch inference input files (JSONL): validate and plan in one streaming pass,
then write the planned parts in a second pass over the same bytes.

Memory is bounded by the per-job limits (one chunk's lines, the record ids of one part,
and the ids and byte sizes of the last records of the part before), never by the size of
the file.

Pass 1 takes the lines of each chunk together. A fast path checks them with one
pydantic-core (Rust) validator call per line, which parses, checks UTF-8 and applies the
record and modelInput checks without building the Python objects it does not need, and
plans them in bulk. It only ever accepts what the line-by-line checks accept: lines it
cannot vouch for, and every line of a chunk in which any line fails, go through the
line-by-line checks, which decide and word the reasons.
"""

from __future__ import annotations

import json
import sys
from array import array
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, fields
from functools import cache, lru_cache
from itertools import accumulate, takewhile
from operator import itemgetter
from typing import Any, Protocol

from pydantic_core import SchemaValidator, ValidationError, core_schema

from dropzone.bedrock.model_inputs import (
    INVOCATION_TYPES,
    check_model_input,
    json_type,
    model_input_schema,
)
from dropzone.errors import InvalidInput, Problem
from dropzone.observability import logger

INVOCATION_TYPE_FIELD = "metadata 'x-amz-meta-invocation-type'"
RECORD_ID_MAX = 256
JSON_ERROR_MAX = 120

# number, content without its line ending (None when over the size limit), size in bytes
_Line = tuple[int, bytes | None, int]
# the largest integer literal, in digits, that pydantic-core's JSON parser reads; json.loads
# reads up to sys.get_int_max_str_digits() digits (0: no limit)
_PARSER_INT_DIGITS = 4300


@dataclass(frozen=True)
class BatchLimits:
    min_records_per_job: int = 100
    max_records_per_file: int = 50_000
    max_records_per_job: int = 50_000
    max_bytes_per_file: int = 1_000_000_000
    max_bytes_per_job: int = 5_000_000_000
    max_problems: int = 20

    def __post_init__(self) -> None:
        for limit in fields(self):
            value = getattr(self, limit.name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{limit.name} must be a positive integer, got {value!r}")
        if self.min_records_per_job > self.part_records:
            raise ValueError(
                f"min_records_per_job ({self.min_records_per_job}) must not exceed "
                f"max_records_per_file or max_records_per_job ({self.part_records})"
            )

    @property
    def part_records(self) -> int:
        return min(self.max_records_per_file, self.max_records_per_job)

    @property
    def part_bytes(self) -> int:
        return min(self.max_bytes_per_file, self.max_bytes_per_job)


@dataclass(frozen=True)
class Part:
    """One job's share of the file: physical lines first_line..last_line (1-based).

    `bytes` counts each line with its line ending, a missing final one as the b"\\n" it
    is written with, so what write_parts writes never exceeds it. `borrowed` is how many
    of its first records came from the part before, to give it the minimum.
    """

    index: int
    first_line: int
    last_line: int
    records: int
    bytes: int
    borrowed: int = 0


@dataclass(frozen=True)
class BatchPlan:
    records: int
    bytes: int
    parts: tuple[Part, ...]

    @property
    def split(self) -> bool:
        return len(self.parts) > 1


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
    report = _Report(limits.max_problems)
    planner = _Planner(limits, report)
    checker = _Checker(model_id, invocation_type, limits.part_bytes, report, planner)
    _split(chunks, limits.part_bytes, checker)
    report.raise_if_any()
    return planner.finish()


def write_parts(
    chunks: Iterable[bytes], plan: BatchPlan, open_part: Callable[[Part], PartSink]
) -> None:
    """Stream each planned part's lines, ending in b"\\n", into its own sink.

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
        for number, content, size in _lines(chunks, longest_line):
            if part is None:
                break
            if sink is None:
                sink = open_part(part)
            if content is None or number > part.last_line:
                raise InputChanged(f"line {number} is not the line planned for part {part.index}")
            sink.write(content + b"\n")
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


def _lines(chunks: Iterable[bytes], max_size: int) -> Iterator[_Line]:
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
    """The lines of _lines, the same numbers, contents and sizes, handed to the checker:
    the complete lines within a chunk together, a line that spans chunks on its own."""
    number, pending_size = 0, 0
    pending = bytearray()
    for chunk in chunks:
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
            whole -= len(end) + 1
        if lines:
            checker.lines(number + 1, lines, whole, chunk)
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


class _BadRecord(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def _record_id(content: bytes, model_id: str, invocation_type: str) -> str | None:
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as error:
        raise _BadRecord(
            f"not valid UTF-8: {error.reason} at byte offset {error.start} of the line"
        ) from None
    if text.startswith("\ufeff"):
        raise _BadRecord("starts with a byte order mark (BOM); save the file as UTF-8 without BOM")
    try:
        record = _DECODER.decode(text)
    except json.JSONDecodeError as error:
        raise _BadRecord(_short(f"not valid JSON: {error.msg} at column {error.colno}")) from None
    except ValueError as error:
        raise _BadRecord(_short(f"not valid JSON: {error}")) from None
    except RecursionError:
        raise _BadRecord("not valid JSON: nested too deeply") from None
    if not isinstance(record, dict):
        raise _BadRecord(f"expected a JSON object, got {json_type(record)}")
    if "modelInput" not in record:
        raise _BadRecord("'modelInput' is missing")
    model_input = record["modelInput"]
    if not isinstance(model_input, dict):
        raise _BadRecord(f"'modelInput' must be a JSON object, got {json_type(model_input)}")
    record_id = record.get("recordId")
    if "recordId" in record:
        if not isinstance(record_id, str) or not record_id:
            raise _BadRecord(f"'recordId' must be a non-empty string, got {json_type(record_id)}")
        if len(record_id) > RECORD_ID_MAX:
            raise _BadRecord(
                f"'recordId' is {len(record_id)} characters; the limit is {RECORD_ID_MAX}"
            )
    reason = check_model_input(model_id, invocation_type, model_input)
    if reason:
        raise _BadRecord(reason)
    return record_id


def _short(text: str) -> str:
    return text if len(text) <= JSON_ERROR_MAX else text[: JSON_ERROR_MAX - 1] + "…"


# Lines the line-by-line checks refuse, or read differently, that the fast parser must refuse
# as well; the fast path is only used if it does. NaN and Infinity it takes: see
# _may_hold_constants.
_PARSER_PROBES = (
    b'{"modelInput": {}, "x": "\xff"}',  # not UTF-8
    b'{"modelInput": {}, "x": "\xed\xa0\x80"}',  # an encoded surrogate
    b'{"modelInput": {}, "x": "\\ud800"}',  # json.loads keeps a lone surrogate as is
    b'{"modelInput": {}, "x": "a\tb"}',  # a control character in a string
    b'{"modelInput": {}, "x": 1%s}' % (b"0" * _PARSER_INT_DIGITS),  # over the digit limit
    b'{"modelInput": {}, "recordId": "a", "recordId": 1}',  # the last repeated key counts
    b'{"modelInput": {}} x',
    b'\xef\xbb\xbf{"modelInput": {}}',
)


def _record_schema(model_input: core_schema.CoreSchema) -> core_schema.CoreSchema:
    """A line's record id (None when it has none) if the line holds an acceptable record."""
    record_id = core_schema.str_schema(strict=True, min_length=1, max_length=RECORD_ID_MAX)
    record = core_schema.typed_dict_schema(
        {
            "recordId": core_schema.typed_dict_field(
                core_schema.with_default_schema(record_id, default=None), required=False
            ),
            "modelInput": core_schema.typed_dict_field(model_input),
        },
        extra_behavior="ignore",
        strict=True,
    )
    return core_schema.no_info_after_validator_function(itemgetter("recordId"), record)


def _validator(schema: core_schema.CoreSchema) -> Callable[[bytes], str | None]:
    # cache the keys only: record ids are all different, caching them only costs memory
    config = core_schema.CoreConfig(cache_strings="keys")
    validate: Callable[[bytes], str | None] = SchemaValidator(schema, config).validate_json
    return validate


@cache
def _parser_agrees() -> bool:
    validate = _validator(_record_schema(core_schema.typed_dict_schema({})))
    if validate(b'{"recordId": "a", "modelInput": {"x": [1.5, null, true]}} ') != "a":
        return False
    for probe in _PARSER_PROBES:
        try:
            validate(probe)
        except ValidationError:
            continue
        return False
    return True


@lru_cache(maxsize=32)
def _fast_validator(model_id: str, invocation_type: str) -> Callable[[bytes], str | None] | None:
    """validate_json of a line: its record id (None when it has none) when _record_id would
    accept the line, ValidationError otherwise or whenever unsure. None when there is no
    fast path for this model."""
    model_input = model_input_schema(model_id, invocation_type)
    if model_input is None or not _parser_agrees():
        return None
    return _validator(_record_schema(model_input))


def _may_hold_constants(chunk: bytes) -> bool:
    """Whether `chunk` might hold NaN, Infinity or -Infinity outside a string: the fast
    parser takes them, _record_id does not. b"N" is rare in text; finding each one (memchr)
    is much faster than searching for b"NaN"."""
    if b"Infinity" in chunk:
        return True
    at = chunk.find(b"N")
    for _ in range(len(chunk) >> 8):
        if at < 0:
            return False
        if chunk.startswith(b"aN", at + 1):
            return True
        at = chunk.find(b"N", at + 1)
    return chunk.find(b"NaN", at) >= 0  # b"N" after b"N" (base64, say): one search


class _Checker:
    """Checks each line, reports what is wrong with it and hands the records to the planner.

    Blank lines are reported only once a record follows them: trailing ones are ignored.
    """

    def __init__(
        self,
        model_id: str,
        invocation_type: str,
        max_size: int,
        report: _Report,
        planner: _Planner,
    ) -> None:
        self._model_id = model_id
        self._invocation_type = invocation_type
        self._max_size = max_size
        self._report = report
        self._planner = planner
        self._blank_first, self._blank_count = 0, 0
        digits = sys.get_int_max_str_digits()
        # the fast parser must refuse every integer json.loads refuses
        self._fast = (
            _fast_validator(model_id, invocation_type)
            if digits == 0 or digits >= _PARSER_INT_DIGITS
            else None
        )

    def lines(self, first: int, lines: list[bytes], size: int, chunk: bytes) -> None:
        """Complete lines numbered from `first`, without their b"\\n" (a b"\\r" kept), of
        `size` bytes with their b"\\n"; all from `chunk`."""
        if self._fast is not None and self._fast_lines(first, lines, size, chunk):
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
            record_id = _record_id(content, self._model_id, self._invocation_type)
        except _BadRecord as bad:
            self._report.add(f"line {number}", bad.reason)
            return
        self._planner.add(number, size, record_id)

    def _flush_blanks(self) -> None:
        if self._blank_count:
            first = self._blank_first
            for blank in range(first, first + self._blank_count):
                self._report.add(f"line {blank}", "empty line")
            self._blank_first, self._blank_count = 0, 0

    def _fast_lines(self, first: int, lines: list[bytes], size: int, chunk: bytes) -> bool:
        """Plan the lines if every one of them is a good record; False, with nothing done,
        otherwise. A trailing b"\\r" is JSON whitespace, so it changes no verdict."""
        assert self._fast is not None
        if _may_hold_constants(chunk):
            return False
        if size > self._max_size and max(map(len, lines)) + 1 > self._max_size:
            return False
        try:
            record_ids = list(map(self._fast, lines))
        except ValidationError:
            return False
        self._flush_blanks()
        self._planner.add_lines(first, lines, size, record_ids)
        return True


class _Report:
    """The first `limit` problems, and how many more there were."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.problems: list[Problem] = []
        self.more = 0

    def add(self, where: str, reason: str) -> None:
        if len(self.problems) < self.limit:
            self.problems.append(Problem(where, reason))
        else:
            self.more += 1

    def raise_if_any(self) -> None:
        if self.more:
            shown = Problem("file", f"{self.more:,} more problems not shown")
            raise InvalidInput([*self.problems, shown])
        if self.problems:
            raise InvalidInput(list(self.problems))


@dataclass
class _Run:
    """A part being filled: its records' ids (of its last ones once it is full), and the
    byte sizes of its last ones.

    When the file has no problems its records are consecutive lines, so line numbers
    follow from first_line and a record's position.
    """

    first_line: int
    last_line: int = 0
    records: int = 0
    bytes: int = 0
    borrowed: int = 0
    # the sizes of at least the last min_records_per_job records (of all when fewer): the
    # most a part after it can take from it
    tail: array[int] = field(default_factory=lambda: array("q"))
    ids: dict[str, int] = field(default_factory=dict)

    def part(self, index: int) -> Part:
        return Part(index, self.first_line, self.last_line, self.records, self.bytes, self.borrowed)


class _Planner:
    """Fills parts greedily. A part left with too few records (the last one, or one cut
    short by the byte limit) takes records from the end of the part before it."""

    def __init__(self, limits: BatchLimits, report: _Report) -> None:
        self._limits = limits
        self._report = report
        self._done: list[Part] = []
        self._previous: _Run | None = None
        self._current: _Run | None = None
        self._failure: str | None = None
        self._keep = limits.min_records_per_job

    def add(self, line: int, size: int, record_id: str | None) -> None:
        current = self._current
        if (
            current is None
            or current.records >= self._limits.part_records
            or current.bytes + size > self._limits.part_bytes
        ):
            if current is not None:
                self._complete(current, next_line=line)
            current = self._current = _Run(first_line=line)
        current.last_line = line
        current.records += 1
        current.bytes += size
        tail = current.tail
        tail.append(size)
        if len(tail) >= 2 * self._keep:
            del tail[: -self._keep]
        if record_id is not None:
            first = current.ids.setdefault(record_id, line)
            if first != line:
                self._report.add(
                    f"line {line}",
                    f"'recordId' repeats line {first}; record ids must be unique within a job",
                )

    def add_lines(
        self, first: int, lines: list[bytes], size: int, record_ids: list[str | None]
    ) -> None:
        """add() for each of consecutive lines from `first`, of `size` bytes in all with
        their b"\\n": in bulk, but for the record that starts a part and whenever a missing
        or repeated record id is in the way."""
        part_records, part_bytes = self._limits.part_records, self._limits.part_bytes
        start, count = 0, len(lines)
        while start < count:
            current = self._current
            if (
                current is None
                or current.records >= part_records
                or current.bytes + len(lines[start]) + 1 > part_bytes
            ):  # the record starts a new part
                self.add(first + start, len(lines[start]) + 1, record_ids[start])
                size -= len(lines[start]) + 1
                start += 1
                continue
            end = min(count, start + part_records - current.records)
            taken = size if end == count else sum(map(len, lines[start:end])) + end - start
            if current.bytes + taken > part_bytes:  # end the part within these lines
                sizes = accumulate(len(line) + 1 for line in lines[start:end])
                end = start + bisect_right(list(sizes), part_bytes - current.bytes)
                taken = sum(map(len, lines[start:end])) + end - start
            if self._add_ids(current, first + start, record_ids[start:end]):
                current.records += end - start
                current.bytes += taken
                current.last_line = first + end - 1
                tail = current.tail
                tail.extend(len(line) + 1 for line in lines[max(start, end - self._keep) : end])
                if len(tail) >= 2 * self._keep:
                    del tail[: -self._keep]
            else:
                for index in range(start, end):
                    self.add(first + index, len(lines[index]) + 1, record_ids[index])
            size -= taken
            start = end

    @staticmethod
    def _add_ids(current: _Run, line: int, record_ids: list[str | None]) -> bool:
        """Record the ids of lines from `line` if all are present and new to the part, as
        add() would; False, with nothing changed, otherwise."""
        ids = current.ids
        if not ids.keys().isdisjoint(record_ids):
            return False
        before = len(ids)
        ids.update(zip(record_ids, range(line, line + len(record_ids)), strict=True))  # type: ignore[arg-type]
        if len(ids) - before == len(record_ids) and None not in ids:
            return True
        for record_id in record_ids:  # a repeat among them, or a missing id: undo
            ids.pop(record_id, None)  # type: ignore[arg-type]
        return False

    def finish(self) -> BatchPlan:
        last = self._current
        if last is None:
            raise InvalidInput.single("file", "the file has no records")
        minimum = self._limits.min_records_per_job
        if self._previous is None and last.records < minimum:
            raise InvalidInput.single(
                "file",
                f"{_count(last.records, 'record')}; Bedrock batch inference needs at least "
                f"{minimum} per job",
            )
        self._complete(last, next_line=None)
        self._report.raise_if_any()
        if self._failure:
            raise InvalidInput.single("file", self._failure)
        parts = (*self._done, last.part(len(self._done) + 1))
        return BatchPlan(
            records=sum(part.records for part in parts),
            bytes=sum(part.bytes for part in parts),
            parts=parts,
        )

    def _complete(self, current: _Run, next_line: int | None) -> None:
        previous = self._previous
        if current.records < self._limits.min_records_per_job and self._failure is None:
            self._failure = self._top_up(current, previous, next_line)
        if previous is not None:
            self._done.append(previous.part(len(self._done) + 1))
        self._previous = current
        # a part after it takes fewer than min_records_per_job records from its end: keep
        # only their ids (ids are in line order)
        cut = current.last_line - self._keep
        if len(current.ids) > self._keep:
            tail = takewhile(lambda item: item[1] > cut, reversed(current.ids.items()))
            current.ids = dict(reversed(list(tail)))

    def _top_up(self, current: _Run, previous: _Run | None, next_line: int | None) -> str | None:
        """Move records from the end of `previous` so that `current` has the minimum;
        the reason it cannot, or None."""
        minimum, limit = self._limits.min_records_per_job, self._limits.part_bytes
        move = minimum - current.records
        lines = (
            f"line {current.first_line}"
            if current.records == 1
            else f"lines {current.first_line}-{current.last_line}"
        )
        short = (
            f"cannot be split into parts within the limits: {lines} would make a job of "
            f"{_count(current.records, 'record')}, fewer than the {minimum} a job needs, and "
        )
        if previous is None:
            return f"{short}line {next_line} would take it over the {limit:,}-byte limit"
        if previous.records - move < minimum:
            return (
                f"{short}the part before it has {_count(previous.records, 'record')}, too few "
                f"to give it {move} and keep {minimum}"
            )
        moved = previous.tail[len(previous.tail) - move :]
        moved_bytes = sum(moved)
        if current.bytes + moved_bytes > limit:
            return (
                f"{short}taking {move} from the part before would make it "
                f"{current.bytes + moved_bytes:,} bytes, over the {limit:,}-byte limit"
            )
        cut = previous.last_line - move
        moved_ids = {record_id: line for record_id, line in previous.ids.items() if line > cut}
        for record_id, line in current.ids.items():
            if record_id in moved_ids:
                self._report.add(
                    f"line {line}",
                    f"'recordId' repeats line {moved_ids[record_id]}; both land in the same "
                    "job after the split",
                )
        del previous.tail[len(previous.tail) - move :]
        previous.records -= move
        previous.last_line, previous.bytes = cut, previous.bytes - moved_bytes
        current.tail = moved + current.tail
        current.records += move
        current.ids = moved_ids | current.ids
        current.first_line, current.bytes, current.borrowed = (
            cut + 1,
            current.bytes + moved_bytes,
            move,
        )
        return None


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}" if number == 1 else f"{number:,} {noun}s"
