from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, ParamValidationError
from botocore.stub import Stubber
from moto import mock_aws

from dropzone_local.event_delivery import PutEventsDelivery, UnreliableDelivery
from dropzone_local.greengrass import (
    CREATE,
    EVENT_DETAIL_TYPE,
    GET,
    ExecutionStatus,
    FakeGreengrass,
)
from dropzone_local.lookoutvision import FakeLookoutVision
from tests.support.clock import ManualClock

ACCOUNT, REGION = "123456789012", "us-east-1"
GROUP = f"arn:aws:iot:{REGION}:{ACCOUNT}:thinggroup/line-1"
THING = f"arn:aws:iot:{REGION}:{ACCOUNT}:thing/core-solo"
DEVICES = ("core-1", "core-2", "core-3")
START_TIME = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)
X = ExecutionStatus


@dataclass
class Harness:
    fake: FakeGreengrass
    clock: ManualClock
    events: list[dict[str, Any]]

    def deploy(self, **overrides: Any) -> str:
        return str(self.fake.create_deployment(**_params(**overrides))["deploymentId"])

    def statuses(self) -> dict[str, str]:
        """Each device's last delivered status, in delivery order."""
        return {_thing(e): e["detail"]["coreDeviceExecutionStatus"] for e in self.events}


def _harness(**options: Any) -> Harness:
    clock = ManualClock()
    events: list[dict[str, Any]] = []
    fake = FakeGreengrass(deliver=events.append, clock=clock, **options)
    fake.add_core_devices(GROUP, DEVICES)
    fake.add_core_devices(THING)
    fake.add_component_version("com.example.Widgets", "1.0.0")
    fake.add_component_version("com.example.Widgets", "1.1.0")
    return Harness(fake, clock, events)


@pytest.fixture
def harness() -> Harness:
    return _harness()


def _params(**overrides: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "targetArn": GROUP,
        "deploymentName": "widgets-line-1",
        "components": {"com.example.Widgets": {"componentVersion": "1.0.0"}},
        "deploymentPolicies": {"failureHandlingPolicy": "ROLLBACK"},
        "clientToken": "dz-0001",
    }
    params.update(overrides)
    return {k: v for k, v in params.items() if v is not None}


def _code(error: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    response: Any = error.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def _thing(event: dict[str, Any]) -> str:
    return str(event["resources"][0].rsplit(":", 1)[-1])


def _deployment_id(event: dict[str, Any]) -> str:
    detail = event["detail"]
    return str(detail.get("deploymentId") or detail["deployment-id"])


# -- requests ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        {"targetArn": None},  # required member missing
        {"components": {"com.example.Widgets": {}}},  # componentVersion missing
        {"deploymentName": ""},  # below the minimum length
        {"tags": [("team", "vision")]},  # a map, not a list
        {"iotJobConfiguration": {"jobExecutionsRolloutConfig": {"maximumPerMinute": 0}}},
    ],
)
def test_a_bad_request_raises_param_validation_error_as_the_real_client_does(
    harness: Harness, bad: dict[str, Any]
) -> None:
    # Given
    params = _params(**bad)
    real = boto3.client("greengrassv2", region_name=REGION)
    stubber = Stubber(real)
    stubber.add_response("create_deployment", {"deploymentId": "d"})
    # When / Then
    with stubber, pytest.raises(ParamValidationError):
        real.create_deployment(**params)
    with pytest.raises(ParamValidationError):
        harness.fake.create_deployment(**params)
    assert harness.fake.calls == []


def test_the_real_client_and_the_fake_accept_the_same_good_request(harness: Harness) -> None:
    real = boto3.client("greengrassv2", region_name=REGION)
    stubber = Stubber(real)
    stubber.add_response("create_deployment", {"deploymentId": "d"}, _params())
    with stubber:
        assert real.create_deployment(**_params())["deploymentId"] == "d"
    answer = harness.fake.create_deployment(**_params())
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert re.fullmatch(r"[0-9a-f-]{36}", answer["deploymentId"])
    assert answer["iotJobArn"] == f"arn:aws:iot:{REGION}:{ACCOUNT}:job/{answer['iotJobId']}"


