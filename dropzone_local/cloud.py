"""LocalCloud: the whole stack on one machine, from template.yaml, on moto.

    with LocalCloud() as cloud:
        cloud.add_endpoint("churn-model")
        cloud.put_object("sagemaker-async/churn-model/input.json", b"{...}")
        cloud.run_until_idle()
        print(cloud.jobs())

The template is the single source of truth: buckets, the table, queues (with their
redrive policies), topics and subscriptions, EventBridge rules and their patterns, and
the functions (handler, environment, event sources, batch sizes) are all read from it
(`provision`). Events travel as they do in AWS (`delivery`): S3 → EventBridge rule → SQS →
function (partial batch failures honoured), SNS → SQS → function, table stream →
function, and schedules as the clock moves (`schedules`). Services moto lacks are stood in
for by fakes that check every request against botocore's service model (`stand_ins`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from contextlib import ExitStack
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import boto3

from dropzone import aws, clock
from dropzone.models.jobs import Job
from dropzone.store.ledger import Ledger
from dropzone_local.delivery import EventSources
from dropzone_local.functions import LocalFunction, environment
from dropzone_local.lambda_service import FakeLambda
from dropzone_local.metrics import MetricsRecorder
from dropzone_local.moto_dispatch import dispatch_at_lower_cost
from dropzone_local.moto_events import event_rules_matched_at_lower_cost
from dropzone_local.moto_expressions import update_expressions_at_lower_cost
from dropzone_local.moto_items import item_sizes_kept_while_written
from dropzone_local.moto_jsonpath import jsonpath_compiled_once
from dropzone_local.moto_paths import QueueReads, sqs_retention_by_attribute
from dropzone_local.moto_queues import sqs_sends_reading_what_they_use
from dropzone_local.moto_requests import requests_at_lower_cost
from dropzone_local.moto_signing import requests_to_moto_signed_at_lower_cost
from dropzone_local.provision import ACCOUNT, LocalStack
from dropzone_local.sagemaker import FakeEndpoint
from dropzone_local.schedules import Schedules, scheduled_event
from dropzone_local.stand_ins import StandIns
from dropzone_local.template import TEMPLATE_PATH, load_template

_FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_SESSION_TOKEN": "local",
}
if TYPE_CHECKING:
    from dropzone.workflows.edge.answers import EdgeAnswers

StatusListener = Callable[[dict[str, Any]], None]


class LocalCloud(StandIns):
    """The stack of template.yaml, provisioned on moto, driven in-process.

    Open one at a time, with `with`: moto's mock, the environment, the clock and the patches
    it installs are the whole process's. Configuring one before opening it (its stand-ins'
    faults, endpoints' failures) is fine; reaching its services is not, since outside the
    `with` block boto3 would reach whatever account the machine's credentials name.
    """

    _open: ClassVar[LocalCloud | None] = None  # the one open in this process

    def __init__(
        self,
        template_path: Path = TEMPLATE_PATH,
        *,
        stack_name: str = "dropzone-local",
        region: str = "us-east-1",
        parameters: dict[str, str] | None = None,
        function_environment: dict[str, str] | None = None,
    ) -> None:
        super().__init__(region=region, account=ACCOUNT)
        self.template_path = template_path
        self.template = load_template(template_path)
        self.stack_name = stack_name
        self.region = region
        self._stack = LocalStack(
            self.template,
            template_path,
            stack_name=stack_name,
            region=region,
            parameters=parameters or {},
            function_environment=function_environment or {},
        )
        self._delivery = EventSources(self._stack, self.client, self.invoke)
        self._schedules = Schedules(self._stack.functions)
        self.lambda_service = FakeLambda(
            resolve=self.resolve_function, run=self.invoke, on_failure=self._delivery.fail_async
        )
        self.status_events: list[dict[str, Any]] = []
        self.invocations: list[tuple[str, dict[str, Any]]] = []
        self.metrics = MetricsRecorder()  # what the functions emit, and what LocalCloud sees
        self._listeners: list[StatusListener] = []
        self._exit = ExitStack()
        self._clients: dict[str, Any] = {}
        self._function_clients: dict[str, Any] = {}
        self._closed = False

    # -- lifecycle -----------------------------------------------------------------------

    def __enter__(self) -> LocalCloud:
        if LocalCloud._open is self:
            raise RuntimeError("This LocalCloud is already open: use the one you have.")
        if LocalCloud._open is not None:
            raise RuntimeError(
                "Another LocalCloud is already open in this process. moto's mock, the "
                "environment, the clock and LocalCloud's patches are process-wide: close it "
                "(leave its `with` block, or call its close()) before opening one."
            )
        if self._closed:
            raise RuntimeError("This LocalCloud was closed; make a new one to start again.")
        LocalCloud._open = self
        self._exit.callback(self._closing)
        try:
            return self._enter()
        except BaseException:
            self._exit.close()  # undo whatever was set up: moto, environment, clients, clock
            raise

    def close(self) -> None:
        """Undo what opening did (moto, the environment, the clock, the patches), as leaving
        the `with` block does. Closing a cloud that is not open does nothing."""
        self._exit.close()

    def _closing(self) -> None:
        self._closed = True
        self._clients.clear()
        self._function_clients.clear()
        LocalCloud._open = None

    def _require_open(self) -> None:
        if LocalCloud._open is not self:
            state = "was closed: make a new one and" if self._closed else "is not open:"
            raise RuntimeError(
                f"This LocalCloud {state} use it inside `with LocalCloud() as cloud:`. "
                "Outside that block, boto3 would reach real AWS."
            )

    def _enter(self) -> LocalCloud:
        from moto import mock_aws

        clock.reset()
        self._exit.callback(clock.reset)
        self._exit.enter_context(
            environment({**_FAKE_CREDENTIALS, "AWS_DEFAULT_REGION": self.region})
        )
        self._exit.enter_context(mock_aws())
        self._exit.enter_context(sqs_retention_by_attribute())
        self._exit.enter_context(update_expressions_at_lower_cost())
        self._exit.enter_context(requests_at_lower_cost())
        self._exit.enter_context(requests_to_moto_signed_at_lower_cost())
        self._exit.enter_context(dispatch_at_lower_cost())
        self._exit.enter_context(item_sizes_kept_while_written())
        self._exit.enter_context(sqs_sends_reading_what_they_use())
        self._exit.enter_context(event_rules_matched_at_lower_cost())
        self._exit.enter_context(jsonpath_compiled_once())
        aws.reset_clients()
        self._exit.callback(aws.reset_clients)
        self._function_clients = {
            "sagemaker-runtime": self.sagemaker,
            "lambda": self.lambda_service,
            "bedrock": self.bedrock,
            "bedrock-runtime": self.bedrock_runtime,
            "lookoutvision": self.lookoutvision,
            "greengrassv2": self.greengrass,
            "pricing": self.price_list.client(),
            "sqs": self._delivery.watched_sqs(),
        }
        self._stack.provision(self.client)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- what a user does ----------------------------------------------------------------

    @property
    def dropzone_bucket(self) -> str:
        return self.output("DropZoneBucketName")

    @property
    def results_bucket(self) -> str:
        return self.output("ResultsBucketName")

    def output(self, name: str) -> str:
        return self._stack.output(name)

    def deployed_output(self, name: str) -> str:
        """The output's value, or "" when its condition leaves it out of this stack."""
        return self._stack.deployed_output(name)

    def parameter(self, name: str) -> str:
        return self._stack.parameter(name)

    def client(self, service: str) -> Any:
        self._require_open()
        if service not in self._clients:
            extra = {}
            if service == "dynamodbstreams":  # moto answers only the classic endpoint
                extra["endpoint_url"] = f"https://streams.dynamodb.{self.region}.amazonaws.com"
            self._clients[service] = boto3.client(service, region_name=self.region, **extra)  # type: ignore[call-overload]
        return self._clients[service]

    def function_client(self, service: str) -> Any:
        """The client a function's collaborators get for a service: the stand-in for what
        moto lacks, else moto's. Handed to each handler's factory (`aws.ClientSource`)."""
        self._require_open()
        return self._function_clients.get(service) or self.client(service)

    def add_endpoint(self, name: str, *, failure_reason: str | None = None) -> None:
        """An asynchronous endpoint whose outputs go to the results bucket and whose
        notifications go to the stack's success and error topics."""
        self.sagemaker.add_endpoint(
            FakeEndpoint(name, self.results_bucket, failure_reason=failure_reason)
        )

    def put_object(
        self,
        key: str,
        body: bytes,
        *,
        metadata: dict[str, str] | None = None,
        content_type: str | None = None,
    ) -> dict[str, Any]:
        extra: dict[str, Any] = {}
        if metadata:
            extra["Metadata"] = metadata
        if content_type:
            extra["ContentType"] = content_type
        response: dict[str, Any] = self.client("s3").put_object(
            Bucket=self.dropzone_bucket, Key=key, Body=body, **extra
        )
        return response

    def redeliver(self, key: str, version_id: str) -> None:
        """Deliver an object's Object Created event once more, as EventBridge may."""
        head = self.client("s3").head_object(
            Bucket=self.dropzone_bucket, Key=key, VersionId=version_id
        )
        detail = {
            "version": "0",
            "bucket": {"name": self.dropzone_bucket},
            "object": {
                "key": key,
                "size": head["ContentLength"],
                "etag": head["ETag"].strip('"'),
                "version-id": version_id,
                "sequencer": "0" * 16,
            },
            "reason": "PutObject",
        }
        self.client("events").put_events(
            Entries=[
                {
                    "Source": "aws.s3",
                    "DetailType": "Object Created",
                    "Detail": json.dumps(detail),
                    "Resources": [f"arn:aws:s3:::{self.dropzone_bucket}"],
                }
            ]
        )

    def on_status(self, listener: StatusListener) -> None:
        self._listeners.append(listener)

    def ledger(self) -> Ledger:
        return Ledger(self.output("JobsTableName"), self.client("dynamodb"))

    def jobs(self) -> list[Job]:
        ledger = self.ledger()
        paginator = self.client("dynamodb").get_paginator("scan")
        ids = [
            item["job_id"]["S"]
            for page in paginator.paginate(
                TableName=ledger.table_name, ProjectionExpression="job_id"
            )
            for item in page.get("Items", [])
        ]
        jobs = [job for job in (ledger.get(job_id) for job_id in ids) if job is not None]
        return sorted(jobs, key=lambda job: (job.created_at, job.job_id))

    def job(self, job_id: str) -> Job | None:
        return self.ledger().get(job_id)

    def read_object(self, uri: str) -> bytes:
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        body: bytes = self.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
        return body

    def objects(self, prefix: str = "", *, bucket: str | None = None) -> list[str]:
        """Keys under `prefix` in a bucket (the results bucket unless named)."""
        paginator = self.client("s3").get_paginator("list_objects_v2")
        return [
            item["Key"]
            for page in paginator.paginate(Bucket=bucket or self.results_bucket, Prefix=prefix)
            for item in page.get("Contents", [])
        ]

    def queue_depth(self, output_name: str) -> int:
        attributes = self.client("sqs").get_queue_attributes(
            QueueUrl=self.output(output_name), AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"])

    # -- the edge ------------------------------------------------------------------------

    def edge_answers(self) -> EdgeAnswers:
        """What the shared package answers devices: GetDeployments, GetDeviceRegistration."""
        # Imported here: the workflows build Powertools' logger on import, and a function's
        # environment (its log level) applies only once the local cloud runs it.
        from dropzone.store.devices import Devices
        from dropzone.workflows.edge.answers import EdgeAnswers

        return EdgeAnswers(
            self.ledger(), Devices(self.output("EdgeDevicesTableName"), self.client("dynamodb"))
        )

    # -- driving -------------------------------------------------------------------------

    def run_until_idle(self, *, max_rounds: int = 200) -> int:
        """Deliver everything in flight until nothing moves; return the rounds taken.
        Events held back by `unreliable_events()` are released, reordered, once the rest
        is idle. The queues' depths are recorded as it starts and as it ends."""
        self._sample_queues()
        for round_number in range(1, max_rounds + 1):
            moved = self._delivery.pump_queues() + self._delivery.pump_streams()
            moved += self._delivery.pump_endpoints(self.sagemaker)
            moved += self.lambda_service.run_pending()
            moved += self._advance_services()
            moved += self._poll_devices(self.edge_answers)
            moved += self._delivery.drain_status_events(self._receive_status_event)
            if not moved and self.unreliable is not None:
                moved += self.unreliable.flush()
            if not moved:
                self._sample_queues()
                return round_number
        raise RuntimeError(f"still busy after {max_rounds} rounds")

    def advance(self, delta: timedelta = timedelta(minutes=1)) -> int:
        """Move the clock forward: Dropzone's, and the stand-ins' (which share it). On the
        way, each scheduled function runs at every time its template `rate(...)` comes due,
        in time order, and what it sets moving is delivered before the next one; messages a
        function postponed come back once their time has passed. At the end every device
        sends its periodic heartbeat. Returns the number of scheduled runs."""
        self._require_open()  # before the clock moves
        if delta < timedelta(0):
            raise ValueError("the clock only moves forward")
        start = clock.utcnow()
        end = start + delta
        due = self._schedules.due(start, end)
        for at, logical_id, expression in due:
            clock.advance(max(timedelta(0), at - clock.utcnow()))  # real time runs on too
            self._delivery.release_postponed()
            self._run_schedule(logical_id, expression, at)
            self.run_until_idle()
        clock.advance(max(timedelta(0), end - clock.utcnow()))
        self._delivery.release_postponed()
        for device in self.devices:
            self._send_heartbeats(device, [device.heartbeat()])
        self.run_until_idle()
        return len(due)

    def run_schedules(self) -> None:
        """Run every scheduled function once, as its schedule would, without moving time."""
        for logical_id, expression in self._schedules.all():
            self._run_schedule(logical_id, expression, clock.utcnow())

    def _run_schedule(self, logical_id: str, expression: str, at: datetime) -> None:
        self.invoke(
            logical_id, scheduled_event(expression, at, account=ACCOUNT, region=self.region)
        )

    def _receive_status_event(self, event: dict[str, Any]) -> None:
        self.status_events.append(event)
        for listener in self._listeners:
            listener(event)

    def invoke(self, logical_id: str, event: dict[str, Any]) -> Any:
        """Run a function's real handler with its template environment."""
        self._require_open()
        function = self._stack.functions[logical_id]
        self.invocations.append((logical_id, event))
        started, failed = time.perf_counter(), True
        try:
            result = function.run(
                event, self.function_client, region=self.region, recorder=self.metrics
            )
            failed = False
            return result
        finally:
            self.metrics.invocation(
                self._stack.ref(logical_id),
                milliseconds=(time.perf_counter() - started) * 1000,
                failed=failed,
            )

    def _sample_queues(self) -> None:
        """Each of the stack's queues' ApproximateNumberOfMessages, read from moto's queues
        as ListQueues and GetQueueAttributes would answer them (`moto_paths.QueueReads`)."""
        observer = self._stack.observer_queue.rsplit("/", 1)[-1]
        for name, depth in QueueReads(self.region).depths(f"{self.stack_name}-"):
            if name != observer:  # LocalCloud's own, not the stack's
                self.metrics.queue_depth(name, depth)

    def resources(self, resource_type: str) -> dict[str, dict[str, Any]]:
        """The stack's deployed resources of a type: logical id → resolved properties."""
        return self._stack.resolved(resource_type)

    @property
    def functions(self) -> dict[str, LocalFunction]:
        return dict(self._stack.functions)

    def resolve_function(self, name: str) -> str | None:
        """A function's logical id from any name Lambda accepts: the name, a full or
        partial ARN (with or without a qualifier), or the template's logical id."""
        return self._stack.function_named(name)
