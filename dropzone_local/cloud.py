"""LocalCloud: the whole stack on one machine, from template.yaml, on moto.

    with LocalCloud() as cloud:
        cloud.add_endpoint("churn-model")
        cloud.put_object("sagemaker-async/churn-model/input.json", b"{...}")
        cloud.run_until_idle()
        print(cloud.jobs())

The template is the single source of truth: buckets, the table, queues (with their
redrive policies), topics and subscriptions, EventBridge rules and their patterns, and
the functions (handler, environment, event sources, batch sizes) are all read from it.
Events travel as they do in AWS: S3 → EventBridge rule → SQS → function (partial batch
failures honoured), SNS → SQS → function, table stream → function. Services moto lacks
are stood in for by fakes that check every request against botocore's service model.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import os
import re
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import boto3

from dropzone import aws, clock
from dropzone.aws import ClientSource
from dropzone.models.jobs import Job
from dropzone.store.ledger import Ledger
from dropzone_local.bedrock import Deliver, FakeBedrock, PutEventsDelivery, UnreliableDelivery
from dropzone_local.edge_devices import FakeEdgeDevice
from dropzone_local.greengrass import FakeGreengrass
from dropzone_local.intrinsics import Resolver
from dropzone_local.lambda_service import FakeLambda
from dropzone_local.lookoutvision import FakeLookoutVision
from dropzone_local.sagemaker import FakeEndpoint, FakeSageMakerRuntime
from dropzone_local.template import TEMPLATE_PATH, load_template

ACCOUNT = "123456789012"
_FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_SESSION_TOKEN": "local",
}
if TYPE_CHECKING:
    from dropzone.workflows.edge_answers import EdgeAnswers

StatusListener = Callable[[dict[str, Any]], None]
_INVOKING: ContextVar[str | None] = ContextVar("dropzone_local_invoking", default=None)


def invoking() -> str | None:
    """The logical id of the function LocalCloud is running right now, None between
    invocations: lets a test or benchmark tell the functions' AWS calls from its own."""
    return _INVOKING.get()


@dataclass
class LocalFunction:
    logical_id: str
    handler_path: Path
    handler_name: str
    environment: dict[str, str]
    sqs_sources: list[tuple[str, int]] = field(default_factory=list)  # (queue URL, batch size)
    stream_sources: list[tuple[str, int]] = field(default_factory=list)  # (stream ARN, batch)
    schedules: list[str] = field(default_factory=list)
    on_failure_queue: str | None = None
    timeout_seconds: int = 3
    memory_mb: int = 128
    _module: ModuleType | None = None

    def module(self) -> ModuleType:
        if self._module is None:
            name = f"dropzone_local_functions.{self.logical_id}_{uuid.uuid4().hex[:8]}"
            spec = importlib.util.spec_from_file_location(name, self.handler_path)
            if spec is None or spec.loader is None:
                raise ImportError(f"cannot load {self.handler_path}")
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
            self._module = module
        return self._module

    def handler(self) -> Callable[..., Any]:
        return getattr(self.module(), self.handler_name)  # type: ignore[no-any-return]

    def entry(self, client: ClientSource) -> tuple[Callable[..., Any], dict[str, Any]]:
        """The handler and its collaborator (as the keyword argument it takes), built by the
        module's own factory with the given clients: `handler(event, context, x=None)` has
        `default_x(client)`."""
        handler = self.handler()
        name = list(inspect.signature(handler).parameters)[2]
        factory = getattr(self.module(), f"default_{name}")
        return handler, {name: factory(client)}


@dataclass
class _LambdaContext:
    """The context Lambda hands a handler: its remaining time counts down from the
    function's own Timeout in the template."""

    function_name: str
    region: str
    memory_limit_in_mb: int
    timeout_seconds: int
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    _started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:{ACCOUNT}:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        elapsed = time.monotonic() - self._started
        return max(0, int((self.timeout_seconds - elapsed) * 1000))


