"""LocalCloud's cheaper EventBridge rule matching delivers as moto does: the same rules,
targets, PutEvents calls and S3 uploads, run against moto alone and against moto with
the matching in place, give the same answers and errors and put the same messages in
every target queue and log group; each pattern decides each event as moto's does."""

from __future__ import annotations

import functools
import itertools
import json
import warnings
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any
from unittest import mock

import boto3
import pytest
from moto import mock_aws

from dropzone_local.moto_events import event_rules_matched_at_lower_cost
from dropzone_local.moto_jsonpath import jsonpath_compiled_once

REGION, ACCOUNT = "us-east-1", "123456789012"
BUS, FAILING_BUS = "dropzone", "failing"
NOW = 1_700_000_000.25  # moto's clock, fixed so that the two runs' events are alike
QUEUES = ("prefix", "anything", "numeric", "exists", "ignore-case", "wildcard", "or")
QUEUES += ("arrays", "disabled", "schedule", "time", "transform", "s3", "other")
QUEUES += ("suffix-cidr", "all.fifo")

# Each rule: (bus, name, pattern, targets as (queue, extra target fields)), state
RULES: list[tuple[str, str, Any, list[tuple[str, dict[str, Any]]], str]] = [
    (BUS, "prefix", {"source": [{"prefix": "dropzone."}]}, [("prefix", {})], "ENABLED"),
    (
        BUS,
        "anything-but",
        {"source": ["app"], "detail-type": [{"anything-but": ["Heartbeat", "Noise"]}]},
        [("anything", {}), ("other", {"Input": '{"constant": true}'})],
        "ENABLED",
    ),
    (
        BUS,
        "numeric",
        {"detail": {"size": [{"numeric": [">", 10, "<=", 100]}]}},
        [("numeric", {})],
        "ENABLED",
    ),
    (
        BUS,
        "exists",
        {"detail": {"error": [{"exists": True}], "retry": [{"exists": False}]}},
        [("exists", {"InputPath": "$.detail"})],
        "ENABLED",
    ),
    (
        BUS,
        "ignore-case",
        {"detail-type": [{"equals-ignore-case": "object created"}]},
        [("ignore-case", {})],
        "ENABLED",
    ),
    (
        BUS,
        "wildcard",
        {
            "detail": {
                "object": {
                    "key": [{"wildcard": "in/*.json"}, {"prefix": {"equals-ignore-case": "UP/"}}]
                }
            }
        },
        [("wildcard", {})],
        "ENABLED",
    ),
    (
        BUS,
        "or",
        {
            "source": ["app"],
            "$or": [
                {"detail": {"status": ["FAILED"]}},
                {"detail": {"size": [{"numeric": [">=", 1000]}]}},
            ],
        },
        [("or", {})],
        "ENABLED",
    ),
    (
        BUS,
        "arrays",
        {"detail": {"tags": ["b", 7]}, "resources": ["arn:aws:s3:::one"]},
        [("arrays", {})],
        "ENABLED",
    ),
    (BUS, "disabled", {"source": ["app"]}, [("disabled", {})], "DISABLED"),
    (
        BUS,
        "suffix-cidr",
        {
            "$or": [
                {"detail": {"ip": [{"cidr": "10.0.0.0/8"}]}},
                {"detail": {"name": [{"suffix": ".csv"}]}},
                {
                    "detail": {
                        "name": [{"anything-but": {"prefix": "in"}}],
                        "ip": [{"exists": False}],
                    }
                },
            ]
        },
        [("suffix-cidr", {})],
        "ENABLED",
    ),
    (
        BUS,
        "transform",
        {"source": [{"prefix": ""}], "detail": {"status": [{"exists": True}]}},
        [
            (
                "transform",
                {
                    "InputTransformer": {
                        "InputPathsMap": {"status": "$.detail.status", "kind": "$.detail-type"},
                        "InputTemplate": '{"status": "<status>", "kind": "<kind>", '
                        '"whole": <aws.events.event.json>}',
                    }
                },
            ),
            ("all.fifo", {"SqsParameters": {"MessageGroupId": "group"}}),
        ],
        "ENABLED",
    ),
    (
        "default",
        "s3",
        {"source": ["aws.s3"], "detail": {"object": {"key": [{"prefix": "in/"}]}}},
        [("s3", {})],
        "ENABLED",
    ),
    (
        "default",
        "time",
        {"time": [{"numeric": [">", 0]}], "source": ["app"]},
        [("time", {})],
        "ENABLED",
    ),
    ("default", "forward", {"source": ["forward"]}, [(f"bus:{BUS}", {})], "ENABLED"),
]


