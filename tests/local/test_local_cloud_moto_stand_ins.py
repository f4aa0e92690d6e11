"""The SageMaker stand-in's reads and notifications made inside moto answer and deliver what
the client calls did: the same bytes of the latest version, the same errors, and the same
messages in every subscribed queue (raw or not, filtered on the body or on attributes)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from dropzone_local.moto_stand_ins import StandInCalls

REGION = "us-east-1"
BUCKET = "stand-in-bucket"


@pytest.fixture
def clients() -> Iterator[tuple[Any, Any, Any]]:
    with mock_aws():
        yield tuple(boto3.client(name, region_name=REGION) for name in ("s3", "sns", "sqs"))


def _bucket(s3: Any) -> None:
    """Versioned, encrypted by default with a KMS key and bucket keys, events to
    EventBridge: as the stack's buckets are."""
    key = boto3.client("kms", region_name=REGION).create_key()["KeyMetadata"]["Arn"]
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    rule = {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key}
    s3.put_bucket_encryption(
        Bucket=BUCKET,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": rule, "BucketKeyEnabled": True}]
        },
    )
    s3.put_bucket_notification_configuration(
        Bucket=BUCKET, NotificationConfiguration={"EventBridgeConfiguration": {}}
    )


def _outcome(read: Callable[[str, str], bytes], bucket: str, key: str) -> Any:
    try:
        return read(bucket, key)
    except ClientError as error:
        return error.response["Error"]["Code"], error.response["Error"].get("Key")


def test_objects_are_read_as_get_object_answers(clients: tuple[Any, Any, Any]) -> None:
    s3, sns, _ = clients
    _bucket(s3)
    calls = StandInCalls(REGION, s3, sns)
    s3.put_object(Bucket=BUCKET, Key="in/a.json", Body=b'{"first": 1}')
    s3.put_object(Bucket=BUCKET, Key="in/a.json", Body=b'{"second": 2}')
    s3.put_object(Bucket=BUCKET, Key="in/gone.json", Body=b"x")
    s3.delete_object(Bucket=BUCKET, Key="in/gone.json")  # a delete marker on top
    s3.put_object(Bucket=BUCKET, Key="in/cold.json", Body=b"x", StorageClass="GLACIER")
    s3.put_object(Bucket=BUCKET, Key="in/empty.json", Body=b"")
    cases = [(BUCKET, name) for name in ("in/a.json", "in/gone.json", "in/cold.json")]
    cases += [(BUCKET, "in/empty.json"), (BUCKET, "in/missing.json"), ("no-bucket", "k")]

    def client_read(bucket: str, key: str) -> bytes:
        body: bytes = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        return body

    for bucket, key in cases:
        assert _outcome(calls.read_object, bucket, key) == _outcome(client_read, bucket, key)
    assert calls.read_object(BUCKET, "in/a.json") == b'{"second": 2}'
    assert _outcome(calls.read_object, BUCKET, "in/gone.json")[0] == "NoSuchKey"
    assert _outcome(calls.read_object, BUCKET, "in/cold.json")[0] == "InvalidObjectState"


def _subscribe(sns: Any, sqs: Any, topic: str, name: str, **attributes: str) -> str:
    url: str = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=arn["Attributes"]["QueueArn"],
        Attributes=attributes,
    )
    return url


def _received(sqs: Any, url: str) -> list[Any]:
    """The messages in the queue, without what differs from one publication to the next."""
    messages = sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    ).get("Messages", [])
    seen = []
    for message in messages:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        body = message["Body"]
        envelope = json.loads(body)
        if envelope.get("Type") == "Notification":  # moto's id, time and signature vary
            for varies in ("MessageId", "Timestamp", "Signature", "SigningCertURL"):
                assert envelope.pop(varies)
            body = envelope
        seen.append((body, message.get("MessageAttributes")))
    return seen


