"""`dropzone redrive`: send a dead-letter queue's messages back where they came from.

- The DLQ of an SQS queue (its RedrivePolicy names the DLQ): SQS StartMessageMoveTask
  with the DLQ as source and no destination, so SQS returns each message to the queue it
  came from.
- `EventDeliveryDLQ`: EventBridge (and EventBridge Scheduler) put the undeliverable event
  there with a TARGET_ARN message attribute. Each message is sent to that target (an SQS
  queue, or a Lambda function invoked asynchronously) and deleted only once the send has
  succeeded.
- An asynchronous invocation's on-failure queue (`BedrockAdmissionDLQ`): each record
  names the function and holds the original payload; the function is invoked again
  asynchronously with it, then the record is deleted.

Anything else (a stream's on-failure records, which point at stream positions and hold
no event) is left in the queue and reported.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from dropzone_cli.common import CliError, aws_error_message
from dropzone_cli.render import Column, Printer, trim_middle
from dropzone_cli.stack import (
    DEPTH_ATTRIBUTES,
    FUNCTION_TYPE,
    QUEUE_TYPE,
    DeployedStack,
    Resource,
)

RECEIVE_BATCH = 10
VISIBILITY_SECONDS = 120  # long enough to send one batch on
LONG_POLL_SECONDS = 2  # a long poll asks every SQS server: empty means empty


@dataclass
class Outcome:
    moved: int = 0
    left: list[str] = field(default_factory=list)  # why each message stayed
    failed: str | None = None  # the send (or delete) that failed, if one did
    hidden: list[str] = field(default_factory=list)  # messages not made visible again, and why


def dead_letter_queues(stack: DeployedStack) -> list[Resource]:
    return [q for q in stack.of_type(QUEUE_TYPE) if q.logical_id.endswith("DLQ")]


DLQ_COLUMNS = (
    Column("QUEUE"),
    Column("MESSAGES"),
    Column("IN FLIGHT"),
    Column("DELAYED"),
    Column("URL", drop=1, trim=trim_middle, min_width=20),
)


def list_dlqs(stack: DeployedStack, printer: Printer) -> int:
    sqs = stack.target.client("sqs")
    rows = []
    for queue in dead_letter_queues(stack):
        attributes = sqs.get_queue_attributes(
            QueueUrl=queue.physical_id, AttributeNames=list(DEPTH_ATTRIBUTES)
        )["Attributes"]
        counts = [attributes.get(name, "0") for name in DEPTH_ATTRIBUTES]
        rows.append((queue.logical_id, *counts, queue.physical_id))
    if printer.output == "json":
        names = ("queue", *DEPTH_ATTRIBUTES, "url")
        printer.json([dict(zip(names, row, strict=True)) for row in rows])
        return 0
    if not rows:
        printer.line(f"stack {stack.name} has no dead-letter queues")
        return 0
    printer.rows(DLQ_COLUMNS, rows)
    printer.line(f"\nredrive one with: dropzone redrive --stack {stack.name} <QUEUE>")
    return 0


def find_dlq(stack: DeployedStack, name: str) -> Resource:
    queues = dead_letter_queues(stack)
    for queue in queues:
        if name in (queue.logical_id, queue.physical_id, queue.physical_id.rsplit("/", 1)[-1]):
            return queue
    known = ", ".join(queue.logical_id for queue in queues) or "none"
    raise CliError(f"no dead-letter queue {name!r} in stack {stack.name}; its DLQs: {known}")


def redrive(stack: DeployedStack, name: str, printer: Printer, *, rate: int | None = None) -> int:
    queue = find_dlq(stack, name)
    sqs = stack.target.client("sqs")
    sources = sqs.list_dead_letter_source_queues(QueueUrl=queue.physical_id).get("queueUrls", [])
    if sources:
        return _move_task(sqs, queue, sources, rate, printer)
    outcome = _resend(stack, queue)
    failed = bool(outcome.failed or outcome.left or outcome.hidden)
    if printer.output != "table":
        printer.record({"queue": queue.logical_id, **vars(outcome)})
        return 1 if failed else 0
    print(f"{queue.logical_id}: {outcome.moved} messages sent back and deleted")
    for reason in outcome.left:
        print(f"  left in the queue: {reason}")
    if outcome.failed:
        print(f"  stopped: {outcome.failed}")
    for reason in outcome.hidden:
        print(f"  still hidden: {reason}")
    return 1 if failed else 0


def _move_task(
    sqs: Any, queue: Resource, sources: list[str], rate: int | None, printer: Printer
) -> int:
    arn = sqs.get_queue_attributes(QueueUrl=queue.physical_id, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    request: dict[str, Any] = {"SourceArn": arn}
    if rate:
        request["MaxNumberOfMessagesPerSecond"] = rate
    try:
        handle = sqs.start_message_move_task(**request)["TaskHandle"]
    except ClientError as error:
        raise CliError(aws_error_message(error), exit_code=1) from error
    names = ", ".join(url.rsplit("/", 1)[-1] for url in sources)
    if printer.output != "table":
        printer.record({"queue": queue.logical_id, "sources": sources, "task_handle": handle})
        return 0
    print(f"{queue.logical_id}: moving its messages back to {names} (SQS message move task)")
    print(f"task handle: {handle}")
    return 0


class _Targets:
    """Where a message may be sent: only queues and functions of this stack."""

    def __init__(self, stack: DeployedStack) -> None:
        self.stack = stack
        self._queue_urls: dict[str, str] | None = None
        self.functions = {f.physical_id for f in stack.of_type(FUNCTION_TYPE) if f.physical_id}

    def queue_url(self, arn: str) -> str | None:
        if self._queue_urls is None:
            self._queue_urls = {}
            for queue in self.stack.of_type(QUEUE_TYPE):
                name = queue.physical_id.rsplit("/", 1)[-1]
                self._queue_urls[name] = queue.physical_id
        return self._queue_urls.get(arn.rsplit(":", 1)[-1])

    def function(self, arn: str) -> str | None:
        parts = arn.split(":")
        name = parts[6] if len(parts) >= 7 else ""
        return arn if name in self.functions else None


def _resend(stack: DeployedStack, queue: Resource) -> Outcome:
    """One pass over the queue. A message seen twice means the pass has come round to the
    messages it set aside (their visibility ran out): it ends there."""
    sqs = stack.target.client("sqs")
    targets = _Targets(stack)
    outcome = Outcome()
    seen: set[str] = set()
    held: dict[str, str] = {}  # message id → latest receipt handle, for messages left in place
    repeated = False
    while outcome.failed is None and not repeated:
        messages = sqs.receive_message(
            QueueUrl=queue.physical_id,
            MaxNumberOfMessages=RECEIVE_BATCH,
            VisibilityTimeout=VISIBILITY_SECONDS,
            MessageAttributeNames=["All"],
            AttributeNames=["All"],
            WaitTimeSeconds=LONG_POLL_SECONDS,
        ).get("Messages", [])
        if not messages:
            break
        for index, message in enumerate(messages):
            message_id = message["MessageId"]
            if message_id in seen:  # already looked at in this pass: leave it as it is
                repeated = True
                held[message_id] = message["ReceiptHandle"]
                continue
            seen.add(message_id)
            sent, reason = _send_back(stack, targets, message)
            if not sent:
                held[message_id] = message["ReceiptHandle"]
                if reason.startswith("send failed"):  # stop: the rest waits untouched
                    outcome.failed = f"message {message_id}: {reason}"
                    held.update(
                        (later["MessageId"], later["ReceiptHandle"])
                        for later in messages[index + 1 :]
                    )
                    break
                outcome.left.append(f"message {message_id}: {reason}")
                continue
            try:
                sqs.delete_message(
                    QueueUrl=queue.physical_id, ReceiptHandle=message["ReceiptHandle"]
                )
            except ClientError as error:
                outcome.failed = (
                    f"message {message_id}: sent, but not deleted ({aws_error_message(error)}); "
                    "a later redrive sends it again"
                )
                held.update(
                    (later["MessageId"], later["ReceiptHandle"]) for later in messages[index + 1 :]
                )
                break
            outcome.moved += 1
    for message_id, handle in held.items():  # visible again at once, for the next look
        try:
            sqs.change_message_visibility(
                QueueUrl=queue.physical_id, ReceiptHandle=handle, VisibilityTimeout=0
            )
        except ClientError as error:
            outcome.hidden.append(
                f"message {message_id}: {aws_error_message(error)}; it is visible again "
                f"within {VISIBILITY_SECONDS} seconds"
            )
    return outcome


def _send_back(
    stack: DeployedStack, targets: _Targets, message: dict[str, Any]
) -> tuple[bool, str]:
    attributes = message.get("MessageAttributes", {})
    target = attributes.get("TARGET_ARN", {}).get("StringValue")
    body = message.get("Body", "")
    if target:
        return _to_target(stack, targets, target, body)
    try:
        record = json.loads(body)
    except json.JSONDecodeError:
        record = None
    context = record.get("requestContext") if isinstance(record, dict) else None
    if isinstance(context, dict) and "functionArn" in context and "requestPayload" in record:
        function = str(context["functionArn"])
        unqualified = ":".join(function.split(":")[:7])
        return _to_target(stack, targets, unqualified, json.dumps(record["requestPayload"]))
    if isinstance(record, dict) and any(key.endswith("StreamBatchInfo") for key in record):
        return False, (
            "a stream batch that failed: it points at stream positions and holds no event "
            "to resend; the jobs table still holds every job's status"
        )
    return False, "no TARGET_ARN attribute and not an asynchronous invocation record"


def _to_target(stack: DeployedStack, targets: _Targets, target: str, body: str) -> tuple[bool, str]:
    if target.startswith("arn:") and target.split(":")[2] == "sqs":
        url = targets.queue_url(target)
        if url is None:
            return False, f"target {target} is not a queue of stack {stack.name}"
        try:
            stack.target.client("sqs").send_message(QueueUrl=url, MessageBody=body)
        except ClientError as error:
            return False, f"send failed: {aws_error_message(error)}"
        return True, ""
    if target.startswith("arn:") and target.split(":")[2] == "lambda":
        function = targets.function(target)
        if function is None:
            return False, f"target {target} is not a function of stack {stack.name}"
        try:
            response = stack.target.client("lambda").invoke(
                FunctionName=function, InvocationType="Event", Payload=body.encode()
            )
        except ClientError as error:
            return False, f"send failed: {aws_error_message(error)}"
        if response.get("StatusCode") != 202:
            return False, f"send failed: Invoke answered {response.get('StatusCode')}, not 202"
        return True, ""
    return False, f"target {target} is neither an SQS queue nor a Lambda function"
