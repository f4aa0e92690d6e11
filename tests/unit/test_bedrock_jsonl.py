from __future__ import annotations

import json
import random
import tracemalloc
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from dropzone.errors import InvalidInput, Problem
from dropzone.workflows.bedrock.jsonl import (
    INVOCATION_TYPE_FIELD,
    InputChanged,
    plan_batch,
    write_parts,
)
from dropzone.workflows.bedrock.model_inputs import (
    INVOCATION_TYPES,
    base_model_id,
    check_model_input,
    family_of,
)
from dropzone.workflows.bedrock.plan import BatchLimits, BatchPlan, Part

TITAN = "amazon.titan-text-express-v1"
CLAUDE = "us.anthropic.claude-3-5-sonnet-20240620-v1:0"
LLAMA = "meta.llama3-70b-instruct-v1:0"
MISTRAL = "mistral.mistral-large-2402-v1:0"
ANY = BatchLimits(min_records_per_job=1)
SECRET = "secret-patient-note"


def line(record: Any) -> bytes:
    return json.dumps(record, ensure_ascii=False).encode() + b"\n"


def titan(record_id: str, text: str = "hello") -> bytes:
    return line({"recordId": record_id, "modelInput": {"inputText": text}})


def titan_records(count: int, start: int = 1) -> bytes:
    return b"".join(titan(f"r{i}") for i in range(start, start + count))


def sized(record_id: str, size: int) -> bytes:
    """A Titan record line of exactly `size` bytes, newline included."""
    padding = size - len(titan(record_id, ""))
    assert padding >= 0
    return titan(record_id, "x" * padding)


def plan(
    body: bytes | Iterable[bytes],
    *,
    model_id: str = TITAN,
    invocation_type: str = "InvokeModel",
    limits: BatchLimits = ANY,
) -> BatchPlan:
    chunks = [body] if isinstance(body, bytes) else body
    return plan_batch(chunks, model_id=model_id, invocation_type=invocation_type, limits=limits)


def chunked(body: bytes, sizes: Iterable[int]) -> Iterator[bytes]:
    start = 0
    for size in sizes:
        if start >= len(body):
            return
        yield body[start : start + size]
        start += size
    if start < len(body):
        yield body[start:]


def random_chunks(body: bytes, seed: int) -> Iterator[bytes]:
    rng = random.Random(seed)
    return chunked(body, iter(lambda: rng.randint(1, 7), 0))


@dataclass
class MemorySink:
    part: Part
    data: bytearray = field(default_factory=bytearray)
    closed: bool = False
    aborted: bool = False
    fail_on_write: bool = False

    def write(self, data: bytes) -> None:
        if self.fail_on_write:
            raise OSError("disk full")
        self.data += data

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True


def opener(sinks: list[MemorySink], **options: Any) -> Callable[[Part], MemorySink]:
    def open_part(part: Part) -> MemorySink:
        sinks.append(MemorySink(part, **options))
        return sinks[-1]

    return open_part


def write_all(body: bytes | Iterable[bytes], batch: BatchPlan) -> list[MemorySink]:
    sinks: list[MemorySink] = []
    write_parts([body] if isinstance(body, bytes) else body, batch, opener(sinks))
    return sinks


GOOD = titan("good-1")
CONVERSE_OK = {"messages": [{"role": "user", "content": [{"text": "hi"}]}]}
CLAUDE_OK = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 100, "messages": [{}]}


def _with_id(model_input: dict[str, Any]) -> bytes:
    return line({"recordId": "x", "modelInput": model_input})


def _converse_image(image: dict[str, Any]) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": [{"image": image}]}]}


def _cannot_split_by_bytes() -> tuple[bytes, BatchLimits]:
    small, limit = 60, 190
    body = sized("a", small) + sized("b", small) + sized("c", small) + sized("d", 140)
    return body, BatchLimits(min_records_per_job=2, max_bytes_per_job=limit)


_BYTES_BODY, _BYTES_LIMITS = _cannot_split_by_bytes()

