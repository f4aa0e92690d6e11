"""Staging a validated record: Dropzone's record id, the modelInput byte for byte, the
record's own id kept for the result file."""

from __future__ import annotations

import json

import pytest

from dropzone.workflows.bedrock.staging import (
    STAGED_OVERHEAD_BYTES,
    index_line,
    read_index,
    staged_line,
)


@pytest.mark.parametrize(
    ("content", "own_id", "model_input"),
    [
        (b'{"modelInput": {"a": 1}}', None, b'{"a": 1}'),
        (b'{"recordId": "r-1", "modelInput": {"a": 1e5}}', "r-1", b'{"a": 1e5}'),
        (b' { "modelInput" :\t[1, 2.50] , "recordId" : "\\u00e9t\\u00e9" } ', "été", b"[1, 2.50]"),
        (
            '{"recordId":"x","modelInput":{"recordId":"inner","t":"é"}}'.encode(),
            "x",
            '{"recordId":"inner","t":"é"}'.encode(),
        ),
    ],
)
def test_a_staged_record_has_dropzones_id_and_the_model_input_as_written(
    content: bytes, own_id: str | None, model_input: bytes
) -> None:
    staged, record_id = staged_line(content, 42)
    assert record_id == own_id
    assert staged == b'{"recordId":"00000000042","modelInput":' + model_input + b"}"
    assert json.loads(staged)["modelInput"] == json.loads(content)["modelInput"]


def test_staging_adds_at_most_the_stated_overhead() -> None:
    shortest = b'{"modelInput":{}}'
    staged, _ = staged_line(shortest, 99_999_999_999)
    assert len(staged) - len(shortest) == STAGED_OVERHEAD_BYTES
    longer = b'{"recordId": "a", "modelInput": {}}'
    assert len(staged_line(longer, 1)[0]) < len(longer) + STAGED_OVERHEAD_BYTES


def test_the_record_index_gives_each_line_its_own_id_back() -> None:
    lines = [index_line(1, "a"), index_line(3, None), index_line(4, 'q"uote')]
    assert list(read_index(lines)) == [(1, "a"), (3, None), (4, 'q"uote')]
