"""AWS IoT Greengrass V2 deployments."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from dropzone import aws
from dropzone.errors import InvalidInput, TransientError


class Throttled(TransientError):
    """Throttling: wait, then try again."""


class Refused(TransientError):
    """A definite refusal (access denied, a conflicting operation on the target): nothing
    was created. Worth retrying once the cause is fixed."""


_RETRY_LATER = frozenset({"RequestAlreadyInProgressException", "InternalServerException"})
# A deployment that no longer applies: its components are not worth carrying over.
_ENDED = frozenset({"CANCELED", "INACTIVE"})


class Greengrass:
    def __init__(self, client: Any | None = None) -> None:
        self._client = client or aws.client("greengrassv2")

    def create_deployment(self, **request: Any) -> dict[str, str]:
        """CreateDeployment; returns deploymentId, iotJobId and iotJobArn (idempotent on
        clientToken for the same request)."""
        try:
            response = self._client.create_deployment(**request)
        except ClientError as error:
            raise _classify(error, "CreateDeployment") from error
        return {
            name: str(response[name])
            for name in ("deploymentId", "iotJobId", "iotJobArn")
            if response.get(name)
        }

    def current_components(self, target_arn: str) -> dict[str, dict[str, Any]]:
        """The components of the target's latest deployment revision (empty when it has
        none): a new deployment replaces it, so whatever is not carried over is removed
        from the devices."""
        try:
            listed = self._client.list_deployments(
                targetArn=target_arn, historyFilter="LATEST_ONLY", maxResults=1
            )
            latest = [
                item
                for item in listed.get("deployments", [])
                if item.get("targetArn") == target_arn
                and item.get("deploymentStatus") not in _ENDED
            ]
            if not latest:
                return {}
            deployment = self._client.get_deployment(deploymentId=latest[0]["deploymentId"])
        except ClientError as error:
            raise _classify(error, "ListDeployments/GetDeployment") from error
        return {
            str(name): dict(spec) for name, spec in (deployment.get("components") or {}).items()
        }


def _classify(error: ClientError, operation: str) -> Exception:
    code = aws.error_code(error)
    detail = str(error.response.get("Error", {}).get("Message") or code)[:500]
    if code == "ThrottlingException":
        return Throttled(f"{operation}: {code}: {detail}")
    if code == "ValidationException":
        return InvalidInput.single(
            "GreengrassDeployment", f"Greengrass refused the deployment: {detail}"
        )
    if code == "ResourceNotFoundException":
        return InvalidInput.single(
            "GreengrassDeployment.TargetArn", f"Greengrass found no such target: {detail}"
        )
    if code in _RETRY_LATER or aws.http_status(error) >= 500:
        return TransientError(f"{operation} failed with {code}: {detail}")
    if 400 <= aws.http_status(error) < 500:
        return Refused(f"{operation} refused with {code}: {detail}")
    return TransientError(f"{operation} failed with {code}: {detail}")