BAD_INPUTS = [
    pytest.param(
        GOOD + b'{"recordId": "a", "modelInput": {"inputText": "' + SECRET.encode() + b'"}\n',
        {},
        Problem("line 2", "not valid JSON: Expecting ',' delimiter at column 69"),
        id="malformed-json",
    ),
    pytest.param(
        GOOD + b'{"a": 1} ' + SECRET.encode() + b"\n",
        {},
        Problem("line 2", "not valid JSON: Extra data at column 10"),
        id="json-followed-by-text",
    ),
    pytest.param(
        GOOD + b'{"recordId": "\xff", "modelInput": {}}\n',
        {},
        Problem("line 2", "not valid UTF-8: invalid start byte at byte offset 14 of the line"),
        id="non-utf8",
    ),
    pytest.param(
        GOOD + b'{"modelInput": {}}\xe2\x82\n',
        {},
        Problem("line 2", "not valid UTF-8: unexpected end of data at byte offset 18 of the line"),
        id="truncated-multibyte-char",
    ),
    pytest.param(
        b"\xef\xbb\xbf" + GOOD,
        {},
        Problem(
            "line 1", "starts with a byte order mark (BOM); save the file as UTF-8 without BOM"
        ),
        id="byte-order-mark",
    ),
    pytest.param(
        GOOD + b'{"recordId": "a", "modelInput": {"inputText": NaN}}\n',
        {},
        Problem("line 2", "not valid JSON: NaN is not valid JSON"),
        id="nan-constant",
    ),
    pytest.param(
        GOOD + b"[" * 50_000 + b"\n",
        {},
        Problem("line 2", "not valid JSON: nested too deeply"),
        id="nested-too-deeply",
    ),
    pytest.param(
        GOOD + line([{"modelInput": {"inputText": SECRET}}]),
        {},
        Problem("line 2", "expected a JSON object, got an array"),
        id="json-array-line",
    ),
    pytest.param(
        GOOD + line(SECRET),
        {},
        Problem("line 2", "expected a JSON object, got a string"),
        id="json-string-line",
    ),
    pytest.param(
        GOOD + b"42\n",
        {},
        Problem("line 2", "expected a JSON object, got a number"),
        id="json-number-line",
    ),
    pytest.param(
        GOOD + line({"recordId": "a", "input": {"inputText": SECRET}}),
        {},
        Problem("line 2", "'modelInput' is missing"),
        id="missing-model-input",
    ),
    pytest.param(
        GOOD + line({"recordId": "a", "modelInput": SECRET}),
        {},
        Problem("line 2", "'modelInput' must be a JSON object, got a string"),
        id="model-input-string",
    ),
    pytest.param(
        GOOD + line({"recordId": "a", "modelInput": [SECRET]}),
        {},
        Problem("line 2", "'modelInput' must be a JSON object, got an array"),
        id="model-input-list",
    ),
    pytest.param(
        GOOD + line({"recordId": "a", "modelInput": None}),
        {},
        Problem("line 2", "'modelInput' must be a JSON object, got null"),
        id="model-input-null",
    ),
    pytest.param(
        GOOD + line({"recordId": 7, "modelInput": {"inputText": SECRET}}),
        {},
        Problem("line 2", "'recordId' must be a non-empty string, got a number"),
        id="record-id-number",
    ),
    pytest.param(
        GOOD + line({"recordId": "", "modelInput": {"inputText": SECRET}}),
        {},
        Problem("line 2", "'recordId' must be a non-empty string, got an empty string"),
        id="record-id-empty",
    ),
    pytest.param(
        GOOD + line({"recordId": "r" * 257, "modelInput": {"inputText": SECRET}}),
        {},
        Problem("line 2", "'recordId' is 257 characters; the limit is 256"),
        id="record-id-too-long",
    ),
    pytest.param(
        titan("same") + titan("other") + titan("same", SECRET),
        {},
        Problem("line 3", "'recordId' repeats line 1; record ids must be unique within a job"),
        id="duplicate-record-id",
    ),
    pytest.param(
        titan("a") + titan("b") + titan("c") + titan("c"),
        {"limits": BatchLimits(min_records_per_job=2, max_records_per_job=3)},
        Problem("line 4", "'recordId' repeats line 3; both land in the same job after the split"),
        id="duplicate-record-id-after-rebalancing",
    ),
    pytest.param(
        GOOD + b"\n" + titan("b"),
        {},
        Problem("line 2", "empty line"),
        id="empty-line-in-the-middle",
    ),
    pytest.param(
        GOOD + b" \t\r\n" + titan("b"),
        {},
        Problem("line 2", "empty line"),
        id="whitespace-line-in-the-middle",
    ),
    pytest.param(
        b"\n" + GOOD,
        {},
        Problem("line 1", "empty line"),
        id="leading-empty-line",
    ),
    pytest.param(
        titan_records(99),
        {"limits": BatchLimits()},
        Problem("file", "99 records; Bedrock batch inference needs at least 100 per job"),
        id="too-few-records",
    ),
    pytest.param(
        b"",
        {},
        Problem("file", "the file has no records"),
        id="zero-bytes",
    ),
    pytest.param(
        b"\n \r\n\t\n",
        {},
        Problem("file", "the file has no records"),
        id="only-blank-lines",
    ),
    pytest.param(
        GOOD + sized("big", 101),
        {"limits": BatchLimits(min_records_per_job=1, max_bytes_per_job=100)},
        Problem("line 2", "the line is 101 bytes; one job takes at most 100 bytes"),
        id="line-over-the-job-limit",
    ),
    pytest.param(
        GOOD + b"{" + b"x" * 200,
        {"limits": BatchLimits(min_records_per_job=1, max_bytes_per_file=100)},
        Problem("line 2", "the line is 202 bytes; one job takes at most 100 bytes"),
        id="unterminated-line-over-the-file-limit",
    ),
    pytest.param(
        titan_records(5),
        {"limits": BatchLimits(min_records_per_job=3, max_records_per_file=4)},
        Problem(
            "file",
            "cannot be split into parts within the limits: line 5 would make a job of 1 "
            "record, fewer than the 3 a job needs, and the part before it has 4 records, too "
            "few to give it 2 and keep 3",
        ),
        id="cannot-split-by-records",
    ),
    pytest.param(
        _BYTES_BODY,
        {"limits": _BYTES_LIMITS},
        Problem(
            "file",
            "cannot be split into parts within the limits: line 4 would make a job of 1 "
            "record, fewer than the 2 a job needs, and taking 1 from the part before would "
            "make it 200 bytes, over the 190-byte limit",
        ),
        id="cannot-split-by-bytes",
    ),
    pytest.param(
        GOOD,
        {"invocation_type": "Batch"},
        Problem(
            INVOCATION_TYPE_FIELD,
            "'Batch' is not a batch invocation type; use InvokeModel or Converse",
        ),
        id="unknown-invocation-type",
    ),
    pytest.param(
        _with_id({"system": [{"text": SECRET}]}),
        {"invocation_type": "Converse"},
        Problem("line 1", "modelInput.messages is missing; Converse needs a non-empty array"),
        id="converse-without-messages",
    ),
    pytest.param(
        _with_id({"messages": []}),
        {"invocation_type": "Converse"},
        Problem("line 1", "modelInput.messages must be a non-empty array, got an empty array"),
        id="converse-messages-empty",
    ),
    pytest.param(
        _with_id({"messages": [{"role": "system", "content": [{"text": SECRET}]}]}),
        {"invocation_type": "Converse"},
        Problem("line 1", 'modelInput.messages[0].role must be "user" or "assistant"'),
        id="converse-wrong-role",
    ),
    pytest.param(
        _with_id({"messages": [*CONVERSE_OK["messages"], {"role": "user", "content": SECRET}]}),
        {"invocation_type": "Converse"},
        Problem("line 1", "modelInput.messages[1].content must be an array, got a string"),
        id="converse-content-not-a-list",
    ),
    pytest.param(
        _with_id({**CONVERSE_OK, "inferenceConfig": [SECRET]}),
        {"invocation_type": "Converse"},
        Problem("line 1", "modelInput.inferenceConfig must be an object, got an array"),
        id="converse-inference-config-not-an-object",
    ),
    pytest.param(
        _with_id({**CLAUDE_OK, "messages": [{"role": "user", "content": SECRET}]}),
        {"invocation_type": "Converse"},
        Problem(
            "line 1",
            "modelInput.anthropic_version is not a member of a Converse request; it belongs to "
            "an InvokeModel body for Anthropic Claude (Messages API): upload such records with "
            "invocation-type InvokeModel",
        ),
        id="converse-given-an-invoke-model-body",
    ),
    pytest.param(
        _with_id({"messages": [{"role": "user", "content": [{"type": "text", "text": SECRET}]}]}),
        {"invocation_type": "Converse"},
        Problem("line 1", "modelInput.messages[0].content[0].type is not a member of ContentBlock"),
        id="converse-unknown-nested-member",
    ),
    pytest.param(
        _with_id({"messages": [{"role": "user", "content": [{"text": SECRET, "image": {}}]}]}),
        {"invocation_type": "Converse"},
        Problem(
            "line 1",
            "modelInput.messages[0].content[0] sets text and image; ContentBlock takes exactly "
            "one member",
        ),
        id="converse-union-with-two-members",
    ),
    pytest.param(
        _with_id(_converse_image({"format": "bmp", "source": {"bytes": "QQ=="}})),
        {"invocation_type": "Converse"},
        Problem(
            "line 1",
            'modelInput.messages[0].content[0].image.format must be one of "png", "jpeg", '
            '"gif" or "webp"',
        ),
        id="converse-value-not-in-enum",
    ),
    pytest.param(
        _with_id(_converse_image({"format": "png", "source": {"bytes": SECRET}})),
        {"invocation_type": "Converse"},
        Problem(
            "line 1",
            "modelInput.messages[0].content[0].image.source.bytes must be a non-empty base64 "
            "string (A-Z, a-z, 0-9, + and /, padded with =)",
        ),
        id="converse-bytes-not-base64",
    ),
    pytest.param(
        _with_id({**CONVERSE_OK, "inferenceConfig": {"maxTokens": 0}}),
        {"invocation_type": "Converse"},
        Problem("line 1", "modelInput.inferenceConfig.maxTokens must be a positive integer, got 0"),
        id="converse-under-the-minimum",
    ),
    pytest.param(
        _with_id({"anthropic_version": "bedrock-2023-05-31", "messages": [{"text": SECRET}]}),
        {"model_id": CLAUDE},
        Problem(
            "line 1",
            "modelInput.max_tokens is missing; Anthropic Claude (Messages API) needs a positive "
            "integer",
        ),
        id="anthropic-without-max-tokens",
    ),
    pytest.param(
        _with_id({**CLAUDE_OK, "max_tokens": 0}),
        {"model_id": CLAUDE},
        Problem("line 1", "modelInput.max_tokens must be a positive integer, got 0"),
        id="anthropic-max-tokens-zero",
    ),
    pytest.param(
        _with_id({**CLAUDE_OK, "messages": [1]}),
        {"model_id": CLAUDE},
        Problem("line 1", "modelInput.messages[0] must be an object, got a number"),
        id="anthropic-message-not-an-object",
    ),
    pytest.param(
        _with_id({"prompt": SECRET}),
        {},
        Problem("line 1", "modelInput.inputText is missing; Amazon Titan needs a string"),
        id="titan-without-input-text",
    ),
    pytest.param(
        _with_id({"prompt": [SECRET]}),
        {"model_id": LLAMA},
        Problem("line 1", "modelInput.prompt must be a string, got an array"),
        id="llama-prompt-not-a-string",
    ),
    pytest.param(
        _with_id({"inputText": SECRET}),
        {"model_id": MISTRAL},
        Problem(
            "line 1",
            "modelInput needs 'prompt' (a string) or 'messages' (a non-empty array) for Mistral",
        ),
        id="mistral-without-prompt-or-messages",
    ),
]


