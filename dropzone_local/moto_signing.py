"""Requests to moto signed at a lower cost, for as long as the local cloud runs
(`requests_to_moto_signed_at_lower_cost`).

- What botocore does. Every request is signed with SigV4 (`botocore.auth.SigV4Auth`, and
  `S3SigV4Auth` for S3): it sets X-Amz-Date (and X-Amz-Security-Token, and for S3
  X-Amz-Content-SHA256), then builds the canonical request (every signed header's value,
  the sorted query, the payload's hash), hashes it, derives the signing key with four
  HMACs and signs with a fifth, and writes `Authorization: AWS4-HMAC-SHA256
  Credential=<key>/<date>/<region>/<service>/aws4_request, SignedHeaders=<names>,
  Signature=<hex>`. Its headers are an `email.message` object, slow to read, and the
  headers to sign are worked out twice. It is about a sixth of what a call costs botocore.
- What moto reads. Never the signature, unless its IAM checks are switched on
  (`INITIAL_NO_AUTH_ACTION_COUNT`, infinite by default): the access key from the
  Credential scope picks the account (`get_access_key`, `get_current_account`), the scope's
  region is read where the URL names none, and S3 reads X-Amz-Content-SHA256 to decode
  aws-chunked bodies (`STREAMING-UNSIGNED-PAYLOAD-TRAILER`, `STREAMING-AWS4-...`).
- What changes. For a request moto answers, the signer writes the same headers as
  botocore, X-Amz-Date, X-Amz-Security-Token and X-Amz-Content-SHA256 by botocore's own
  code (`_modify_request_before_signing`, the same payload value), and the same
  Authorization header but for the signature: the same Credential scope, the same
  SignedHeaders (the request's header names in lower case, less botocore's unsigned ones,
  plus host, sorted), and `Signature=` 64 zeros, not computed.
- Which requests. Only those signed in the Authorization header by botocore's own two
  classes (never presigned URLs or posts, S3 Express, SigV4a or a subclass), while moto's
  mock is on, its signature checks are off and nothing passes through to AWS, and to a
  host under amazonaws.com, every one of which moto answers. Any other host, such as the
  edge endpoint's (`dropzone edge serve --local`, or a stock `sagemaker-edge` client given
  an endpoint URL), is signed for real, and the endpoint's own check
  (`dropzone.workflows.edge.sigv4`) computes its HMACs itself, outside botocore.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

UNCOMPUTED_SIGNATURE = "0" * 64


@contextmanager
def requests_to_moto_signed_at_lower_cost() -> Iterator[None]:
    auth = importlib.import_module("botocore.auth")
    signer = auth.SigV4Auth
    original = vars(signer)["add_auth"]
    header_signers = (auth.SigV4Auth, auth.S3SigV4Auth)
    unchecked = moto_answers_unchecked()

    def add_auth(self: Any, request: Any) -> None:
        if type(self) not in header_signers or not unchecked(request.url):
            return original(self, request)  # type: ignore[no-any-return]
        if self.credentials is None:
            raise auth.NoCredentialsError()
        request.context["timestamp"] = auth.get_current_datetime().strftime(auth.SIGV4_TIMESTAMP)
        self._modify_request_before_signing(request)  # the date, token and payload headers
        unsigned = auth.SIGNED_HEADERS_BLACKLIST
        names = {name.lower() for name in request.headers}
        names = {name for name in names if name not in unsigned}
        names.add("host")  # botocore signs the URL's host when the request names none
        signed = ";".join(sorted(name.strip() for name in names))
        request.headers["Authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={self.scope(request)}, "
            f"SignedHeaders={signed}, Signature={UNCOMPUTED_SIGNATURE}"
        )
        return None

    signer.add_auth = add_auth
    try:
        yield
    finally:
        signer.add_auth = original


def moto_answers_unchecked() -> Callable[[str], bool]:
    """A test of whether moto answers a request to a URL, when asked, without checking its
    signature: its mock is on, its IAM checks (which verify signatures) are off, nothing
    is set to pass through to AWS, and the host is under amazonaws.com."""
    stubber = importlib.import_module("moto.core.models").botocore_stubber
    settings = importlib.import_module("moto.settings")
    config = importlib.import_module("moto.core.config")

    def unchecked(url: str) -> bool:
        if not stubber.enabled or math.isfinite(settings.INITIAL_NO_AUTH_ACTION_COUNT):
            return False
        passthrough = config.default_user_config.get("core", {}).get("passthrough", {})
        if passthrough.get("urls") or passthrough.get("services"):
            return False
        return (urlsplit(url).hostname or "").endswith(".amazonaws.com")

    return unchecked
