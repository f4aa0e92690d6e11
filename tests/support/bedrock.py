"""Building blocks for Bedrock workflow tests: moto S3/DynamoDB, FakeBedrock, a Lambda
client that records asynchronous invocations after checking them against the model."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import boto3

from dropzone.adapters.bedrock import Bedrock
from dropzone.adapters.lambda_invoke import LambdaInvoker
from dropzone.clock import utcnow
from dropzone.settings.bedrock import BedrockSettings
from dropzone.sqs_batch import SqsMessage, process_sqs_batch
from dropzone.store.ledger import Ledger
from dropzone.store.rate_buckets import RateBuckets
from dropzone.store.slots import ModelSlots
from dropzone.workflows.bedrock.admission import BedrockAdmission
from dropzone.workflows.bedrock.finish import BedrockFinisher
from dropzone.workflows.bedrock.on_demand import BedrockOnDemand
from dropzone.workflows.bedrock.prices import PriceTable
from dropzone.workflows.bedrock.reconcile import BedrockReconciler
from dropzone.workflows.bedrock.state import BedrockTracker
from dropzone.workflows.bedrock.submit import BedrockSubmitter
from dropzone_local.bedrock import FakeBedrock
from dropzone_local.bedrock_runtime import FakeBedrockRuntime
from dropzone_local.record_faults import RecordFaults
from dropzone_local.service_model import validate_request
from tests.support.fixtures import Stack

MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
ROLE = "arn:aws:iam::123456789012:role/dropzone-BedrockServiceRole"
ADMISSION_FUNCTION = "dropzone-BedrockAdmissionFunction"
FINISH_FUNCTION = "dropzone-BedrockFinishFunction"


@dataclass
class RecordingLambda:
    invocations: list[dict[str, Any]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def invoke(self, **params: Any) -> dict[str, Any]:
        validate_request("lambda", "Invoke", params)
        with self._lock:
            self.invocations.append({**params, "Payload": json.loads(params["Payload"])})
        return {"StatusCode": 202}


def record(
    model_input: dict[str, Any] | None = None, record_id: str | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "modelInput": model_input
        or {
            "anthropic_version": "bedrock-2023-05-31",
            "max_tokens": 64,
            "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
        }
    }
    if record_id is not None:
        body["recordId"] = record_id
    return body


def jsonl(count: int, *, failing: set[int] = frozenset(), prefix: str = "r") -> bytes:  # type: ignore[assignment]
    lines = []
    for index in range(count):
        item = record(record_id=f"{prefix}{index:06d}")
        if index in failing:
            item["modelInput"]["fail"] = True
        lines.append(json.dumps(item))
    return ("\n".join(lines) + "\n").encode()


@dataclass
class BedrockWorld:
    stack: Stack
    settings: BedrockSettings
    fake: FakeBedrock
    lambda_client: RecordingLambda
    events: list[dict[str, Any]]
    runtime: FakeBedrockRuntime
    sqs: Any
    # the on-demand workers' and the runtime's clock (seconds): it moves only when a
    # worker waits for its rate, and by a second whenever a message goes back to the queue
    ticks: list[float] = field(default_factory=lambda: [1_000_000.0])
    postponed: list[int] = field(default_factory=list)
    now: Callable[[], datetime] = utcnow
    # the price table every function of the world reads (None: the shipped one)
    prices: Callable[[], PriceTable] | None = None

    @property
    def ledger(self) -> Ledger:
        return self.stack.ledger()

    def slots(self) -> ModelSlots:
        return ModelSlots(
            self.settings.slots_table, self.settings.max_jobs_per_model, self.stack.dynamodb
        )

    def _priced(self) -> dict[str, Any]:
        return {"prices": self.prices} if self.prices is not None else {}

    def submitter(self, **overrides: Any) -> BedrockSubmitter:
        return BedrockSubmitter(
            self.settings,
            self.ledger,
            self.stack.s3(),
            LambdaInvoker(self.lambda_client),  # type: ignore[arg-type]
            self.sqs,
            **{**self._priced(), **overrides},
        )

    def on_demand(self) -> BedrockOnDemand:
        rates = RateBuckets(
            self.settings.slots_table,
            self.settings.on_demand_rate,
            client=self.stack.dynamodb,
            clock=lambda: self.ticks[0],
        )
        return BedrockOnDemand(
            self.settings,
            self.ledger,
            self.stack.s3(),
            self.runtime,
            rates,
            LambdaInvoker(self.lambda_client),  # type: ignore[arg-type]
            sleep=self._wait,
            **self._priced(),
        )

    def _wait(self, seconds: float) -> None:
        self.ticks[0] += seconds

    def drain_on_demand(self, *, limit: int = 100) -> int:
        """Deliver the on-demand queue's messages to the worker as Lambda's event source
        would (5 a batch), until none is left: a handled message is deleted, a failed one
        comes back at once (its requested delay is kept in `postponed`)."""
        url = self.settings.on_demand_queue_url
        arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        handled = 0
        for _ in range(limit):
            messages = self.sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=5, AttributeNames=["All"]
            ).get("Messages", [])
            if not messages:
                return handled
            records = [
                {
                    "messageId": message["MessageId"],
                    "receiptHandle": message["ReceiptHandle"],
                    "body": message["Body"],
                    "attributes": message["Attributes"],
                    "eventSourceARN": arn,
                }
                for message in messages
            ]
            worker = self.on_demand()
            result = process_sqs_batch(
                {"Records": records}, worker.handle_record, client=lambda _: self.sqs
            )
            worker.end_touched_jobs()
            failed = {failure["itemIdentifier"] for failure in result["batchItemFailures"]}
            for message in messages:
                if message["MessageId"] in failed:
                    self.sqs.change_message_visibility(
                        QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
                    )
                    self.postponed.append(1)
                    self.ticks[0] += 1.0
                else:
                    self.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
                    handled += 1
        raise AssertionError(f"the on-demand queue did not drain in {limit} batches")

    def admission(self) -> BedrockAdmission:
        return BedrockAdmission(
            self.settings,
            self.ledger,
            self.slots(),
            Bedrock(self.fake),
            self.stack.s3(),  # type: ignore[arg-type]
            LambdaInvoker(self.lambda_client),  # type: ignore[arg-type]
        )

    def finisher(self, spool_dir: str | None = None) -> BedrockFinisher:
        return BedrockFinisher(
            self.settings,
            self.ledger,
            self.stack.s3(),
            self.sqs,
            spool_dir,
            clock=self.now,
            **self._priced(),
        )

    def finish_requests(self) -> list[str]:
        """The uploads the finishing step was asked about, in order, and forgets them."""
        asked = [
            call["Payload"]["upload_id"]
            for call in self.lambda_client.invocations
            if call["FunctionName"] == FINISH_FUNCTION
        ]
        self.lambda_client.invocations[:] = [
            call
            for call in self.lambda_client.invocations
            if call["FunctionName"] != FINISH_FUNCTION
        ]
        return asked

    def finish_asked(self) -> list[str]:
        """Run the finishing step for every upload it was asked about (once each)."""
        outcomes = []
        for upload_id in dict.fromkeys(self.finish_requests()):
            outcomes.append(self.finisher().finish(upload_id))
        return outcomes

    def run_to_end(self, upload_id: str, *, limit: int = 60) -> Any:
        """Admit, advance Bedrock one step, deliver its events and finish, until the upload
        ends."""
        for _ in range(limit):
            upload = self.ledger.get(upload_id)
            if upload is not None and upload.status.is_terminal:
                return upload
            self.admission().admit()
            self.fake.advance()
            self.deliver_events()
            self.drain_on_demand()
            self.finish_asked()
        raise AssertionError(f"{upload_id} did not end in {limit} steps")

    def result_lines(self, upload_id: str) -> list[dict[str, Any]]:
        body = self.stack.s3_client.get_object(
            Bucket=self.stack.results_bucket, Key=f"bedrock-batch/results/{upload_id}.jsonl"
        )["Body"].read()
        return [json.loads(line) for line in body.splitlines()]

    def tracker(self) -> BedrockTracker:
        return BedrockTracker(
            self.settings,
            self.ledger,
            self.slots(),
            Bedrock(self.fake),  # type: ignore[arg-type]
            self.stack.s3(),
            LambdaInvoker(self.lambda_client),  # type: ignore[arg-type]
            **self._priced(),
        )

    def reconciler(self, **kwargs: Any) -> BedrockReconciler:
        return BedrockReconciler(self.settings, self.tracker(), **kwargs)

    def upload(self, key: str, body: bytes, metadata: dict[str, str] | None = None) -> Any:
        from dropzone.models.jobs import SourceObject

        put = self.stack.s3_client.put_object(
            Bucket=self.stack.dropzone_bucket, Key=key, Body=body, Metadata=metadata or {}
        )
        return SourceObject(
            bucket=self.stack.dropzone_bucket,
            key=key,
            version_id=put["VersionId"],
            etag=put["ETag"].strip('"'),
            size=len(body),
        )

    def deliver_events(self, tracker: BedrockTracker | None = None) -> int:
        """Hand every captured state event to the tracker, as the queue would."""
        tracker = tracker or self.tracker()
        delivered = 0
        while self.events:
            event = self.events.pop(0)
            tracker.handle_record(SqsMessage("m", json.dumps(event), 1))
            delivered += 1
        return delivered


def world(stack: Stack, *, faults: RecordFaults | None = None, **settings: Any) -> BedrockWorld:
    events: list[dict[str, Any]] = []
    faults = faults or RecordFaults()
    fake = FakeBedrock(
        s3_client=stack.s3_client,
        deliver=events.append,
        quota_per_model=1000,
        min_records=int(settings.get("min_records_per_job", 100)),
        record_faults=faults,
    )
    sqs = boto3.client("sqs", region_name="us-east-1")
    queue_url = sqs.create_queue(QueueName="dropzone-on-demand")["QueueUrl"]
    values: dict[str, Any] = {
        "jobs_table": stack.table_name,
        "results_bucket": stack.results_bucket,
        "slots_table": stack.slots_table,
        "admission_function": ADMISSION_FUNCTION,
        "finish_function": FINISH_FUNCTION,
        "bedrock_role_arn": ROLE,
        "max_jobs_per_model": 3,
        "on_demand_queue_url": queue_url,
    }
    values.update(settings)
    ticks = [1_000_000.0]
    runtime = FakeBedrockRuntime(record_faults=faults, clock=lambda: ticks[0])
    return BedrockWorld(
        stack, BedrockSettings(**values), fake, RecordingLambda(), events, runtime, sqs, ticks
    )
