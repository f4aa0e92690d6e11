"""S3 "Object Created" events as EventBridge delivers them (and as moto emits them)."""

from __future__ import annotations

from urllib.parse import unquote_plus

from pydantic import AliasChoices, ConfigDict, Field

from dropzone.errors import InvalidInput
from dropzone.models.base import Model
from dropzone.models.jobs import SourceObject


class _Bucket(Model):
    name: str


class _Object(Model):
    key: str
    size: int | None = None
    etag: str | None = Field(default=None, validation_alias=AliasChoices("etag", "eTag"))
    version_id: str | None = Field(default=None, validation_alias=AliasChoices("version-id"))
    sequencer: str | None = None


class _Detail(Model):
    bucket: _Bucket
    object: _Object
    reason: str | None = None


class ObjectCreatedEvent(Model):
    """The fields Dropzone needs; unknown fields are ignored."""

    model_config = ConfigDict(populate_by_name=True)

    id: str | None = None
    source: str
    detail_type: str = Field(validation_alias=AliasChoices("detail-type", "detail_type"))
    detail: _Detail

    def source_object(self) -> SourceObject:
        version = self.detail.object.version_id
        return SourceObject(
            bucket=self.detail.bucket.name,
            key=self.detail.object.key,
            version_id=None if version in (None, "", "null") else version,
            etag=(self.detail.object.etag or "").strip('"') or None,
            size=self.detail.object.size,
        )


def key_parts(key: str, prefix: str, *, layout: str, min_parts: int) -> list[str]:
    """The segments of `key` below `prefix`. A key outside the prefix, or with fewer than
    `min_parts` non-empty segments (`layout` shows the shape expected), is bad input."""
    if not key.startswith(prefix):
        raise InvalidInput.single("key", f"{key[:200]!r} is not under the {prefix!r} prefix")
    parts = key[len(prefix) :].split("/")
    if len(parts) < min_parts or not all(parts):
        raise InvalidInput.single("key", f"expected {prefix}{layout}, got {key[:200]!r}")
    return parts


def candidate_keys(raw_key: str) -> list[str]:
    """Keys to try, most likely first.

    Classic S3 notifications URL-encode keys (space as '+'); whether EventBridge does is
    not documented. Decoding a key that was never encoded would corrupt a literal '+' or
    '%', so the decoded form is tried first and the raw form second.
    """
    decoded = unquote_plus(raw_key)
    return [decoded] if decoded == raw_key else [decoded, raw_key]