class LocalCloud:
    """The stack of template.yaml, provisioned on moto, driven in-process."""

    def __init__(
        self,
        template_path: Path = TEMPLATE_PATH,
        *,
        stack_name: str = "dropzone-local",
        region: str = "us-east-1",
        parameters: dict[str, str] | None = None,
        function_environment: dict[str, str] | None = None,
    ) -> None:
        self.template_path = template_path
        self.template = load_template(template_path)
        self.stack_name = stack_name
        self.region = region
        self.sagemaker = FakeSageMakerRuntime(region=region, account=ACCOUNT)
        self.bedrock = FakeBedrock(account=ACCOUNT, region=region)
        self.bedrock_peak_in_flight = 0  # the most batch jobs Bedrock held at once
        self.greengrass = FakeGreengrass(account=ACCOUNT, region=region)
        self.lookoutvision = FakeLookoutVision(
            account=ACCOUNT, region=region, greengrass=self.greengrass
        )
        self.devices: list[FakeEdgeDevice] = []
        self.unreliable: UnreliableDelivery | None = None
        self.lambda_service = FakeLambda(
            resolve=self.resolve_function, run=self.invoke, on_failure=self._async_failure
        )
        self.status_events: list[dict[str, Any]] = []
        self.invocations: list[tuple[str, dict[str, Any]]] = []
        self._listeners: list[StatusListener] = []
        self._parameter_overrides = parameters or {}
        self._function_environment = function_environment or {}
        self._physical: dict[str, str] = {}
        self._arns: dict[str, str] = {}
        self._functions: dict[str, LocalFunction] = {}
        self._stream_iterators: dict[str, str] = {}
        self._exit = ExitStack()
        self._clients: dict[str, Any] = {}
        self._stand_ins: dict[str, Any] = {}
        self._observer_queue = ""
        self._schedule_due: dict[tuple[str, str], datetime] = {}
        # Messages a function hid for longer (a postponed retry): receipt → (queue, due).
        self._postponed: dict[str, tuple[str, datetime]] = {}

    # -- lifecycle -----------------------------------------------------------------------

    def __enter__(self) -> LocalCloud:
        try:
            return self._enter()
        except BaseException:
            self._exit.close()  # undo whatever was set up: moto, environment, clients, clock
            raise

    def _enter(self) -> LocalCloud:
        from moto import mock_aws

        clock.reset()
        self._exit.callback(clock.reset)
        self._exit.enter_context(
            _environment({**_FAKE_CREDENTIALS, "AWS_DEFAULT_REGION": self.region})
        )
        self._exit.enter_context(mock_aws())
        aws.reset_clients()
        self._exit.callback(aws.reset_clients)
        self._stand_ins = {
            "sagemaker-runtime": self.sagemaker,
            "lambda": self.lambda_service,
            "bedrock": self.bedrock,
            "lookoutvision": self.lookoutvision,
            "greengrassv2": self.greengrass,
            "sqs": _WatchedSqs(self.client("sqs"), self._postponed),
        }
        self._resolver = self._make_resolver()
        self._provision()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._exit.close()

    # -- what a user does ----------------------------------------------------------------

    @property
    def dropzone_bucket(self) -> str:
        return self.output("DropZoneBucketName")

    @property
    def results_bucket(self) -> str:
        return self.output("ResultsBucketName")

    def output(self, name: str) -> str:
        return str(self._resolver(self.template["Outputs"][name]["Value"]))

    def parameter(self, name: str) -> str:
        return str(self._resolver.reference(name))

    def client(self, service: str) -> Any:
        if service not in self._clients:
            extra = {}
            if service == "dynamodbstreams":  # moto answers only the classic endpoint
                extra["endpoint_url"] = f"https://streams.dynamodb.{self.region}.amazonaws.com"
            self._clients[service] = boto3.client(service, region_name=self.region, **extra)  # type: ignore[call-overload]
        return self._clients[service]

    def function_client(self, service: str) -> Any:
        """The client a function's collaborators get for a service: the stand-in for what
        moto lacks, else moto's. Handed to each handler's factory (`aws.ClientSource`)."""
        return self._stand_ins.get(service) or self.client(service)

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

    # -- model packaging and the edge ----------------------------------------------------

    def add_packaging_project(self, name: str, model_versions: tuple[int, ...] = (1,)) -> None:
        """A Lookout for Vision project with trained model versions that can be packaged."""
        self.lookoutvision.add_project(name, model_versions)

    def add_core_devices(self, target_arn: str, things: list[str]) -> None:
        """Greengrass core devices behind a thing or thing-group ARN."""
        self.greengrass.add_core_devices(target_arn, things)

    def add_device(self, fleet: str, name: str) -> FakeEdgeDevice:
        """An edge device whose agent asks Dropzone for its deployments on every round of
        `run_until_idle()`, installs them and reports back with heartbeats. `fail(handle,
        reason)` on the returned device makes installing that model fail."""
        device = FakeEdgeDevice(fleet, name)
        self.devices.append(device)
        return device

    def edge_answers(self) -> EdgeAnswers:
        """What the shared package answers devices: GetDeployments, GetDeviceRegistration."""
        # Imported here: the workflows build Powertools' logger on import, and a function's
        # environment (its log level) applies only once the local cloud runs it.
        from dropzone.store.devices import Devices
        from dropzone.workflows.edge_answers import EdgeAnswers

        return EdgeAnswers(
            self.ledger(), Devices(self.output("EdgeDevicesTableName"), self.client("dynamodb"))
        )

    # -- faults --------------------------------------------------------------------------

    def inject_faults(self, service: str, *error_codes: str) -> None:
        """The next calls Dropzone makes to a stood-in service fail with these error codes,
        one call each, in order: e.g. `("bedrock", "ServiceQuotaExceededException")`,
        `("sagemaker-runtime", "ThrottlingException", "ServiceUnavailable")`."""
        fakes: dict[str, Any] = {
            "sagemaker-runtime": self.sagemaker,
            "bedrock": self.bedrock,
            "lookoutvision": self.lookoutvision,
            "greengrassv2": self.greengrass,
        }
        if service not in fakes:
            raise ValueError(f"no stand-in for {service!r}; one of {sorted(fakes)}")
        fakes[service].inject_faults(*error_codes)

    def slow(self, service: str, rounds: int, *, name: str = "*") -> None:
        """Keep a stood-in service's jobs running for `rounds` more steps: Bedrock batch jobs
        and Lookout for Vision packaging jobs by job name, Greengrass deployments by core
        device thing name ("*": all). `run_until_idle()` returns once nothing else moves, with
        such a job still running; each further call moves it on. For slowness in time, set
        `cloud.lookoutvision.run_time` (a timedelta) and move the clock with `advance()`."""
        if rounds < 0:
            raise ValueError("rounds must be 0 or more")
        slow: dict[str, dict[str, int]] = {
            "bedrock": self.bedrock.slow_jobs,
            "lookoutvision": self.lookoutvision.slow_jobs,
            "greengrassv2": self.greengrass.slow_devices,
        }
        if service not in slow:
            raise ValueError(f"no jobs to slow down in {service!r}; one of {sorted(slow)}")
        slow[service][name] = rounds

    def unreliable_events(
        self, *, seed: int = 0, drop: float = 0.0, hold: float = 0.0, duplicate: float = 0.0
    ) -> UnreliableDelivery:
        """Make the services' events best effort, as EventBridge is: Bedrock job state
        changes, Greengrass deployment status changes and device heartbeats are dropped,
        held back (and delivered late and reordered once everything else is idle) or
        delivered twice, with these probabilities, reproducibly from `seed`."""
        self.unreliable = UnreliableDelivery(
            PutEventsDelivery(self.client("events")),
            seed=seed,
            drop=drop,
            hold=hold,
            duplicate=duplicate,
        )
        self.bedrock.deliver = self.unreliable
        self.greengrass.deliver = self.unreliable
        return self.unreliable

    # -- driving -------------------------------------------------------------------------

    def run_until_idle(self, *, max_rounds: int = 200) -> int:
        """Deliver everything in flight until nothing moves; return the rounds taken.
        Events held back by `unreliable_events()` are released, reordered, once the rest
        is idle."""
        for round_number in range(1, max_rounds + 1):
            moved = self._pump_queues() + self._pump_streams() + self._pump_endpoints()
            moved += self.lambda_service.run_pending()
            self.bedrock_peak_in_flight = max(self.bedrock_peak_in_flight, self.bedrock.in_flight)
            moved += len(self.bedrock.advance()) if self.bedrock.in_flight else 0
            moved += len(self.lookoutvision.advance()) if self.lookoutvision.in_flight else 0
            moved += len(self.greengrass.advance()) if self.greengrass.in_flight else 0
            moved += self._poll_devices()
            moved += self._drain_observer()
            if not moved and self.unreliable is not None:
                moved += self.unreliable.flush()
            if not moved:
                return round_number
        raise RuntimeError(f"still busy after {max_rounds} rounds")

    def advance(self, delta: timedelta = timedelta(minutes=1)) -> int:
        """Move the clock forward: Dropzone's, and the stand-ins' (which share it). On the
        way, each scheduled function runs at every time its template `rate(...)` comes due,
        in time order, and what it sets moving is delivered before the next one; messages a
        function postponed come back once their time has passed. At the end every device
        sends its periodic heartbeat. Returns the number of scheduled runs."""
        if delta < timedelta(0):
            raise ValueError("the clock only moves forward")
        start = clock.utcnow()
        end = start + delta
        due: list[tuple[datetime, str, str]] = []
        for function in self._functions.values():
            for expression in function.schedules:
                period = schedule_period(expression)
                key = (function.logical_id, expression)
                at = self._schedule_due.setdefault(key, start + period)
                while at <= end:
                    due.append((at, function.logical_id, expression))
                    at += period
                self._schedule_due[key] = at
        for at, logical_id, expression in sorted(due):
            clock.advance(max(timedelta(0), at - clock.utcnow()))  # real time runs on too
            self._release_postponed()
            self._run_schedule(logical_id, expression, at)
            self.run_until_idle()
        clock.advance(max(timedelta(0), end - clock.utcnow()))
        self._release_postponed()
        for device in self.devices:
            self._send_heartbeats(device, [device.heartbeat()])
        self.run_until_idle()
        return len(due)

    def _release_postponed(self) -> None:
        now = clock.utcnow()
        sqs = self.client("sqs")
        for receipt, (url, at) in list(self._postponed.items()):
            if at <= now:
                del self._postponed[receipt]
                try:
                    sqs.change_message_visibility(
                        QueueUrl=url, ReceiptHandle=receipt, VisibilityTimeout=0
                    )
                except sqs.exceptions.ReceiptHandleIsInvalid:
                    continue  # the message was received again or deleted since

    def run_schedules(self) -> None:
        """Run every scheduled function once, as its schedule would, without moving time."""
        for function in self._functions.values():
            for expression in function.schedules:
                self._run_schedule(function.logical_id, expression, clock.utcnow())

    def _run_schedule(self, logical_id: str, expression: str, at: datetime) -> None:
        event = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.scheduler",
            "account": ACCOUNT,
            "time": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": self.region,
            "resources": [expression],
            "detail": {},
        }
        self.invoke(logical_id, event)

    def _poll_devices(self) -> int:
        """Each device agent asks for its deployments; those with news report back."""
        if not self.devices:
            return 0
        answers, sent = self.edge_answers(), 0
        for device in self.devices:
            acted_on = len(device.applied)
            details = device.poll(answers)
            if len(device.applied) > acted_on:
                sent += self._send_heartbeats(device, details)
        return sent

    def _send_heartbeats(self, device: FakeEdgeDevice, details: list[dict[str, Any]]) -> int:
        deliver: Deliver = self.unreliable or PutEventsDelivery(self.client("events"))
        for entry in device.entries(details):
            deliver(
                {
                    "source": entry["Source"],
                    "detail-type": entry["DetailType"],
                    "detail": json.loads(entry["Detail"]),
                    "resources": [],
                    "time": entry["Time"].astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                }
            )
        return len(details)

    def invoke(self, logical_id: str, event: dict[str, Any]) -> Any:
        """Run a function's real handler with its template environment."""
        function = self._functions[logical_id]
        self.invocations.append((logical_id, event))
        token = _INVOKING.set(logical_id)
        try:
            with _environment(function.environment):
                context = _LambdaContext(
                    function_name=logical_id,
                    region=self.region,
                    memory_limit_in_mb=function.memory_mb,
                    timeout_seconds=function.timeout_seconds,
                )
                handler, collaborator = function.entry(self.function_client)
                return handler(event, context, **collaborator)
        finally:
            _INVOKING.reset(token)

    @property
    def functions(self) -> dict[str, LocalFunction]:
        return dict(self._functions)

    def resolve_function(self, name: str) -> str | None:
        """A function's logical id from any name Lambda accepts: the name, a full or
        partial ARN (with or without a qualifier), or the template's logical id."""
        if name in self._functions:
            return name
        if name.startswith("arn:"):
            parts = name.split(":")
            name = parts[6] if len(parts) >= 7 else ""
        elif ":function:" in name:
            name = name.split(":function:", 1)[1].split(":", 1)[0]
        else:
            name = name.split(":", 1)[0]
        for logical_id in self._functions:
            if self._ref(logical_id) == name or logical_id == name:
                return logical_id
        return None

    def _async_failure(self, logical_id: str, payload: dict[str, Any], error: Exception) -> None:
        queue = self._functions[logical_id].on_failure_queue
        if queue is None:
            raise RuntimeError(f"{logical_id} failed asynchronously with no destination: {error!r}")
        record = {  # the shape of Lambda's on-failure destination record
            "version": "1.0",
            "timestamp": clock.iso(clock.utcnow()),
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": f"{self._get_att(logical_id, 'Arn')}:$LATEST",
                "condition": "RetriesExhausted",
                "approximateInvokeCount": 3,
            },
            "requestPayload": payload,
            "responseContext": {
                "statusCode": 200,
                "executedVersion": "$LATEST",
                "functionError": "Unhandled",
            },
            "responsePayload": {"errorMessage": str(error), "errorType": type(error).__name__},
        }
        self.client("sqs").send_message(QueueUrl=queue, MessageBody=json.dumps(record))

    # -- provisioning --------------------------------------------------------------------

    def _make_resolver(self) -> Resolver:
        parameters = {
            name: str(self._parameter_overrides.get(name, spec.get("Default", "")))
            for name, spec in self.template.get("Parameters", {}).items()
        }
        pseudo = {
            "AWS::Region": self.region,
            "AWS::AccountId": ACCOUNT,
            "AWS::Partition": "aws",
            "AWS::StackName": self.stack_name,
            "AWS::URLSuffix": "amazonaws.com",
        }
        return Resolver(
            self.template,
            parameters=parameters,
            pseudo=pseudo,
            ref=self._ref,
            get_att=self._get_att,
        )

    def _ref(self, logical_id: str) -> str:
        if logical_id not in self._physical:
            resource = self.template["Resources"][logical_id]
            self._physical[logical_id] = self._physical_name(logical_id, resource["Type"])
        return self._physical[logical_id]

    def _physical_name(self, logical_id: str, resource_type: str) -> str:
        base = f"{self.stack_name}-{logical_id}"
        if resource_type == "AWS::S3::Bucket":
            return base.lower()[:63]
        if resource_type == "AWS::SQS::Queue":
            return f"https://sqs.{self.region}.amazonaws.com/{ACCOUNT}/{base}"
        if resource_type == "AWS::SNS::Topic":
            return f"arn:aws:sns:{self.region}:{ACCOUNT}:{base}"
        return base

    def _get_att(self, logical_id: str, attribute: str) -> str:
        resource_type = self.template["Resources"][logical_id]["Type"]
        name = self._ref(logical_id)
        if resource_type == "AWS::SQS::Queue":
            queue_name = name.rsplit("/", 1)[1]
            return {"QueueName": queue_name, "QueueUrl": name}.get(
                attribute, f"arn:aws:sqs:{self.region}:{ACCOUNT}:{queue_name}"
            )
        if resource_type == "AWS::DynamoDB::Table" and attribute == "StreamArn":
            return self._arns[f"{logical_id}.StreamArn"]
        if resource_type == "AWS::DynamoDB::Table":
            return f"arn:aws:dynamodb:{self.region}:{ACCOUNT}:table/{name}"
        if resource_type == "AWS::S3::Bucket":
            return f"arn:aws:s3:::{name}"
        if resource_type == "AWS::SNS::Topic":
            return {"TopicName": name.rsplit(":", 1)[1]}.get(attribute, name)
        if resource_type == "AWS::Events::Rule":
            return f"arn:aws:events:{self.region}:{ACCOUNT}:rule/{name}"
        if resource_type == "AWS::IAM::Role":
            return f"arn:aws:iam::{ACCOUNT}:role/{name}"
        if resource_type == "AWS::Serverless::Function":
            return f"arn:aws:lambda:{self.region}:{ACCOUNT}:function:{name}"
        return f"arn:aws:local:{self.region}:{ACCOUNT}:{logical_id}/{attribute}"

    def _resources(self, resource_type: str) -> Iterator[tuple[str, dict[str, Any]]]:
        for logical_id, resource in self.template["Resources"].items():
            if resource.get("Type") != resource_type:
                continue
            if "Condition" in resource and not self._resolver.condition(resource["Condition"]):
                continue
            yield logical_id, resource

    def _provision(self) -> None:
        s3, sqs, sns = self.client("s3"), self.client("sqs"), self.client("sns")
        for logical_id, resource in self._resources("AWS::S3::Bucket"):
            properties = self._resolver(resource.get("Properties", {}))
            bucket = self._ref(logical_id)
            s3.create_bucket(Bucket=bucket)
            if properties.get("VersioningConfiguration", {}).get("Status") == "Enabled":
                s3.put_bucket_versioning(
                    Bucket=bucket, VersioningConfiguration={"Status": "Enabled"}
                )
            notifications = properties.get("NotificationConfiguration", {})
            if notifications.get("EventBridgeConfiguration", {}).get("EventBridgeEnabled"):
                s3.put_bucket_notification_configuration(
                    Bucket=bucket, NotificationConfiguration={"EventBridgeConfiguration": {}}
                )
        for logical_id, resource in self._resources("AWS::DynamoDB::Table"):
            self._create_table(logical_id, self._resolver(resource["Properties"]))
        queues = list(self._resources("AWS::SQS::Queue"))
        # Dead-letter queues first: redrive policies name them.
        queues.sort(key=lambda item: "RedrivePolicy" in item[1].get("Properties", {}))
        for logical_id, resource in queues:
            properties = self._resolver(resource.get("Properties", {}))
            attributes = {
                name: json.dumps(value) if isinstance(value, dict) else str(value)
                for name, value in properties.items()
                if name
                in ("VisibilityTimeout", "MessageRetentionPeriod", "RedrivePolicy", "DelaySeconds")
            }
            sqs.create_queue(
                QueueName=self._get_att(logical_id, "QueueName"), Attributes=attributes
            )
        for logical_id, _resource in self._resources("AWS::SNS::Topic"):
            sns.create_topic(Name=self._ref(logical_id).rsplit(":", 1)[1])
        for _logical_id, resource in self._resources("AWS::SNS::Subscription"):
            properties = self._resolver(resource["Properties"])
            attributes = {}
            if "RawMessageDelivery" in properties:
                attributes["RawMessageDelivery"] = str(properties["RawMessageDelivery"]).lower()
            sns.subscribe(
                TopicArn=properties["TopicArn"],
                Protocol=properties["Protocol"],
                Endpoint=properties["Endpoint"],
                Attributes=attributes,
            )
        for logical_id, resource in self._resources("AWS::Events::Rule"):
            self._create_rule(logical_id, self._resolver(resource["Properties"]))
        self._observe_status_events()
        for logical_id, resource in self._resources("AWS::Serverless::Function"):
            self._functions[logical_id] = self._function(logical_id, resource)

    def _create_table(self, logical_id: str, properties: dict[str, Any]) -> None:
        client = self.client("dynamodb")
        name = self._ref(logical_id)
        request: dict[str, Any] = {
            "TableName": name,
            "AttributeDefinitions": properties["AttributeDefinitions"],
            "KeySchema": properties["KeySchema"],
            "BillingMode": properties.get("BillingMode", "PAY_PER_REQUEST"),
        }
        if properties.get("GlobalSecondaryIndexes"):
            request["GlobalSecondaryIndexes"] = properties["GlobalSecondaryIndexes"]
        if "StreamSpecification" in properties:
            request["StreamSpecification"] = {
                "StreamEnabled": True,
                **properties["StreamSpecification"],
            }
        table = client.create_table(**request)["TableDescription"]
        if "LatestStreamArn" in table:
            self._arns[f"{logical_id}.StreamArn"] = table["LatestStreamArn"]

    def _create_rule(self, logical_id: str, properties: dict[str, Any]) -> None:
        events = self.client("events")
        name = self._ref(logical_id)
        pattern = properties.get("EventPattern")
        if pattern is None:
            return
        events.put_rule(
            Name=name, EventPattern=json.dumps(pattern), State=properties.get("State", "ENABLED")
        )
        targets = [
            {"Id": target["Id"], "Arn": target["Arn"]}
            for target in properties.get("Targets", [])
            if target["Arn"].startswith("arn:aws:sqs:")
        ]
        if targets:
            events.put_targets(Rule=name, Targets=targets)

    def _observe_status_events(self) -> None:
        """A subscriber of our own, as a user would write one, to watch status events."""
        sqs, events = self.client("sqs"), self.client("events")
        self._observer_queue = sqs.create_queue(QueueName=f"{self.stack_name}-status-observer")[
            "QueueUrl"
        ]
        arn = f"arn:aws:sqs:{self.region}:{ACCOUNT}:{self.stack_name}-status-observer"
        events.put_rule(
            Name=f"{self.stack_name}-status-observer",
            EventPattern=json.dumps(
                {"source": ["dropzone"], "detail-type": ["Dropzone Job Status Change"]}
            ),
        )
        events.put_targets(
            Rule=f"{self.stack_name}-status-observer", Targets=[{"Id": "observer", "Arn": arn}]
        )

    def _function(self, logical_id: str, resource: dict[str, Any]) -> LocalFunction:
        globals_ = self.template.get("Globals", {}).get("Function", {})
        properties = resource.get("Properties", {})
        code_uri = properties.get("CodeUri", globals_.get("CodeUri", "."))
        handler = properties.get("Handler", globals_.get("Handler", "app.handler"))
        module_path, _, handler_name = handler.rpartition(".")
        environment = {
            **self._resolver(globals_.get("Environment", {}).get("Variables", {})),
            **self._resolver(properties.get("Environment", {}).get("Variables", {})),
        }
        function = LocalFunction(
            logical_id=logical_id,
            handler_path=self.template_path.parent
            / code_uri
            / (module_path.replace(".", "/") + ".py"),
            handler_name=handler_name,
            environment={
                **{k: str(v) for k, v in environment.items()},
                **self._function_environment,
            },
            timeout_seconds=int(
                self._resolver(properties.get("Timeout", globals_.get("Timeout", 3)))
            ),
            memory_mb=int(
                self._resolver(properties.get("MemorySize", globals_.get("MemorySize", 128)))
            ),
        )
        for event in properties.get("Events", {}).values():
            event_properties = self._resolver(event.get("Properties", {}))
            if event["Type"] == "SQS":
                queue_name = event_properties["Queue"].rsplit(":", 1)[1]
                url = f"https://sqs.{self.region}.amazonaws.com/{ACCOUNT}/{queue_name}"
                function.sqs_sources.append((url, int(event_properties.get("BatchSize", 10))))
            elif event["Type"] == "DynamoDB":
                function.stream_sources.append(
                    (event_properties["Stream"], int(event_properties.get("BatchSize", 100)))
                )
            elif event["Type"] in ("Schedule", "ScheduleV2"):
                function.schedules.append(event_properties.get("ScheduleExpression", ""))
        destination = self._resolver(
            properties.get("EventInvokeConfig", {})
            .get("DestinationConfig", {})
            .get("OnFailure", {})
        )
        if destination.get("Type") == "SQS":
            queue_name = str(destination["Destination"]).rsplit(":", 1)[1]
            function.on_failure_queue = (
                f"https://sqs.{self.region}.amazonaws.com/{ACCOUNT}/{queue_name}"
            )
        return function

    # -- event sources -------------------------------------------------------------------

    def _pump_queues(self) -> int:
        sqs = self.client("sqs")
        moved = 0
        for function in self._functions.values():
            for url, batch_size in function.sqs_sources:
                messages = sqs.receive_message(
                    QueueUrl=url, MaxNumberOfMessages=min(batch_size, 10), AttributeNames=["All"]
                ).get("Messages", [])
                if not messages:
                    continue
                moved += len(messages)
                arn = f"arn:aws:sqs:{self.region}:{ACCOUNT}:{url.rsplit('/', 1)[1]}"
                event = {
                    "Records": [_sqs_record(message, arn, self.region) for message in messages]
                }
                try:
                    response = self.invoke(function.logical_id, event)
                    failed = {
                        item["itemIdentifier"]
                        for item in (response or {}).get("batchItemFailures", [])
                    }
                except Exception:  # a crashed invocation fails the whole batch, as in Lambda
                    failed = {message["MessageId"] for message in messages}
                for message in messages:
                    # Retry a failure at once, unless the function postponed it itself.
                    if (
                        message["MessageId"] in failed
                        and message["ReceiptHandle"] not in self._postponed
                    ):
                        sqs.change_message_visibility(
                            QueueUrl=url,
                            ReceiptHandle=message["ReceiptHandle"],
                            VisibilityTimeout=0,
                        )
                _delete_messages(sqs, url, [m for m in messages if m["MessageId"] not in failed])
        return moved

    def _pump_streams(self) -> int:
        streams = self.client("dynamodbstreams")
        moved = 0
        for function in self._functions.values():
            for stream_arn, batch_size in function.stream_sources:
                iterator = self._stream_iterators.get(stream_arn)
                if iterator is None:
                    shard = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"][
                        "Shards"
                    ][0]
                    iterator = streams.get_shard_iterator(
                        StreamArn=stream_arn,
                        ShardId=shard["ShardId"],
                        ShardIteratorType="TRIM_HORIZON",
                    )["ShardIterator"]
                response = streams.get_records(ShardIterator=iterator, Limit=batch_size)
                records = [
                    _stream_record(record, stream_arn) for record in response.get("Records", [])
                ]
                if records:
                    result = self.invoke(function.logical_id, {"Records": records}) or {}
                    failures = result.get("batchItemFailures", [])
                    if failures:  # retry from the failed record on the next round
                        first = failures[0]["itemIdentifier"]
                        shard = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"][
                            "Shards"
                        ][0]
                        response["NextShardIterator"] = streams.get_shard_iterator(
                            StreamArn=stream_arn,
                            ShardId=shard["ShardId"],
                            ShardIteratorType="AT_SEQUENCE_NUMBER",
                            SequenceNumber=first,
                        )["ShardIterator"]
                    moved += len(records)
                self._stream_iterators[stream_arn] = response["NextShardIterator"]
        return moved

    def _pump_endpoints(self) -> int:
        if not self.sagemaker.pending:
            return 0
        sns = self.client("sns")
        notifications = self.sagemaker.run_pending(self.client("s3"))
        for message in notifications:
            topic = (
                "AsyncSuccessTopicArn"
                if message["invocationStatus"] == "Completed"
                else "AsyncErrorTopicArn"
            )
            sns.publish(TopicArn=self.output(topic), Message=json.dumps(message))
        return len(notifications)

    def _drain_observer(self) -> int:
        sqs = self.client("sqs")
        moved = 0
        while True:
            messages = sqs.receive_message(
                QueueUrl=self._observer_queue, MaxNumberOfMessages=10
            ).get("Messages", [])
            if not messages:
                return moved
            for message in messages:
                event = json.loads(message["Body"])
                self.status_events.append(event)
                for listener in self._listeners:
                    listener(event)
                moved += 1
            _delete_messages(sqs, self._observer_queue, messages)