@pytest.mark.parametrize(("body", "options", "expected"), BAD_INPUTS)
def test_bad_input_is_rejected_with_a_specific_reason(
    body: bytes, options: dict[str, Any], expected: Problem
) -> None:
    # When a bad file is planned
    with pytest.raises(InvalidInput) as raised:
        plan(body, **options)
    # Then exactly that problem is reported, and no record content is echoed
    assert raised.value.problems == [expected]
    assert raised.value.message == f"{expected.field}: {expected.reason}"
    assert SECRET not in raised.value.message


@pytest.mark.parametrize("seed", [1, 2])
def test_bad_inputs_are_found_whatever_the_chunking(seed: int) -> None:
    for case in BAD_INPUTS:
        body, options, expected = case.values
        assert isinstance(body, bytes) and isinstance(options, dict)
        with pytest.raises(InvalidInput) as raised:
            plan(random_chunks(body, seed), **options)
        assert raised.value.problems == [expected], case.id


def test_an_unknown_invocation_type_is_refused_before_reading_anything() -> None:
    def unread() -> Iterator[bytes]:
        raise AssertionError("the file was read")
        yield b""

    with pytest.raises(InvalidInput) as raised:
        plan(unread(), invocation_type="invokemodel")
    assert [p.field for p in raised.value.problems] == [INVOCATION_TYPE_FIELD]