def _arn(queue: str) -> str:
    if queue.startswith("bus:"):
        return f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/{queue[4:]}"
    return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{queue}"


def _entry(source: str, kind: str, detail: Any, **more: Any) -> dict[str, Any]:
    text = detail if isinstance(detail, str) else json.dumps(detail)
    return {"Source": source, "DetailType": kind, "Detail": text, "EventBusName": BUS, **more}


ENTRIES = [
    _entry("dropzone.submit", "Job", {"size": 50, "object": {"key": "in/a.json"}}),
    _entry("app", "Object Created", {"size": 5000, "status": "DONE", "tags": ["a", "b"]}),
    _entry("app", "Heartbeat", {"error": "x", "status": "FAILED", "ip": "10.1.2.3"}),
    _entry("app", "OBJECT CREATED", {"error": None, "retry": 1, "name": "x.csv"}),
    _entry(
        "other", "Noise", {"tags": [7], "object": {"key": "UP/Z"}}, Resources=["arn:aws:s3:::one"]
    ),
    _entry("app", "Job", {"size": 10, "name": "input", "nested": {"deep": {"er": [1, {"a": 2}]}}}),
    _entry("app", "Job", "[1, 2]"),
    _entry("app", "Job", {}, EventBusName="default"),
    {"Source": "forward", "DetailType": "Relay", "Detail": '{"status": "FAILED"}'},
    _entry(
        "app",
        "Timed",
        {"size": 11},
        EventBusName=f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/{BUS}",
    ),
]
REFUSED_ENTRIES = [
    _entry("", "Job", {}),
    _entry("app", "", {}),
    _entry("app", "Job", ""),
    _entry("app", "Job", "{not json"),
    {"DetailType": "Job", "Detail": "{}"},
    _entry("app", "Job", {"size": 20}),
]


def _setup(events: Any, sqs: Any, logs: Any, s3: Any) -> None:
    for queue in QUEUES:
        fifo = {"FifoQueue": "true", "ContentBasedDeduplication": "true"}
        sqs.create_queue(QueueName=queue, Attributes=fifo if queue.endswith(".fifo") else {})
    for bus in (BUS, FAILING_BUS):
        events.create_event_bus(Name=bus)
    for bus, name, pattern, targets, state in RULES:
        events.put_rule(Name=name, EventBusName=bus, EventPattern=json.dumps(pattern), State=state)
        events.put_targets(
            Rule=name,
            EventBusName=bus,
            Targets=[
                {"Id": f"t{index}", "Arn": _arn(queue), **extra}
                for index, (queue, extra) in enumerate(targets)
            ],
        )
    events.put_rule(Name="schedule", ScheduleExpression="rate(5 minutes)")
    logs.create_log_group(logGroupName="/events/all")
    events.put_targets(
        Rule="schedule",
        Targets=[
            {"Id": "q", "Arn": _arn("schedule")},
            {"Id": "l", "Arn": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/events/all"},
        ],
    )
    s3.create_bucket(Bucket="drop")
    s3.put_bucket_notification_configuration(
        Bucket="drop", NotificationConfiguration={"EventBridgeConfiguration": {}}
    )


# Patterns whose filters raise in moto, on a bus of their own: the first fails on source
# before it raises, which moto evaluates anyway.
FAILING = [
    {"source": ["nobody"], "detail": {"size": [{"numeric": [">", "ten"]}]}},
    {"detail": {"size": [{}]}},
]


def _outcome(call: Any) -> Any:
    try:
        answer = call()
    except Exception as error:  # moto's errors and its raised exceptions alike
        response = getattr(error, "response", None)
        return ("error", type(error).__name__, response["Error"] if response else str(error))
    answer.pop("ResponseMetadata", None)
    return ("ok", answer)


def _drain(sqs: Any, queue: str) -> list[Any]:
    url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    bodies: list[Any] = []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
        bodies += [(message["MessageId"], json.loads(message["Body"])) for message in batch]
        sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(batch)
            ],
        )
    return bodies


