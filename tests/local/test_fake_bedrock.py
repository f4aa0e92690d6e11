from __future__ import annotations

import json
import re
import threading
from collections import Counter
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, ParamValidationError
from botocore.stub import Stubber
from moto import mock_aws

from dropzone_local.bedrock import EVENT_DETAIL_TYPE, BatchJobStatus, FakeBedrock
from dropzone_local.event_delivery import PutEventsDelivery, UnreliableDelivery
from tests.support.clock import ManualClock

MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
ROLE = "arn:aws:iam::123456789012:role/dropzone-bedrock"
OUTPUT_URI = "s3://dropzone-results/bedrock-outputs/"
BUCKETS = ("dropzone-drop", "dropzone-results")
ARN = "arn:aws:bedrock:us-east-1:123456789012:model-invocation-job/abcdefabcdef"
START = datetime(2026, 11, 25, 12, 0, 1, tzinfo=UTC)
S = BatchJobStatus


@dataclass
class Harness:
    fake: FakeBedrock
    clock: ManualClock
    events: list[dict[str, Any]]
    s3: Any = None

    def statuses(self) -> list[str]:
        return [event["detail"]["status"] for event in self.events]

    def put(self, key: str, body: bytes) -> str:
        self.s3.put_object(Bucket="dropzone-drop", Key=key, Body=body)
        return f"s3://dropzone-drop/{key}"

    def output(self, job_arn: str, name: str) -> str:
        key = f"bedrock-outputs/{job_arn.rsplit('/', 1)[-1]}/{name}"
        body = self.s3.get_object(Bucket="dropzone-results", Key=key)["Body"]
        return str(body.read().decode())


def _harness(s3: Any = None) -> Harness:
    clock = ManualClock(START)
    events: list[dict[str, Any]] = []
    return Harness(FakeBedrock(s3_client=s3, deliver=events.append, clock=clock), clock, events, s3)


@pytest.fixture
def offline() -> Harness:
    """For calls that never reach S3: no moto at all."""
    return _harness()


@pytest.fixture(scope="module")
def moto_s3() -> Iterator[Any]:
    """One moto session for the module (starting moto is most of a test's cost)."""
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        for bucket in BUCKETS:
            s3.create_bucket(Bucket=bucket)
        yield s3


@pytest.fixture
def harness(moto_s3: Any) -> Harness:
    """A fake reading and writing moto S3; the buckets start empty for every test."""
    for bucket in BUCKETS:
        keys = [
            {"Key": o["Key"]} for o in moto_s3.list_objects_v2(Bucket=bucket).get("Contents", [])
        ]
        if keys:
            moto_s3.delete_objects(Bucket=bucket, Delete={"Objects": keys})
    return _harness(moto_s3)


def _jsonl(count: int, *, failing: Collection[int] = (), ids: bool = True) -> bytes:
    lines = []
    for index in range(count):
        record: dict[str, Any] = {"modelInput": {"prompt": f"p{index}"}}
        if index in failing:
            record["modelInput"]["fail"] = True
        if ids:
            record = {"recordId": f"REC{index:08d}", **record}
        lines.append(json.dumps(record))
    return ("\n".join(lines) + "\n").encode()


def _params(
    name: str = "job-1", uri: str = "s3://dropzone-drop/in/input.jsonl", **extra: Any
) -> dict[str, Any]:
    return {
        "jobName": name,
        "roleArn": ROLE,
        "clientRequestToken": f"token-{name}",
        "modelId": MODEL,
        "inputDataConfig": {"s3InputDataConfig": {"s3Uri": uri, "s3InputFormat": "JSONL"}},
        "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": OUTPUT_URI}},
        "timeoutDurationInHours": 24,
        **extra,
    }


