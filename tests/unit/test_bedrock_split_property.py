from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import cycle

from hypothesis import given, settings
from hypothesis import strategies as st

from dropzone.errors import InvalidInput, Problem
from dropzone.workflows.bedrock.jsonl import plan_batch, write_parts
from dropzone.workflows.bedrock.plan import BatchLimits, BatchPlan, Part

TITAN = "amazon.titan-text-express-v1"
DOCUMENTED = [
    re.compile(r"the file has no records"),
    re.compile(r"[\d,]+ records?; Bedrock batch inference needs at least \d+ per job"),
    re.compile(r"cannot be split into parts within the limits: .+"),
    re.compile(r"the line is [\d,]+ bytes; one job takes at most [\d,]+ bytes"),
    re.compile(r"[\d,]+ more problems not shown"),
]
FAST = settings(max_examples=150, deadline=None)


@dataclass(frozen=True)
class Batch:
    body: bytes
    records: list[bytes]  # each record's line as it must be written
    sizes: list[int]  # each record's size as planned
    limits: BatchLimits
    chunk_sizes: list[int]


@st.composite
def batches(draw: st.DrawFn) -> Batch:
    ids = draw(st.lists(st.text(min_size=1, max_size=6), min_size=1, max_size=60, unique=True))
    records: list[bytes] = []
    raw: list[bytes] = []
    sizes: list[int] = []
    for position, record_id in enumerate(ids):
        model_input = {"inputText": draw(st.text(max_size=30))}
        record: dict[str, object] = {"modelInput": model_input}
        if position % 7 != 3:  # some records carry no recordId
            record = {"recordId": record_id, **record}
        content = json.dumps(record, ensure_ascii=False).encode()
        ending = draw(st.sampled_from([b"\n", b"\r\n"]))
        records.append(content + b"\n")
        raw.append(content + ending)
        sizes.append(len(content + ending))
    without_final_newline: bool = draw(st.booleans())
    trailing_blanks: bytes = draw(st.sampled_from([b"", b"\n", b" \r\n", b"\n\n\t"]))
    if without_final_newline:
        raw[-1] = raw[-1].rstrip(b"\r\n")
        sizes[-1] = len(raw[-1]) + 1
    else:
        raw.append(trailing_blanks)
    longest = max(sizes, default=10)
    tight = draw(st.integers(0, 9)) == 0  # now and then, a line over the byte limit
    minimum = draw(st.integers(1, 5))
    limits = BatchLimits(
        min_records_per_job=minimum,
        max_records_per_file=draw(st.integers(max(2, minimum), 40)),
        max_records_per_job=draw(st.integers(max(2, minimum), 40)),
        max_bytes_per_file=draw(st.integers(longest, longest * 12)),
        max_bytes_per_job=draw(
            st.integers(max(1, longest // 2), longest)
            if tight
            else st.integers(longest, longest * 12)
        ),
    )
    chunk_sizes = draw(st.lists(st.integers(1, 64), min_size=1, max_size=8))
    return Batch(b"".join(raw), records, sizes, limits, chunk_sizes)


def chunks_of(batch: Batch) -> Iterator[bytes]:
    start = 0
    for size in cycle(batch.chunk_sizes):
        if start >= len(batch.body):
            return
        yield batch.body[start : start + size]
        start += size


def plan(batch: Batch, chunks: Iterator[bytes] | None = None) -> BatchPlan:
    return plan_batch(
        chunks if chunks is not None else chunks_of(batch),
        model_id=TITAN,
        invocation_type="InvokeModel",
        limits=batch.limits,
    )


@dataclass
class MemorySink:
    part: Part
    data: bytearray = field(default_factory=bytearray)
    closed: bool = False
    aborted: bool = False

    def write(self, data: bytes) -> None:
        self.data += data

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True


@FAST
@given(batches())
def test_splitting_loses_and_duplicates_nothing_and_respects_every_limit(batch: Batch) -> None:
    limits = batch.limits
    try:
        planned = plan(batch)
    except InvalidInput as invalid:
        _assert_documented(invalid, batch)
        return
    sinks: list[MemorySink] = []

    def open_part(part: Part) -> MemorySink:
        sinks.append(MemorySink(part))
        return sinks[-1]

    write_parts(chunks_of(batch), planned, open_part)
    # every record once, in order, in exactly the planned parts
    assert b"".join(sink.data for sink in sinks) == b"".join(batch.records)
    assert [sink.part for sink in sinks] == list(planned.parts)
    assert all(sink.closed and not sink.aborted for sink in sinks)
    # totals
    assert planned.records == len(batch.records) == sum(p.records for p in planned.parts)
    assert planned.bytes == sum(batch.sizes) == sum(p.bytes for p in planned.parts)
    assert planned.split == (len(planned.parts) > 1)
    # every part within every limit, parts contiguous
    next_line = 1
    for index, (part, sink) in enumerate(zip(planned.parts, sinks, strict=True), start=1):
        assert part.index == index
        assert part.first_line == next_line
        assert part.last_line - part.first_line + 1 == part.records
        assert limits.min_records_per_job <= part.records <= limits.part_records
        assert part.bytes <= limits.part_bytes
        assert len(sink.data) <= part.bytes
        assert part.bytes == sum(batch.sizes[part.first_line - 1 : part.last_line])
        next_line = part.last_line + 1
    assert next_line == len(batch.records) + 1


def _assert_documented(invalid: InvalidInput, batch: Batch) -> None:
    assert invalid.problems
    for problem in invalid.problems:
        assert any(pattern.fullmatch(problem.reason) for pattern in DOCUMENTED), problem
    reasons = " ".join(problem.reason for problem in invalid.problems)
    limits = batch.limits
    if "one job takes at most" in reasons:
        assert max(batch.sizes) > limits.part_bytes
    else:
        assert max(batch.sizes, default=0) <= limits.part_bytes
    if "the file has no records" in reasons:
        assert not batch.records
    if "needs at least" in reasons:
        assert len(batch.records) < limits.min_records_per_job
    fits_one_job = (
        limits.min_records_per_job <= len(batch.records) <= limits.part_records
        and sum(batch.sizes) <= limits.part_bytes
    )
    assert not fits_one_job, "a file that fits one job was rejected"


@FAST
@given(batches(), st.lists(st.integers(1, 9), min_size=1, max_size=5))
def test_the_plan_does_not_depend_on_chunking(batch: Batch, other_sizes: list[int]) -> None:
    rechunked = Batch(batch.body, batch.records, batch.sizes, batch.limits, other_sizes)
    outcomes: list[BatchPlan | list[Problem]] = []
    for chunks in (iter([batch.body]), chunks_of(batch), chunks_of(rechunked)):
        try:
            outcomes.append(plan(batch, chunks))
        except InvalidInput as invalid:
            outcomes.append(invalid.problems)
    assert outcomes[0] == outcomes[1] == outcomes[2]
