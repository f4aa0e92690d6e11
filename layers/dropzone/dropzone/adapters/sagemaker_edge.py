"""SageMaker Edge Manager's dataplane (`sagemaker-edge`): the optional sync's only door.

Edge Manager was discontinued on 2024-04-26; its client is still in botocore. Calls that
fail for a reason that may pass (throttling, 5xx, a lost connection) raise
TransientError; a definite refusal raises EdgeManagerRefused with the service's words.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError

from dropzone import aws
from dropzone.errors import TransientError

_BACKPRESSURE = frozenset(
    {"ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded"}
)


class EdgeManagerRefused(Exception):
    """A 4xx answer: the request, the device or the permissions are wrong."""


class SageMakerEdge:
    def __init__(self, client: Any | None = None) -> None:
        self._client = client or aws.client("sagemaker-edge")

    def get_device_registration(self, device: str, fleet: str) -> dict[str, Any]:
        return self._call(
            "GetDeviceRegistration",
            self._client.get_device_registration,
            DeviceName=device,
            DeviceFleetName=fleet,
        )

    def get_deployments(self, device: str, fleet: str) -> dict[str, Any]:
        return self._call(
            "GetDeployments",
            self._client.get_deployments,
            DeviceName=device,
            DeviceFleetName=fleet,
        )

    def send_heartbeat(self, heartbeat: dict[str, Any]) -> None:
        self._call("SendHeartbeat", self._client.send_heartbeat, **heartbeat)

    @staticmethod
    def _call(operation: str, method: Any, **params: Any) -> dict[str, Any]:
        try:
            response: dict[str, Any] = dict(method(**params))
        except ClientError as error:
            code = aws.error_code(error)
            detail = error.response.get("Error", {}).get("Message", code)
            status = aws.http_status(error)
            if code in _BACKPRESSURE or status >= 500 or status == 0:
                raise TransientError(f"{operation} failed with {code}: {detail}") from error
            raise EdgeManagerRefused(f"{operation} refused with {code}: {detail}") from error
        except ParamValidationError as error:
            raise EdgeManagerRefused(f"{operation} request is invalid: {error}") from error
        except BotoCoreError as error:  # connection and endpoint errors: the call may pass
            raise TransientError(f"{operation} failed: {error}") from error
        response.pop("ResponseMetadata", None)
        return response