def _run(cheaper: bool, *, kept_paths: bool = False) -> dict[str, Any]:
    """Every answer and every delivery of the same calls, with the matching or without,
    and with the input templates' JSONPaths compiled once or at each delivery."""
    from moto.moto_api._internal import mock_random

    with ExitStack() as stack:
        stack.enter_context(mock_aws())
        warned = stack.enter_context(warnings.catch_warnings(record=True))
        warnings.simplefilter("always")
        stack.enter_context(mock.patch("moto.events.models.unix_time", return_value=NOW))
        stack.enter_context(mock.patch("moto.s3.notifications.unix_time", return_value=NOW))
        if cheaper:
            stack.enter_context(event_rules_matched_at_lower_cost())
        if kept_paths:
            stack.enter_context(jsonpath_compiled_once())
        mock_random.seed(7)
        clients = {
            name: boto3.client(name, region_name=REGION) for name in ("events", "sqs", "logs", "s3")
        }
        events, sqs = clients["events"], clients["sqs"]
        _setup(events, sqs, clients["logs"], clients["s3"])
        answers = [_outcome(lambda: events.put_events(Entries=ENTRIES))]
        answers.append(_outcome(lambda: events.put_events(Entries=REFUSED_ENTRIES)))
        answers.append(_outcome(lambda: events.put_events(Entries=ENTRIES + ENTRIES[:1])))
        missing = _entry("app", "Job", {}, EventBusName="nowhere")
        answers.append(_outcome(lambda: events.put_events(Entries=[ENTRIES[0], missing])))
        for key in ("in/a.json", "out/b.json", "in/c.txt"):
            answers.append(
                _outcome(lambda k=key: clients["s3"].put_object(Bucket="drop", Key=k, Body=b"x"))
            )
        for index, pattern in enumerate(FAILING):
            events.put_rule(
                Name=f"failing-{index}", EventBusName=FAILING_BUS, EventPattern=json.dumps(pattern)
            )
            failing = _entry("app", "Job", {"size": 3}, EventBusName=FAILING_BUS)
            answers.append(_outcome(lambda e=failing: events.put_events(Entries=[ENTRIES[1], e])))
            events.delete_rule(Name=f"failing-{index}", EventBusName=FAILING_BUS)
        deliveries = {queue: _drain(sqs, queue) for queue in QUEUES}
        logged = clients["logs"].filter_log_events(logGroupName="/events/all")["events"]
        return {
            "answers": answers,
            "deliveries": deliveries,
            "logs": sorted(event["message"] for event in logged),
            "warnings": [
                str(warning.message) for warning in warned if "Detail" in str(warning.message)
            ],
        }


def test_every_put_events_answer_and_delivery_is_moto_s() -> None:
    expected = _run(cheaper=False)
    assert _run(cheaper=True) == expected
    # and the calls did what they say: every kind of rule received something, or refused
    delivered = {queue for queue, bodies in expected["deliveries"].items() if bodies}
    assert delivered == set(QUEUES)
    answers = expected["answers"]
    assert answers[0][1]["FailedEntryCount"] == 0
    assert answers[1][1]["FailedEntryCount"] == 5
    assert answers[2][2]["Code"] == "ValidationException"  # eleven entries
    assert answers[3][2]["Code"] == "ResourceNotFoundException"  # no such bus
    assert [answer[1] for answer in answers[-2:]] == ["TypeError", "IndexError"]
    assert len(expected["warnings"]) == 1  # the detail that is a list


def test_input_templates_filled_from_kept_compilations_deliver_as_moto_does() -> None:
    expected = _run(cheaper=False)
    assert _run(cheaper=False, kept_paths=True) == expected
    assert _run(cheaper=True, kept_paths=True) == expected
    assert expected["deliveries"]["transform"]  # an InputTransformer filled its template


def test_a_jsonpath_is_compiled_once_while_the_local_cloud_runs() -> None:
    from jsonpath_ng import ext

    original = ext.parse
    with jsonpath_compiled_once():
        first = ext.parse("$.detail.size")
        assert ext.parse("$.detail.size") is first
        assert ext.parse("$.detail") is not first
        assert [match.value for match in first.find({"detail": {"size": 3}})] == [3]
        assert [match.value for match in first.find({"detail": {"size": 4}})] == [4]
    assert ext.parse is original
    assert ext.parse("$.detail.size") is not ext.parse("$.detail.size")