def _code(error: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    response: Any = error.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def _run(harness: Harness, params: dict[str, Any]) -> dict[str, Any]:
    arn = harness.fake.create_model_invocation_job(**params)["jobArn"]
    harness.fake.advance_until_idle()
    return harness.fake.get_model_invocation_job(jobIdentifier=arn)


# -- requests ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        {"roleArn": None},  # required member missing
        {"timeoutDurationInHours": 3},  # below the model's minimum
        {"inputDataConfig": {}},  # a union with no member set
        {"tags": "not-a-list"},
    ],
)
def test_a_bad_request_raises_param_validation_error_as_the_real_client_does(
    offline: Harness, bad: dict[str, Any]
) -> None:
    # Given
    params = {k: v for k, v in {**_params(), **bad}.items() if v is not None}
    real = boto3.client("bedrock", region_name="us-east-1")
    stubber = Stubber(real)
    stubber.add_response("create_model_invocation_job", {"jobArn": ARN})
    # When / Then
    with stubber, pytest.raises(ParamValidationError):
        real.create_model_invocation_job(**params)
    with pytest.raises(ParamValidationError):
        offline.fake.create_model_invocation_job(**params)
    assert offline.fake.create_calls == []


@pytest.mark.parametrize(
    ("bad", "constraint"),
    [
        ({"jobName": "has_underscore"}, "regular expression pattern"),
        ({"timeoutDurationInHours": 169}, "less than or equal to 168"),
        ({"modelInvocationType": "Chat"}, "enum value set"),
        (
            {
                "inputDataConfig": {
                    "s3InputDataConfig": {"s3Uri": f"s3://dropzone-drop/{MODEL}/a.jsonl"}
                }
            },
            "at 'inputDataConfig.s3InputDataConfig.s3Uri'",
        ),
    ],
)
def test_the_service_refuses_what_the_client_lets_through(
    offline: Harness, bad: dict[str, Any], constraint: str
) -> None:
    # When
    with pytest.raises(ClientError) as error:
        offline.fake.create_model_invocation_job(**_params(**bad))
    # Then
    assert _code(error) == ("ValidationException", 400)
    assert constraint in str(error.value)


def test_a_job_is_identified_by_arn_or_id_never_by_name(offline: Harness) -> None:
    # Given
    arn = offline.fake.create_model_invocation_job(**_params(name="named"))["jobArn"]
    # When
    by_id = offline.fake.get_model_invocation_job(jobIdentifier=arn.rsplit("/", 1)[-1])
    with pytest.raises(ClientError) as by_name:
        offline.fake.get_model_invocation_job(jobIdentifier="named")
    # Then
    assert re.fullmatch(
        r"arn:aws:bedrock:us-east-1:123456789012:model-invocation-job/[a-z0-9]{12}", arn
    )
    assert by_id["jobArn"] == arn
    assert _code(by_name) == ("ValidationException", 400)


def test_an_unknown_job_is_not_found(offline: Harness) -> None:
    other = ARN
    for call in (offline.fake.get_model_invocation_job, offline.fake.stop_model_invocation_job):
        with pytest.raises(ClientError) as error:
            call(jobIdentifier=other)
        assert _code(error) == ("ResourceNotFoundException", 404)
        assert isinstance(error.value, offline.fake.exceptions.ResourceNotFoundException)


# -- idempotency, conflicts, quota, faults -------------------------------------------------


def test_the_same_token_returns_the_same_job_and_creates_nothing(offline: Harness) -> None:
    # When
    first = offline.fake.create_model_invocation_job(**_params())
    second = offline.fake.create_model_invocation_job(**_params())
    # Then
    assert first["jobArn"] == second["jobArn"]
    assert len(offline.fake.list_model_invocation_jobs()["invocationJobSummaries"]) == 1
    assert len(offline.fake.create_calls) == 2
    assert offline.statuses() == ["Submitted"]


def test_the_same_token_with_other_parameters_is_refused(offline: Harness) -> None:
    offline.fake.create_model_invocation_job(**_params())
    with pytest.raises(ClientError) as error:
        offline.fake.create_model_invocation_job(**_params(timeoutDurationInHours=48))
    assert _code(error) == ("ValidationException", 400)
    assert "clientRequestToken" in str(error.value)