@pytest.mark.parametrize(
    ("bad", "path"),
    [
        ({"targetArn": f"arn:aws:iot:{REGION}:{ACCOUNT}:policy/p"}, "targetArn"),
        ({"deploymentPolicies": {"failureHandlingPolicy": "RETRY"}}, "failureHandlingPolicy"),
        ({"clientToken": "has spaces"}, "clientToken"),
        ({"tags": {}}, "tags"),  # maps are sized by the service, not the client
        ({"tags": {f"k{n}": "v" for n in range(201)}}, "tags"),
        (
            {
                "iotJobConfiguration": {
                    "abortConfig": {
                        "criteriaList": [
                            {
                                "failureType": "FAILED",
                                "action": "CANCEL",
                                "thresholdPercentage": 150.0,
                                "minNumberOfExecutedThings": 1,
                            }
                        ]
                    }
                }
            },
            "thresholdPercentage",
        ),
    ],
)
def test_the_service_refuses_what_the_client_lets_through(
    harness: Harness, bad: dict[str, Any], path: str
) -> None:
    with pytest.raises(ClientError) as error:
        harness.deploy(**bad)
    assert _code(error) == ("ValidationException", 400)
    assert isinstance(error.value, harness.fake.exceptions.ValidationException)
    assert path in str(error.value)
    assert harness.fake.in_flight == 0


@pytest.mark.parametrize(
    "overrides",
    [
        {"targetArn": f"arn:aws:iot:{REGION}:{ACCOUNT}:thinggroup/unknown"},
        {"components": {"com.example.Widgets": {"componentVersion": "9.9.9"}}},
        {"components": {"com.example.Missing": {"componentVersion": "1.0.0"}}},
    ],
)
def test_an_unknown_target_or_component_version_is_not_found(
    harness: Harness, overrides: dict[str, Any]
) -> None:
    with pytest.raises(ClientError) as error:
        harness.deploy(**overrides)
    assert _code(error) == ("ResourceNotFoundException", 404)
    assert isinstance(error.value, harness.fake.exceptions.ResourceNotFoundException)


def test_an_unknown_deployment_or_device_is_not_found(harness: Harness) -> None:
    with pytest.raises(ClientError) as get:
        harness.fake.get_deployment(deploymentId="4f38f1a7-3dd0-42a1-af48-000000000000")
    with pytest.raises(ClientError) as listed:
        harness.fake.list_effective_deployments(coreDeviceThingName="core-404")
    assert _code(get) == _code(listed) == ("ResourceNotFoundException", 404)


# -- idempotency ---------------------------------------------------------------------------


def test_the_same_token_answers_the_same_deployment(harness: Harness) -> None:
    # When
    first = harness.deploy()
    harness.clock.tick(hours=7)
    second = harness.deploy()
    third = harness.deploy(deploymentName="renamed")  # the cached answer, by default
    harness.fake.advance_until_idle()
    # Then
    assert first == second == third
    assert len(harness.events) == len(DEVICES)
    assert harness.fake.get_deployment(deploymentId=first)["deploymentName"] == "widgets-line-1"


def test_other_parameters_with_a_token_can_be_refused(harness: Harness) -> None:
    harness.fake.idempotency_mismatch_code = "ConflictException"
    harness.deploy()
    with pytest.raises(ClientError) as error:
        harness.deploy(deploymentName="renamed")
    assert _code(error) == ("ConflictException", 409)


def test_a_token_is_forgotten_after_8_hours(harness: Harness) -> None:
    first = harness.deploy()
    harness.clock.tick(hours=8)
    assert harness.deploy() != first


def test_a_missing_token_is_generated_as_botocore_does(harness: Harness) -> None:
    harness.deploy(clientToken=None)
    assert re.fullmatch(r"[0-9a-f-]{36}", harness.fake.calls[0].params["clientToken"])


# -- the lifecycle -------------------------------------------------------------------------


