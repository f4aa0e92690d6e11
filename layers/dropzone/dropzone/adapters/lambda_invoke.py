from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from dropzone import aws

if TYPE_CHECKING:
    from mypy_boto3_lambda import LambdaClient


class LambdaInvoker:
    def __init__(self, client: LambdaClient | None = None) -> None:
        self._client = client or aws.client("lambda")

    def invoke_async(self, function_name: str, payload: dict[str, Any]) -> None:
        """InvocationType=Event: Lambda queues the event, retries function errors twice
        and sends what still fails to the function's on-failure destination."""
        self._client.invoke(
            FunctionName=function_name,
            InvocationType="Event",
            Payload=json.dumps(payload).encode(),
        )