def test_the_report_is_capped_and_counts_the_problems_not_shown() -> None:
    # Given 27 bad lines among good ones
    body = b"".join(titan(f"ok-{i}") + b'{"broken\n' for i in range(27))
    # When it is planned with the default cap of 20
    with pytest.raises(InvalidInput) as raised:
        plan(body, limits=BatchLimits(min_records_per_job=1))
    # Then the first 20 are listed, in line order, and the 7 others counted
    problems = raised.value.problems
    assert len(problems) == 21
    assert [p.field for p in problems[:20]] == [f"line {2 * i}" for i in range(1, 21)]
    assert problems[-1] == Problem("file", "7 more problems not shown")


def test_line_problems_come_before_count_problems() -> None:
    # A file with bad lines is reported for its lines, not for being short
    with pytest.raises(InvalidInput) as raised:
        plan(titan("a") + b"oops\n", limits=BatchLimits())
    assert [p.field for p in raised.value.problems] == ["line 2"]


def test_a_run_of_empty_lines_is_reported_line_by_line() -> None:
    with pytest.raises(InvalidInput) as raised:
        plan(titan("a") + b"\n\n\n" + titan("b"))
    assert raised.value.problems == [Problem(f"line {n}", "empty line") for n in (2, 3, 4)]


# Good inputs


