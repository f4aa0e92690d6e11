"""How a batch input is cut into parts, one per Bedrock job, within the limits.

Parts are filled greedily as the records come; memory holds the record ids of one part and
the ids and byte sizes of the last records of the part before, never the whole file.
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from dataclasses import dataclass, field, fields
from itertools import accumulate, takewhile

from dropzone.errors import InvalidInput, Problem


@dataclass(frozen=True)
class BatchLimits:
    min_records_per_job: int = 100
    max_records_per_file: int = 50_000
    max_records_per_job: int = 50_000
    max_bytes_per_file: int = 1_000_000_000
    max_bytes_per_job: int = 5_000_000_000
    max_problems: int = 20
    # a file of fewer records than min_records_per_job, up to this many, is planned as one
    # part to be finished on demand (0: such a file is rejected)
    on_demand_records: int = 0

    def __post_init__(self) -> None:
        for limit in fields(self):
            value = getattr(self, limit.name)
            lowest = 0 if limit.name == "on_demand_records" else 1
            if not isinstance(value, int) or isinstance(value, bool) or value < lowest:
                kind = "a positive" if lowest else "a non-negative"
                raise ValueError(f"{limit.name} must be {kind} integer, got {value!r}")
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


class ProblemReport:
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


class Planner:
    """Fills parts greedily. A part left with too few records (the last one, or one cut
    short by the byte limit) takes records from the end of the part before it."""

    def __init__(self, limits: BatchLimits, report: ProblemReport) -> None:
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
        on_demand = self._limits.on_demand_records
        if self._previous is None and last.records < minimum and last.records > on_demand:
            reason = (
                f"{_count(last.records, 'record')}; Bedrock batch inference needs at least "
                f"{minimum} per job"
            )
            if on_demand:
                reason += f", and on-demand finishing takes at most {on_demand} records"
            raise InvalidInput.single("file", reason)
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
        on_demand = previous is None and next_line is None  # the one part, run on demand
        if (
            current.records < self._limits.min_records_per_job
            and self._failure is None
            and not on_demand
        ):
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
