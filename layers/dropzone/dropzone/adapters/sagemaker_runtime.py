from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from dropzone import aws
from dropzone.errors import InvalidInput, TransientError

if TYPE_CHECKING:
    from mypy_boto3_sagemaker_runtime import SageMakerRuntimeClient


@dataclass(frozen=True)
class AsyncInvocation:
    inference_id: str
    output_location: str | None
    failure_location: str | None


class SageMakerRuntime:
    def __init__(self, client: SageMakerRuntimeClient | None = None) -> None:
        self._client = client or aws.client("sagemaker-runtime")

    def invoke_endpoint_async(self, **request: Any) -> AsyncInvocation:
        """InvokeEndpointAsync. ValidationError (an unknown endpoint among them) is bad
        input; anything else the service says is worth retrying later."""
        try:
            response = self._client.invoke_endpoint_async(**request)
        except ClientError as error:
            code = aws.error_code(error)
            detail = error.response.get("Error", {}).get("Message", code)
            if code == "ValidationError":
                raise InvalidInput.single(
                    "endpoint", f"SageMaker refused the request: {detail}"
                ) from error
            raise TransientError(f"InvokeEndpointAsync failed with {code}: {detail}") from error
        return AsyncInvocation(
            inference_id=response.get("InferenceId") or request.get("InferenceId", ""),
            output_location=response.get("OutputLocation"),
            failure_location=response.get("FailureLocation"),
        )
