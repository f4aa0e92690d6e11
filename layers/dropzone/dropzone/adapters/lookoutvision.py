"""Amazon Lookout for Vision model packaging jobs (the model ships in the layer; see
dropzone.botocore_data)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from dropzone import aws
from dropzone.errors import InvalidInput, TransientError


class Throttled(TransientError):
    """Throttling or a quota: wait, then try again."""


class QuotaExceeded(Throttled):
    """ServiceQuotaExceededException: e.g. too many packaging jobs running at once. It
    clears only as jobs finish, so it is worth a longer wait than throttling."""


class Refused(TransientError):
    """A definite refusal such as AccessDenied: nothing was started. Worth retrying once
    the cause (a policy, a setting) is fixed."""


class PackagingJobNotFound(Exception):
    pass


class PackagingJobConflict(Exception):
    """ConflictException: with Dropzone's ClientToken and job name this usually means the
    job already exists (an earlier attempt got through); the caller checks."""


_THROTTLED = frozenset({"ThrottlingException"})
_QUOTA = "ServiceQuotaExceededException"


class LookoutVision:
    def __init__(self, client: Any | None = None) -> None:
        self._client = client or aws.client("lookoutvision")

    def start_packaging_job(self, **request: Any) -> str:
        """StartModelPackagingJob; returns the job name."""
        try:
            response = self._client.start_model_packaging_job(**request)
        except ClientError as error:
            code = aws.error_code(error)
            if code == "ConflictException":
                raise PackagingJobConflict(_message(error)) from error
            if code == "ResourceNotFoundException":
                raise InvalidInput.single(
                    "ModelVersion",
                    f"Lookout for Vision has no such project or model version: {_message(error)}",
                ) from error
            raise _classify(error, "StartModelPackagingJob") from error
        return str(response.get("JobName") or request["JobName"])

    def describe_packaging_job(self, project_name: str, job_name: str) -> dict[str, Any]:
        """DescribeModelPackagingJob's ModelPackagingDescription."""
        try:
            response = self._client.describe_model_packaging_job(
                ProjectName=project_name, JobName=job_name
            )
        except ClientError as error:
            if aws.error_code(error) == "ResourceNotFoundException":
                raise PackagingJobNotFound(f"{project_name}/{job_name}") from error
            raise _classify(error, "DescribeModelPackagingJob") from error
        return dict(response.get("ModelPackagingDescription") or {})


def _message(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Message") or aws.error_code(error))[:500]


def _classify(error: ClientError, operation: str) -> Exception:
    code = aws.error_code(error)
    detail = _message(error)
    if code == _QUOTA:
        return QuotaExceeded(f"{operation}: {code}: {detail}")
    if code in _THROTTLED:
        return Throttled(f"{operation}: {code}: {detail}")
    if code == "ValidationException":
        return InvalidInput.single("request", f"Lookout for Vision refused the job: {detail}")
    if 400 <= aws.http_status(error) < 500:
        return Refused(f"{operation} refused with {code}: {detail}")
    return TransientError(f"{operation} failed with {code}: {detail}")