def test_a_thing_group_deployment_succeeds_on_every_device(harness: Harness) -> None:
    # Given
    deployment_id = harness.deploy()
    # When
    first_events = harness.fake.advance()  # every device: QUEUED -> IN_PROGRESS, no event
    running = harness.fake.list_effective_deployments(coreDeviceThingName="core-1")
    harness.fake.advance()
    # Then
    assert first_events == []
    assert running["effectiveDeployments"][0]["coreDeviceExecutionStatus"] == "IN_PROGRESS"
    assert harness.statuses() == dict.fromkeys(DEVICES, "SUCCEEDED")
    assert {_deployment_id(event) for event in harness.events} == {deployment_id}
    deployment = harness.fake.get_deployment(deploymentId=deployment_id)
    assert deployment["deploymentStatus"] == "ACTIVE"
    assert deployment["isLatestForTarget"] is True
    assert deployment["revisionId"] == "1"
    assert deployment["deploymentPolicies"] == {
        "failureHandlingPolicy": "ROLLBACK",
        "componentUpdatePolicy": {"timeoutInSeconds": 60, "action": "NOTIFY_COMPONENTS"},
        "configurationValidationPolicy": {"timeoutInSeconds": 30},
    }
    effective = harness.fake.list_effective_deployments(coreDeviceThingName="core-2")
    assert effective["effectiveDeployments"][0] | {"creationTimestamp": None} == {
        "deploymentId": deployment_id,
        "deploymentName": "widgets-line-1",
        "iotJobId": deployment["iotJobId"],
        "iotJobArn": deployment["iotJobArn"],
        "targetArn": GROUP,
        "coreDeviceExecutionStatus": "SUCCEEDED",
        "reason": "SUCCESSFUL",
        "statusDetails": {"errorStack": [], "errorTypes": []},
        "creationTimestamp": None,
        "modifiedTimestamp": START_TIME,
    }


def test_a_thing_deployment_completes(harness: Harness) -> None:
    deployment_id = harness.deploy(targetArn=THING)
    harness.fake.advance_until_idle()
    assert harness.statuses() == {"core-solo": "COMPLETED"}
    assert harness.fake.get_deployment(deploymentId=deployment_id)["deploymentStatus"] == (
        "COMPLETED"
    )


def test_a_failing_device_reports_its_errors(harness: Harness) -> None:
    # Given
    harness.fake.fail_device(
        "core-2",
        error_stack=["DEPLOYMENT_FAILURE", "ARTIFACT_DOWNLOAD_ERROR", "S3_ACCESS_DENIED"],
        error_types=["PERMISSION_ERROR"],
        reason="S3_ACCESS_DENIED: artifact download was refused",
    )
    harness.fake.fail_device(
        "core-3", error_types=["REQUEST_ERROR"], reason="no", status=X.REJECTED
    )
    # When
    harness.deploy()
    harness.fake.advance_until_idle()
    # Then
    assert harness.statuses() == {"core-1": "SUCCEEDED", "core-2": "FAILED", "core-3": "REJECTED"}
    failed = next(e for e in harness.events if _thing(e) == "core-2")["detail"]
    assert failed["statusDetails"] == {
        "errorStack": ["DEPLOYMENT_FAILURE", "ARTIFACT_DOWNLOAD_ERROR", "S3_ACCESS_DENIED"],
        "errorTypes": ["PERMISSION_ERROR"],
    }
    assert failed["reason"] == "S3_ACCESS_DENIED: artifact download was refused"


def test_a_healed_device_succeeds_again(harness: Harness) -> None:
    harness.fake.fail_device("core-solo", error_types=["COMPONENT_ERROR"], reason="broken")
    first = harness.deploy(targetArn=THING, clientToken="t1")
    harness.fake.advance_until_idle()
    harness.fake.heal_device("core-solo")
    second = harness.deploy(
        targetArn=THING,
        clientToken="t2",
        components={"com.example.Widgets": {"componentVersion": "1.1.0"}},
    )
    harness.fake.advance_until_idle()
    assert [e["detail"]["coreDeviceExecutionStatus"] for e in harness.events] == [
        "FAILED",
        "COMPLETED",
    ]
    assert harness.fake.get_deployment(deploymentId=first)["deploymentStatus"] == "FAILED"
    assert harness.fake.get_deployment(deploymentId=second)["deploymentStatus"] == "COMPLETED"


def test_a_slow_device_stays_in_progress_for_its_extra_advances(harness: Harness) -> None:
    harness.fake.slow_devices = {"core-3": 2}
    deployment_id = harness.deploy()
    harness.fake.advance()
    harness.fake.advance()
    assert harness.statuses() == {"core-1": "SUCCEEDED", "core-2": "SUCCEEDED"}
    assert harness.fake.execution_status(deployment_id, "core-3") is X.IN_PROGRESS
    harness.fake.advance_until_idle()
    assert harness.statuses()["core-3"] == "SUCCEEDED"


