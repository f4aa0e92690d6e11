"""A service's notification or state event that cannot be decoded is never retried one
visibility timeout at a time: it goes back to its queue at once and reaches the
dead-letter queue within seconds, its reason worded without its content, and the job it
was about still ends through its reconciler."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import boto3
import pytest

from dropzone.adapters.greengrass import Greengrass
from dropzone.errors import UnreadableMessage
from dropzone.models.greengrass import GreengrassDeploymentSection
from dropzone.models.jobs import Job, JobKind, JobStatus, SourceObject
from dropzone.settings.edge import EdgeReconcileSettings
from dropzone.settings.sagemaker import SageMakerReconcileSettings, SageMakerResultSettings
from dropzone.sqs_batch import SqsMessage
from dropzone.workflows.edge.reconcile import EdgeReconciler
from dropzone.workflows.edge.rollout import PackagedComponent
from dropzone.workflows.sagemaker.reconcile import SageMakerReconciler
from dropzone.workflows.sagemaker.result import SageMakerResults
from dropzone_local.greengrass import FakeGreengrass
from functions.bedrock_state import app as bedrock_state_app
from functions.greengrass_state import app as greengrass_state_app
from functions.sagemaker_result import app as sagemaker_result_app
from tests.support.bedrock import world as bedrock_world
from tests.support.clock import ManualClock
from tests.support.events import greengrass_status
from tests.support.fixtures import Stack
from tests.support.packaging import THING, PackagingWorld
from tests.support.packaging import world as packaging_world

SECRET = "private-text-7f3a"  # in every poison message: never in a reason or a log line
MAX_RECEIVES = 5  # every result and state queue's maxReceiveCount
VISIBILITY_TIMEOUT = 180

Handler = Callable[[dict[str, Any], Any], dict[str, list[dict[str, str]]]]


def _poison_notification(inference_id: str) -> str:
    message = {"inferenceId": inference_id, "invocationStatus": "Done", "note": SECRET}
    return json.dumps({"Type": "Notification", "Message": json.dumps(message)})


def _poison_greengrass_event(deployment_id: str) -> str:
    body = json.loads(greengrass_status(deployment_id, "line-3-core", "SUCCEEDED"))
    body["detail"]["coreDeviceExecutionStatus"] = {"secret": SECRET}
    return json.dumps(body)


def _poison_bedrock_event() -> str:
    return json.dumps({"source": "aws.bedrock", "detail": [SECRET]})


def _sagemaker_handler(stack: Stack) -> Handler:
    results = SageMakerResults(SageMakerResultSettings(jobs_table=stack.table_name), stack.ledger())
    return lambda event, context: sagemaker_result_app.handler(event, context, results=results)


def _bedrock_handler(stack: Stack) -> Handler:
    tracker = bedrock_world(stack).tracker()
    return lambda event, context: bedrock_state_app.handler(event, context, tracker=tracker)


def _greengrass_handler(stack: Stack) -> Handler:
    state = packaging_world(stack).state_handler()
    return lambda event, context: greengrass_state_app.handler(event, context, state=state)


class Queue:
    """An SQS queue with its dead-letter queue, and a poller that calls a handler as
    Lambda's event source mapping does (ReportBatchItemFailures)."""

    def __init__(self, name: str) -> None:
        self.sqs = boto3.client("sqs", region_name="us-east-1")
        self.dlq_url = self.sqs.create_queue(QueueName=f"{name}DLQ")["QueueUrl"]
        dlq_arn = self.sqs.get_queue_attributes(QueueUrl=self.dlq_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        self.url = self.sqs.create_queue(
            QueueName=name,
            Attributes={
                "VisibilityTimeout": str(VISIBILITY_TIMEOUT),
                "RedrivePolicy": json.dumps(
                    {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(MAX_RECEIVES)}
                ),
            },
        )["QueueUrl"]
        self.arn = self.sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]

    def poll(self, handler: Handler, context: Any, *, rounds: int = 20) -> int:
        """Receive and hand batches to `handler` until the queue shows nothing; return
        how many batches the handler got."""
        batches = 0
        for _ in range(rounds):
            messages = self.sqs.receive_message(
                QueueUrl=self.url, MaxNumberOfMessages=10, AttributeNames=["All"]
            ).get("Messages", [])
            if not messages:
                break
            batches += 1
            event = {"Records": [self._record(message) for message in messages]}
            failed = {
                item["itemIdentifier"] for item in handler(event, context)["batchItemFailures"]
            }
            for message in messages:
                if message["MessageId"] not in failed:
                    self.sqs.delete_message(
                        QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"]
                    )
        return batches

    def dead_letters(self) -> list[str]:
        messages = self.sqs.receive_message(QueueUrl=self.dlq_url, MaxNumberOfMessages=10)
        return [message["Body"] for message in messages.get("Messages", [])]

    def _record(self, message: dict[str, Any]) -> dict[str, Any]:
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": message["Attributes"],
            "messageAttributes": {},
            "eventSource": "aws:sqs",
            "eventSourceARN": self.arn,
            "awsRegion": "us-east-1",
        }


