"""One X-Ray subsegment per AWS call, and the trace header on its request (dropzone.xray).

The subsegment is named after the service's endpoint prefix in namespace `aws`, with the
operation, the region, the request id and the HTTP status, as the X-Ray SDK records it; a
service's error answer is recorded as a remote exception. Parameters and answers are not
recorded.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from botocore.client import BaseClient
from botocore.endpoint import Endpoint
from botocore.exceptions import ClientError

from dropzone.xray_documents import TRACE_HTTP_HEADER, Subsegment

if TYPE_CHECKING:
    from dropzone.xray import XRayDaemon


def _record_answer(subsegment: Subsegment, answer: Mapping[str, Any]) -> None:
    metadata = answer.get("ResponseMetadata") or {}
    if metadata.get("RequestId"):
        subsegment.aws["request_id"] = metadata["RequestId"]
    if metadata.get("HTTPStatusCode"):
        subsegment.put_http_status(metadata["HTTPStatusCode"])


def patch_botocore(provider: XRayDaemon) -> Callable[[], None]:
    """Wraps every botocore client's calls and requests; returns what undoes it."""
    make_api_call: Callable[..., Any] = getattr(BaseClient, "_make_api_call")  # noqa: B009
    prepare_request: Callable[..., Any] = Endpoint.prepare_request

    def traced_call(client: BaseClient, operation_name: str, api_params: Any) -> Any:
        service = client.meta.service_model.metadata["endpointPrefix"]
        with provider.in_subsegment(service, namespace="aws") as subsegment:
            if not isinstance(subsegment, Subsegment):
                return make_api_call(client, operation_name, api_params)
            subsegment.aws.update(operation=operation_name, region=client.meta.region_name)
            try:
                answer = make_api_call(client, operation_name, api_params)
            except ClientError as err:
                _record_answer(subsegment, err.response)
                subsegment.add_exception(err, remote=True)
                raise
            _record_answer(subsegment, answer)
            return answer

    def traced_request(endpoint: Endpoint, request: Any) -> Any:
        header = provider.trace_header()
        if header is not None:
            request.headers[TRACE_HTTP_HEADER] = header
        return prepare_request(endpoint, request)

    setattr(BaseClient, "_make_api_call", traced_call)  # noqa: B010
    setattr(Endpoint, "prepare_request", traced_request)  # noqa: B010

    def unpatch() -> None:
        setattr(BaseClient, "_make_api_call", make_api_call)  # noqa: B010
        setattr(Endpoint, "prepare_request", prepare_request)  # noqa: B010

    return unpatch
