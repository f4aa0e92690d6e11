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


class DeploymentNotFound(Exception):
    """Greengrass has no deployment with this id."""


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

    def get_deployment(self, deployment_id: str) -> dict[str, Any]:
        """GetDeployment: the deployment as Greengrass describes it (deploymentStatus
        ACTIVE | COMPLETED | CANCELED | FAILED | INACTIVE, isLatestForTarget, ...)."""
        try:
            response = self._client.get_deployment(deploymentId=deployment_id)
        except ClientError as error:
            if aws.error_code(error) == "ResourceNotFoundException":
                raise DeploymentNotFound(deployment_id) from error
            raise _classify(error, "GetDeployment") from error
        return {name: value for name, value in response.items() if name != "ResponseMetadata"}

    def effective_deployment(
        self, core_device: str, deployment_id: str, *, max_pages: int = 2
    ) -> dict[str, Any] | None:
        """One deployment's execution on one core device, from ListEffectiveDeployments
        (newest first, so a recent deployment is on the first page): its
        coreDeviceExecutionStatus, reason, statusDetails and modifiedTimestamp. None when
        the device is unknown or does not list the deployment in `max_pages` pages."""
        request: dict[str, Any] = {"coreDeviceThingName": core_device, "maxResults": 100}
        for _ in range(max_pages):
            try:
                page = self._client.list_effective_deployments(**request)
            except ClientError as error:
                if aws.error_code(error) == "ResourceNotFoundException":
                    return None
                raise _classify(error, "ListEffectiveDeployments") from error
            for item in page.get("effectiveDeployments", []):
                if item.get("deploymentId") == deployment_id:
                    return dict(item)
            if not page.get("nextToken"):
                return None
            request["nextToken"] = page["nextToken"]
        return None


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