def test_a_newer_deployment_replaces_the_older_one(harness: Harness) -> None:
    # Given: the first deployment half-way
    harness.fake.slow_devices = {"core-3": 5}
    first = harness.deploy(clientToken="t1")
    harness.fake.advance()
    harness.fake.advance()
    # When
    second = harness.deploy(
        clientToken="t2", components={"com.example.Widgets": {"componentVersion": "1.1.0"}}
    )
    # Then
    older = harness.fake.get_deployment(deploymentId=first)
    assert (older["deploymentStatus"], older["isLatestForTarget"]) == ("INACTIVE", False)
    assert harness.fake.get_deployment(deploymentId=second)["revisionId"] == "2"
    cancelled = [e for e in harness.events if _deployment_id(e) == first and _thing(e) == "core-3"]
    assert [e["detail"]["coreDeviceExecutionStatus"] for e in cancelled] == ["CANCELED"]
    listed = harness.fake.list_effective_deployments(coreDeviceThingName="core-3")
    assert [d["deploymentId"] for d in listed["effectiveDeployments"]] == [second, first]
    latest = harness.fake.list_deployments(
        targetArn=GROUP, historyFilter="LATEST_ONLY", maxResults=1
    )["deployments"]
    history = harness.fake.list_deployments(targetArn=GROUP, historyFilter="ALL")["deployments"]
    assert [(d["deploymentId"], d["isLatestForTarget"]) for d in latest] == [(second, True)]
    assert [(d["deploymentId"], d["deploymentStatus"]) for d in history] == [
        (second, "ACTIVE"),
        (first, "INACTIVE"),
    ]


def test_cancelling_a_deployment_cancels_its_devices(harness: Harness) -> None:
    deployment_id = harness.deploy()
    answer = harness.fake.cancel_deployment(deploymentId=deployment_id)
    with pytest.raises(ClientError) as again:
        harness.fake.cancel_deployment(deploymentId=deployment_id)
    assert answer["message"]
    assert harness.statuses() == dict.fromkeys(DEVICES, "CANCELED")
    assert _code(again) == ("ConflictException", 409)
    assert harness.fake.get_deployment(deploymentId=deployment_id)["deploymentStatus"] == (
        "CANCELED"
    )
    assert harness.fake.in_flight == 0


def test_effective_deployments_are_paged(harness: Harness) -> None:
    ids = [harness.deploy(targetArn=THING, clientToken=f"t{n}") for n in range(5)]
    pages, token = [], None
    while True:
        params: dict[str, Any] = {"coreDeviceThingName": "core-solo", "maxResults": 2}
        if token:
            params["nextToken"] = token
        page = harness.fake.list_effective_deployments(**params)
        pages.append([d["deploymentId"] for d in page["effectiveDeployments"]])
        token = page.get("nextToken")
        if not token:
            break
    assert [len(page) for page in pages] == [2, 2, 1]
    assert [item for page in pages for item in page] == ids[::-1]


def test_injected_faults_answer_the_next_calls_once_each(harness: Harness) -> None:
    harness.fake.inject_faults("ThrottlingException", operation=CREATE)
    harness.fake.inject_faults("InternalServerException", operation=GET)
    with pytest.raises(ClientError) as create:
        harness.deploy()
    deployment_id = harness.deploy()
    with pytest.raises(ClientError) as get:
        harness.fake.get_deployment(deploymentId=deployment_id)
    assert _code(create) == ("ThrottlingException", 429)
    assert isinstance(create.value, harness.fake.exceptions.ThrottlingException)
    assert _code(get) == ("InternalServerException", 500)
    assert harness.fake.get_deployment(deploymentId=deployment_id)["deploymentStatus"] == "ACTIVE"
    assert [call.error for call in harness.fake.calls] == [
        "ThrottlingException", None, "InternalServerException", None,
    ]  # fmt: skip
    with pytest.raises(ValueError, match="never raises"):
        harness.fake.inject_faults("RequestAlreadyInProgressException", operation=GET)


# -- events --------------------------------------------------------------------------------


