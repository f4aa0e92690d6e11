"""LocalCloud's reads of moto's queues agree with the client calls they stand for: a poll
skipped as empty is one whose ReceiveMessage would have answered nothing and changed
nothing (in-flight, postponed and delayed messages, a locked FIFO group), and one that
might find something (a visibility timeout passed, a delay over, a message due for its
dead-letter queue or past retention) is received through the client; the depths are the
ApproximateNumberOfMessages that ListQueues and GetQueueAttributes answer."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.core.utils import unix_time_millis

from dropzone_local.cloud import LocalCloud
from dropzone_local.moto_paths import QueueReads
from dropzone_local.provision import ACCOUNT

REGION = "us-east-1"


@pytest.fixture
def sqs() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("sqs", region_name=REGION)


def _queue(name: str) -> Any:
    from moto.sqs.models import sqs_backends

    return sqs_backends[ACCOUNT][REGION].queues[name]


def _state(*names: str) -> list[Any]:
    """Everything a receive could change in these queues."""
    return [
        (
            [
                (m.id, m.visible_at, m.delayed_until, m.approximate_receive_count)
                for m in _queue(name)._messages
            ],
            sorted(m.id for m in _queue(name).pending_messages),
        )
        for name in names
    ]


def _poll(sqs: Any, url: str, *also: str, count: int = 10) -> tuple[bool, list[Any]]:
    """Whether the poll would be skipped, and what the client's receive then answers; a
    skipped poll's receive answers nothing and changes nothing (in `also` queues too)."""
    names = (url.rsplit("/", 1)[1], *also)
    before = _state(*names)
    may = QueueReads(REGION).may_receive(url, count)
    assert _state(*names) == before  # reading changes nothing
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=count).get("Messages", [])
    if not may:
        assert messages == []
        assert _state(*names) == before
    return may, [message["Body"] for message in messages]


def _pass_time(message: Any, *, visible: bool = False, undelayed: bool = False) -> None:
    """As if time had passed: its visibility timeout or delay over a second ago."""
    if visible:
        message.visible_at = unix_time_millis() - 1000
    if undelayed:
        message.delayed_until = unix_time_millis() - 1000


def test_an_empty_queue_and_a_visible_message(sqs: Any) -> None:
    url = sqs.create_queue(QueueName="plain")["QueueUrl"]
    assert _poll(sqs, url) == (False, [])
    sqs.send_message(QueueUrl=url, MessageBody="one")
    assert _poll(sqs, url) == (True, ["one"])


def test_in_flight_and_postponed_messages_stay_hidden(sqs: Any) -> None:
    url = sqs.create_queue(QueueName="hidden")["QueueUrl"]
    for body in ("one", "two"):
        sqs.send_message(QueueUrl=url, MessageBody=body)
    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60)
    assert _poll(sqs, url) == (False, [])
    handle = received["Messages"][0]["ReceiptHandle"]
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=600)
    assert _poll(sqs, url) == (False, [])


def test_a_message_whose_visibility_timeout_passed_is_received(sqs: Any) -> None:
    url = sqs.create_queue(QueueName="expired")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="again")
    sqs.receive_message(QueueUrl=url, VisibilityTimeout=60)
    message = _queue("expired")._messages[0]
    assert message in _queue("expired").pending_messages
    _pass_time(message, visible=True)  # still pending: moto notices at the next receive
    assert _poll(sqs, url) == (True, ["again"])