def test_exactly_the_minimum_is_one_part() -> None:
    body = titan_records(100)
    batch = plan(body, limits=BatchLimits())
    assert batch == BatchPlan(100, len(body), (Part(1, 1, 100, 100, len(body)),))
    assert not batch.split


def test_crlf_line_endings_are_accepted_and_written_as_lf() -> None:
    # Given a file with Windows line endings
    body = titan_records(3).replace(b"\n", b"\r\n")
    # When it is planned and written
    batch = plan(body)
    sinks = write_all(body, batch)
    # Then sizes count the raw bytes and the part is written with \n endings
    assert batch.records == 3
    assert batch.bytes == len(body)
    assert bytes(sinks[0].data) == titan_records(3)


def test_trailing_blank_lines_are_ignored() -> None:
    body = titan_records(3) + b"\n  \r\n\t\n\n"
    batch = plan(body)
    assert batch.parts == (Part(1, 1, 3, 3, len(titan_records(3))),)
    assert bytes(write_all(body, batch)[0].data) == titan_records(3)


def test_a_missing_final_newline_is_counted_and_written() -> None:
    body = titan_records(3).rstrip(b"\n")
    batch = plan(body)
    assert batch.bytes == len(body) + 1
    assert bytes(write_all(body, batch)[0].data) == titan_records(3)


def test_unknown_top_level_keys_and_missing_record_ids_are_accepted() -> None:
    body = line({"modelInput": {"inputText": "a"}, "note": [1, 2]}) + line(
        {"recordId": "b", "modelInput": {"inputText": "b"}, "meta": {"x": None}}
    )
    assert plan(body).records == 2


@pytest.mark.parametrize(
    "chunking",
    [
        pytest.param(lambda body: chunked(body, iter(lambda: 1, 0)), id="one-byte-chunks"),
        pytest.param(lambda body: random_chunks(body, 7), id="random-chunks"),
        pytest.param(lambda body: [b"", body, b""], id="empty-chunks"),
    ],
)
def test_chunk_boundaries_inside_characters_and_crlf_change_nothing(chunking: Any) -> None:
    # Given multi-byte characters and CRLF endings
    body = b"".join(
        titan(f"é-{i}", "naïve café ✓ 😀") + titan(f"€-{i}", "日本語").replace(b"\n", b"\r\n")
        for i in range(3)
    )
    whole = plan(body)
    # When the same bytes arrive cut at every possible place
    cut = plan(chunking(body))
    # Then the plan and the written lines are the same
    assert cut == whole
    assert bytes(write_all(chunking(body), cut)[0].data) == body.replace(b"\r\n", b"\n")


