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


def test_the_media_a_record_names_are_found_at_any_depth_and_moved() -> None:
    from dropzone.workflows.bedrock.media import is_media
    from dropzone.workflows.bedrock.staging import media_uris, with_media_moved

    image = {"s3Location": {"uri": "s3://b/f/a.jpg", "bucketOwner": "1"}}
    video = {"s3Location": {"uri": "s3://b/f/v.mp4"}}
    model_input = {
        "messages": [{"content": [{"image": {"source": image}}, {"video": {"source": video}}]}]
    }
    assert media_uris(model_input) == [
        ("modelInput.messages[0].content[0].image.source.s3Location.uri", "s3://b/f/a.jpg"),
        ("modelInput.messages[0].content[1].video.source.s3Location.uri", "s3://b/f/v.mp4"),
    ]
    moved = with_media_moved(model_input, {"s3://b/f/a.jpg": "s3://r/p/media/a.jpg"})
    content = moved["messages"][0]["content"]
    assert content[0]["image"]["source"] == {"s3Location": {"uri": "s3://r/p/media/a.jpg"}}
    assert content[1] == model_input["messages"][0]["content"][1]  # not moved: as it was
    assert model_input["messages"][0]["content"][0]["image"]["source"] is image  # untouched
    assert [is_media(key) for key in ("f/a.JPG", "f/v.mp4", "f/in.jsonl", "f/x.csv")] == [
        True,
        True,
        False,
        False,
    ]
