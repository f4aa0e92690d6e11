"""SigV4 (AWS4-HMAC-SHA256) request verification: pure rules, no I/O.

parse_authorization  the request's Authorization header → its parts (access key id, credential
                     scope, signed headers, signature), after checking that the request carries
                     everything a verifiable signature needs
verify               the parts + the secret key → accepted, or SignatureRejected naming why
canonical_request    the canonical form that was signed, as botocore builds it for every
                     service but S3 (the path's percent-escapes are encoded once more)
signing_key          the key derived from a secret key for one day, region and service

Only signatures in the Authorization header are accepted (not presigned query strings), and
the payload is always signed: an `x-amz-content-sha256` header must be the body's hash.
`x-amz-security-token` is neither read nor required here; the caller decides about it.
Rejection messages are safe to return to the caller: they never contain a secret key or the
signature computed from it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, unquote

ALGORITHM = "AWS4-HMAC-SHA256"
TERMINATOR = "aws4_request"
AMZ_DATE_FORMAT = "%Y%m%dT%H%M%SZ"
MAX_SKEW = timedelta(minutes=15)
REQUIRED_SIGNED_HEADERS = ("host", "x-amz-date")

UNAUTHENTICATED = "MissingAuthenticationTokenException"
INCOMPLETE = "IncompleteSignatureException"
INVALID = "InvalidSignatureException"

MISMATCH_MESSAGE = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your key and signing method."
)

_AMZ_DATE = re.compile(r"\d{8}T\d{6}Z")
_SCOPE_DATE = re.compile(r"\d{8}")
_SIGNATURE = re.compile(r"[0-9a-fA-F]{64}")
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9a-z-]+")
_PARAMETERS = ("Credential", "SignedHeaders", "Signature")


@dataclass(frozen=True)
class HttpRequest:
    """An HTTP request as received: the raw path and query, lower-cased header names."""

    method: str
    path: str
    query: str
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True)
class Authorization:
    """The parts of an `AWS4-HMAC-SHA256` Authorization header."""

    access_key_id: str
    date: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str


class SignatureRejected(Exception):
    """Why a request's signature is not accepted, as AWS services name and say it."""

    def __init__(self, code: str, message: str, status: int = 403) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


def _incomplete(message: str) -> SignatureRejected:
    return SignatureRejected(INCOMPLETE, message, 400)


def _invalid(message: str) -> SignatureRejected:
    return SignatureRejected(INVALID, message, 403)


def parse_authorization(request: HttpRequest) -> Authorization:
    """The request's Authorization header, parsed; the request carries what it signed."""
    header = request.headers.get("authorization", "").strip()
    if not header:
        raise SignatureRejected(UNAUTHENTICATED, "Missing Authentication Token", 403)
    algorithm, _, rest = header.partition(" ")
    if algorithm != ALGORITHM:
        raise _incomplete(f"Unsupported authorization algorithm: only '{ALGORITHM}' is accepted.")
    parameters = _parameters(rest)
    access_key_id, date, region, service = _credential(parameters["Credential"])
    signed_headers = _signed_headers(parameters["SignedHeaders"])
    signature = parameters["Signature"]
    if not _SIGNATURE.fullmatch(signature):
        raise _incomplete("Signature should be 64 hexadecimal characters.")
    authorization = Authorization(
        access_key_id=access_key_id,
        date=date,
        region=region,
        service=service,
        signed_headers=signed_headers,
        signature=signature.lower(),
    )
    _check_complete(request, authorization)
    return authorization