def test_a_cr_at_the_end_of_a_chunk_belongs_to_its_line() -> None:
    body = titan("a").replace(b"\n", b"\r\n") + titan("b")
    first_cr = body.index(b"\r")
    chunks = [body[: first_cr + 1], body[first_cr + 1 :]]
    assert plan(chunks).bytes == len(body)
    assert bytes(write_all(chunks, plan(chunks))[0].data) == titan("a") + titan("b")


def test_records_exactly_at_the_limits_fit_one_part() -> None:
    # Given 10 records of 60 bytes and limits of exactly 10 records and 600 bytes
    body = b"".join(sized(f"r{i}", 60) for i in range(10))
    limits = BatchLimits(min_records_per_job=1, max_records_per_job=10, max_bytes_per_file=600)
    # Then it is one part, and one more record makes two
    assert plan(body, limits=limits).parts == (Part(1, 1, 10, 10, 600),)
    assert plan(body + sized("r10", 60), limits=limits).parts == (
        Part(1, 1, 10, 10, 600),
        Part(2, 11, 11, 1, 60),
    )


def test_a_single_line_exactly_at_the_byte_limit_is_accepted() -> None:
    limits = BatchLimits(min_records_per_job=1, max_bytes_per_job=80)
    assert plan(sized("a", 80), limits=limits).bytes == 80


def test_splits_by_records_and_tops_up_a_short_last_part() -> None:
    # Given 11 records, at most 5 per job and at least 3
    body = titan_records(11)
    limits = BatchLimits(min_records_per_job=3, max_records_per_job=5)
    # When it is planned
    batch = plan(body, limits=limits)
    # Then the greedy 5 + 5 + 1 becomes 5 + 3 + 3
    assert [(p.index, p.first_line, p.last_line, p.records) for p in batch.parts] == [
        (1, 1, 5, 5),
        (2, 6, 8, 3),
        (3, 9, 11, 3),
    ]
    assert batch.split
    assert sum(p.bytes for p in batch.parts) == batch.bytes == len(body)
    sinks = write_all(body, batch)
    assert b"".join(sink.data for sink in sinks) == body
    assert all(sink.closed and not sink.aborted for sink in sinks)
    assert [len(sink.data) for sink in sinks] == [p.bytes for p in batch.parts]


def test_a_part_cut_short_by_the_byte_limit_borrows_from_the_part_before() -> None:
    # Given small records, then two large ones that fill a job's bytes with too few records
    sizes = [60, 60, 60, 60, 60, 300, 180, 120, 120, 120]
    body = b"".join(sized(f"r{i}", size) for i, size in enumerate(sizes))
    limits = BatchLimits(min_records_per_job=3, max_records_per_job=5, max_bytes_per_job=540)
    # When it is planned
    batch = plan(body, limits=limits)
    # Then the middle part takes one record from the first to reach the minimum
    assert batch.parts == (
        Part(1, 1, 4, 4, 240),
        Part(2, 5, 7, 3, 540, borrowed=1),
        Part(3, 8, 10, 3, 360),
    )
    sinks = write_all(body, batch)
    assert b"".join(sink.data for sink in sinks) == body


def test_a_first_part_cut_short_by_the_byte_limit_cannot_borrow() -> None:
    body = sized("a", 60) + sized("b", 60) + sized("c", 60)
    limits = BatchLimits(min_records_per_job=2, max_bytes_per_job=100)
    with pytest.raises(InvalidInput) as raised:
        plan(body, limits=limits)
    assert raised.value.problems == [
        Problem(
            "file",
            "cannot be split into parts within the limits: line 1 would make a job of 1 "
            "record, fewer than the 2 a job needs, and line 2 would take it over the "
            "100-byte limit",
        )
    ]


