"""Merging an upload's answers into one result file: input order, one line per record,
successes final, later errors over earlier ones, and no line twice whatever the order and
repetition of the answers."""

from __future__ import annotations

import io
import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dropzone.workflows.bedrock.results import BYTES_PER_LINE, NOT_ANSWERED, Answers
from dropzone.workflows.bedrock.staging import line_of, staged_id


class Sink:
    def __init__(self) -> None:
        self.buffer = io.BytesIO()

    def write(self, data: bytes) -> None:
        self.buffer.write(data)

    def lines(self) -> list[dict[str, object]]:
        return [json.loads(line) for line in self.buffer.getvalue().splitlines()]


def ok(line: int, text: str = "") -> bytes:
    output = {"content": [{"text": text or f"answer {line}"}]}
    return json.dumps(
        {"recordId": staged_id(line), "modelInput": {"x": 1}, "modelOutput": output}
    ).encode()


def failed(line: int, code: int = 429, message: str = "Too many requests") -> bytes:
    error = {"errorCode": code, "errorMessage": message}
    return json.dumps({"recordId": staged_id(line), "modelInput": {}, "error": error}).encode()


def test_staged_ids_are_eleven_digits_and_map_back_to_their_line() -> None:
    assert staged_id(42) == "00000000042"
    assert line_of(staged_id(42)) == 42
    for other in ("42", "0000000004A", "٠٠٠٠٠٠٠٠٠٤٢", 42, None, "000000000042"):
        assert line_of(other) is None


def test_answers_come_out_in_input_order_with_the_users_own_ids() -> None:
    answers = Answers(4, io.BytesIO())
    for output in (ok(3), failed(1, 400, "Malformed input request"), ok(2)):
        assert answers.add(output, round_number=0) is None
    sink = Sink()
    counts = answers.write([(1, "a"), (2, None), (3, "c"), (4, "d")], sink)
    assert sink.lines() == [
        {
            "line": 1,
            "recordId": "a",
            "error": {"code": 400, "message": "Malformed input request", "attempts": 1},
        },
        {"line": 2, "modelOutput": {"content": [{"text": "answer 2"}]}},
        {"line": 3, "recordId": "c", "modelOutput": {"content": [{"text": "answer 3"}]}},
        {
            "line": 4,
            "recordId": "d",
            "error": {
                "code": NOT_ANSWERED,
                "message": "no job answered this record",
                "attempts": 0,
            },
        },
    ]
    assert counts.as_counts() == {
        "result_records": 4,
        "succeeded_records": 2,
        "failed_records": 1,
        "not_answered_records": 1,
    }


def test_a_success_is_final_and_a_later_rounds_error_replaces_an_earlier_one() -> None:
    answers = Answers(2, io.BytesIO())
    answers.add(failed(1, 429), round_number=0)
    answers.add(ok(1), round_number=1)
    answers.add(failed(1, 500), round_number=2)  # cannot undo the success
    answers.add(failed(2, 429), round_number=0)
    answers.add(failed(2, 408, "Model timed out"), round_number=1)
    sink = Sink()
    answers.write([(1, None), (2, None)], sink)
    first, second = sink.lines()
    assert "modelOutput" in first
    assert second["error"] == {"code": 408, "message": "Model timed out", "attempts": 2}


def test_lines_that_are_not_answers_to_staged_records_are_refused_with_a_reason() -> None:
    answers = Answers(2, io.BytesIO())
    assert answers.add(b"{'recordId': 'x'}", 0) is not None
    foreign = json.dumps({"recordId": "user-7", "modelOutput": {}}).encode()
    assert answers.add(foreign, 0) == "its 'recordId' is not one Dropzone staged for this upload"
    assert answers.add(ok(3), 0) is not None  # past the upload's last line
    sink = Sink()
    assert answers.write([(1, None), (2, None)], sink).not_answered == 2


def test_an_unreadable_answer_counts_as_a_failed_attempt() -> None:
    answers = Answers(1, io.BytesIO())
    answers.add_error(1, 0, "UnreadableOutput", "not valid JSON")
    assert answers.answered_in(1, 0) and not answers.answered_in(1, 1)
    sink = Sink()
    answers.write([(1, None)], sink)
    assert sink.lines()[0]["error"] == {
        "code": "UnreadableOutput",
        "message": "not valid JSON",
        "attempts": 1,
    }


def test_retryable_lines_are_the_retryable_errors_and_the_unanswered() -> None:
    answers = Answers(4, io.BytesIO())
    answers.add(ok(1), 0)
    answers.add(failed(2, 429), 0)
    answers.add(failed(3, 400), 0)
    assert answers.retryable_lines(lambda code: code in {429, 500}) == [2, 4]


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    lines=st.integers(1, 40),
    rounds=st.integers(1, 4),
)
def test_any_order_and_repetition_of_answers_gives_each_line_once(
    seed: int, lines: int, rounds: int
) -> None:
    rng = random.Random(seed)
    outputs: list[tuple[int, bytes]] = []
    final_success: set[int] = set()
    for round_number in range(rounds):
        for line in range(1, lines + 1):
            if rng.random() < 0.2:
                continue  # never answered in this round
            if rng.random() < 0.5:
                outputs.append((round_number, ok(line)))
                final_success.add(line)
            else:
                outputs.append((round_number, failed(line)))
    duplicated = outputs + rng.sample(outputs, k=len(outputs) // 3)
    # within a round any order; rounds in increasing order
    duplicated.sort(key=lambda item: (item[0], rng.random()))
    answers = Answers(lines, io.BytesIO())
    for round_number, output in duplicated:
        answers.add(output, round_number)
    sink = Sink()
    counts = answers.write([(line, None) for line in range(1, lines + 1)], sink)
    written = sink.lines()
    assert [entry["line"] for entry in written] == list(range(1, lines + 1))
    assert {entry["line"] for entry in written if "modelOutput" in entry} == final_success
    assert counts.records == lines
    for entry in written:
        if "error" in entry:
            assert isinstance(entry["error"], dict)
            assert 0 <= int(entry["error"]["attempts"]) <= rounds


@pytest.mark.parametrize("lines", [0, 1, 50_000])
def test_memory_per_line_is_the_stated_bound(lines: int) -> None:
    answers = Answers(lines, io.BytesIO())
    held = sum(
        len(part) * part.itemsize if hasattr(part, "itemsize") else len(part)
        for part in (
            answers._offset,
            answers._length,
            answers._attempts,
            answers._round,
            answers._answered,
            answers._succeeded,
        )
    )
    assert held <= BYTES_PER_LINE * (lines + 1)
