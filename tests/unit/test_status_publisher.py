from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from dropzone.adapters.eventbridge import EventBus
from dropzone.models.jobs import Job, JobKind, JobStatus, SourceObject
from dropzone.workflows.status.publisher import (
    DETAIL_TYPE,
    EVENT_SOURCE,
    StatusPublisher,
    status_change_detail,
)
from tests.support.events import load_event


@pytest.fixture
def events_client() -> Any:
    return boto3.client("events", region_name="us-east-1")


def test_publishes_one_event_per_status_change(events_client: Any) -> None:
    stream = load_event("status_publisher.json")
    with Stubber(events_client) as stubber:
        stubber.add_response(
            "put_events",
            {"FailedEntryCount": 0, "Entries": [{"EventId": "1"}, {"EventId": "2"}]},
            expected_params={
                "Entries": [
                    {
                        "Source": EVENT_SOURCE,
                        "DetailType": DETAIL_TYPE,
                        "Detail": ANY,
                        "Resources": [],
                        "EventBusName": "default",
                    },
                    {
                        "Source": EVENT_SOURCE,
                        "DetailType": DETAIL_TYPE,
                        "Detail": ANY,
                        "Resources": [],
                        "EventBusName": "default",
                    },
                ]
            },
        )
        captured: list[dict[str, Any]] = []
        events_client.meta.events.register(
            "before-parameter-build.events.PutEvents", lambda params, **_: captured.append(params)
        )
        result = StatusPublisher(EventBus(client=events_client)).publish(stream)
    assert result == {"batchItemFailures": []}
    details = [json.loads(entry["Detail"]) for entry in captured[0]["Entries"]]
    assert [(d["previous_status"], d["status"]) for d in details] == [
        (None, "ACCEPTED"),
        ("ACCEPTED", "SUBMITTED"),
    ]
    submitted = details[1]
    assert submitted["kind"] == "sagemaker_async"
    assert submitted["source"]["key"] == "sagemaker-async/churn-model/2026/11/input 0001.json"
    assert submitted["target"] == "churn-model"
    assert submitted["output_location"].startswith("s3://dropzone-results/")
    assert "history" not in submitted


def test_updates_that_do_not_change_status_publish_nothing(events_client: Any) -> None:
    stream = load_event("status_publisher.json")
    record = stream["Records"][1]
    record["dynamodb"]["OldImage"] = record["dynamodb"]["NewImage"]
    removal = {**stream["Records"][0], "eventName": "REMOVE"}
    with Stubber(events_client):  # no response queued: any call fails the test
        result = StatusPublisher(EventBus(client=events_client)).publish(
            {"Records": [record, removal]}
        )
    assert result == {"batchItemFailures": []}


def test_a_rejected_entry_makes_the_batch_retry_from_that_record(events_client: Any) -> None:
    stream = load_event("status_publisher.json")
    with Stubber(events_client) as stubber:
        stubber.add_response(
            "put_events",
            {
                "FailedEntryCount": 1,
                "Entries": [
                    {"EventId": "1"},
                    {"ErrorCode": "InternalFailure", "ErrorMessage": "try again"},
                ],
            },
        )
        result = StatusPublisher(EventBus(client=events_client)).publish(stream)
    assert result == {"batchItemFailures": [{"itemIdentifier": "111100000000000000000002"}]}


def test_more_than_ten_changes_are_sent_in_chunks(events_client: Any) -> None:
    stream = load_event("status_publisher.json")
    records = [stream["Records"][0]] * 23
    with Stubber(events_client) as stubber:
        for size in (10, 10, 3):
            stubber.add_response(
                "put_events",
                {"FailedEntryCount": 0, "Entries": [{"EventId": str(i)} for i in range(size)]},
            )
        result = StatusPublisher(EventBus(client=events_client)).publish({"Records": records})
        stubber.assert_no_pending_responses()
    assert result == {"batchItemFailures": []}


def test_a_bedrock_jobs_estimate_and_cost_travel_in_its_status_event() -> None:
    estimate = {"records": 120, "low_usd": 0.002, "high_usd": 0.02, "price": "known"}
    cost = {"usd": 0.004, "input_tokens": 1200, "output_tokens": 900, "price": "known"}
    job = Job(
        job_id="dz-1",
        kind=JobKind.BEDROCK_BATCH,
        status=JobStatus.SUCCEEDED,
        source=SourceObject(bucket="b", key="k"),
        target="anthropic.claude-3-haiku-20240307-v1:0",
        created_at="2026-12-06T00:00:00.000Z",
        updated_at="2026-12-06T00:00:01.000Z",
        estimate=estimate,
        cost=cost,
    )
    detail = status_change_detail(job, "RUNNING")
    assert (detail["estimate"], detail["cost"]) == (estimate, cost)
    assert json.loads(json.dumps(detail))["cost"]["usd"] == 0.004
    unpriced = status_change_detail(job.model_copy(update={"estimate": None, "cost": None}), None)
    assert "estimate" not in unpriced and "cost" not in unpriced
