"""A staged record → bedrock-runtime InvokeModel or Converse → its answer, written once.

On-demand finishing runs the records a batch job cannot: too few for the batch minimum, or
past the upload's deadline. Each record waits in `BedrockOnDemandQueue` as a pointer to its
staged line. A worker takes a token of the model's shared rate (`RateBuckets`), calls the
model (botocore retries throttling and service errors), and writes the answer where a batch
job would, as one `.jsonl.out` line under the on-demand job's output folder, with a
conditional create: a duplicate delivery finds it there and calls nothing. Once every record
of the job has its answer, the job ends and its upload's finishing is woken.

A record the model refuses gets its error as its answer. One that still fails on its last
delivery gets that error too, so no record can hold its job open.
"""

from __future__ import annotations

import binascii
import json
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from dropzone import aws
from dropzone.adapters.bedrock_runtime import blobs_as_bytes, bytes_as_base64
from dropzone.adapters.lambda_invoke import LambdaInvoker
from dropzone.adapters.s3 import S3, parse_s3_uri
from dropzone.errors import RetryLater, UnreadableMessage
from dropzone.models.jobs import Job, JobStatus
from dropzone.observability import logger, metrics
from dropzone.settings.bedrock import BedrockSettings
from dropzone.sqs_batch import SqsMessage
from dropzone.store.ledger import Ledger
from dropzone.store.rate_buckets import RateBuckets
from dropzone.store.spend import SpendWindow
from dropzone.workflows.bedrock.budget import settlement
from dropzone.workflows.bedrock.cost_metric import emit_cost
from dropzone.workflows.bedrock.estimate import job_cost
from dropzone.workflows.bedrock.outputs import OUTPUT_SUFFIX
from dropzone.workflows.bedrock.price_sources import load_prices
from dropzone.workflows.bedrock.prices import PriceTable
from dropzone.workflows.bedrock.rules import KIND
from dropzone.workflows.bedrock.staging import staged_id

# Retried by botocore, and then once more by delivering the message again (the queue's
# maxReceiveCount is one more than this): throttling and the service's own errors.
TRANSIENT_CODES = frozenset(
    {
        "ThrottlingException",
        "ServiceUnavailableException",
        "InternalServerException",
        "ModelNotReadyException",
    }
)
MAX_WAIT_SECONDS = 5.0
ANSWER_MAX_BYTES = 16 << 20  # a longer wait for the rate hides the message instead
ENQUEUE_BATCH = 10


@dataclass(frozen=True)
class Pointer:
    """Where a record waiting to run on demand is staged."""

    job_id: str
    line: int
    uri: str
    offset: int
    length: int

    def body(self) -> str:
        return json.dumps(self.__dict__, separators=(",", ":"))

    @classmethod
    def parse(cls, body: str) -> Pointer:
        try:
            document = json.loads(body)
            return cls(
                job_id=str(document["job_id"]),
                line=int(document["line"]),
                uri=str(document["uri"]),
                offset=int(document["offset"]),
                length=int(document["length"]),
            )
        except (ValueError, KeyError, TypeError) as error:
            raise UnreadableMessage.of("on-demand record", error) from None


def enqueue(sqs: Any, queue_url: str, pointers: Iterable[Pointer]) -> int:
    """Send each pointer to the on-demand queue, ten a call; raise if any is refused."""
    sent = 0
    batch: list[Pointer] = []
    for pointer in [*pointers, None]:
        if pointer is not None:
            batch.append(pointer)
        if batch and (pointer is None or len(batch) == ENQUEUE_BATCH):
            response = sqs.send_message_batch(
                QueueUrl=queue_url,
                Entries=[
                    {"Id": str(index), "MessageBody": p.body()} for index, p in enumerate(batch)
                ],
            )
            if response.get("Failed"):
                raise RuntimeError(f"the on-demand queue refused {len(response['Failed'])} records")
            sent += len(batch)
            batch = []
    return sent