def test_delayed_messages_wait_until_their_delay_is_over(sqs: Any) -> None:
    url = sqs.create_queue(QueueName="delayed", Attributes={"DelaySeconds": "60"})["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="queue delay")
    sqs.send_message(QueueUrl=url, MessageBody="own delay", DelaySeconds=120)
    assert _poll(sqs, url) == (False, [])
    _pass_time(_queue("delayed")._messages[1], undelayed=True)
    assert _poll(sqs, url) == (True, ["own delay"])


def test_fifo_groups(sqs: Any) -> None:
    url = sqs.create_queue(
        QueueName="ordered.fifo",
        Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"},
    )["QueueUrl"]
    for body, group in (("a1", "a"), ("a2", "a")):
        sqs.send_message(QueueUrl=url, MessageBody=body, MessageGroupId=group)
    assert _poll(sqs, url, count=1) == (True, ["a1"])
    # a2 is visible but its group is locked: moto's receive decides, and answers nothing
    assert _poll(sqs, url) == (True, [])
    sqs.send_message(QueueUrl=url, MessageBody="b1", MessageGroupId="b")
    assert _poll(sqs, url) == (True, ["b1"])
    _pass_time(_queue("ordered.fifo")._messages[0], visible=True)
    may, bodies = _poll(sqs, url)
    assert may and bodies[0] == "a1"

    single = sqs.create_queue(QueueName="single.fifo", Attributes={"FifoQueue": "true"})
    sqs.send_message(
        QueueUrl=single["QueueUrl"], MessageBody="x", MessageGroupId="x", MessageDeduplicationId="x"
    )
    assert _poll(sqs, single["QueueUrl"]) == (True, ["x"])
    assert _poll(sqs, single["QueueUrl"]) == (False, [])  # its one message in flight


def test_a_message_due_for_its_dead_letter_queue_is_moved_by_the_receive(sqs: Any) -> None:
    sqs.create_queue(QueueName="dead")
    redrive = '{"deadLetterTargetArn": "arn:aws:sqs:us-east-1:123456789012:dead", '
    url = sqs.create_queue(
        QueueName="source", Attributes={"RedrivePolicy": redrive + '"maxReceiveCount": 1}'}
    )["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="poison")
    sqs.receive_message(QueueUrl=url, VisibilityTimeout=60)
    assert _poll(sqs, url, "dead") == (False, [])
    _pass_time(_queue("source")._messages[0], visible=True)
    assert _poll(sqs, url, "dead") == (True, [])
    assert [message.body for message in _queue("dead")._messages] == ["poison"]


def test_a_message_past_retention_is_received_by_the_client(sqs: Any) -> None:
    url = sqs.create_queue(QueueName="kept", Attributes={"MessageRetentionPeriod": "60"})[
        "QueueUrl"
    ]
    sqs.send_message(QueueUrl=url, MessageBody="stale")
    _queue("kept")._messages[0].sent_timestamp -= 120_000
    assert _poll(sqs, url) == (True, [])  # moto marks it received, and answers nothing
    assert _queue("kept")._messages[0].approximate_receive_count == 1


def test_long_polls_unknown_queues_and_wrong_counts_go_to_the_client(sqs: Any) -> None:
    url = sqs.create_queue(QueueName="long", Attributes={"ReceiveMessageWaitTimeSeconds": "5"})[
        "QueueUrl"
    ]
    reads = QueueReads(REGION)
    assert reads.may_receive(url, 10)  # a long poll may see a delay end: not skipped
    assert reads.may_receive(url.replace("long", "nowhere"), 10)
    with pytest.raises(ClientError, match="NonExistentQueue"):
        sqs.receive_message(QueueUrl=url.replace("long", "nowhere"))
    plain = sqs.create_queue(QueueName="plain")["QueueUrl"]
    assert reads.may_receive(plain, 11) and reads.may_receive(plain, 0)
    with pytest.raises(ClientError, match="MaxNumberOfMessages"):
        sqs.receive_message(QueueUrl=plain, MaxNumberOfMessages=11)


def test_depths_are_what_the_client_answers(sqs: Any) -> None:
    urls = [sqs.create_queue(QueueName=name)["QueueUrl"] for name in ("s-a", "s-b", "other")]
    delayed = sqs.create_queue(QueueName="s-delayed", Attributes={"DelaySeconds": "60"})
    urls.append(delayed["QueueUrl"])
    for url in urls:
        for number in range(4):
            sqs.send_message(QueueUrl=url, MessageBody=str(number))
    sqs.receive_message(QueueUrl=urls[1], MaxNumberOfMessages=3, VisibilityTimeout=60)
    _pass_time(_queue("s-delayed")._messages[0], undelayed=True)
    expected = [
        (
            url.rsplit("/", 1)[1],
            int(
                sqs.get_queue_attributes(
                    QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
                )["Attributes"]["ApproximateNumberOfMessages"]
            ),
        )
        for url in sqs.list_queues(QueueNamePrefix="s-")["QueueUrls"]
    ]
    assert expected == [("s-a", 4), ("s-b", 1), ("s-delayed", 1)]
    assert QueueReads(REGION).depths("s-") == expected


def test_the_pumps_skip_empty_queues_and_the_samples_match_the_client() -> None:
    with LocalCloud(function_environment={"POWERTOOLS_LOG_LEVEL": "ERROR"}) as cloud:
        sqs, receives = cloud.client("sqs"), []
        sqs.meta.events.register("before-call.sqs.ReceiveMessage", lambda **_: receives.append(1))
        cloud.run_until_idle()
        assert receives == []
        queue = cloud.output("SageMakerSubmitQueueUrl")
        sqs.send_message(QueueUrl=queue, MessageBody="{}", DelaySeconds=60)
        cloud.metrics.datapoints.clear()
        cloud.run_until_idle()
        assert receives == []  # the message waits out its delay
        depths = {
            dict(point.dimensions)["QueueName"]: point.value
            for point in cloud.metrics.datapoints
            if point.name == "ApproximateNumberOfMessagesVisible"
        }
        assert depths[queue.rsplit("/", 1)[1]] == 0
        for url in sqs.list_queues(QueueNamePrefix=f"{cloud.stack_name}-")["QueueUrls"]:
            if url != cloud._stack.observer_queue:
                attributes = sqs.get_queue_attributes(
                    QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
                )["Attributes"]
                assert depths[url.rsplit("/", 1)[1]] == int(
                    attributes["ApproximateNumberOfMessages"]
                )
