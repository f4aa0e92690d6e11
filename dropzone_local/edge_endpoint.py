"""The edge endpoint offline: its own handler, over HTTP on localhost, answering from the
state a LocalCloud saved (`dropzone edge serve --local`), and the device credentials it
checks (`dropzone edge credentials ... --local`).

`LocalEdge` brings up a LocalCloud of the saved run's template and parameters with the
endpoint switched on, puts the saved ledger, device records and credentials in it, and
gives the local HMAC key the material the saved state keeps, so that a credential issued
in one command verifies in the next. (In AWS the material never leaves KMS; locally it is
kept in the state file, next to the run it belongs to.) What a request changes (the
ledger, the device records, the credentials) is written back to the state file.

`serve` takes each connection on its own thread (clients keep connections open) and
answers one request at a time: each becomes the API Gateway HTTP API event
(payload format 2.0) the function gets in AWS, and the function's answer goes back as the
HTTP response. Nothing else listens, and nothing reaches the network.
"""

from __future__ import annotations

import base64
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dropzone_local.state import (
    STATE_FILE,
    LocalState,
    StateError,
    load,
    scan_table,
    seed,
    update_edge,
)

if TYPE_CHECKING:
    from dropzone.workflows.edge.credentials import CredentialIssuer
    from dropzone_local.cloud import LocalCloud

FUNCTION = "EdgeEndpointFunction"
MAX_REQUEST_BYTES = 1024 * 1024


class LocalEdge:
    """A LocalCloud for the saved run, its edge endpoint on."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.state: LocalState = load(directory)
        parameters = dict(self.state.parameters)
        if parameters.get("EnableEdgeDeployment", "true") != "true":
            raise StateError(
                f"the run saved in {directory} has the edge workflow switched off "
                "(EnableEdgeDeployment=false): it has no devices to answer for"
            )
        parameters["EdgeEndpoint"] = "Enabled"
        self._parameters = parameters
        self.cloud: LocalCloud | None = None
        self._seen = self._stamp()  # the state file as this cloud last read or wrote it

    @contextmanager
    def running(self) -> Iterator[LocalCloud]:
        from dropzone_local.cloud import LocalCloud

        known = set(_template_parameters())
        parameters = {name: value for name, value in self._parameters.items() if name in known}
        with LocalCloud(
            stack_name=self.state.stack_name or "dropzone-local",
            region=self.state.region or "us-east-1",
            parameters=parameters,
        ) as cloud:
            self.cloud = cloud
            seed(cloud, self.state)
            _resume_clock(self.state.clock)
            if not self.state.device_items:
                _register_from_ledger(cloud, self.state)
            self._key_material(cloud)
            self._seen = self._stamp()
            try:
                yield cloud
            finally:
                self.cloud = None

    def issuer(self) -> CredentialIssuer:
        from dropzone.adapters.kms import Kms
        from dropzone.store.edge_credentials import EdgeCredentials
        from dropzone.workflows.edge.credentials import CredentialIssuer, SecretKeys

        cloud = self._cloud()
        return CredentialIssuer(
            EdgeCredentials(cloud.output("EdgeCredentialsTableName"), cloud.client("dynamodb")),
            SecretKeys(Kms(cloud.client("kms")), cloud.output("EdgeCredentialsKeyArn")),
        )

    def keep_requests(self) -> None:
        """Write what requests change (the ledger and the device records) back to the
        state file, leaving its credentials to the commands that manage them."""
        cloud = self._cloud()
        update_edge(
            self.directory,
            job_items=scan_table(cloud, "JobsTableName"),
            device_items=scan_table(cloud, "EdgeDevicesTableName"),
        )
        self._seen = self._stamp()

    def keep_credentials(self) -> None:
        """Write the credentials back to the state file, and nothing else."""
        update_edge(
            self.directory, credential_items=scan_table(self._cloud(), "EdgeCredentialsTableName")
        )
        self._seen = self._stamp()

    def refresh_credentials(self) -> None:
        """Take up credentials another command issued or revoked since this cloud read
        them: the state file is their one record while the endpoint runs."""
        stamp = self._stamp()
        if stamp == self._seen:
            return
        cloud = self._cloud()
        table = cloud.output("EdgeCredentialsTableName")
        dynamodb = cloud.client("dynamodb")
        for item in scan_table(cloud, "EdgeCredentialsTableName"):
            dynamodb.delete_item(TableName=table, Key={"access_key_id": item["access_key_id"]})
        for item in load(self.directory).credential_items:
            dynamodb.put_item(TableName=table, Item=item)
        self._seen = stamp

    def _stamp(self) -> tuple[int, int]:
        status = (self.directory / STATE_FILE).stat()
        return (status.st_mtime_ns, status.st_size)

    def answer(self, event: dict[str, Any]) -> dict[str, Any]:
        response: dict[str, Any] = self._cloud().invoke(FUNCTION, event)
        return response

    def _cloud(self) -> LocalCloud:
        if self.cloud is None:
            raise RuntimeError("the local edge endpoint is not running")
        return self.cloud

    def _key_material(self, cloud: LocalCloud) -> None:
        """The saved material; else the material moto drew, saved at once, so that every
        command from now on (a server running meanwhile too) derives the same secrets."""
        from moto.kms.models import kms_backends

        from dropzone_local.provision import ACCOUNT

        key_id = cloud.output("EdgeCredentialsKeyArn").rsplit("/", 1)[-1]
        key = kms_backends[ACCOUNT][cloud.region].keys[key_id]
        if self.state.edge_key_material is None:
            self.state.edge_key_material = bytes(key.key_material)
            update_edge(self.directory, key_material=self.state.edge_key_material)
        else:
            key.key_material = self.state.edge_key_material


def _resume_clock(saved: str) -> None:
    """Carry on from the saved run's time when it is ahead of now (the demo moves its clock
    on): a heartbeat taken now must not be older than the ones the run recorded."""
    from dropzone import clock

    if not saved:
        return
    ahead = datetime.fromisoformat(saved.replace("Z", "+00:00")) - clock.utcnow()
    if ahead > timedelta(0):
        clock.advance(ahead)


def _template_parameters() -> list[str]:
    from dropzone_local.template import TEMPLATE_PATH, load_template

    return list(load_template(TEMPLATE_PATH).get("Parameters", {}))


def _register_from_ledger(cloud: LocalCloud, state: LocalState) -> None:
    """A run saved before device records were kept: each edge deployment record registers
    the devices it names, as its intake did."""
    from dropzone.models.jobs import JobKind
    from dropzone.store.devices import Devices
    from dropzone.workflows.edge.rules import devices_of

    devices = Devices(cloud.output("EdgeDevicesTableName"), cloud.client("dynamodb"))
    for job in state.jobs():
        if job.kind is JobKind.EDGE_DEPLOYMENT and job.target:
            devices.register(job.target, devices_of(job), job.job_id)


def http_event(
    method: str, target: str, headers: list[tuple[str, str]], body: bytes, source_ip: str
) -> dict[str, Any]:
    """The API Gateway HTTP API event (payload format 2.0) for one HTTP request."""
    path, _, query = target.partition("?")
    joined: dict[str, str] = {}
    for name, value in headers:
        key = name.lower()
        joined[key] = f"{joined[key]},{value}" if key in joined else value
    now = datetime.now(UTC)
    return {
        "version": "2.0",
        "routeKey": f"{method} {path}",
        "rawPath": path,
        "rawQueryString": query,
        "headers": joined,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": joined.get("host", "localhost"),
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": joined.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": f"{method} {path}",
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "body": base64.b64encode(body).decode("ascii"),
        "isBase64Encoded": True,
    }


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # an open connection never holds the process at exit


def failure(event: dict[str, Any]) -> dict[str, Any]:
    """What AWS would answer when the function fails: the model's one error, 500."""
    from dropzone.workflows.edge.endpoint_protocol import INTERNAL, EndpointError, error_response

    message = "The local edge endpoint failed; its output says why. Try again."
    return error_response(
        EndpointError(INTERNAL, message, 500), event["requestContext"]["requestId"]
    )


