"""Reading Bedrock's outputs line by line: line numbers across chunks, and reasons that say
what is wrong without quoting the content."""

from __future__ import annotations

import pytest

from dropzone.workflows.bedrock.outputs import (
    OutputTally,
    UnreadableOutput,
    decode_manifest,
    decode_output_line,
    numbered_lines,
)

SECRET = "private-text-7f3a"


def test_lines_keep_their_numbers_across_chunks_and_blank_lines() -> None:
    chunks = [b'{"a": 1}\n\n{"b"', b": 2}\r\n", b"   \n", b'{"c": 3}']
    assert list(numbered_lines(chunks)) == [
        (1, b'{"a": 1}'),
        (3, b'{"b": 2}\r'),
        (5, b'{"c": 3}'),
    ]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"{'modelOutput': '%s'}", "not valid JSON: Expecting property name"),
        (b'{"modelOutput": "%s"', "not valid JSON: Expecting ',' delimiter"),
        (b'{"modelOutput": "\xff%s"}', "not valid UTF-8: invalid start byte at byte offset 17"),
        (b'"%s"', "expected a JSON object, got a string"),
        (b'{"recordId": 7, "x": "%s"}', "'recordId' must be a string, got a number"),
        (b"[" * 100_000 + b'"%s"', "not valid JSON"),
    ],
)
def test_an_unreadable_line_is_refused_with_a_reason_free_of_its_content(
    line: bytes, reason: str
) -> None:
    with pytest.raises(UnreadableOutput) as refused:
        decode_output_line(line.replace(b"%s", SECRET.encode()))
    assert refused.value.reason.startswith(reason)
    assert SECRET not in refused.value.reason


def test_a_manifest_keeps_the_fields_it_can_read() -> None:
    counts, refused = decode_manifest(
        '{"totalRecordCount": 10, "errorRecordCount": 1.5, "inputTokenCount": true}'
    )
    assert counts == {"total_records": 10}
    assert refused == [
        "'errorRecordCount' must be a whole number, got a decimal number",
        "'inputTokenCount' must be a whole number, got a boolean",
    ]
    with pytest.raises(UnreadableOutput, match="expected a JSON object, got a number"):
        decode_manifest("3")


def test_the_lines_give_the_counts_only_when_needed() -> None:
    readable = OutputTally(succeeded=9, errored=1)
    assert readable.counts({"succeeded_records": 9, "failed_records": 1}) == {}
    assert readable.counts({}) == {"succeeded_records": 9, "failed_records": 1}
    unreadable = OutputTally(succeeded=8, errored=1, unreadable=1)
    assert unreadable.counts({"succeeded_records": 9, "failed_records": 1}) == {
        "succeeded_records": 8,
        "failed_records": 2,
        "unreadable_records": 1,
    }
    assert OutputTally().counts({}) == {}