def _parameters(text: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for item in text.split(","):
        name, equals, value = item.strip().partition("=")
        if not name and not equals:
            continue
        if name not in _PARAMETERS:
            raise _incomplete(
                "Authorization header parameters should be 'Credential', 'SignedHeaders' "
                "and 'Signature', each once, separated by commas."
            )
        if name in found or not equals:
            raise _incomplete(f"Authorization header has a malformed '{name}' parameter.")
        found[name] = value.strip()
    missing = [
        f"Authorization header requires '{p}' parameter." for p in _PARAMETERS if p not in found
    ]
    if missing:
        raise _incomplete(" ".join(missing))
    return found


def _credential(text: str) -> tuple[str, str, str, str]:
    parts = text.split("/")
    if len(parts) != 5 or not all(parts):
        raise _incomplete(
            "Credential should be '<access key id>/<YYYYMMDD>/<region>/<service>/aws4_request', "
            f"not {len(parts)} slash-separated parts."
        )
    access_key_id, date, region, service, terminator = parts
    if not _SCOPE_DATE.fullmatch(date):
        raise _incomplete("Credential should be scoped to a date in the format YYYYMMDD.")
    if terminator != TERMINATOR:
        raise _incomplete(f"Credential should be scoped with a valid terminator: '{TERMINATOR}'.")
    return access_key_id, date, region, service


def _signed_headers(text: str) -> tuple[str, ...]:
    names = text.split(";")
    if not all(_HEADER_NAME.fullmatch(name) for name in names):
        raise _incomplete("SignedHeaders should be lower-case header names separated by ';'.")
    return tuple(sorted(set(names)))


def _check_complete(request: HttpRequest, authorization: Authorization) -> None:
    """What a signature can only be checked with: the request's date, host and signed headers."""
    if "x-amz-date" not in request.headers:
        raise _incomplete("Authorization header requires existence of a 'X-Amz-Date' header.")
    if not _AMZ_DATE.fullmatch(request.headers["x-amz-date"].strip()):
        raise _incomplete("X-Amz-Date must be in ISO-8601 basic format, e.g. 20261206T101500Z.")
    for required in REQUIRED_SIGNED_HEADERS:
        if required not in authorization.signed_headers:
            raise _incomplete(f"'{required}' must be a 'SignedHeader' in the AWS Authorization.")
    absent = [name for name in authorization.signed_headers if name not in request.headers]
    if absent:
        raise _incomplete(f"Signed headers are not in the request: {', '.join(absent)}.")


def verify(
    request: HttpRequest,
    authorization: Authorization,
    secret_key: str,
    *,
    region: str,
    service: str,
    now: datetime,
) -> None:
    """Accept the request, or raise SignatureRejected saying why its signature is not valid."""
    _check_complete(request, authorization)
    if authorization.service != service:
        raise _invalid(f"Credential should be scoped to correct service: '{service}'.")
    if authorization.region != region:
        raise _invalid(
            f"Credential should be scoped to a valid region, not '{authorization.region}'."
        )
    amz_date = request.headers["x-amz-date"].strip()
    if authorization.date != amz_date[:8]:
        raise _invalid(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
            f"from HTTP: '{authorization.date}' != '{amz_date[:8]}', from '{amz_date}'."
        )
    _check_time(amz_date, now)
    payload_hash = hashlib.sha256(request.body).hexdigest()
    claimed_hash = request.headers.get("x-amz-content-sha256")
    if claimed_hash is not None and claimed_hash.strip().lower() != payload_hash:
        raise _invalid(
            "The provided 'x-amz-content-sha256' header does not match what was computed."
        )
    string_to_sign = "\n".join(
        (
            ALGORITHM,
            amz_date,
            f"{authorization.date}/{authorization.region}/{authorization.service}/{TERMINATOR}",
            hashlib.sha256(
                canonical_request(request, authorization.signed_headers).encode()
            ).hexdigest(),
        )
    )
    key = signing_key(secret_key, authorization.date, authorization.region, authorization.service)
    expected = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, authorization.signature.lower()):
        raise _invalid(MISMATCH_MESSAGE)


def _check_time(amz_date: str, now: datetime) -> None:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    signed_at = datetime.strptime(amz_date, AMZ_DATE_FORMAT).replace(tzinfo=UTC)
    now = now.astimezone(UTC)
    minutes = int(MAX_SKEW.total_seconds() // 60)
    if signed_at < now - MAX_SKEW:
        raise _invalid(
            f"Signature expired: {amz_date} is now earlier than {_stamp(now - MAX_SKEW)} "
            f"({_stamp(now)} - {minutes} min.)"
        )
    if signed_at > now + MAX_SKEW:
        raise _invalid(
            f"Signature not yet current: {amz_date} is still later than "
            f"{_stamp(now + MAX_SKEW)} ({_stamp(now)} + {minutes} min.)"
        )


def _stamp(moment: datetime) -> str:
    return moment.strftime(AMZ_DATE_FORMAT)


def canonical_request(request: HttpRequest, signed_headers: Sequence[str]) -> str:
    """The canonical request over the given signed headers, with the body's SHA-256."""
    names = sorted({name.lower() for name in signed_headers})
    absent = [name for name in names if name not in request.headers]
    if absent:
        raise _incomplete(f"Signed headers are not in the request: {', '.join(absent)}.")
    return "\n".join(
        (
            request.method.upper(),
            _canonical_uri(request.path),
            _canonical_query(request.query),
            "".join(f"{name}:{_header_value(request.headers[name])}\n" for name in names),
            ";".join(names),
            hashlib.sha256(request.body).hexdigest(),
        )
    )


def _canonical_uri(path: str) -> str:
    """Dot segments and empty segments removed, then percent-encoded (escapes included)."""
    if not path:
        return "/"
    segments: list[str] = []
    for segment in path.split("/"):
        if segment == "..":
            if segments:
                segments.pop()
        elif segment and segment != ".":
            segments.append(segment)
    leading = "/" if path.startswith("/") else ""
    trailing = "/" if path.endswith("/") and segments else ""
    return quote(leading + "/".join(segments) + trailing, safe="/~")


def _canonical_query(query: str) -> str:
    """Each name and value decoded, encoded per RFC 3986, then sorted by name and value."""
    if not query:
        return ""
    pairs = []
    for item in query.split("&"):
        name, _, value = item.partition("=")
        pairs.append((_rfc3986(name), _rfc3986(value)))
    return "&".join(f"{name}={value}" for name, value in sorted(pairs))


def _rfc3986(text: str) -> str:
    return quote(unquote(text), safe="-_.~")


def _header_value(value: str) -> str:
    """Trimmed, with each run of whitespace collapsed into one space."""
    return " ".join(value.split())


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


def signing_key(secret_key: str, date: str, region: str, service: str) -> bytes:
    """The SigV4 signing key for one day (YYYYMMDD), region and service."""
    key = _hmac(f"AWS4{secret_key}".encode(), date)
    key = _hmac(key, region)
    key = _hmac(key, service)
    return _hmac(key, TERMINATOR)