def test_a_missing_token_is_generated_as_botocore_does(offline: Harness) -> None:
    params = _params()
    del params["clientRequestToken"]
    arn = offline.fake.create_model_invocation_job(**params)["jobArn"]
    token = offline.fake.get_model_invocation_job(jobIdentifier=arn)["clientRequestToken"]
    assert re.fullmatch(r"[0-9a-f-]{36}", token)


def test_a_second_job_with_the_same_name_conflicts(offline: Harness) -> None:
    offline.fake.create_model_invocation_job(**_params())
    with pytest.raises(ClientError) as error:
        offline.fake.create_model_invocation_job(**_params(clientRequestToken="another"))
    assert _code(error) == ("ConflictException", 400)  # the model says 400, not 409
    assert isinstance(error.value, offline.fake.exceptions.ConflictException)


def test_jobs_beyond_the_per_model_quota_are_refused(offline: Harness) -> None:
    # Given
    offline.fake.quota_per_model = 2
    first = offline.fake.create_model_invocation_job(**_params("a"))["jobArn"]
    offline.fake.create_model_invocation_job(**_params("b"))
    # When
    with pytest.raises(ClientError) as error:
        offline.fake.create_model_invocation_job(**_params("c"))
    other_model = offline.fake.create_model_invocation_job(
        **_params("d", modelId="amazon.nova-lite-v1:0")
    )
    offline.fake.stop_model_invocation_job(jobIdentifier=first)
    offline.fake.advance()  # a: Stopping -> Stopped frees a slot
    # Then
    assert _code(error) == ("ServiceQuotaExceededException", 400)
    assert other_model["jobArn"]
    assert offline.fake.create_model_invocation_job(**_params("c"))["jobArn"]


def test_injected_faults_fail_the_next_calls_once_each(offline: Harness) -> None:
    # Given
    offline.fake.inject_faults("ThrottlingException", "InternalServerException")
    offline.fake.inject_get_faults("ThrottlingException")
    codes = []
    # When
    for _ in range(2):
        with pytest.raises(ClientError) as error:
            offline.fake.create_model_invocation_job(**_params())
        codes.append(_code(error))
    arn = offline.fake.create_model_invocation_job(**_params())["jobArn"]
    with pytest.raises(ClientError) as get_error:
        offline.fake.get_model_invocation_job(jobIdentifier=arn)
    # Then
    assert codes == [("ThrottlingException", 429), ("InternalServerException", 500)]
    assert _code(get_error) == ("ThrottlingException", 429)
    assert offline.fake.get_model_invocation_job(jobIdentifier=arn)["status"] == "Submitted"
    assert len(offline.fake.create_calls) == 3
    with pytest.raises(ValueError, match="never raises"):
        offline.fake.inject_get_faults("ConflictException")


# -- the lifecycle -------------------------------------------------------------------------


def test_a_job_runs_to_completion_with_outputs_and_manifest(harness: Harness) -> None:
    # Given
    body = _jsonl(120)
    uri = harness.put("in/input.jsonl", body)
    arn = harness.fake.create_model_invocation_job(**_params(uri=uri))["jobArn"]
    # When
    seen = []
    while harness.fake.in_flight:
        harness.clock.tick(minutes=5)
        harness.fake.advance()
        seen.append(harness.fake.get_model_invocation_job(jobIdentifier=arn)["status"])
    job = harness.fake.get_model_invocation_job(jobIdentifier=arn)
    # Then
    assert harness.statuses() == ["Submitted", "Validating", "Scheduled", "InProgress", "Completed"]
    assert seen == ["Validating", "Scheduled", "InProgress", "Completed"]
    lines = [json.loads(line) for line in harness.output(arn, "input.jsonl.out").splitlines()]
    inputs = [json.loads(line) for line in body.decode().splitlines()]
    assert sorted(line["recordId"] for line in lines) == [r["recordId"] for r in inputs]
    assert [line["recordId"] for line in lines] != [r["recordId"] for r in inputs]  # shuffled
    assert all(set(line) == {"recordId", "modelInput", "modelOutput"} for line in lines)
    manifest = json.loads(harness.output(arn, "manifest.json.out"))
    assert manifest["totalRecordCount"] == manifest["processedRecordCount"] == 120
    assert manifest["successRecordCount"] == 120
    assert manifest["errorRecordCount"] == 0
    assert manifest["inputTokenCount"] > 0 and manifest["outputTokenCount"] > 0
    assert (job["totalRecordCount"], job["successRecordCount"], job["errorRecordCount"]) == (
        120,
        120,
        0,
    )
    assert job["endTime"] == harness.clock.now
    assert job["submitTime"] == START
    assert job["jobExpirationTime"] == START + timedelta(hours=24)
    assert "message" not in job


