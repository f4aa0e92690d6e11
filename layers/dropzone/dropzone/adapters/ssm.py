"""Systems Manager Parameter Store: reading one parameter's value."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from dropzone import aws


class ParameterMissing(Exception):
    pass


class ParameterStore:
    def __init__(self, client: Any | None = None) -> None:
        self._client = client or aws.client("ssm")

    def get(self, name: str) -> tuple[str, str]:
        """The parameter's value, as stored (never decrypted), and its type: String,
        StringList or SecureString."""
        try:
            response = self._client.get_parameter(Name=name, WithDecryption=False)
        except ClientError as error:
            if aws.error_code(error) == "ParameterNotFound":
                raise ParameterMissing(name) from error
            raise
        parameter = response["Parameter"]
        return str(parameter.get("Value", "")), str(parameter.get("Type", "String"))
