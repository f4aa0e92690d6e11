"""Deterministic job ids: the same object always yields the same id.

The id doubles as every downstream idempotency token, so it satisfies the strictest of
their patterns: at most 63 characters, ASCII letters, digits and single hyphens, starting
with a letter (Bedrock job names and client tokens, Lookout for Vision job names and
client tokens, SageMaker inference ids).
"""

from __future__ import annotations

import hashlib

from dropzone.models.jobs import SourceObject

_PREFIX = "dz"
_DIGEST_CHARS = 40


def job_id_for(source: SourceObject) -> str:
    marker = f"v:{source.version_id}" if source.version_id else f"e:{source.etag or ''}"
    material = "\x00".join((source.bucket, source.key, marker)).encode()
    return f"{_PREFIX}-{hashlib.sha256(material).hexdigest()[:_DIGEST_CHARS]}"