@pytest.mark.parametrize(
    ("queue_name", "make_handler", "body"),
    [
        ("SageMakerResultQueue", _sagemaker_handler, _poison_notification("dz-unknown")),
        ("SageMakerResultQueue", _sagemaker_handler, "not json " + SECRET),
        ("BedrockStateQueue", _bedrock_handler, _poison_bedrock_event()),
        ("GreengrassStateQueue", _greengrass_handler, _poison_greengrass_event("d-1")),
    ],
    ids=["sagemaker-notification", "sagemaker-not-json", "bedrock-event", "greengrass-event"],
)
def test_an_unreadable_message_reaches_the_dead_letter_queue_within_seconds(
    stack: Stack,
    lambda_context: Any,
    caplog: pytest.LogCaptureFixture,
    queue_name: str,
    make_handler: Callable[[Stack], Handler],
    body: str,
) -> None:
    # Given an unreadable message in a queue whose visibility timeout is minutes
    queue = Queue(queue_name)
    queue.sqs.send_message(QueueUrl=queue.url, MessageBody=body)
    # When the function polls it, without any time passing
    batches = queue.poll(make_handler(stack), lambda_context)
    # Then it was received its maxReceiveCount times at once, and is in the DLQ, whole
    assert batches == MAX_RECEIVES
    assert queue.dead_letters() == [body]
    # And the reason was logged without the content
    logged = json.dumps([vars(record) for record in caplog.records], default=str)
    assert "unreadable message" in logged
    assert SECRET not in logged


# -- SageMaker: the reconciler still ends the job -------------------------------------------


