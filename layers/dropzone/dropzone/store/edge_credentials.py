"""Device credentials of the edge endpoint: one DynamoDB item per access key id
(EdgeCredentialsTable), naming the one device of one fleet it speaks for.

The secret key is never stored: it is derived from the access key id under the stack's
HMAC key (workflows.edge.credentials). An item says whose key it is and whether it is
still ACTIVE; revoking a credential marks it REVOKED and keeps the item, so that what a
key was used for can still be traced.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from botocore.exceptions import ClientError

from dropzone import aws
from dropzone.store.devices import device_key
from dropzone.store.dynamo_items import CONDITION_FAILED

BY_DEVICE_INDEX = "by-device"


class CredentialStatus(StrEnum):
    ACTIVE = "ACTIVE"
    REVOKED = "REVOKED"


class CredentialExists(Exception):
    """An access key id was drawn twice: draw again."""


@dataclass(frozen=True)
class DeviceCredential:
    access_key_id: str
    fleet: str
    device: str
    status: CredentialStatus
    created_at: str
    revoked_at: str | None = None

    @property
    def active(self) -> bool:
        return self.status is CredentialStatus.ACTIVE

    def as_dict(self) -> dict[str, str]:
        shown = {
            "AccessKeyId": self.access_key_id,
            "DeviceFleetName": self.fleet,
            "DeviceName": self.device,
            "Status": str(self.status),
            "CreatedAt": self.created_at,
        }
        if self.revoked_at:
            shown["RevokedAt"] = self.revoked_at
        return shown


class EdgeCredentials:
    def __init__(self, table_name: str, client: Any | None = None) -> None:
        self.table_name = table_name
        self._client = client or aws.client("dynamodb")

    def get(self, access_key_id: str) -> DeviceCredential | None:
        response = self._client.get_item(
            TableName=self.table_name,
            Key={"access_key_id": {"S": access_key_id}},
            ConsistentRead=True,  # a revocation holds from the next request on
        )
        item = response.get("Item")
        return _credential_from(item) if item else None

    def add(self, credential: DeviceCredential) -> None:
        item = {
            "access_key_id": {"S": credential.access_key_id},
            "fleet": {"S": credential.fleet},
            "device": {"S": credential.device},
            "device_key": {"S": device_key(credential.fleet, credential.device)},
            "status": {"S": str(credential.status)},
            "created_at": {"S": credential.created_at},
        }
        try:
            self._client.put_item(
                TableName=self.table_name,
                Item=item,
                ConditionExpression="attribute_not_exists(access_key_id)",
            )
        except ClientError as error:
            if aws.error_code(error) == CONDITION_FAILED:
                raise CredentialExists(credential.access_key_id) from error
            raise

    def revoke(self, access_key_id: str, at: str) -> DeviceCredential | None:
        """Mark a credential REVOKED (once: a second revocation keeps the first time).
        None when there is no such credential."""
        try:
            response = self._client.update_item(
                TableName=self.table_name,
                Key={"access_key_id": {"S": access_key_id}},
                UpdateExpression=(
                    "SET #status = :revoked, revoked_at = if_not_exists(revoked_at, :at)"
                ),
                ConditionExpression="attribute_exists(access_key_id)",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={
                    ":revoked": {"S": str(CredentialStatus.REVOKED)},
                    ":at": {"S": at},
                },
                ReturnValues="ALL_NEW",
            )
        except ClientError as error:
            if aws.error_code(error) == CONDITION_FAILED:
                return None
            raise
        return _credential_from(response["Attributes"])

    def for_device(self, fleet: str, device: str) -> list[DeviceCredential]:
        found: list[DeviceCredential] = []
        paginator = self._client.get_paginator("query")
        for page in paginator.paginate(
            TableName=self.table_name,
            IndexName=BY_DEVICE_INDEX,
            KeyConditionExpression="device_key = :key",
            ExpressionAttributeValues={":key": {"S": device_key(fleet, device)}},
        ):
            found.extend(_credential_from(item) for item in page.get("Items", []))
        return sorted(
            found, key=lambda credential: (credential.created_at, credential.access_key_id)
        )


def _credential_from(item: dict[str, Any]) -> DeviceCredential:
    revoked = item.get("revoked_at", {}).get("S")
    return DeviceCredential(
        access_key_id=item["access_key_id"]["S"],
        fleet=item["fleet"]["S"],
        device=item["device"]["S"],
        status=CredentialStatus(item["status"]["S"]),
        created_at=item["created_at"]["S"],
        revoked_at=revoked,
    )
