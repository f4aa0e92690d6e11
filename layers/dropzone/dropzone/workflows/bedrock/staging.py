"""How a validated input line is staged for Bedrock, and the index of the upload's records.

Each staged record carries Dropzone's own record id, its input line number
(`results.staged_id`), so that every answer, whichever job gives it, maps back to its
line; the record's `modelInput` is copied byte for byte. The record's own `recordId`, if it
has one, goes to the upload's record index (`RECORDS_NAME`, one line per record:
`[line]` or `[line, "its recordId"]`), from which the result file gives each record back
its own id.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from json.decoder import scanstring  # type: ignore[attr-defined]
from typing import Any

STAGED_ID_DIGITS = 11
RECORDS_NAME = "records.jsonl"
# what staging may add to a line: `{"recordId":"<11 digits>","modelInput":` and `}`
# against the shortest original, `{"modelInput":` and `}`
STAGED_OVERHEAD_BYTES = len('{"recordId":"00000000000","modelInput":}') - len('{"modelInput":}')

_DECODER = json.JSONDecoder()
_SPACE = " \t\n\r"


def staged_id(line: int) -> str:
    """The record id Dropzone stages an input line under: its line number, 11 digits (the
    length and alphabet of the ids Bedrock gives records that have none)."""
    return f"{line:0{STAGED_ID_DIGITS}d}"


def line_of(record_id: object) -> int | None:
    """The input line a staged record id stands for; None for any other id."""
    if (
        not isinstance(record_id, str)
        or len(record_id) != STAGED_ID_DIGITS
        or not record_id.isascii()
        or not record_id.isdigit()
    ):
        return None
    return int(record_id)


def staged_line(content: bytes, line: int) -> tuple[bytes, str | None]:
    """The staged form of a validated record, and the record's own recordId (or None)."""
    text = content.decode("utf-8")
    record_id: str | None = None
    model_input: str | None = None
    for key, start, end in _members(text):
        if key == "recordId":
            record_id = json.loads(text[start:end])
        elif key == "modelInput":
            model_input = text[start:end]
    if model_input is None:  # validation guarantees it: a staged record needs one
        raise ValueError(f"line {line} has no modelInput")
    staged = f'{{"recordId":"{staged_id(line)}","modelInput":{model_input}}}'
    return staged.encode("utf-8"), record_id


MEDIA_FOLDER = "media/"
_LOCATION = b"s3Location"


def media_uris(model_input: Any, path: str = "modelInput") -> list[tuple[str, str]]:
    """(where, uri) of every `s3Location.uri` in a record's modelInput: the media a
    multimodal record (an image, video or document of Amazon Nova, or of Converse) names."""
    found: list[tuple[str, str]] = []
    if isinstance(model_input, dict):
        location = model_input.get("s3Location")
        if isinstance(location, dict) and isinstance(location.get("uri"), str):
            found.append((f"{path}.s3Location.uri", location["uri"]))
        for key, value in model_input.items():
            if key != "s3Location":
                found.extend(media_uris(value, f"{path}.{key}"))
    elif isinstance(model_input, list):
        for index, value in enumerate(model_input):
            found.extend(media_uris(value, f"{path}[{index}]"))
    return found


def with_media_moved(model_input: Any, moved: Mapping[str, str]) -> Any:
    """The modelInput with each `s3Location.uri` replaced by where `moved` says its object
    now is (and no `bucketOwner`: the copies are the stack's own)."""
    if isinstance(model_input, dict):
        copy = {key: with_media_moved(value, moved) for key, value in model_input.items()}
        location = copy.get("s3Location")
        if isinstance(location, dict) and location.get("uri") in moved:
            copy["s3Location"] = {"uri": moved[location["uri"]]}
        return copy
    if isinstance(model_input, list):
        return [with_media_moved(value, moved) for value in model_input]
    return model_input


def names_media(content: bytes) -> bool:
    """Whether a line may name media (cheap: most lines never do)."""
    return _LOCATION in content


def index_line(line: int, record_id: str | None) -> bytes:
    """The record index's line for an input record."""
    entry: list[object] = [line] if record_id is None else [line, record_id]
    return json.dumps(entry, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def read_index(lines: Iterable[bytes]) -> Iterator[tuple[int, str | None]]:
    """(line, the record's own recordId or None) for each line of a record index."""
    for raw in lines:
        if not raw.strip():
            continue
        entry = json.loads(raw)
        yield int(entry[0]), (str(entry[1]) if len(entry) > 1 else None)


def _members(text: str) -> Iterator[tuple[str, int, int]]:
    """(key, start, end) of each top-level member of a JSON object: its value is
    text[start:end], exactly as written."""
    index = _skip(text, 0)
    if text[index] != "{":
        raise ValueError("not a JSON object")
    index = _skip(text, index + 1)
    if text[index] == "}":
        return
    while True:
        key, index = scanstring(text, index + 1)
        index = _skip(text, index)
        index = _skip(text, index + 1)  # past ':'
        _value, end = _DECODER.raw_decode(text, index)
        yield key, index, end
        index = _skip(text, end)
        if text[index] == "}":
            return
        index = _skip(text, index + 1)  # past ','


def _skip(text: str, index: int) -> int:
    while index < len(text) and text[index] in _SPACE:
        index += 1
    return index