@contextmanager
def _cheaper(on: bool) -> Iterator[None]:
    if on:
        with event_rules_matched_at_lower_cost():
            yield
    else:
        yield


PATTERNS = (
    [pattern for _, _, pattern, _, _ in RULES]
    + FAILING
    + [
        {},
        {"$or": {"a": ["b"]}},
        {"source": "scalar"},
        {"detail": {"size": [{"numeric": ["!", 1]}]}},
        {"detail": {"size": [{"numeric": [">", 1, "<"]}]}},
        {"detail": {"name": [{"prefix": 5}]}},
        {
            "detail": {
                "name": [{"equals-ignore-case": ["A", "x.CSV"]}, {"wildcard": ["*.c?v", "x*"]}]
            }
        },
        {"detail": {"tags": [{"anything-but": {"suffix": "b"}}], "nested": {"deep": {"er": [1]}}}},
        {"detail.size": [50], "detail": {"object": [{"exists": True}]}},
        {"detail": [{"exists": True}], "id": [{"unknown-filter": 1}]},
    ]
)
EVENTS = [
    {
        "source": "app",
        "detail-type": "Job",
        "time": 1,
        "resources": [],
        "detail": json.loads(entry["Detail"]),
    }
    for entry in ENTRIES + REFUSED_ENTRIES[-1:]
    if entry["Detail"].startswith(("{", "["))
]


def _decision(compiled: Any, event: Any) -> dict[str, bool]:
    return {"matched": compiled.matches_event(event)}


@pytest.mark.parametrize("pattern", PATTERNS, ids=[str(n) for n in range(len(PATTERNS))])
def test_each_pattern_decides_each_event_as_moto_does(pattern: Any) -> None:
    from moto.events.models import EventPattern

    compiled = EventPattern(json.dumps(pattern), pattern)
    for event, source in itertools.product(EVENTS, ("app", "dropzone.x", "other")):
        event = {**event, "source": source}
        decisions = []
        for on in (False, True, True):  # the second patched one from the kept flat dict
            with _cheaper(on):
                decisions.append(_outcome(functools.partial(_decision, compiled, event)))
        assert decisions[1] == decisions[2] == decisions[0], (pattern, event)


def test_moto_s_own_paths_are_back_after_the_local_cloud() -> None:
    from moto.events.models import EventPattern, EventsBackend

    matches, put = EventPattern.matches_event, EventsBackend.put_events
    with event_rules_matched_at_lower_cost():
        assert EventPattern.matches_event is not matches
        assert EventsBackend.put_events is not put
    assert (EventPattern.matches_event, EventsBackend.put_events) == (matches, put)


def _late_deliveries(cheaper: bool) -> list[Any]:
    """What a rule on ingestion-time receives when moto's clock moves at each reading."""
    readings = itertools.count(NOW)
    with ExitStack() as stack:
        stack.enter_context(mock_aws())
        clock = stack.enter_context(mock.patch("moto.events.models.unix_time"))
        if cheaper:
            stack.enter_context(event_rules_matched_at_lower_cost())
        events, sqs = (boto3.client(name, region_name=REGION) for name in ("events", "sqs"))
        sqs.create_queue(QueueName="late")
        for name, pattern in (
            ("first", {"source": ["nobody"]}),
            ("late", {"ingestion-time": [{"numeric": [">", NOW + 1]}]}),
        ):
            events.put_rule(Name=name, EventPattern=json.dumps(pattern))
            events.put_targets(Rule=name, Targets=[{"Id": "q", "Arn": _arn("late")}])
        clock.side_effect = readings  # from NOW, one second more at each reading
        events.put_events(Entries=[{"Source": "app", "DetailType": "Job", "Detail": "{}"}])
        return [body["detail-type"] for _, body in _drain(sqs, "late")]


def test_a_pattern_on_the_time_fields_sees_the_event_moto_builds_for_its_rule() -> None:
    # moto reads its clock afresh for each rule: the second rule's event is later
    assert _late_deliveries(cheaper=True) == _late_deliveries(cheaper=False) == ["Job"]