def test_every_final_device_status_emits_the_documented_event(harness: Harness) -> None:
    harness.fake.fail_device("core-1", error_types=["DEPENDENCY_ERROR"], reason="missing dep")
    deployment_id = harness.deploy()
    harness.fake.advance_until_idle()
    assert len(harness.events) == len(DEVICES)
    for event in harness.events:
        assert set(event) == {
            "version", "id", "detail-type", "source", "account", "time", "region", "resources",
            "detail",
        }  # fmt: skip
        assert event["source"] == "aws.greengrass"
        assert event["detail-type"] == EVENT_DETAIL_TYPE
        assert event["detail-type"] == "Greengrass V2 Effective Deployment Status Change"
        assert (event["account"], event["region"]) == (ACCOUNT, REGION)
        assert re.fullmatch(
            rf"arn:aws:greengrass:{REGION}:{ACCOUNT}:coreDevices:core-[123]", event["resources"][0]
        )
        assert event["time"] == "2026-11-25T12:00:00Z"
        assert set(event["detail"]) == {
            "deploymentId", "coreDeviceExecutionStatus", "statusDetails", "reason",
        }  # fmt: skip
        assert event["detail"]["deploymentId"] == deployment_id
        assert set(event["detail"]["statusDetails"]) == {"errorStack", "errorTypes"}
        assert event["detail"]["coreDeviceExecutionStatus"] in {
            "FAILED", "SUCCEEDED", "COMPLETED", "REJECTED", "CANCELED",
        }  # fmt: skip
    assert len({event["id"] for event in harness.events}) == len(DEVICES)


def test_events_can_use_the_older_deployment_id_spelling() -> None:
    harness = _harness(deployment_id_key="deployment-id")
    deployment_id = harness.deploy()
    harness.fake.advance_until_idle()
    assert all(event["detail"]["deployment-id"] == deployment_id for event in harness.events)
    assert all("deploymentId" not in event["detail"] for event in harness.events)
    with pytest.raises(ValueError, match="deployment_id_key"):
        FakeGreengrass(deployment_id_key="DeploymentId")


def test_events_reach_an_sqs_target_through_moto_eventbridge() -> None:
    with mock_aws():
        # Given
        events = boto3.client("events", region_name=REGION)
        sqs = boto3.client("sqs", region_name=REGION)
        queue = sqs.create_queue(QueueName="greengrass-events")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        pattern = {"source": ["aws.greengrass"], "detail-type": [EVENT_DETAIL_TYPE]}
        events.put_rule(Name="greengrass", EventPattern=json.dumps(pattern))
        events.put_targets(Rule="greengrass", Targets=[{"Id": "queue", "Arn": queue_arn}])
        harness = _harness()
        harness.fake.deliver = PutEventsDelivery(events)
        # When
        deployment_id = harness.deploy(targetArn=THING)
        harness.fake.advance_until_idle()
        # Then
        messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    bodies = [json.loads(message["Body"]) for message in messages]
    assert [body["detail"]["coreDeviceExecutionStatus"] for body in bodies] == ["COMPLETED"]
    assert bodies[0]["detail"]["deploymentId"] == deployment_id
    assert bodies[0]["resources"] == [
        f"arn:aws:greengrass:{REGION}:{ACCOUNT}:coreDevices:core-solo"
    ]


_FINAL = {"FAILED", "SUCCEEDED", "COMPLETED", "REJECTED", "CANCELED"}


def _forward_only(events: list[dict[str, Any]]) -> dict[tuple[str, str], str]:
    """What a consumer that never moves a device's record backwards makes of the events:
    the first final status per (deployment, device) wins; later copies change nothing."""
    state: dict[tuple[str, str], str] = {}
    for event in events:
        key = (_deployment_id(event), _thing(event))
        status = event["detail"]["coreDeviceExecutionStatus"]
        if key not in state and status in _FINAL:
            state[key] = status
    return state


def _unreliable_run(**chaos: float) -> tuple[Harness, UnreliableDelivery, dict[Any, str]]:
    harness = _harness()
    delivery = UnreliableDelivery(harness.events.append, seed=11, **chaos)
    harness.fake.deliver = delivery
    harness.fake.fail_device("core-2", error_types=["COMPONENT_ERROR"], reason="crashed")
    first = harness.deploy(clientToken="t1")
    harness.fake.advance_until_idle()
    harness.deploy(
        clientToken="t2", components={"com.example.Widgets": {"componentVersion": "1.1.0"}}
    )
    harness.fake.advance_until_idle()
    truth = {
        (first, thing): str(harness.fake.execution_status(first, thing).value) for thing in DEVICES
    }
    truth.update(_forward_only(harness.fake.emitted))
    return harness, delivery, truth


def test_duplicated_events_still_end_every_device_in_its_true_status() -> None:
    harness, delivery, truth = _unreliable_run(duplicate=1.0)
    assert len(delivery.delivered) == 2 * len(harness.fake.emitted) == 12
    assert Counter(e["id"] for e in delivery.delivered) == Counter(
        {e["id"]: 2 for e in harness.fake.emitted}
    )
    assert _forward_only(delivery.delivered) == truth


