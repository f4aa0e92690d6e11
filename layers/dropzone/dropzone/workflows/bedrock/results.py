"""One result file per Bedrock upload: every input record once, in input order, with its
model output or its final error, whichever of the upload's jobs answered it.

Bedrock writes each job's answers in an order of its own, and one upload's records may be
answered by several jobs (its parts, then retry rounds). Every staged record carries an id
that is its input line number (`staged_id`), so each answer maps back to its line. The
merge spools each usable answer once to a local file and keeps, for each input line, only
where its answer is: memory is `BYTES_PER_LINE` bytes per input line plus one answer,
whatever the size of the outputs; the spool needs at most the size of the answers.

A success is final. Of two errors, the later round's is kept. A line no job answered ends
with the error `NotAnswered`.
"""

from __future__ import annotations

import json
from array import array
from collections.abc import Iterable
from dataclasses import dataclass
from typing import IO, Any, Protocol

from dropzone.workflows.bedrock.outputs import UnreadableOutput, decode_output_line
from dropzone.workflows.bedrock.staging import line_of

NOT_ANSWERED = "NotAnswered"
UNREADABLE = "UnreadableOutput"
# offset (8), length (4), attempts (1), latest round (1), answered (1), succeeded (1)
BYTES_PER_LINE = 16
_NOT_ANSWERED_CODE = b'"code":"NotAnswered"'
_NO_ROUND = 255
_MAX_ATTEMPTS = 254


class ResultSink(Protocol):
    def write(self, data: bytes) -> None: ...


@dataclass(frozen=True)
class ResultCounts:
    """What the result file holds: records with their output (`succeeded`), with an error
    (`failed`), and with no answer from any job (`not_answered`, error code NotAnswered)."""

    records: int
    succeeded: int
    failed: int
    not_answered: int

    def as_counts(self) -> dict[str, int]:
        return {
            "result_records": self.records,
            "succeeded_records": self.succeeded,
            "failed_records": self.failed,
            "not_answered_records": self.not_answered,
        }


class Answers:
    """The answers of an upload's jobs, gathered in any order, written out in input order.

    `lines` is the number of the upload's last input line. Feed each job's output lines
    with `add(line, round_number)`, rounds in increasing order (the first jobs are round 0),
    then call `write` once.
    """

    def __init__(self, lines: int, spool: IO[bytes]) -> None:
        self._lines = lines
        self._spool = spool
        self._offset = array("q", [0]) * (lines + 1)
        self._length = array("I", [0]) * (lines + 1)
        self._attempts = bytearray(lines + 1)
        self._round = bytearray([_NO_ROUND]) * (lines + 1)
        self._answered = bytearray(lines + 1)
        self._succeeded = bytearray(lines + 1)

    def add(self, output_line: bytes, round_number: int) -> str | None:
        """Take one output line of a job of round `round_number`. Returns why the line could
        not be used (not decodable, or not the answer to a staged record), else None."""
        try:
            record = decode_output_line(output_line)
        except UnreadableOutput as problem:
            return problem.reason
        line = line_of(record.get("recordId"))
        if line is None or not 1 <= line <= self._lines:
            return "its 'recordId' is not one Dropzone staged for this upload"
        error = record.get("error")
        if error is None and "modelOutput" in record:
            payload = b'"modelOutput":' + _dumps(record["modelOutput"])
            succeeded = True
        else:
            payload = _error_payload(error)
            succeeded = False
        self._keep(line, round_number, payload, succeeded)
        return None

    def add_error(self, line: int, round_number: int, code: str, message: str) -> None:
        """A staged record that a job of round `round_number` held but did not answer (or
        whose answer could not be read) gets this error for that round."""
        if 1 <= line <= self._lines:
            payload = _dumps({"code": code, "message": message})
            self._keep(line, round_number, b'"error":' + payload, succeeded=False)

    def answered_in(self, line: int, round_number: int) -> bool:
        """Whether a job of round `round_number` answered the line."""
        return bool(self._answered[line]) and self._round[line] == round_number

    def retryable_lines(self, retryable: Any) -> list[int]:
        """The lines whose kept answer is an error `retryable(code)` says may succeed on
        another try, or that no job answered."""
        found = []
        for line in range(1, self._lines + 1):
            if self._succeeded[line]:
                continue
            if not self._answered[line]:
                found.append(line)
                continue
            error = json.loads(self._read(line)[len(b'"error":') :])
            if retryable(error.get("code")):
                found.append(line)
        return found

    def write(self, inputs: Iterable[tuple[int, str | None]], sink: ResultSink) -> ResultCounts:
        """One result line per input record, in the order of `inputs`: (line number, the
        record's own recordId or None)."""
        records = succeeded = failed = not_answered = 0
        for line, record_id in inputs:
            records += 1
            head = b'{"line":%d,' % line
            if record_id is not None:
                head += b'"recordId":' + _dumps(record_id) + b","
            if 1 <= line <= self._lines and self._answered[line]:
                attempts = self._attempts[line]
                payload = self._read(line)
                if self._succeeded[line]:
                    succeeded += 1
                    sink.write(head + payload + b"}\n")
                    continue
                if _NOT_ANSWERED_CODE in payload:
                    not_answered += 1
                else:
                    failed += 1
                sink.write(head + payload[:-1] + b',"attempts":%d}}\n' % attempts)
                continue
            not_answered += 1
            error = {"code": NOT_ANSWERED, "message": "no job answered this record"}
            sink.write(head + b'"error":' + _dumps({**error, "attempts": 0}) + b"}\n")
        return ResultCounts(records, succeeded, failed, not_answered)

    def _keep(self, line: int, round_number: int, payload: bytes, succeeded: bool) -> None:
        if self._succeeded[line]:
            return  # a success is final
        if self._round[line] != round_number:
            self._round[line] = round_number
            self._attempts[line] = min(self._attempts[line] + 1, _MAX_ATTEMPTS)
        elif self._answered[line] and not succeeded:
            return  # the round answered this line already: its first answer stands
        self._spool.seek(0, 2)
        self._offset[line] = self._spool.tell()
        self._length[line] = len(payload)
        self._spool.write(payload)
        self._answered[line] = 1
        self._succeeded[line] = 1 if succeeded else 0

    def _read(self, line: int) -> bytes:
        self._spool.seek(self._offset[line])
        return self._spool.read(self._length[line])


def _error_payload(error: Any) -> bytes:
    """`"error":{"code": ..., "message": ...}` from Bedrock's `{errorCode, errorMessage}`."""
    if not isinstance(error, dict):
        error = {}
    code = error.get("errorCode")
    message = error.get("errorMessage")
    return b'"error":' + _dumps(
        {
            "code": code if isinstance(code, int | str) and not isinstance(code, bool) else None,
            "message": message if isinstance(message, str) else "Bedrock gave no message",
        }
    )


def _dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
