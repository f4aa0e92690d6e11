"""The edge endpoint in-process: a stock `sagemaker-edge` client whose requests become
the API Gateway HTTP API events the function gets, answered by EdgeEndpoint on moto."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.awsrequest import AWSResponse, HTTPHeaders
from botocore.config import Config

from dropzone.adapters.kms import Kms
from dropzone.store.edge_credentials import EdgeCredentials
from dropzone.workflows.edge.credentials import CredentialIssuer, IssuedCredential, SecretKeys
from dropzone.workflows.edge.endpoint import EdgeEndpoint
from dropzone_local.edge_endpoint import http_event
from tests.support.edge import EdgeWorld
from tests.support.fixtures import create_table

CREDENTIALS_TABLE = "dropzone-edge-credentials"
REGION = "us-east-1"
ENDPOINT_URL = "https://edge.example.test"


class _Body:
    def __init__(self, content: bytes) -> None:
        self._content = content

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._content


@dataclass
class EndpointWorld:
    edge: EdgeWorld
    key_arn: str

    @property
    def store(self) -> EdgeCredentials:
        return EdgeCredentials(CREDENTIALS_TABLE, self.edge.stack.dynamodb)

    def secrets(self) -> SecretKeys:
        return SecretKeys(Kms(boto3.client("kms", region_name=REGION)), self.key_arn)

    def issuer(self) -> CredentialIssuer:
        return CredentialIssuer(self.store, self.secrets())

    def endpoint(self, region: str = REGION) -> EdgeEndpoint:
        return EdgeEndpoint(
            region, self.store, self.secrets(), self.edge.answers(), self.edge.processor()
        )

    def client(
        self,
        credential: IssuedCredential | None = None,
        *,
        access_key_id: str | None = None,
        secret: str | None = None,
        region: str = REGION,
        endpoint: EdgeEndpoint | None = None,
        validate: bool = True,
        session_token: str | None = None,
        seen: list[dict[str, Any]] | None = None,
    ) -> Any:
        """A stock client, signing with the credential (or the keys given), whose every
        request the endpoint answers; `seen` collects the events it was given."""
        client = boto3.client(
            "sagemaker-edge",
            endpoint_url=ENDPOINT_URL,
            region_name=region,
            aws_access_key_id=access_key_id or (credential and credential.credential.access_key_id),
            aws_secret_access_key=secret or (credential and credential.secret_access_key),
            aws_session_token=session_token,
            config=Config(retries={"max_attempts": 1}, parameter_validation=validate),
        )
        answering = endpoint or self.endpoint()

        def send(request: Any, **_: Any) -> AWSResponse:
            url = urlsplit(request.url)
            headers = [("Host", url.netloc), *request.headers.items()]
            body = request.body or b""
            target = url.path + (f"?{url.query}" if url.query else "")
            event = http_event(
                request.method,
                target,
                [(k, v.decode() if isinstance(v, bytes) else str(v)) for k, v in headers],
                body if isinstance(body, bytes) else body.encode(),
                "203.0.113.7",
            )
            if seen is not None:
                seen.append(event)
            answer = answering.handle(event)
            response_headers = HTTPHeaders()
            for name, value in answer["headers"].items():
                response_headers[name] = value
            return AWSResponse(
                request.url,
                answer["statusCode"],
                response_headers,
                _Body(answer["body"].encode()),
            )

        client.meta.events.register("before-send.sagemaker-edge", send)
        return client


def endpoint_world(edge: EdgeWorld) -> EndpointWorld:
    create_table(edge.stack.dynamodb, "EdgeCredentialsTable", CREDENTIALS_TABLE)
    kms = boto3.client("kms", region_name=REGION)
    key = kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]
    return EndpointWorld(edge, key["Arn"])