def test_notifications_reach_the_subscriptions_as_a_publish_does(
    clients: tuple[Any, Any, Any],
) -> None:
    s3, sns, sqs = clients
    topic = sns.create_topic(Name="results")["TopicArn"]
    completed = json.dumps({"status": "Completed"}, separators=(",", ":"))
    on_body = json.dumps({"invocationStatus": ["Completed"]})
    queues = [
        _subscribe(sns, sqs, topic, "enveloped"),
        _subscribe(sns, sqs, topic, "raw", RawMessageDelivery="true"),
        _subscribe(
            sns,
            sqs,
            topic,
            "on-body",
            RawMessageDelivery="true",
            FilterPolicyScope="MessageBody",
            FilterPolicy=on_body,
        ),
        _subscribe(sns, sqs, topic, "on-attributes", FilterPolicy=json.dumps({"kind": ["a"]})),
    ]
    calls = StandInCalls(REGION, s3, sns)
    messages = [
        json.dumps({"invocationStatus": "Completed", "inferenceId": "i-1"}),
        json.dumps({"invocationStatus": "Failed", "failureReason": "no"}),
        completed,
    ]
    for message in messages:
        sns.publish(TopicArn=topic, Message=message)
        expected = [_received(sqs, url) for url in queues]
        assert calls.publish(topic, message)
        assert [_received(sqs, url) for url in queues] == expected
    assert [len(_received(sqs, url)) for url in queues] == [0, 0, 0, 0]

    missing = topic.replace("results", "nowhere")
    with pytest.raises(ClientError) as by_client:
        sns.publish(TopicArn=missing, Message="m")
    with pytest.raises(ClientError) as by_calls:
        calls.publish(missing, "m")
    assert by_calls.value.response["Error"] == by_client.value.response["Error"]


def _publish_error(publish: Callable[[], Any]) -> Any:
    with pytest.raises(ClientError) as raised:
        publish()
    return raised.value.response["Error"]


def test_a_publish_moto_would_refuse_is_refused_as_the_client_s(
    clients: tuple[Any, Any, Any],
) -> None:
    s3, sns, sqs = clients
    calls = StandInCalls(REGION, s3, sns)
    fifo = sns.create_topic(Name="results.fifo", Attributes={"FifoTopic": "true"})["TopicArn"]
    by_client = _publish_error(lambda: sns.publish(TopicArn=fifo, Message="m"))
    assert _publish_error(lambda: calls.publish(fifo, "m")) == by_client
    assert by_client["Code"] == "MissingParameter"  # a FIFO topic needs a message group

    topic = sns.create_topic(Name="results")["TopicArn"]
    kept = _subscribe(sns, sqs, topic, "kept")
    gone = _subscribe(sns, sqs, topic, "gone")
    sqs.delete_queue(QueueUrl=gone)
    by_client = _publish_error(lambda: sns.publish(TopicArn=topic, Message="m"))
    first = _received(sqs, kept)  # moto delivered to the queue before the missing one
    assert _publish_error(lambda: calls.publish(topic, "m")) == by_client
    assert _received(sqs, kept) == first
    assert "NonExistentQueue" in by_client["Code"]


def test_the_endpoint_reads_and_notifies_inside_moto_and_writes_through_the_client() -> None:
    from dropzone.models.jobs import JobStatus
    from dropzone_local.cloud import LocalCloud
    from dropzone_local.functions import invoking

    with LocalCloud(function_environment={"POWERTOOLS_LOG_LEVEL": "ERROR"}) as cloud:
        cloud.add_endpoint("churn-model")
        cloud.add_endpoint("broken-model", failure_reason="model error")
        harness: list[str] = []  # the calls made outside the functions

        def note(model: Any, **_: Any) -> None:
            if invoking() is None:
                harness.append(model.name)

        for service in ("s3", "sns"):
            cloud.client(service).meta.events.register(f"before-call.{service}", note)
        cloud.put_object("sagemaker-async/churn-model/in.json", b'{"rows": [[1, 2]]}')
        cloud.put_object("sagemaker-async/broken-model/in.json", b"{}")
        harness.clear()
        cloud.run_until_idle()
        assert sorted(harness) == ["PutObject", "PutObject"]  # the output and the failure
        jobs = {job.target: job for job in cloud.jobs()}
        assert jobs["churn-model"].status is JobStatus.SUCCEEDED
        assert jobs["broken-model"].status is JobStatus.FAILED
        output = json.loads(cloud.read_object(str(jobs["churn-model"].output_location)))
        assert output["inputBytes"] == len(b'{"rows": [[1, 2]]}')