def serve(
    edge: LocalEdge,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    on_ready: Callable[[str], None] = lambda url: None,
) -> None:
    """Answer requests until interrupted; `on_ready` gets the endpoint URL once listening."""

    one_at_a_time = threading.Lock()  # the local cloud is one process-wide moto

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self._answer()

        def do_GET(self) -> None:
            self._answer()

        def do_PUT(self) -> None:
            self._answer()

        def do_PATCH(self) -> None:
            self._answer()

        def do_DELETE(self) -> None:
            self._answer()

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_REQUEST_BYTES:
                self.send_error(413, "request body too large")
                return
            body = self.rfile.read(length)
            event = http_event(
                self.command, self.path, list(self.headers.items()), body, self.client_address[0]
            )
            with one_at_a_time:
                try:
                    edge.refresh_credentials()
                    response = edge.answer(event)
                    if self.command == "POST" and self.path == "/SendHeartbeat":
                        edge.keep_requests()  # answered once kept, as a table write would be
                except Exception as error:  # the client gets a 500, standard error the reason
                    print(f"the local edge endpoint failed: {error!r}", file=sys.stderr)
                    response = failure(event)
            payload = str(response.get("body") or "").encode("utf-8")
            self.send_response(int(response.get("statusCode", 500)))
            for name, value in (response.get("headers") or {}).items():
                self.send_header(name, str(value))
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the function logs each request itself."""

    with _Server((host, port), Handler) as server:
        on_ready(f"http://{host}:{server.server_address[1]}")
        server.serve_forever()
