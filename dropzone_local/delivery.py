"""How events reach the functions in the local cloud, as Lambda's event source mappings and
destinations deliver them: SQS queues (partial batch failures honoured, postponed retries
kept hidden until their time), table streams, on-failure destinations of asynchronous
invocations, the SageMaker endpoints' notifications, and our own status event subscriber."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from dropzone import clock
from dropzone_local.moto_paths import QueueReads, TableStreams
from dropzone_local.moto_stand_ins import StandInCalls
from dropzone_local.provision import ACCOUNT, LocalStack
from dropzone_local.sagemaker import FakeSageMakerRuntime

Invoke = Callable[[str, dict[str, Any]], Any]


class EventSources:
    """Moves what waits in queues, streams and endpoints to the functions, a batch at a time."""

    def __init__(self, stack: LocalStack, client: Callable[[str], Any], invoke: Invoke) -> None:
        self._stack = stack
        self._client = client
        self._invoke = invoke
        self._streams = TableStreams(stack.region)
        self._queues = QueueReads(stack.region)  # a poll of a queue with nothing to receive
        # Messages a function hid for longer (a postponed retry): receipt → (queue, due).
        self.postponed: dict[str, tuple[str, datetime]] = {}

    def watched_sqs(self) -> _WatchedSqs:
        """The SQS client for the functions: it tells this delivery of postponed retries."""
        return _WatchedSqs(self._client("sqs"), self.postponed)

    def pump_queues(self) -> int:
        sqs = self._client("sqs")
        region = self._stack.region
        moved = 0
        for function in self._stack.functions.values():
            for url, batch_size in function.sqs_sources:
                count = min(batch_size, 10)
                if not self._queues.may_receive(url, count):
                    continue  # the receive would find nothing, and change nothing
                messages = sqs.receive_message(
                    QueueUrl=url, MaxNumberOfMessages=count, AttributeNames=["All"]
                ).get("Messages", [])
                if not messages:
                    continue
                moved += len(messages)
                arn = f"arn:aws:sqs:{region}:{ACCOUNT}:{url.rsplit('/', 1)[1]}"
                event = {"Records": [_sqs_record(message, arn, region) for message in messages]}
                try:
                    response = self._invoke(function.logical_id, event)
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
                        and message["ReceiptHandle"] not in self.postponed
                    ):
                        sqs.change_message_visibility(
                            QueueUrl=url,
                            ReceiptHandle=message["ReceiptHandle"],
                            VisibilityTimeout=0,
                        )
                _delete_messages(sqs, url, [m for m in messages if m["MessageId"] not in failed])
        return moved

    def pump_streams(self) -> int:
        moved = 0
        for function in self._stack.functions.values():
            for stream_arn, batch_size in function.stream_sources:
                records = self._streams.read(stream_arn, batch_size)
                if not records:
                    continue
                result = self._invoke(function.logical_id, {"Records": records}) or {}
                failures = result.get("batchItemFailures", [])
                if failures:  # retry from the failed record on the next round
                    self._streams.retry_from(stream_arn, failures[0]["itemIdentifier"])
                moved += len(records)
        return moved

    def pump_endpoints(self, sagemaker: FakeSageMakerRuntime) -> int:
        """The endpoints' finished inferences, as notifications to the stack's topics."""
        if not sagemaker.pending:
            return 0
        s3 = self._client("s3")  # the endpoint's reads and notifications, inside moto
        calls = StandInCalls(self._stack.region, s3, self._client("sns"))
        notifications = sagemaker.run_pending(s3, calls.read_object)
        for message in notifications:
            topic = (
                "AsyncSuccessTopicArn"
                if message["invocationStatus"] == "Completed"
                else "AsyncErrorTopicArn"
            )
            calls.publish(self._stack.output(topic), json.dumps(message))
        return len(notifications)

    def drain_status_events(self, receive: Callable[[dict[str, Any]], None]) -> int:
        """Hand `receive` each status event our own subscriber got; return how many."""
        sqs, queue = self._client("sqs"), self._stack.observer_queue
        moved = 0
        while self._queues.may_receive(queue, 10):
            messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get(
                "Messages", []
            )
            if not messages:
                return moved
            for message in messages:
                receive(json.loads(message["Body"]))
                moved += 1
            _delete_messages(sqs, queue, messages)
        return moved

    def release_postponed(self) -> None:
        """Show again the postponed messages whose time has come on the local clock."""
        now = clock.utcnow()
        sqs = self._client("sqs")
        for receipt, (url, at) in list(self.postponed.items()):
            if at <= now:
                del self.postponed[receipt]
                try:
                    sqs.change_message_visibility(
                        QueueUrl=url, ReceiptHandle=receipt, VisibilityTimeout=0
                    )
                except sqs.exceptions.ReceiptHandleIsInvalid:
                    continue  # the message was received again or deleted since

    def fail_async(self, logical_id: str, payload: dict[str, Any], error: Exception) -> None:
        """An asynchronous invocation that failed for good, sent to the function's on-failure
        destination."""
        queue = self._stack.functions[logical_id].on_failure_queue
        if queue is None:
            raise RuntimeError(f"{logical_id} failed asynchronously with no destination: {error!r}")
        record = {  # the shape of Lambda's on-failure destination record
            "version": "1.0",
            "timestamp": clock.iso(clock.utcnow()),
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": f"{self._stack.get_att(logical_id, 'Arn')}:$LATEST",
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
        self._client("sqs").send_message(QueueUrl=queue, MessageBody=json.dumps(record))


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