def _delete_messages(sqs: Any, url: str, messages: list[dict[str, Any]]) -> None:
    """Delete received messages, ten to a call, as Lambda's event source mapping does."""
    for start in range(0, len(messages), 10):
        chunk = messages[start : start + 10]
        response = sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]}
                for index, message in enumerate(chunk)
            ],
        )
        if response.get("Failed"):
            raise RuntimeError(f"could not delete messages from {url}: {response['Failed']}")


class _WatchedSqs:
    """The SQS client Dropzone's functions get in the local cloud. It notes when a function
    hides a message for longer (a postponed retry), so that the queue pump leaves it hidden
    and `advance()` brings it back on the local clock, as its visibility timeout would."""

    def __init__(self, client: Any, postponed: dict[str, tuple[str, datetime]]) -> None:
        self._client = client
        self._postponed = postponed

    def change_message_visibility(self, **params: Any) -> Any:
        response = self._client.change_message_visibility(**params)
        due = clock.utcnow() + timedelta(seconds=int(params["VisibilityTimeout"]))
        self._postponed[str(params["ReceiptHandle"])] = (str(params["QueueUrl"]), due)
        return response

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")


def schedule_period(expression: str) -> timedelta:
    """The period of a `rate(...)` schedule expression."""
    match = _RATE.match(expression)
    if match is None:
        raise ValueError(f"the local cloud runs rate(...) schedules only, not {expression!r}")
    value, unit = int(match.group(1)), match.group(2).rstrip("s")
    return timedelta(**{f"{unit}s": value})


def _sqs_record(message: dict[str, Any], arn: str, region: str) -> dict[str, Any]:
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": message.get("MessageAttributes", {}),
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": arn,
        "awsRegion": region,
    }


def _stream_record(record: dict[str, Any], stream_arn: str) -> dict[str, Any]:
    images = dict(record["dynamodb"])
    created = images.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        images["ApproximateCreationDateTime"] = int(created.timestamp())
    return {**record, "dynamodb": images, "eventSourceARN": stream_arn}


@contextmanager
def _environment(variables: dict[str, str]) -> Iterator[None]:
    previous = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