def test_a_prefix_is_read_whole_and_missing_record_ids_are_assigned(harness: Harness) -> None:
    # Given
    harness.put("batch/part-1.jsonl", _jsonl(60, ids=False))
    harness.put("batch/part-2.jsonl", _jsonl(60))
    harness.put("batch/notes.txt", b"not an input")
    # When
    job = _run(harness, _params(uri="s3://dropzone-drop/batch/"))
    # Then
    assert job["status"] == "Completed"
    assert job["totalRecordCount"] == 120
    first = [
        json.loads(line) for line in harness.output(job["jobArn"], "part-1.jsonl.out").splitlines()
    ]
    assert len(first) == 60
    assert all(re.fullmatch(r"[0-9A-Z]{11}", line["recordId"]) for line in first)
    assert len({line["recordId"] for line in first}) == 60


def test_some_failing_records_end_partially_completed(harness: Harness) -> None:
    # Given
    uri = harness.put("in/input.jsonl", _jsonl(100, failing={3, 50, 99}))
    # When
    job = _run(harness, _params(uri=uri))
    # Then
    assert job["status"] == "PartiallyCompleted"
    assert (job["successRecordCount"], job["errorRecordCount"]) == (97, 3)
    lines = [
        json.loads(line) for line in harness.output(job["jobArn"], "input.jsonl.out").splitlines()
    ]
    errors = {line["recordId"]: line["error"] for line in lines if "error" in line}
    assert set(errors) == {"REC00000003", "REC00000050", "REC00000099"}
    assert all(error["errorCode"] == 400 and error["errorMessage"] for error in errors.values())
    assert json.loads(harness.output(job["jobArn"], "manifest.json.out"))["errorRecordCount"] == 3


def test_record_errors_can_end_completed_as_the_docs_also_allow(harness: Harness) -> None:
    harness.fake.status_with_record_errors = S.COMPLETED
    uri = harness.put("in/input.jsonl", _jsonl(100, failing={1}))
    job = _run(harness, _params(uri=uri))
    assert (job["status"], job["errorRecordCount"]) == ("Completed", 1)
    assert "message" not in job


def test_a_job_whose_every_record_fails_is_failed(harness: Harness) -> None:
    uri = harness.put("in/input.jsonl", _jsonl(100, failing=set(range(100))))
    job = _run(harness, _params(uri=uri))
    assert job["status"] == "Failed"
    assert job["message"] == "All 100 records failed."
    assert harness.events[-1]["detail"]["failureMessage"] == "All 100 records failed."


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (_jsonl(99), "minimum number of records (100)"),
        (
            b'{"recordId": "a", "modelInput": {}}\n{not json\n',
            "Line 2 of input.jsonl is not valid JSON",
        ),
        (
            b'{"recordId": "a", "prompt": "no modelInput"}\n',
            "Line 1 of input.jsonl has no modelInput",
        ),
        (b"\xff\xfe", "not UTF-8"),
    ],
)
def test_input_that_fails_validation_fails_the_job_while_validating(
    harness: Harness, body: bytes, message: str
) -> None:
    uri = harness.put("in/input.jsonl", body)
    job = _run(harness, _params(uri=uri))
    assert harness.statuses() == ["Submitted", "Validating", "Failed"]
    assert message in job["message"]


