from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from dropzone import aws

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_MISSING = frozenset({"404", "NoSuchKey", "NotFound", "NoSuchVersion"})


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


def parse_s3_uri(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://") or "/" not in uri[5:]:
        raise ValueError(f"not an s3://bucket/key URI: {uri!r}")
    bucket, _, key = uri[5:].partition("/")
    return bucket, key


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

    def exists(self, uri: str) -> bool:
        bucket, key = parse_s3_uri(uri)
        try:
            self.head(bucket, key)
        except ObjectMissing:
            return False
        return True

    def read_text(self, uri: str, *, max_bytes: int) -> str:
        bucket, key = parse_s3_uri(uri)
        response = self._client.get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{max_bytes - 1}")
        return response["Body"].read().decode("utf-8", errors="replace")

    def put_json(self, bucket: str, key: str, document: Any) -> str:
        self._client.put_object(
            Bucket=bucket,
            Key=key,
            Body=json.dumps(document, indent=2, sort_keys=True).encode(),
            ContentType="application/json",
        )
        return f"s3://{bucket}/{key}"
