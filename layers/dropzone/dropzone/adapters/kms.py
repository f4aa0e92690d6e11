"""AWS KMS: HMACs under an HMAC key, the root of the edge endpoint's device credentials.

A call that may pass later (throttling, 5xx, a lost connection) raises TransientError; a
refusal (the key disabled or deleted, no permission) raises KeyRefused with KMS's words.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from dropzone import aws
from dropzone.errors import TransientError

MAC_ALGORITHM = "HMAC_SHA_256"
_BACKPRESSURE = frozenset(
    {"ThrottlingException", "KMSInternalException", "DependencyTimeoutException"}
)


class KeyRefused(Exception):
    """KMS would not compute the MAC: the key is disabled, deleted or not ours to use."""


class Kms:
    def __init__(self, client: Any | None = None) -> None:
        self._client = client or aws.client("kms")

    def generate_mac(self, key_id: str, message: bytes) -> bytes:
        try:
            response = self._client.generate_mac(
                KeyId=key_id, Message=message, MacAlgorithm=MAC_ALGORITHM
            )
        except ClientError as error:
            code = aws.error_code(error)
            detail = error.response.get("Error", {}).get("Message", code)
            if code in _BACKPRESSURE or aws.http_status(error) >= 500:
                raise TransientError(f"GenerateMac failed with {code}: {detail}") from error
            raise KeyRefused(f"GenerateMac refused with {code}: {detail}") from error
        except BotoCoreError as error:
            raise TransientError(f"GenerateMac failed: {error}") from error
        return bytes(response["Mac"])
