"""Device credentials for the edge endpoint: issued one per device, checked per request.

A stock `sagemaker-edge` client signs its requests with an access key id and a secret
key. Dropzone issues that pair for one device of one fleet:

- the access key id is drawn at random: "DZE" and 17 characters of base 32, 20 in all,
  the length of AWS's own;
- the secret key is the base64 of an HMAC-SHA256, computed by KMS under the stack's HMAC
  key, over "dropzone-edge-credential:<access key id>". It is shown once, when issued,
  and never stored: the endpoint derives it again to check a signature. The key's
  material never leaves KMS, so neither table nor logs hold anything a signature can
  be forged from.

The credential's item (store.edge_credentials) says which device the key speaks for; a
request signed with it may only read that device's deployments and registration, and only
send that device's heartbeats.
"""

from __future__ import annotations

import base64
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from secrets import choice as secure_choice

from pydantic import ConfigDict, TypeAdapter, ValidationError

from dropzone.adapters.kms import Kms
from dropzone.clock import iso, utcnow
from dropzone.errors import InvalidInput, Problem
from dropzone.models.edge import DataplaneName
from dropzone.store.edge_credentials import (
    CredentialExists,
    CredentialStatus,
    DeviceCredential,
    EdgeCredentials,
)

ACCESS_KEY_PREFIX = "DZE"
ACCESS_KEY_LENGTH = 20
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_MAC_CONTEXT = b"dropzone-edge-credential:"
_NAME = TypeAdapter(DataplaneName, config=ConfigDict(defer_build=True))
_DRAWS = 5


def new_access_key_id(choose: Callable[[str], str] = secure_choice) -> str:
    tail = "".join(choose(_ALPHABET) for _ in range(ACCESS_KEY_LENGTH - len(ACCESS_KEY_PREFIX)))
    return ACCESS_KEY_PREFIX + tail


def looks_like_access_key_id(text: str) -> bool:
    return (
        len(text) == ACCESS_KEY_LENGTH
        and text.startswith(ACCESS_KEY_PREFIX)
        and all(ch in _ALPHABET for ch in text[len(ACCESS_KEY_PREFIX) :])
    )


def mac_message(access_key_id: str) -> bytes:
    return _MAC_CONTEXT + access_key_id.encode("ascii")


def secret_from_mac(mac: bytes) -> str:
    """40 characters, as AWS secret keys are."""
    return base64.b64encode(mac).decode("ascii")[:40]


def check_names(fleet: str, device: str) -> None:
    problems = []
    for field_name, value in (("DeviceFleetName", fleet), ("DeviceName", device)):
        try:
            _NAME.validate_python(value)
        except ValidationError:
            problems.append(
                Problem(
                    field_name,
                    f"{value[:80]!r} is not a dataplane name: 1 to 63 letters, digits, "
                    "'-' and '_', starting and ending with a letter or digit",
                )
            )
    if problems:
        raise InvalidInput(problems)


@dataclass
class SecretKeys:
    """The secret key of an access key id, derived by KMS and kept for the container's
    life (it never changes; whether the key may still be used is the credential item's
    to say, and that is read on every request)."""

    kms: Kms
    key_id: str
    capacity: int = 1024
    _known: OrderedDict[str, str] = field(default_factory=OrderedDict)

    def secret_for(self, access_key_id: str) -> str:
        secret = self._known.pop(access_key_id, None)
        if secret is None:
            secret = secret_from_mac(self.kms.generate_mac(self.key_id, mac_message(access_key_id)))
        self._known[access_key_id] = secret
        while len(self._known) > self.capacity:
            self._known.popitem(last=False)
        return secret


@dataclass(frozen=True)
class IssuedCredential:
    credential: DeviceCredential
    secret_access_key: str

    def as_dict(self) -> dict[str, str]:
        return {**self.credential.as_dict(), "SecretAccessKey": self.secret_access_key}


@dataclass
class CredentialIssuer:
    """What an operator does with device credentials: issue, list, revoke."""

    store: EdgeCredentials
    secrets: SecretKeys
    clock: Callable[[], datetime] = utcnow
    choose: Callable[[str], str] = secure_choice

    def issue(self, fleet: str, device: str) -> IssuedCredential:
        check_names(fleet, device)
        for _ in range(_DRAWS):
            credential = DeviceCredential(
                access_key_id=new_access_key_id(self.choose),
                fleet=fleet,
                device=device,
                status=CredentialStatus.ACTIVE,
                created_at=iso(self.clock()),
            )
            secret = self.secrets.secret_for(credential.access_key_id)
            try:
                self.store.add(credential)
            except CredentialExists:
                continue
            return IssuedCredential(credential, secret)
        raise RuntimeError(f"no unused access key id in {_DRAWS} draws")

    def revoke(self, access_key_id: str) -> DeviceCredential | None:
        return self.store.revoke(access_key_id, iso(self.clock()))

    def for_device(self, fleet: str, device: str) -> list[DeviceCredential]:
        check_names(fleet, device)
        return self.store.for_device(fleet, device)