def test_an_input_that_does_not_exist_fails_the_job(harness: Harness) -> None:
    job = _run(harness, _params(uri="s3://dropzone-drop/nowhere/"))
    assert job["status"] == "Failed"
    assert "No .jsonl files" in job["message"]


def test_a_slow_job_stays_in_progress_for_extra_advances(harness: Harness) -> None:
    # Given
    harness.fake.slow_jobs["slow"] = 2
    uri = harness.put("in/input.jsonl", _jsonl(100))
    slow = harness.fake.create_model_invocation_job(**_params("slow", uri=uri))["jobArn"]
    quick = harness.fake.create_model_invocation_job(**_params("quick", uri=uri))["jobArn"]
    statuses: dict[str, list[str]] = {slow: [], quick: []}
    # When: Validating, Scheduled, InProgress, then the run (two advances later if slow)
    for _ in range(6):
        harness.fake.advance()
        for arn, seen in statuses.items():
            seen.append(harness.fake.get_model_invocation_job(jobIdentifier=arn)["status"])
    # Then
    assert statuses[quick][2:4] == ["InProgress", "Completed"]
    assert statuses[slow][2:] == ["InProgress", "InProgress", "InProgress", "Completed"]


def test_stopping_a_job_in_flight_ends_it_stopped(harness: Harness) -> None:
    # Given
    uri = harness.put("in/input.jsonl", _jsonl(100))
    arn = harness.fake.create_model_invocation_job(**_params(uri=uri))["jobArn"]
    harness.fake.advance()
    # When
    harness.fake.stop_model_invocation_job(jobIdentifier=arn)
    harness.fake.stop_model_invocation_job(jobIdentifier=arn)  # again while Stopping: no-op
    harness.fake.advance()
    # Then
    job = harness.fake.get_model_invocation_job(jobIdentifier=arn)
    assert harness.statuses() == ["Submitted", "Validating", "Stopping", "Stopped"]
    assert job["status"] == "Stopped" and "endTime" in job
    with pytest.raises(ClientError) as error:
        harness.fake.stop_model_invocation_job(jobIdentifier=arn)
    assert _code(error) == ("ValidationException", 400)


def test_a_job_that_never_started_before_its_timeout_expires(harness: Harness) -> None:
    # Given
    uri = harness.put("in/input.jsonl", _jsonl(100))
    arn = harness.fake.create_model_invocation_job(**_params(uri=uri))["jobArn"]
    harness.fake.advance()
    harness.fake.advance()  # Scheduled
    # When
    harness.clock.tick(hours=24)
    harness.fake.advance()
    # Then
    assert harness.statuses()[-1] == "Expired"
    assert harness.fake.get_model_invocation_job(jobIdentifier=arn)["status"] == "Expired"


def test_a_job_running_past_its_timeout_ends_partially_completed(harness: Harness) -> None:
    # Given
    harness.fake.slow_jobs["*"] = 10
    uri = harness.put("in/input.jsonl", _jsonl(100))
    arn = harness.fake.create_model_invocation_job(**_params(uri=uri))["jobArn"]
    for _ in range(4):
        harness.fake.advance()
    # When
    harness.clock.tick(hours=25)
    harness.fake.advance()
    # Then
    job = harness.fake.get_model_invocation_job(jobIdentifier=arn)
    assert job["status"] == "PartiallyCompleted"
    assert (job["totalRecordCount"], job["processedRecordCount"]) == (100, 50)
    assert len(harness.output(arn, "input.jsonl.out").splitlines()) == 50