def test_borrowed_records_must_not_repeat_record_ids() -> None:
    sizes = [60, 60, 60, 60, 60, 300, 180, 120, 120, 120]
    ids = ["r0", "r1", "r2", "r3", "same", "r5", "same", "r7", "r8", "r9"]
    body = b"".join(sized(i, size) for i, size in zip(ids, sizes, strict=True))
    limits = BatchLimits(min_records_per_job=3, max_records_per_job=5, max_bytes_per_job=540)
    with pytest.raises(InvalidInput) as raised:
        plan(body, limits=limits)
    assert raised.value.problems == [
        Problem("line 7", "'recordId' repeats line 5; both land in the same job after the split")
    ]


def test_splits_by_bytes() -> None:
    body = b"".join(sized(f"r{i}", 100) for i in range(7))
    limits = BatchLimits(min_records_per_job=2, max_bytes_per_job=300)
    batch = plan(body, limits=limits)
    assert [p.records for p in batch.parts] == [3, 2, 2]
    assert all(p.bytes <= 300 for p in batch.parts)


def test_record_ids_may_repeat_in_different_jobs() -> None:
    body = titan("a") + titan("b") + titan("a") + titan("b")
    batch = plan(body, limits=BatchLimits(min_records_per_job=2, max_records_per_job=2))
    assert [p.records for p in batch.parts] == [2, 2]


def test_valid_model_inputs_by_family() -> None:
    cases: list[tuple[str, str, dict[str, Any]]] = [
        (CLAUDE, "InvokeModel", CLAUDE_OK),
        ("anthropic.claude-3-haiku-20240307-v1:0", "InvokeModel", CLAUDE_OK),
        ("amazon.titan-embed-text-v2:0", "InvokeModel", {"inputText": "a"}),
        ("amazon.titan-embed-image-v1", "InvokeModel", {"inputImage": "base64"}),
        ("eu.amazon.nova-lite-v1:0", "InvokeModel", {"messages": [{"role": "user"}]}),
        ("amazon.nova-canvas-v1:0", "InvokeModel", {"taskType": "TEXT_IMAGE"}),
        (LLAMA, "InvokeModel", {"prompt": "hi"}),
        (MISTRAL, "InvokeModel", {"prompt": "hi"}),
        (MISTRAL, "InvokeModel", {"messages": [{"role": "user", "content": "hi"}]}),
        ("cohere.command-r-v1:0", "InvokeModel", {"anything": True}),
        ("anthropic.claude-3-haiku-20240307-v1:0", "Converse", CONVERSE_OK),
        (
            "meta.llama3-70b-instruct-v1:0",
            "Converse",
            {**CONVERSE_OK, "system": [{"text": "be brief"}], "inferenceConfig": {}},
        ),
    ]
    for model_id, invocation_type, model_input in cases:
        assert check_model_input(model_id, invocation_type, model_input) is None, model_id


@pytest.mark.parametrize(
    ("model_id", "model_input", "reason"),
    [
        (
            CLAUDE,
            {**CLAUDE_OK, "messages": [{}, SECRET]},
            "messages[1] must be an object, got a string",
        ),
        (
            "amazon.nova-lite-v1:0",
            {"messages": [[{}]]},
            "messages[0] must be an object, got an array",
        ),
        (MISTRAL, {"messages": [None]}, "messages[0] must be an object, got null"),
    ],
)
def test_the_messages_a_family_needs_must_be_objects(
    model_id: str, model_input: dict[str, Any], reason: str
) -> None:
    assert check_model_input(model_id, "InvokeModel", model_input) == f"modelInput.{reason}"


def test_a_bad_message_beside_a_good_prompt_is_not_needed() -> None:
    assert check_model_input(MISTRAL, "InvokeModel", {"prompt": "hi", "messages": [1]}) is None


