from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from dropzone import aws
from dropzone.errors import InvalidInput, TransientError

if TYPE_CHECKING:
    from mypy_boto3_bedrock import BedrockClient


class Backpressure(TransientError):
    """The service is at its quota or throttling: wait, then try again."""


class Refused(TransientError):
    """A definite 4xx refusal (access denied, conflict, ...): nothing was created. Worth
    retrying once the cause is fixed; a 5xx or a lost connection is not this: the call
    may have succeeded."""


class JobNotFound(Exception):
    pass


_BACKPRESSURE = frozenset({"ServiceQuotaExceededException", "ThrottlingException"})


class Bedrock:
    """Bedrock batch inference: create, describe and stop model invocation jobs."""

    def __init__(self, client: BedrockClient | None = None) -> None:
        self._client = client or aws.client("bedrock")

    def create_job(self, **request: Any) -> str:
        """CreateModelInvocationJob; returns the job ARN. Idempotent on clientRequestToken."""
        try:
            response = self._client.create_model_invocation_job(**request)
        except ClientError as error:
            raise _classify(error, "CreateModelInvocationJob") from error
        return str(response["jobArn"])

    def get_job(self, job_arn: str) -> dict[str, Any]:
        try:
            response: dict[str, Any] = dict(
                self._client.get_model_invocation_job(jobIdentifier=job_arn)
            )
        except ClientError as error:
            if aws.error_code(error) == "ResourceNotFoundException":
                raise JobNotFound(job_arn) from error
            raise _classify(error, "GetModelInvocationJob") from error
        response.pop("ResponseMetadata", None)
        return response

    def stop_job(self, job_arn: str) -> None:
        try:
            self._client.stop_model_invocation_job(jobIdentifier=job_arn)
        except ClientError as error:
            if aws.error_code(error) == "ResourceNotFoundException":
                raise JobNotFound(job_arn) from error
            raise _classify(error, "StopModelInvocationJob") from error


def _classify(error: ClientError, operation: str) -> Exception:
    code = aws.error_code(error)
    detail = error.response.get("Error", {}).get("Message", code)
    if code in _BACKPRESSURE:
        return Backpressure(f"{operation}: {code}: {detail}")
    if code in ("ValidationException", "ResourceNotFoundException"):
        return InvalidInput.single("model", f"Bedrock refused the job: {detail}")
    if 400 <= aws.http_status(error) < 500:
        return Refused(f"{operation} refused with {code}: {detail}")
    return TransientError(f"{operation} failed with {code}: {detail}")