def usage_of(output: Any) -> tuple[int, int]:
    """(input, output) tokens a model's answer reports, in the shapes Bedrock's models use:
    Anthropic's `usage.input_tokens`, Converse's and Nova's `usage.inputTokens`, Titan's
    `inputTextTokenCount` and `results[].tokenCount`, Llama's `prompt_token_count`; (0, 0)
    for a shape that reports none."""
    if not isinstance(output, dict):
        return 0, 0
    usage = output.get("usage")
    if isinstance(usage, dict):
        for tokens_in, tokens_out in (
            ("input_tokens", "output_tokens"),
            ("inputTokens", "outputTokens"),
        ):
            if tokens_in in usage or tokens_out in usage:
                return _whole(usage.get(tokens_in)), _whole(usage.get(tokens_out))
    if "inputTextTokenCount" in output:
        results = output.get("results")
        items = results if isinstance(results, list) else []
        generated = sum(_whole(item.get("tokenCount")) for item in items if isinstance(item, dict))
        return _whole(output["inputTextTokenCount"]), generated
    if "prompt_token_count" in output:
        return _whole(output["prompt_token_count"]), _whole(output.get("generation_token_count"))
    return 0, 0


def _whole(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def answer_key(output_location: str, line: int) -> tuple[str, str]:
    bucket, prefix = parse_s3_uri(output_location)
    return bucket, f"{prefix}{staged_id(line)}{OUTPUT_SUFFIX}"


@dataclass
class BedrockOnDemand:
    settings: BedrockSettings
    ledger: Ledger
    s3: S3
    runtime: Any
    rates: RateBuckets
    invoker: LambdaInvoker
    sleep: Callable[[float], None] = time.sleep
    prices: Callable[[], PriceTable] = PriceTable.shipped
    spend: SpendWindow | None = None  # the daily budget's window, when there is a budget
    _touched: dict[str, Job] = field(default_factory=dict)

    @classmethod
    def from_env(cls, client: aws.ClientSource = aws.client) -> BedrockOnDemand:
        settings = BedrockSettings.from_env().require("finish_function")
        dynamodb = client("dynamodb")
        return cls(
            settings,
            Ledger.from_settings(settings, dynamodb),
            S3(client("s3")),
            client("bedrock-runtime"),
            RateBuckets(settings.slots_table, settings.on_demand_rate, client=dynamodb),
            LambdaInvoker(client("lambda")),
            prices=lambda: load_prices(settings, client),
            spend=SpendWindow(settings.slots_table, dynamodb)
            if settings.daily_budget_usd > 0
            else None,
        )

    def handle_record(self, message: SqsMessage) -> None:
        pointer = Pointer.parse(message.body)
        job = self._touched.get(pointer.job_id) or self.ledger.get(pointer.job_id)
        if job is None or job.kind is not KIND or not job.output_location:
            logger.warning(
                "on-demand record of an unknown job; dropped", extra={"job_id": pointer.job_id}
            )
            return
        self._touched[job.job_id] = job
        bucket, key = answer_key(job.output_location, pointer.line)
        if self.s3.exists(f"s3://{bucket}/{key}"):
            return  # a duplicate delivery: the record has its answer
        answer = self._answer(
            job, pointer, last_try=message.receive_count >= self.settings.on_demand_max_receives
        )
        self.s3.create_once(bucket, key, json.dumps(answer).encode() + b"\n")

    def end_touched_jobs(self) -> None:
        """End each job of this batch whose every record now has its answer."""
        touched, self._touched = self._touched, {}
        for job in touched.values():
            bucket, prefix = parse_s3_uri(job.output_location or "")
            keys = [k for k in self.s3.list_keys(bucket, prefix) if k.endswith(OUTPUT_SUFFIX)]
            if len(keys) < job.counts.get("input_records", 0):
                continue
            counts = self._tally(bucket, keys)
            errors, answered = counts["failed_records"], counts["answered_records"]
            if not errors:
                status = JobStatus.SUCCEEDED
            elif errors == answered:
                status = JobStatus.FAILED
            else:
                status = JobStatus.PARTIALLY_SUCCEEDED
            message = f"{answered - errors} of {answered} records answered on demand"
            if errors:
                message += f", {errors} with an error"
            cost = job_cost(job, counts, self.prices().price(job.target))
            result = self.ledger.transition(
                job.job_id,
                KIND,
                status,
                service_status="Answered",
                message=message,
                updates={"counts": {**job.counts, **counts}, "cost": cost},
            )
            if result.applied:
                emit_cost(job.target, cost)
            # on-demand spend is not held first: it counts in the daily window once it is
            # known (a duplicate finds its entry there and writes nothing)
            due = settlement(result.job) if self.spend and result.job else None
            if self.spend is not None and due is not None:
                self.spend.settle(job.job_id, due.usd, since=due.since)
            if result.job is not None and job.parent_id:
                self.invoker.invoke_async(
                    self.settings.finish_function, {"upload_id": job.parent_id}
                )

    def _tally(self, bucket: str, keys: list[str]) -> dict[str, int]:
        """The job's answers counted, with the tokens the model reported in each."""
        names = ("answered_records", "succeeded_records", "failed_records")
        counts = dict.fromkeys((*names, "input_tokens", "output_tokens"), 0)
        for key in keys:
            text = self.s3.read_text(f"s3://{bucket}/{key}", max_bytes=ANSWER_MAX_BYTES)
            answer = json.loads(text)
            counts["answered_records"] += 1
            if "error" in answer:
                counts["failed_records"] += 1
                continue
            counts["succeeded_records"] += 1
            tokens_in, tokens_out = usage_of(answer.get("modelOutput"))
            counts["input_tokens"] += tokens_in
            counts["output_tokens"] += tokens_out
        return counts

    def _answer(self, job: Job, pointer: Pointer, *, last_try: bool) -> dict[str, Any]:
        record_id = staged_id(pointer.line)
        bucket, key = parse_s3_uri(pointer.uri)
        staged = json.loads(self.s3.read_range(bucket, key, pointer.offset, pointer.length))
        model_input = staged["modelInput"]
        if job.options.get("invocation_type") == "Converse":
            # a record holds its media as base64 text; the Converse API takes their bytes
            shape = self.runtime.meta.service_model.operation_model("Converse").input_shape
            try:
                model_input = blobs_as_bytes(model_input, shape)
            except (binascii.Error, ValueError) as error:
                metrics.add_metric(name="BedrockOnDemandErrors", unit="Count", value=1)
                reason = f"media bytes that are not base64: {error}"[:500]
                return {"recordId": record_id, "error": {"errorCode": 400, "errorMessage": reason}}
        self._wait_for_rate(job.target)
        try:
            output = self._call(job, model_input)
        except ClientError as error:
            code = aws.error_code(error)
            status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 500))
            if code in TRANSIENT_CODES and not last_try:
                raise RetryLater(f"{code} from {job.target}", delay_seconds=30) from error
            metrics.add_metric(name="BedrockOnDemandErrors", unit="Count", value=1)
            message = str(error.response.get("Error", {}).get("Message", code))[:500]
            return {"recordId": record_id, "error": {"errorCode": status, "errorMessage": message}}
        metrics.add_metric(name="BedrockOnDemandRecords", unit="Count", value=1)
        return {"recordId": record_id, "modelOutput": output}

    def _wait_for_rate(self, model_id: str) -> None:
        waited = 0.0
        while (wait := self.rates.take(model_id)) > 0:
            if waited + wait > MAX_WAIT_SECONDS:
                raise RetryLater(
                    f"{model_id} is at its on-demand rate", delay_seconds=math.ceil(wait) + 1
                )
            self.sleep(wait)
            waited += wait

    def _call(self, job: Job, model_input: dict[str, Any]) -> Any:
        if job.options.get("invocation_type") == "Converse":
            response = self.runtime.converse(modelId=job.target, **model_input)
            response.pop("ResponseMetadata", None)
            return bytes_as_base64(response)  # a blob answered (redacted reasoning, say)
        response = self.runtime.invoke_model(
            modelId=job.target,
            body=json.dumps(model_input).encode(),
            contentType="application/json",
            accept="application/json",
        )
        return json.loads(response["body"].read())