def test_model_ids_are_read_through_profiles_and_arns() -> None:
    assert base_model_id("apac.anthropic.claude-3-haiku-20240307-v1:0") == (
        "anthropic.claude-3-haiku-20240307-v1:0"
    )
    assert base_model_id("global.anthropic.claude-sonnet-4-20250514-v1:0").startswith("anthropic")
    assert (
        base_model_id("arn:aws:bedrock:us-east-1::foundation-model/meta.llama3-8b-instruct-v1:0")
        == "meta.llama3-8b-instruct-v1:0"
    )
    arn = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.amazon.nova-pro-v1:0"
    family = family_of(arn)
    assert family is not None and family.name == "Amazon Nova"
    assert family_of("amazon.nova-reel-v1:0") is None
    assert family_of("some.future-model") is None
    assert INVOCATION_TYPES == ("InvokeModel", "Converse")
    with pytest.raises(ValueError, match="unknown invocation type"):
        check_model_input(TITAN, "Batch", {})


@pytest.mark.parametrize(
    "changes",
    [
        {"min_records_per_job": 0},
        {"max_problems": -1},
        {"max_bytes_per_job": True},
        {"max_records_per_file": 1.5},
        {"min_records_per_job": 11, "max_records_per_job": 10},
    ],
)
def test_limits_are_validated(changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"min_records_per_job|must be a positive integer"):
        BatchLimits(**changes)


def test_part_limits_are_the_smaller_of_file_and_job() -> None:
    limits = BatchLimits(
        min_records_per_job=1, max_records_per_file=10, max_records_per_job=20, max_bytes_per_job=99
    )
    assert (limits.part_records, limits.part_bytes) == (10, 99)


# Pass 2


def test_pass_two_checks_record_ids_of_the_last_part_again() -> None:
    # Given a plan whose last part holds a repeated record id
    body = titan("a") + titan("b") + titan("c") + titan("c")
    size = len(titan("a"))
    batch = BatchPlan(
        4, 4 * size, (Part(1, 1, 2, 2, 2 * size), Part(2, 3, 4, 2, 2 * size, borrowed=1))
    )
    sinks: list[MemorySink] = []
    # When it is written
    with pytest.raises(InvalidInput) as raised:
        write_parts([body], batch, opener(sinks))
    # Then the first part is complete, the second aborted
    assert raised.value.problems == [
        Problem("line 4", "'recordId' repeats line 3; both land in job 2 after the split")
    ]
    assert sinks[0].closed and not sinks[0].aborted
    assert sinks[1].aborted and not sinks[1].closed


def test_a_failing_sink_is_aborted() -> None:
    body = titan_records(3)
    sinks: list[MemorySink] = []
    with pytest.raises(OSError, match="disk full"):
        write_parts([body], plan(body), opener(sinks, fail_on_write=True))
    assert sinks[0].aborted


@pytest.mark.parametrize(
    "second_read",
    [
        pytest.param(titan_records(2), id="shorter"),
        pytest.param(titan_records(3).replace(b"hello", b"howdy!"), id="different-bytes"),
    ],
)
def test_input_that_changed_since_planning_is_refused(second_read: bytes) -> None:
    batch = plan(titan_records(3))
    sinks: list[MemorySink] = []
    with pytest.raises(InputChanged):
        write_parts([second_read], batch, opener(sinks))
    assert sinks[-1].aborted


# Memory


def _generated(records: int) -> Iterator[bytes]:
    batch: list[bytes] = []
    for i in range(records):
        batch.append(b'{"recordId":"r%d","modelInput":{"inputText":"hello %d"}}\n' % (i, i))
        if len(batch) == 2000:
            yield b"".join(batch)
            batch.clear()
    yield b"".join(batch)


def _peak_planning(records: int, limits: BatchLimits) -> tuple[int, BatchPlan]:
    tracemalloc.start()
    try:
        batch = plan_batch(
            _generated(records), model_id=TITAN, invocation_type="InvokeModel", limits=limits
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, batch


def test_memory_is_bounded_by_the_job_limits_not_the_file() -> None:
    # Given parts of 2,000 records (the service allows 50,000; smaller keeps this fast)
    limits = BatchLimits(max_records_per_job=2_000)
    # When 6,000 and then five times as many records stream through
    small_peak, small = _peak_planning(6_000, limits)
    large_peak, large = _peak_planning(30_000, limits)
    # Then both are planned, and five times the input needs no more memory
    assert [p.records for p in small.parts] == [2_000] * 3
    assert [p.records for p in large.parts] == [2_000] * 15
    assert large_peak < 2 * 1024**2
    assert large_peak / small_peak < 1.3
