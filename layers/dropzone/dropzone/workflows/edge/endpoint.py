"""The Edge Manager-compatible endpoint: stock `sagemaker-edge` clients, answered by
Dropzone.

Each request, in order:
1. the route: one of the three operations, POST (else 404 UnknownOperationException);
2. who signed it: the SigV4 signature (scope service `sagemaker`, this region) must
   verify under the secret of an ACTIVE device credential (workflows.edge.credentials);
3. whether that device may: the DeviceFleetName and DeviceName the request names must
   be the credential's own (else 403 AccessDeniedException);
4. the answer: GetDeployments and GetDeviceRegistration from the device records, as
   EdgeAnswers gives them; SendHeartbeat down the same path as an EventBridge heartbeat
   (HeartbeatProcessor: the same validation, the same device records, ordered by the
   time the endpoint received it).

A request refused at 2 or 3 is counted in `EdgeEndpointRequestsDenied`, which an alarm
watches. Every refusal is logged with the operation, the code and the access key id the
request names, never the body or the signature. Where a service Dropzone depends on
fails, the answer is 500 InternalServiceException, which clients retry.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from dropzone import aws
from dropzone.adapters.kms import KeyRefused, Kms
from dropzone.adapters.s3 import S3
from dropzone.clock import iso, utcnow
from dropzone.errors import InvalidInput, TransientError
from dropzone.models.edge import HEARTBEAT_DETAIL_TYPE, HEARTBEAT_SOURCE
from dropzone.observability import logger, metrics
from dropzone.settings.edge import EdgeEndpointSettings, EdgeSettings
from dropzone.store.devices import Devices
from dropzone.store.edge_credentials import DeviceCredential, EdgeCredentials
from dropzone.store.ledger import Ledger
from dropzone.workflows.edge.answers import EdgeAnswers
from dropzone.workflows.edge.credentials import SecretKeys, looks_like_access_key_id
from dropzone.workflows.edge.dataplane_model import check_against_model
from dropzone.workflows.edge.endpoint_protocol import (
    DENIED,
    INTERNAL,
    SIGNING_NAME,
    UNRECOGNIZED,
    VALIDATION,
    EndpointError,
    body_object,
    claimed_access_key_id,
    error_response,
    json_response,
    operation_of,
    request_from_event,
)
from dropzone.workflows.edge.heartbeat import HeartbeatProcessor
from dropzone.workflows.edge.sigv4 import (
    HttpRequest,
    SignatureRejected,
    parse_authorization,
    verify,
)


def wall_clock() -> datetime:
    return datetime.now(UTC)


_VERBS = {
    "GetDeployments": "read the deployments of",
    "GetDeviceRegistration": "read the registration of",
    "SendHeartbeat": "send the heartbeats of",
}
_NOT_A_CREDENTIAL = (
    "The security token included in the request is invalid: its access key id is not "
    "an active device credential of this endpoint."
)


@dataclass
class EdgeEndpoint:
    region: str
    credentials: EdgeCredentials
    secrets: SecretKeys
    answers: EdgeAnswers
    heartbeats: HeartbeatProcessor
    clock: Callable[[], datetime] = utcnow  # the records' time
    # A signature is checked against the time its client signed in, the wall clock's, even
    # where the records' clock runs ahead (a local cloud resuming a saved run).
    signing_clock: Callable[[], datetime] = wall_clock

    @classmethod
    def from_env(cls, client: aws.ClientSource = aws.client) -> EdgeEndpoint:
        settings = EdgeEndpointSettings.from_env().require(
            "edge_credentials_table", "edge_credentials_key_id", "aws_region"
        )
        dynamodb = client("dynamodb")
        ledger = Ledger.from_settings(settings, dynamodb)
        devices = Devices(settings.edge_devices_table, dynamodb)
        return cls(
            settings.aws_region,
            EdgeCredentials(settings.edge_credentials_table, dynamodb),
            SecretKeys(Kms(client("kms")), settings.edge_credentials_key_id),
            EdgeAnswers(ledger, devices, settings.edge_cache_ttl_seconds),
            # The endpoint stands in for Edge Manager: it never forwards a heartbeat to it.
            HeartbeatProcessor(
                EdgeSettings.from_env(), ledger, devices, S3(client("s3")), edge_manager=None
            ),
        )

    def handle(self, event: dict[str, Any]) -> dict[str, Any]:
        context = event.get("requestContext")
        request_id = str((context or {}).get("requestId") or uuid.uuid4())
        operation, claimed = "-", ""
        try:
            request = request_from_event(event)
            claimed = claimed_access_key_id(request)
            operation = operation_of(request)
            answer = self._answer(operation, request, request_id)
        except EndpointError as error:
            self._refused(operation, error, request_id, claimed)
            return error_response(error, request_id)
        except (TransientError, KeyRefused, ClientError, BotoCoreError) as error:
            logger.error(  # the error's own words name the service and the call
                "edge endpoint could not answer",
                extra={"operation": operation, "request_id": request_id, "error": str(error)[:500]},
            )
            failure = EndpointError(
                INTERNAL, "Dropzone could not answer the request now; try again.", 500
            )
            return error_response(failure, request_id)
        metrics.add_metric(name="EdgeEndpointRequests", unit="Count", value=1)
        return json_response(answer, request_id)

    # -- the steps -----------------------------------------------------------------------

    def _answer(self, operation: str, request: HttpRequest, request_id: str) -> dict[str, Any]:
        credential = self._authenticate(request)
        body = body_object(request)
        self._authorize(operation, credential, body)
        if operation == "SendHeartbeat":
            return self._heartbeat(body, request_id)
        try:
            check_against_model(operation, body, "request")
        except InvalidInput as invalid:
            raise EndpointError(VALIDATION, invalid.message, 400) from invalid
        device, fleet = credential.device, credential.fleet
        if operation == "GetDeployments":
            return self.answers.get_deployments(device_name=device, fleet_name=fleet)
        return self.answers.get_device_registration(device_name=device, fleet_name=fleet)

    def _authenticate(self, request: HttpRequest) -> DeviceCredential:
        if "x-amz-security-token" in request.headers:
            raise EndpointError(
                UNRECOGNIZED,
                "Temporary credentials are not accepted here: sign with the device's "
                "credential from `dropzone edge credentials create`.",
                403,
            )
        try:
            authorization = parse_authorization(request)
        except SignatureRejected as rejected:
            raise EndpointError(rejected.code, rejected.message, rejected.status) from rejected
        key_id = authorization.access_key_id
        credential = self.credentials.get(key_id) if looks_like_access_key_id(key_id) else None
        if credential is None or not credential.active:
            raise EndpointError(UNRECOGNIZED, _NOT_A_CREDENTIAL, 403)
        secret = self.secrets.secret_for(key_id)
        try:
            verify(
                request,
                authorization,
                secret,
                region=self.region,
                service=SIGNING_NAME,
                now=self.signing_clock(),
            )
        except SignatureRejected as rejected:
            raise EndpointError(rejected.code, rejected.message, rejected.status) from rejected
        return credential

    @staticmethod
    def _authorize(operation: str, credential: DeviceCredential, body: dict[str, Any]) -> None:
        """A device acts only for itself. Names that are missing or not strings are left
        to validation, which refuses them."""
        fleet, device = body.get("DeviceFleetName"), body.get("DeviceName")
        if not isinstance(fleet, str) or not isinstance(device, str):
            return
        if (fleet, device) != (credential.fleet, credential.device):
            raise EndpointError(
                DENIED,
                f"Access key {credential.access_key_id} is the credential of device "
                f"{credential.device!r} of fleet {credential.fleet!r}; it may not "
                f"{_VERBS[operation]} device {device[:63]!r} of fleet {fleet[:63]!r}.",
                403,
            )

    def _heartbeat(self, body: dict[str, Any], request_id: str) -> dict[str, Any]:
        """The request, as the EventBridge heartbeat it stands for, down the same path."""
        event = {
            "version": "0",
            "id": request_id,
            "detail-type": HEARTBEAT_DETAIL_TYPE,
            "source": HEARTBEAT_SOURCE,
            "time": iso(self.clock()),
            "region": self.region,
            "resources": [],
            "detail": body,
        }
        outcome = self.heartbeats.process(json.dumps(event), message_id=request_id)
        if outcome.rejected:
            raise EndpointError(VALIDATION, outcome.reason or "the heartbeat is invalid", 400)
        if outcome.unknown_device:
            raise EndpointError(
                VALIDATION,
                f"Device {body.get('DeviceName')!r} of fleet {body.get('DeviceFleetName')!r} "
                "is not registered: no deployment record names it. The heartbeat was kept "
                "as a report and changed nothing.",
                400,
            )
        return {}

    def _refused(self, operation: str, error: EndpointError, request_id: str, claimed: str) -> None:
        extra = {
            "operation": operation,
            "code": error.code,
            "access_key_id": claimed,  # as the request names it, whether or not it verified
            "request_id": request_id,
        }
        if error.refused_caller:
            logger.warning("edge endpoint request refused", extra=extra)
            metrics.add_metric(name="EdgeEndpointRequestsDenied", unit="Count", value=1)
        else:
            logger.info("edge endpoint request invalid", extra=extra)