def test_jobs_are_listed_filtered_and_paged(offline: Harness) -> None:
    # Given
    for index, name in enumerate(("alpha-1", "alpha-2", "beta-1")):
        offline.clock.tick(seconds=index)
        offline.fake.create_model_invocation_job(**_params(name))
    # When
    alphas = offline.fake.list_model_invocation_jobs(nameContains="alpha", sortOrder="Ascending")
    first = offline.fake.list_model_invocation_jobs(maxResults=2)
    rest = offline.fake.list_model_invocation_jobs(maxResults=2, nextToken=first["nextToken"])
    # Then
    assert [j["jobName"] for j in alphas["invocationJobSummaries"]] == ["alpha-1", "alpha-2"]
    assert [j["jobName"] for j in first["invocationJobSummaries"]] == ["beta-1", "alpha-2"]
    assert [j["jobName"] for j in rest["invocationJobSummaries"]] == ["alpha-1"]
    assert "nextToken" not in rest
    assert (
        offline.fake.list_model_invocation_jobs(statusEquals="Completed")["invocationJobSummaries"]
        == []
    )


# -- events --------------------------------------------------------------------------------


def test_every_status_change_emits_the_documented_event(harness: Harness) -> None:
    # Given
    uri = harness.put("in/input.jsonl", _jsonl(100))
    # When
    job = _run(harness, _params(uri=uri))
    # Then
    assert len(harness.events) == 5
    for event in harness.events:
        assert set(event) == {
            "version", "id", "detail-type", "source", "account", "time", "region", "resources",
            "detail",
        }  # fmt: skip
        assert event["version"] == "0"
        assert event["source"] == "aws.bedrock"
        assert event["detail-type"] == EVENT_DETAIL_TYPE == "Batch Inference Job State Change"
        assert event["resources"] == [job["jobArn"]]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", event["time"])
        assert set(event["detail"]) == {
            "version", "accountId", "batchJobName", "batchJobArn", "batchModelId", "status",
            "failureMessage", "creationTime",
        }  # fmt: skip
        assert event["detail"] | {"status": "any"} == {
            "version": "0.0",
            "accountId": "123456789012",
            "batchJobName": "job-1",
            "batchJobArn": job["jobArn"],
            "batchModelId": MODEL,
            "status": "any",
            "failureMessage": "",
            "creationTime": "Nov 25, 2026, 12:00:01 PM",
        }
    assert len({event["id"] for event in harness.events}) == 5


def test_events_reach_an_sqs_target_through_moto_eventbridge(harness: Harness) -> None:
    # Given
    events, sqs = (
        boto3.client("events", region_name="us-east-1"),
        boto3.client("sqs", region_name="us-east-1"),
    )
    queue = sqs.create_queue(QueueName="bedrock-events")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events.put_rule(
        Name="bedrock-jobs",
        EventPattern=json.dumps({"source": ["aws.bedrock"], "detail-type": [EVENT_DETAIL_TYPE]}),
    )
    events.put_targets(Rule="bedrock-jobs", Targets=[{"Id": "queue", "Arn": queue_arn}])
    fake = FakeBedrock(
        s3_client=harness.s3, deliver=PutEventsDelivery(events), clock=ManualClock(START)
    )
    # When
    arn = fake.create_model_invocation_job(**_params())["jobArn"]
    fake.advance()
    # Then
    bodies = [
        json.loads(message["Body"])
        for message in sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    ]
    assert sorted(body["detail"]["status"] for body in bodies) == ["Submitted", "Validating"]
    assert all(body["resources"] == [arn] and body["source"] == "aws.bedrock" for body in bodies)
    assert all(body["detail"]["batchJobArn"] == arn for body in bodies)


_RANK = {status: rank for rank, status in enumerate(
    ["Submitted", "Validating", "Scheduled", "InProgress", "Stopping"]
)}  # fmt: skip


def _forward_only(events: list[dict[str, Any]]) -> str | None:
    """What a ledger that never moves backwards makes of the events it received."""
    status: str | None = None
    for event in events:
        new = event["detail"]["status"]
        if status is None or (status in _RANK and _RANK.get(new, 99) > _RANK[status]):
            status = new
    return status


