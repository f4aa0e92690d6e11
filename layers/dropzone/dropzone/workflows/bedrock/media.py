"""The media a multimodal record names (`s3Location`), staged beside the record.

Bedrock reads a batch job's input folder, and expects the media its records name (Amazon
Nova's images, videos and documents) in that folder too. So the media a record names are
copied into its part's folder, and the record is staged with its `s3Location.uri` pointing
at the copy. A record may name only objects of its own upload's folder in the drop zone:
an upload cannot make Dropzone read, or hand Bedrock, anything else.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from dropzone.adapters.s3 import S3, ObjectMissing, parse_s3_uri
from dropzone.errors import InvalidInput
from dropzone.models.jobs import SourceObject
from dropzone.workflows.bedrock.staging import MEDIA_FOLDER, media_uris, with_media_moved

# Images, videos and PDF documents, which Amazon Nova reads by s3Location: objects of these
# types under the batch prefix are media for the records beside them, not batch inputs.
# (Any other file that is not .jsonl is still rejected as an input.)
MEDIA_EXTENSIONS = frozenset(
    {
        ".png", ".jpeg", ".jpg", ".gif", ".webp",
        ".mp4", ".mov", ".mkv", ".webm", ".flv", ".mpeg", ".mpg", ".wmv", ".3gp",
        ".pdf",
    }
)  # fmt: skip


def is_media(key: str) -> bool:
    name = key.rsplit("/", 1)[-1].lower()
    return "." in name and name[name.rindex(".") :] in MEDIA_EXTENSIONS


def _dumps(record: object) -> bytes:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode()


@dataclass
class MediaStager:
    """Copies what staged records name into their part's folder, once per folder."""

    s3: S3
    source: SourceObject
    results_bucket: str
    _copied: set[str] = field(default_factory=set)

    @property
    def upload_folder(self) -> str:
        return self.source.key.rsplit("/", 1)[0] + "/"

    def stage(self, staged: bytes, line: int, folder: str) -> bytes:
        """The staged record with its media copied into `folder`; InvalidInput naming the
        line when it names an object outside its upload's folder, or one that is missing."""
        record = json.loads(staged)
        uris = media_uris(record["modelInput"])
        if not uris:
            return staged
        moved: dict[str, str] = {}
        where_allowed = f"s3://{self.source.bucket}/{self.upload_folder}"
        for where, uri in uris:
            try:
                bucket, key = parse_s3_uri(uri)
            except ValueError:
                bucket, key = "", ""
            if bucket != self.source.bucket or not key.startswith(self.upload_folder):
                raise InvalidInput.single(
                    f"line {line}",
                    f"{where} names an object outside this upload's folder: a record's media "
                    f"must sit beside its file, under {where_allowed}",
                )
            target = f"{folder}{MEDIA_FOLDER}{key[len(self.upload_folder) :]}"
            if target not in self._copied:
                try:
                    self.s3.copy(bucket, key, self.results_bucket, target)
                except ObjectMissing:
                    raise InvalidInput.single(
                        f"line {line}", f"{where} names {uri[:200]}, which does not exist"
                    ) from None
                self._copied.add(target)
            moved[uri] = f"s3://{self.results_bucket}/{target}"
        record["modelInput"] = with_media_moved(record["modelInput"], moved)
        return _dumps(record)


def restage(s3: S3, staged: bytes, folder: str, results_bucket: str, copied: set[str]) -> bytes:
    """A staged record for another job: the media it names (in an earlier job's folder)
    copied into `folder` too."""
    record = json.loads(staged)
    moved: dict[str, str] = {}
    for _where, uri in media_uris(record["modelInput"]):
        bucket, key = parse_s3_uri(uri)
        relative = key.partition(f"/{MEDIA_FOLDER}")[2]
        target = f"{folder}{MEDIA_FOLDER}{relative}"
        if target not in copied:
            s3.copy(bucket, key, results_bucket, target)
            copied.add(target)
        moved[uri] = f"s3://{results_bucket}/{target}"
    record["modelInput"] = with_media_moved(record["modelInput"], moved)
    return _dumps(record)
