from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from botocore.exceptions import ClientError

from dropzone import aws

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

_MISSING = frozenset({"404", "NoSuchKey", "NotFound", "NoSuchVersion"})
MIN_PART_SIZE = 5 * 1024**2  # every part of a multipart upload but the last
MAX_PART_SIZE = 5 * 1024**3
CHECKSUM_ALGORITHM: Literal["CRC32"] = "CRC32"  # parts and the completed object, checked by S3


@dataclass(frozen=True)
class ObjectHead:
    bucket: str
    key: str
    size: int
    etag: str
    version_id: str | None
    content_type: str | None
    metadata: dict[str, str] = field(default_factory=dict)


class ObjectMissing(Exception):
    pass


@dataclass(frozen=True)
class ObjectSha1:
    """An object's SHA-1 in lowercase hex; `streamed` tells whether Dropzone read the
    object to compute it (False: S3's own full-object checksum was used)."""

    hexdigest: str
    streamed: bool
    size: int
    version_id: str | None


def parse_s3_uri(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://") or "/" not in uri[5:]:
        raise ValueError(f"not an s3://bucket/key URI: {uri!r}")
    bucket, _, key = uri[5:].partition("/")
    return bucket, key


class S3MultipartWriter:
    """Streams one object to S3: a part whenever `part_size` bytes are buffered, the rest
    on close(). Holds about one part in memory. An object smaller than one part (even an
    empty one) is written with a single PutObject instead.
    """

    def __init__(
        self, client: S3Client, bucket: str, key: str, *, content_type: str, part_size: int
    ) -> None:
        if not MIN_PART_SIZE <= part_size <= MAX_PART_SIZE:
            raise ValueError(
                f"part_size must be between {MIN_PART_SIZE} and {MAX_PART_SIZE} bytes, "
                f"got {part_size}"
            )
        self._client = client
        self.bucket = bucket
        self.key = key
        self._content_type = content_type
        self._part_size = part_size
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[CompletedPartTypeDef] = []
        self._finished = False

    def write(self, data: bytes) -> None:
        if self._finished:
            raise ValueError(f"s3://{self.bucket}/{self.key} is already closed or aborted")
        self._buffer += data
        if len(self._buffer) >= self._part_size:
            self._upload_part(bytes(self._buffer))
            self._buffer = bytearray()

    def close(self) -> None:
        if self._finished:
            return
        if self._upload_id is None:
            self._client.put_object(
                Bucket=self.bucket,
                Key=self.key,
                Body=bytes(self._buffer),
                ContentType=self._content_type,
            )
        else:
            if self._buffer:
                self._upload_part(bytes(self._buffer))
            self._client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=self.key,
                UploadId=self._upload_id,
                MultipartUpload={"Parts": self._parts},
            )
        self._finished = True
        self._buffer = bytearray()

    def abort(self) -> None:
        """Discard what was written; nothing once close() has succeeded."""
        if self._finished:
            return
        self._finished = True
        self._buffer = bytearray()
        if self._upload_id is not None:
            upload_id, self._upload_id = self._upload_id, None
            self._client.abort_multipart_upload(
                Bucket=self.bucket, Key=self.key, UploadId=upload_id
            )

    def _upload_part(self, body: bytes) -> None:
        if self._upload_id is None:
            created = self._client.create_multipart_upload(
                Bucket=self.bucket,
                Key=self.key,
                ContentType=self._content_type,
                ChecksumAlgorithm=CHECKSUM_ALGORITHM,
            )
            self._upload_id = created["UploadId"]
        number = len(self._parts) + 1
        uploaded = self._client.upload_part(
            Bucket=self.bucket,
            Key=self.key,
            UploadId=self._upload_id,
            PartNumber=number,
            Body=body,
            ChecksumAlgorithm=CHECKSUM_ALGORITHM,
        )
        part: CompletedPartTypeDef = {"ETag": uploaded["ETag"], "PartNumber": number}
        if "ChecksumCRC32" in uploaded:
            part["ChecksumCRC32"] = uploaded["ChecksumCRC32"]
        self._parts.append(part)