def _unreliable_run(harness: Harness, **chaos: float) -> tuple[UnreliableDelivery, str]:
    received: list[dict[str, Any]] = []
    delivery = UnreliableDelivery(received.append, seed=7, **chaos)
    harness.fake.deliver = delivery
    uri = harness.put("in/input.jsonl", _jsonl(100, failing={1}))
    job = _run(harness, _params(uri=uri))
    return delivery, job["status"]


def test_duplicated_events_still_end_the_job_in_its_true_status(harness: Harness) -> None:
    delivery, truth = _unreliable_run(harness, duplicate=1.0)
    assert len(delivery.delivered) == 2 * len(harness.fake.emitted) == 10
    assert Counter(e["id"] for e in delivery.delivered) == Counter(
        {e["id"]: 2 for e in harness.fake.emitted}
    )
    assert _forward_only(delivery.delivered) == truth == "PartiallyCompleted"


def test_dropped_events_leave_only_get_to_tell_the_truth(harness: Harness) -> None:
    delivery, truth = _unreliable_run(harness, drop=1.0)
    assert delivery.delivered == []
    assert len(delivery.dropped) == 5
    assert truth == "PartiallyCompleted"


def test_held_events_arrive_late_and_reordered_yet_end_in_the_true_status(harness: Harness) -> None:
    # Given
    delivery, truth = _unreliable_run(harness, hold=1.0)
    assert delivery.delivered == [] and len(delivery.held) == 5
    # When
    released = delivery.flush()
    # Then
    order = [e["detail"]["status"] for e in delivery.delivered]
    emitted = [e["detail"]["status"] for e in harness.fake.emitted]
    assert released == 5
    assert sorted(order) == sorted(emitted)
    assert order != emitted
    assert _forward_only(delivery.delivered) == truth
    assert delivery.held == []


def test_unreliable_delivery_is_reproducible_from_its_seed() -> None:
    events = [{"id": str(index), "detail": {"status": "Submitted"}} for index in range(50)]
    outcomes = []
    for _ in range(2):
        received: list[dict[str, Any]] = []
        delivery = UnreliableDelivery(received.append, seed=3, drop=0.2, hold=0.2, duplicate=0.2)
        for event in events:
            delivery(event)
        delivery.flush()
        outcomes.append([event["id"] for event in received])
    assert outcomes[0] == outcomes[1]
    assert 0 < len(set(outcomes[0])) < 50  # some dropped
    assert len(outcomes[0]) != len(set(outcomes[0]))  # some duplicated


# -- threads -------------------------------------------------------------------------------


def test_creates_from_16_threads_never_exceed_the_quota(offline: Harness) -> None:
    # Given
    offline.fake.quota_per_model = 5
    barrier = threading.Barrier(16)
    outcomes: list[str] = []

    def create(index: int) -> None:
        barrier.wait()
        try:
            offline.fake.create_model_invocation_job(**_params(f"job-{index}"))
            outcomes.append("created")
        except ClientError as error:
            outcomes.append(error.response["Error"]["Code"])

    # When
    threads = [threading.Thread(target=create, args=(index,)) for index in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then
    assert Counter(outcomes) == {"created": 5, "ServiceQuotaExceededException": 11}
    assert offline.fake.in_flight == 5
    assert len(offline.fake.create_calls) == 16


def test_racing_creates_with_one_token_make_one_job(offline: Harness) -> None:
    barrier = threading.Barrier(16)
    arns: list[str] = []

    def create() -> None:
        barrier.wait()
        arns.append(offline.fake.create_model_invocation_job(**_params())["jobArn"])

    threads = [threading.Thread(target=create) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(arns)) == 1 and len(arns) == 16
    assert offline.fake.in_flight == 1
    assert offline.statuses() == ["Submitted"]