def test_a_job_whose_notification_cannot_be_read_is_ended_by_the_reconciler(
    stack: Stack, lambda_context: Any
) -> None:
    # Given a submitted job whose success notification arrives garbled
    clock = ManualClock()
    t0 = clock.now
    ledger = stack.ledger(clock=clock)
    ledger.create(
        Job(
            job_id="dz-garbled",
            kind=JobKind.SAGEMAKER_ASYNC,
            status=JobStatus.ACCEPTED,
            source=SourceObject(bucket="dropzone-drop", key="sagemaker-async/ep/in.json"),
            target="ep",
            created_at="",
            updated_at="",
        ),
        lease_owner="s",
        lease_seconds=60,
    )
    ledger.transition(
        "dz-garbled",
        JobKind.SAGEMAKER_ASYNC,
        JobStatus.SUBMITTED,
        updates={
            "inference_id": "dz-garbled",
            "service_ref": "sagemaker:dz-garbled",
            "output_location": f"s3://{stack.results_bucket}/out/dz-garbled.out",
            "failure_location": f"s3://{stack.results_bucket}/failures/dz-garbled-error.out",
            "deadline_at": (t0 + timedelta(hours=6)).isoformat().replace("+00:00", "Z"),
        },
    )
    stack.s3_client.put_object(Bucket=stack.results_bucket, Key="out/dz-garbled.out", Body=b"{}")
    queue = Queue("SageMakerResultQueue")
    queue.sqs.send_message(QueueUrl=queue.url, MessageBody=_poison_notification("dz-garbled"))
    # When the result function polls it, it goes to the DLQ and leaves the job as it was
    assert queue.poll(_sagemaker_handler(stack), lambda_context) == MAX_RECEIVES
    assert len(queue.dead_letters()) == 1
    assert stack.ledger().get("dz-garbled").status is JobStatus.SUBMITTED  # type: ignore[union-attr]
    # Then the reconciler, after its grace period, ends the job from its output
    clock.now = t0 + timedelta(hours=1)
    settings = SageMakerReconcileSettings(jobs_table=stack.table_name, reconcile_grace_minutes=30)
    summary = SageMakerReconciler(
        settings, stack.ledger(clock=clock), stack.s3(), clock=clock
    ).run()
    assert summary.as_dict()["succeeded"] == 1
    assert stack.ledger().get("dz-garbled").status is JobStatus.SUCCEEDED  # type: ignore[union-attr]


def test_a_notification_that_cannot_be_read_is_refused_without_its_content(
    stack: Stack,
) -> None:
    results = SageMakerResults(SageMakerResultSettings(jobs_table=stack.table_name), stack.ledger())
    with pytest.raises(UnreadableMessage, match="invocationStatus") as refused:
        results.handle_record(SqsMessage("m", _poison_notification("dz-x"), 1))
    assert SECRET not in str(refused.value)


# -- Greengrass: the reconciler still ends the roll-out ---------------------------------------


def test_a_roll_out_whose_status_event_cannot_be_read_is_ended_by_the_reconciler(
    stack: Stack, lambda_context: Any
) -> None:
    # Given a roll-out to a thing that completed, and its status event garbled
    w: PackagingWorld = packaging_world(stack)
    component = PackagedComponent("circuit-model", "1.0.0")
    fake = FakeGreengrass(clock=w.time.utc, deliver=lambda event: None)
    fake.add_component_version(component.name, component.version)
    fake.add_core_devices(THING)
    parent = w.ledger.create(
        Job(
            job_id="dz-" + "5" * 40,
            kind=JobKind.MODEL_PACKAGING,
            status=JobStatus.RUNNING,
            source={"bucket": w.stack.dropzone_bucket, "key": "model-packaging/p/r.json"},
            target="circuit-boards",
            created_at="",
            updated_at="",
        )
    ).job
    section = GreengrassDeploymentSection.model_validate({"TargetArn": THING})
    job = w.deployer(fake).deploy(parent, section, component)
    fake.advance_until_idle()
    queue = Queue("GreengrassStateQueue")
    deployment_id = (job.model_extra or {})["deployment_id"]
    queue.sqs.send_message(QueueUrl=queue.url, MessageBody=_poison_greengrass_event(deployment_id))
    # When the state function polls it, it goes to the DLQ and the job waits
    assert queue.poll(_greengrass_handler(stack), lambda_context) == MAX_RECEIVES
    assert len(queue.dead_letters()) == 1
    assert w.ledger.get(job.job_id).status is JobStatus.SUBMITTED  # type: ignore[union-attr]
    # Then the reconciler, once the job has been quiet, asks Greengrass and settles it
    w.tick(timedelta(minutes=31).total_seconds())
    reconciler = EdgeReconciler(
        EdgeReconcileSettings(jobs_table=w.stack.table_name),
        w.ledger,
        Greengrass(fake),
        clock=w.time.utc,
    )
    assert reconciler.run()["settled"] == 1
    assert w.ledger.get(job.job_id).status is JobStatus.SUCCEEDED  # type: ignore[union-attr]