class S3:
    def __init__(self, client: S3Client | None = None) -> None:
        self._client = client or aws.client("s3")

    def head(self, bucket: str, key: str, version_id: str | None = None) -> ObjectHead:
        params: dict[str, Any] = {"Bucket": bucket, "Key": key}
        if version_id:
            params["VersionId"] = version_id
        try:
            response = self._client.head_object(**params)
        except ClientError as error:
            if aws.error_code(error) in _MISSING or aws.http_status(error) == 404:
                raise ObjectMissing(f"s3://{bucket}/{key}") from error
            raise
        return ObjectHead(
            bucket=bucket,
            key=key,
            size=int(response.get("ContentLength", 0)),
            etag=str(response.get("ETag", "")).strip('"'),
            version_id=response.get("VersionId"),
            content_type=response.get("ContentType"),
            metadata={k.lower(): v for k, v in response.get("Metadata", {}).items()},
        )

    def sha1(
        self, bucket: str, key: str, *, version_id: str | None = None, chunk_size: int = 8 << 20
    ) -> ObjectSha1:
        """The object's SHA-1. S3's stored ChecksumSHA1 when it covers the whole object;
        otherwise the object is streamed and hashed, one chunk in memory at a time.

        A multipart upload's ChecksumSHA1 is a checksum of its parts' checksums
        (ChecksumType COMPOSITE, a "-N" suffix, and an ETag ending "-N"): never used.
        """
        params: dict[str, Any] = {"Bucket": bucket, "Key": key, "ChecksumMode": "ENABLED"}
        if version_id:
            params["VersionId"] = version_id
        try:
            response: dict[str, Any] = dict(self._client.head_object(**params))
        except ClientError as error:
            if aws.error_code(error) in _MISSING or aws.http_status(error) == 404:
                raise ObjectMissing(f"s3://{bucket}/{key}") from error
            raise
        etag = str(response.get("ETag", "")).strip('"')
        seen_version = response.get("VersionId")
        seen_version = None if seen_version in (None, "", "null") else str(seen_version)
        size = int(response.get("ContentLength", 0))
        stored = response.get("ChecksumSHA1")
        whole_object = (
            isinstance(stored, str)
            and "-" not in stored
            and "-" not in etag
            and response.get("ChecksumType", "FULL_OBJECT") == "FULL_OBJECT"
        )
        if whole_object:
            return ObjectSha1(base64.b64decode(str(stored)).hex(), False, size, seen_version)
        digest = hashlib.sha1(usedforsecurity=False)
        for chunk in self.iter_chunks(
            bucket,
            key,
            version_id=version_id or seen_version,
            etag=None if (version_id or seen_version) else etag,
            chunk_size=chunk_size,
        ):
            digest.update(chunk)
        return ObjectSha1(digest.hexdigest(), True, size, version_id or seen_version)

    def exists(self, uri: str) -> bool:
        bucket, key = parse_s3_uri(uri)
        try:
            self.head(bucket, key)
        except ObjectMissing:
            return False
        return True

    def read_text(self, uri: str, *, max_bytes: int) -> str:
        """At most the first `max_bytes` of an object, as text."""
        bucket, key = parse_s3_uri(uri)
        try:
            response = self._client.get_object(
                Bucket=bucket, Key=key, Range=f"bytes=0-{max_bytes - 1}"
            )
        except ClientError as error:
            if aws.error_code(error) in _MISSING:
                raise ObjectMissing(uri) from error
            raise
        return response["Body"].read().decode("utf-8", errors="replace")

    def list_keys(self, bucket: str, prefix: str) -> Iterator[str]:
        paginator = self._client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                yield item["Key"]

    def iter_lines(self, bucket: str, key: str) -> Iterator[bytes]:
        """The object's non-empty lines, streamed: memory holds one chunk and one line."""
        pending = b""
        for chunk in self.iter_chunks(bucket, key):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            yield from (line for line in lines if line.strip())
        if pending.strip():
            yield pending

    def put_bytes(
        self, bucket: str, key: str, body: bytes, *, content_type: str = "text/plain"
    ) -> str:
        self._client.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)
        return f"s3://{bucket}/{key}"

    def create_once(self, bucket: str, key: str, body: bytes) -> bool:
        """Write the object only if it does not exist yet (a conditional create); False when
        it already did, and nothing was written."""
        try:
            self._client.put_object(Bucket=bucket, Key=key, Body=body, IfNoneMatch="*")
        except ClientError as error:
            if aws.error_code(error) in {"PreconditionFailed", "ConditionalRequestConflict"}:
                return False
            raise
        return True

    def copy(self, bucket: str, key: str, to_bucket: str, to_key: str) -> None:
        """Copy an object (up to 5 GB) within S3; ObjectMissing when it is not there."""
        try:
            self._client.copy_object(
                Bucket=to_bucket, Key=to_key, CopySource={"Bucket": bucket, "Key": key}
            )
        except ClientError as error:
            if aws.error_code(error) in _MISSING:
                raise ObjectMissing(f"s3://{bucket}/{key}") from error
            raise

    def read_range(self, bucket: str, key: str, offset: int, length: int) -> bytes:
        """`length` bytes of the object from `offset`."""
        response = self._client.get_object(
            Bucket=bucket, Key=key, Range=f"bytes={offset}-{offset + length - 1}"
        )
        return response["Body"].read()

    def put_json(self, bucket: str, key: str, document: Any) -> str:
        self._client.put_object(
            Bucket=bucket,
            Key=key,
            Body=json.dumps(document, indent=2, sort_keys=True).encode(),
            ContentType="application/json",
        )
        return f"s3://{bucket}/{key}"

    def iter_chunks(
        self,
        bucket: str,
        key: str,
        *,
        version_id: str | None = None,
        etag: str | None = None,
        chunk_size: int = 1 << 20,
    ) -> Iterator[bytes]:
        """The object's bytes as they arrive. Pinned to the version, or else to the etag,
        so that reading an object again after it was replaced fails instead of returning
        different bytes."""
        params: dict[str, Any] = {"Bucket": bucket, "Key": key}
        if version_id:
            params["VersionId"] = version_id
        elif etag:
            bare = etag.strip('"')
            params["IfMatch"] = f'"{bare}"'
        try:
            response = self._client.get_object(**params)
        except ClientError as error:
            if aws.error_code(error) in _MISSING:
                raise ObjectMissing(f"s3://{bucket}/{key}") from error
            raise
        body = response["Body"]
        try:
            yield from body.iter_chunks(chunk_size)
        finally:
            body.close()

    def multipart_writer(
        self,
        bucket: str,
        key: str,
        *,
        content_type: str = "application/jsonl",
        part_size: int = 8 << 20,
    ) -> S3MultipartWriter:
        return S3MultipartWriter(
            self._client, bucket, key, content_type=content_type, part_size=part_size
        )