def test_held_events_arrive_late_and_reordered_yet_end_in_the_true_status() -> None:
    # Given
    harness, delivery, truth = _unreliable_run(hold=1.0)
    assert harness.events == [] and len(delivery.held) == 6
    # When
    released = delivery.flush()
    # Then
    order = [(_deployment_id(e), _thing(e)) for e in delivery.delivered]
    emitted = [(_deployment_id(e), _thing(e)) for e in harness.fake.emitted]
    assert released == 6
    assert sorted(order) == sorted(emitted) and order != emitted
    assert _forward_only(delivery.delivered) == truth


def test_lost_events_leave_the_api_to_tell_the_truth() -> None:
    harness, delivery, truth = _unreliable_run(drop=1.0)
    assert delivery.delivered == [] and len(delivery.dropped) == 6
    for (deployment_id, thing), status in truth.items():
        listed = harness.fake.list_effective_deployments(coreDeviceThingName=thing)
        found = {d["deploymentId"]: d for d in listed["effectiveDeployments"]}
        assert found[deployment_id]["coreDeviceExecutionStatus"] == status


# -- packaging, then deployment ------------------------------------------------------------


def test_a_packaged_component_can_be_deployed() -> None:
    with mock_aws():
        # Given
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket="dropzone-results")
        harness = _harness()
        lookout = FakeLookoutVision(s3_client=s3, greengrass=harness.fake, clock=harness.clock)
        lookout.add_project("widgets", model_versions=[4])
        job = lookout.start_model_packaging_job(
            ProjectName="widgets",
            ModelVersion="4",
            ClientToken="dz-0001",
            Configuration={
                "Greengrass": {
                    "ComponentName": "widgets-model",
                    "S3OutputLocation": {"Bucket": "dropzone-results", "Prefix": "out/"},
                    "TargetDevice": "jetson_xavier",
                }
            },
        )["JobName"]
        components = {"widgets-model": {"componentVersion": "4.0.0"}}
        with pytest.raises(ClientError) as too_early:
            harness.deploy(components=components, clientToken="early")
        # When
        lookout.advance_until_idle()
        harness.clock.tick(seconds=1)
        output = lookout.describe_model_packaging_job(ProjectName="widgets", JobName=job)[
            "ModelPackagingDescription"
        ]["ModelPackagingOutputDetails"]["Greengrass"]
        deployment_id = harness.deploy(
            components={output["ComponentName"]: {"componentVersion": output["ComponentVersion"]}}
        )
        harness.fake.advance_until_idle()
    # Then
    assert _code(too_early) == ("ResourceNotFoundException", 404)
    component = harness.fake.component_version("widgets-model", "4.0.0")
    assert component.arn == output["ComponentVersionArn"]
    assert component.recipe["Manifests"][0]["Artifacts"] == [
        {
            "Uri": "s3://dropzone-results/out/widgets-model/4.0.0/widgets-model.zip",
            "Unarchive": "ZIP",
        }
    ]
    assert harness.statuses() == dict.fromkeys(DEVICES, "SUCCEEDED")
    assert {_deployment_id(e) for e in harness.events} == {deployment_id}
    assert harness.fake.get_deployment(deploymentId=deployment_id)["components"] == {
        "widgets-model": {"componentVersion": "4.0.0"}
    }


def test_packaging_the_same_component_version_again_fails() -> None:
    harness = _harness()
    lookout = FakeLookoutVision(greengrass=harness.fake, clock=harness.clock)
    lookout.add_project("widgets")
    job = lookout.start_model_packaging_job(
        ProjectName="widgets",
        ModelVersion="1",
        Configuration={
            "Greengrass": {
                "ComponentName": "com.example.Widgets",
                "S3OutputLocation": {"Bucket": "dropzone-results"},
                "TargetDevice": "jetson_xavier",
            }
        },
    )["JobName"]
    lookout.advance_until_idle()
    described = lookout.describe_model_packaging_job(ProjectName="widgets", JobName=job)
    assert described["ModelPackagingDescription"]["Status"] == "FAILED"
    assert (
        "com.example.Widgets version 1.0.0 already exists"
        in (described["ModelPackagingDescription"]["StatusMessage"])
    )
