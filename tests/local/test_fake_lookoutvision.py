from __future__ import annotations

import io
import json
import re
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, ParamValidationError
from botocore.stub import Stubber
from moto import mock_aws

from dropzone_local.lookoutvision import (
    DESCRIBE,
    LIST,
    START,
    FakeLookoutVision,
    PackagingJobStatus,
)
from tests.support.clock import ManualClock

BUCKET = "dropzone-results"
PREFIX = "model-packaging/outputs/dz-0001/"
START_TIME = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)
P = PackagingJobStatus


@dataclass
class Harness:
    fake: FakeLookoutVision
    clock: ManualClock
    s3: Any = None

    def start(self, **overrides: Any) -> str:
        return str(self.fake.start_model_packaging_job(**_params(**overrides))["JobName"])

    def describe(self, job_name: str, project: str = "widgets") -> dict[str, Any]:
        self.clock.tick(seconds=1)  # stay clear of the rate limit
        answer = self.fake.describe_model_packaging_job(ProjectName=project, JobName=job_name)
        description: dict[str, Any] = answer["ModelPackagingDescription"]
        return description

    def keys(self) -> list[str]:
        return _keys(self.s3)


def _keys(s3: Any) -> list[str]:
    return [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]


def _harness(s3: Any = None, **options: Any) -> Harness:
    clock = ManualClock()
    fake = FakeLookoutVision(s3_client=s3, clock=clock, **options)
    fake.add_project("widgets", model_versions=[1, 2, 3])
    fake.add_project("gears")
    return Harness(fake, clock, s3)


@pytest.fixture
def offline() -> Harness:
    """For calls that never reach S3: no moto at all."""
    return _harness()


@pytest.fixture(scope="module")
def moto_s3() -> Iterator[Any]:
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        yield s3


@pytest.fixture
def harness(moto_s3: Any) -> Harness:
    """A fake writing to moto S3; the bucket starts empty for every test."""
    keys = [{"Key": key} for key in _keys(moto_s3)]
    if keys:
        moto_s3.delete_objects(Bucket=BUCKET, Delete={"Objects": keys})
    return _harness(moto_s3)


def _params(**overrides: Any) -> dict[str, Any]:
    greengrass: dict[str, Any] = {
        "ComponentName": "widgets-model",
        "S3OutputLocation": {"Bucket": BUCKET, "Prefix": PREFIX},
        "TargetPlatform": {"Os": "LINUX", "Arch": "X86_64"},
        "CompilerOptions": json.dumps({"mcpu": "core-avx2"}),
    }
    greengrass.update(overrides.pop("greengrass", {}))
    params: dict[str, Any] = {
        "ProjectName": "widgets",
        "ModelVersion": "1",
        "JobName": "job-1",
        "ClientToken": "dz-0001",
        "Configuration": {"Greengrass": {k: v for k, v in greengrass.items() if v is not None}},
    }
    params.update(overrides)
    return {k: v for k, v in params.items() if v is not None}


def _code(error: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    response: Any = error.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


# -- requests ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        {"ModelVersion": None},  # required member missing
        {"ProjectName": ""},  # below the minimum length
        {"greengrass": {"ComponentName": None}},  # required nested member missing
        {"greengrass": {"Tags": {"Key": "a", "Value": "b"}}},  # a list, not a dict
        {"Description": 7},  # wrong type
    ],
)
def test_a_bad_request_raises_param_validation_error_as_the_real_client_does(
    offline: Harness, bad: dict[str, Any]
) -> None:
    # Given
    params = _params(**bad)
    real = boto3.client("lookoutvision", region_name="us-east-1")
    stubber = Stubber(real)
    stubber.add_response("start_model_packaging_job", {"JobName": "job-1"})
    # When / Then
    with stubber, pytest.raises(ParamValidationError):
        real.start_model_packaging_job(**params)
    with pytest.raises(ParamValidationError):
        offline.fake.start_model_packaging_job(**params)
    assert offline.fake.calls == []  # it never reached the service


def test_the_real_client_and_the_fake_accept_the_same_good_request(offline: Harness) -> None:
    real = boto3.client("lookoutvision", region_name="us-east-1")
    stubber = Stubber(real)
    stubber.add_response("start_model_packaging_job", {"JobName": "job-1"}, _params())
    with stubber:
        assert real.start_model_packaging_job(**_params())["JobName"] == "job-1"
    assert offline.start() == "job-1"


@pytest.mark.parametrize(
    ("bad", "path"),
    [
        ({"JobName": "has_underscore"}, "JobName"),
        ({"ModelVersion": "v1"}, "ModelVersion"),
        ({"ClientToken": "token with spaces"}, "ClientToken"),
        ({"Description": "x" * 257}, "Description"),
        ({"greengrass": {"ComponentVersion": "1.0"}}, "Configuration.Greengrass.ComponentVersion"),
        ({"greengrass": {"ComponentName": "a/b"}}, "Configuration.Greengrass.ComponentName"),
        (
            {"greengrass": {"TargetPlatform": {"Os": "WINDOWS", "Arch": "X86_64"}}},
            "Configuration.Greengrass.TargetPlatform.Os",
        ),
        (
            {"greengrass": {"S3OutputLocation": {"Bucket": BUCKET, "Prefix": "has space/"}}},
            "Configuration.Greengrass.S3OutputLocation.Prefix",
        ),
        (
            {"greengrass": {"Tags": [{"Key": "a", "Value": "b"}] * 201}},
            "Configuration.Greengrass.Tags",
        ),
        (
            {"greengrass": {"Tags": [{"Key": "team", "Value": "a!"}]}},
            "Configuration.Greengrass.Tags.1.member.Value",
        ),
    ],
)
def test_the_service_refuses_what_the_client_lets_through(
    offline: Harness, bad: dict[str, Any], path: str
) -> None:
    # When
    with pytest.raises(ClientError) as error:
        offline.start(**bad)
    # Then
    assert _code(error) == ("ValidationException", 400)
    assert isinstance(error.value, offline.fake.exceptions.ValidationException)
    assert f"at '{path}' failed to satisfy constraint" in str(error.value)
    assert offline.fake.calls[-1].error == "ValidationException"


def test_unicode_tags_pass_the_java_pattern(offline: Harness) -> None:
    tags = [{"Key": "équipe", "Value": "Vision industrielle 2"}]
    assert offline.start(greengrass={"Tags": tags}) == "job-1"


@pytest.mark.parametrize(
    ("greengrass", "reason"),
    [
        (
            {"TargetPlatform": None, "CompilerOptions": None},
            "either TargetDevice or TargetPlatform",
        ),
        ({"TargetDevice": "jetson_xavier", "CompilerOptions": None}, "cannot both"),
        ({"TargetDevice": "jetson_xavier", "TargetPlatform": None}, "with TargetDevice"),
        ({"CompilerOptions": "mcpu=core-avx2"}, "JSON object"),
        (
            {
                "TargetPlatform": {"Os": "LINUX", "Arch": "ARM64", "Accelerator": "NVIDIA"},
                "CompilerOptions": json.dumps({"gpu-code": "sm_72", "trt-ver": "7.1.3"}),
            },
            "cuda-ver",
        ),
    ],
)
def test_target_hardware_rules_are_enforced(
    offline: Harness, greengrass: dict[str, Any], reason: str
) -> None:
    with pytest.raises(ClientError) as error:
        offline.start(greengrass=greengrass)
    assert _code(error) == ("ValidationException", 400)
    assert reason in str(error.value)
    assert offline.fake.in_flight == 0


def test_a_target_device_or_an_nvidia_platform_with_its_options_is_accepted(
    offline: Harness,
) -> None:
    nvidia = {
        "TargetPlatform": {"Os": "LINUX", "Arch": "ARM64", "Accelerator": "NVIDIA"},
        "CompilerOptions": json.dumps(
            {"gpu-code": "sm_72", "trt-ver": "7.1.3", "cuda-ver": "10.2"}
        ),
    }
    device = {"TargetDevice": "jetson_xavier", "TargetPlatform": None, "CompilerOptions": None}
    assert offline.start(greengrass=nvidia) == "job-1"
    assert offline.start(greengrass=device, JobName="job-2", ClientToken="dz-2") == "job-2"


@pytest.mark.parametrize(
    ("overrides", "resource_type"),
    [({"ProjectName": "nothing-here"}, "PROJECT"), ({"ModelVersion": "4"}, "MODEL")],
)
def test_an_unknown_project_or_model_version_is_not_found(
    offline: Harness, overrides: dict[str, Any], resource_type: str
) -> None:
    with pytest.raises(ClientError) as error:
        offline.start(**overrides)
    assert _code(error) == ("ResourceNotFoundException", 404)
    assert isinstance(error.value, offline.fake.exceptions.ResourceNotFoundException)
    assert error.value.response["ResourceType"] == resource_type  # type: ignore[typeddict-item]


def test_an_unknown_job_is_not_found(offline: Harness) -> None:
    with pytest.raises(ClientError) as error:
        offline.describe("job-404")
    assert _code(error) == ("ResourceNotFoundException", 404)
    assert error.value.response["ResourceType"] == "MODEL_PACKAGE_JOB"  # type: ignore[typeddict-item]


# -- idempotency and conflicts -------------------------------------------------------------


def test_the_same_token_and_parameters_answer_the_same_job(offline: Harness) -> None:
    # When
    first = offline.start()
    offline.clock.tick(hours=7, minutes=59)
    second = offline.start()
    # Then
    assert first == second == "job-1"
    assert offline.fake.in_flight == 1
    assert [call.operation for call in offline.fake.calls] == [START, START]


def test_the_same_token_with_other_parameters_conflicts(offline: Harness) -> None:
    offline.start()
    with pytest.raises(ClientError) as error:
        offline.start(ModelVersion="2")
    assert _code(error) == ("ConflictException", 409)
    assert "ClientToken" in str(error.value)
    assert offline.fake.in_flight == 1


def test_a_token_is_forgotten_after_8_hours(offline: Harness) -> None:
    # Given
    first = offline.start(JobName=None)
    offline.clock.tick(hours=8)
    # When
    second = offline.start(JobName=None)
    # Then
    assert first != second
    assert all(re.fullmatch(r"packaging-[0-9a-f]{16}", name) for name in (first, second))
    assert offline.fake.in_flight == 2


def test_a_missing_token_is_generated_as_botocore_does(offline: Harness) -> None:
    offline.start(ClientToken=None)
    assert re.fullmatch(r"[0-9a-f-]{36}", offline.fake.calls[0].params["ClientToken"])


def test_a_job_name_is_unique_within_its_project(offline: Harness) -> None:
    offline.start()
    with pytest.raises(ClientError) as error:
        offline.start(ClientToken="dz-0002")
    other_project = offline.start(ClientToken="dz-0003", ProjectName="gears")
    assert _code(error) == ("ConflictException", 409)
    assert error.value.response["ResourceType"] == "MODEL_PACKAGE_JOB"  # type: ignore[typeddict-item]
    assert other_project == "job-1"


def test_racing_starts_with_one_token_make_one_job(offline: Harness) -> None:
    offline.fake.burst = 16
    barrier = threading.Barrier(16)
    names: list[str] = []

    def start() -> None:
        barrier.wait()
        names.append(offline.start())

    threads = [threading.Thread(target=start) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert names == ["job-1"] * 16
    assert offline.fake.in_flight == 1


# -- the lifecycle -------------------------------------------------------------------------


def test_a_job_runs_to_success_and_names_its_component(harness: Harness) -> None:
    # Given
    name = harness.start(ModelVersion="latest", Description="Widgets model (v3)")
    created = harness.describe(name)
    # When
    changes = harness.fake.advance_until_idle()
    done = harness.describe(name)
    # Then
    assert created["Status"] == "CREATED"
    assert "ModelPackagingOutputDetails" not in created
    assert [change.status for change in changes] == [P.RUNNING, P.SUCCEEDED]
    assert done["Status"] == "SUCCEEDED"
    assert done["ModelVersion"] == "3"
    assert done["ModelPackagingMethod"] == "Greengrass"
    assert done["ModelPackagingJobDescription"] == "Widgets model (v3)"
    assert done["ModelPackagingConfiguration"] == _params()["Configuration"]
    assert done["ModelPackagingOutputDetails"] == {
        "Greengrass": {
            "ComponentVersionArn": (
                "arn:aws:greengrass:us-east-1:123456789012:components:widgets-model:versions:3.0.0"
            ),
            "ComponentName": "widgets-model",
            "ComponentVersion": "3.0.0",
        }
    }
    assert done["CreationTimestamp"] < done["LastUpdatedTimestamp"]


def test_an_explicit_component_version_is_kept(harness: Harness) -> None:
    name = harness.start(greengrass={"ComponentVersion": "2.1.7"})
    harness.fake.advance_until_idle()
    output = harness.describe(name)["ModelPackagingOutputDetails"]["Greengrass"]
    assert output["ComponentVersion"] == "2.1.7"
    assert output["ComponentVersionArn"].endswith(":components:widgets-model:versions:2.1.7")
    assert harness.keys() == [
        f"{PREFIX}widgets-model/2.1.7/recipe.json",
        f"{PREFIX}widgets-model/2.1.7/widgets-model.zip",
    ]


def test_the_artifact_and_recipe_are_written_to_the_output_location(harness: Harness) -> None:
    # When
    harness.start()
    harness.fake.advance_until_idle()
    # Then
    folder = f"{PREFIX}widgets-model/1.0.0/"
    assert harness.keys() == [f"{folder}recipe.json", f"{folder}widgets-model.zip"]
    body = harness.s3.get_object(Bucket=BUCKET, Key=f"{folder}widgets-model.zip")["Body"].read()
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        assert archive.namelist() == [
            "widgets-model/manifest.json",
            "widgets-model/model/compiled.bin",
        ]
        manifest = json.loads(archive.read("widgets-model/manifest.json"))
    assert manifest["ProjectName"] == "widgets" and manifest["ModelVersion"] == "1"
    recipe = json.loads(
        harness.s3.get_object(Bucket=BUCKET, Key=f"{folder}recipe.json")["Body"].read()
    )
    assert recipe["ComponentName"] == "widgets-model"
    assert recipe["ComponentVersion"] == "1.0.0"
    assert recipe["Manifests"] == [
        {
            "Platform": {"os": "linux", "architecture": "amd64"},
            "Artifacts": [{"Uri": f"s3://{BUCKET}/{folder}widgets-model.zip", "Unarchive": "ZIP"}],
        }
    ]


def test_the_artifact_bytes_are_deterministic(harness: Harness) -> None:
    # Given: the same packaging done twice, by two fakes, at different times
    bodies = []
    for delay in (0, 90):
        fake = _harness(harness.s3).fake
        harness.clock.tick(seconds=delay)
        fake.start_model_packaging_job(**_params())
        fake.advance_until_idle()
        key = f"{PREFIX}widgets-model/1.0.0/widgets-model.zip"
        bodies.append(harness.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    # Then
    assert bodies[0] == bodies[1]
    assert len(bodies[0]) > 1000


def test_a_slow_job_stays_running_for_its_extra_advances(offline: Harness) -> None:
    offline.fake.slow_jobs = {"job-1": 2}
    offline.fake.fail_next("stop before writing")  # no S3 needed
    offline.start()
    statuses = []
    for _ in range(4):
        offline.fake.advance()
        statuses.append(offline.fake.status_of("widgets", "job-1"))
    assert statuses == [P.RUNNING, P.RUNNING, P.RUNNING, P.FAILED]


def test_durations_hold_a_job_in_each_status_on_the_clock(offline: Harness) -> None:
    # Given
    offline.fake.queue_time = timedelta(minutes=1)
    offline.fake.run_time = timedelta(minutes=10)
    offline.fake.fail_next("stop before writing")
    offline.start()
    seen = []
    # When
    for minutes in (0.5, 0.5, 5, 5, 1):
        offline.clock.tick(minutes=minutes)
        offline.fake.advance()
        seen.append(offline.fake.status_of("widgets", "job-1"))
    # Then
    assert seen == [P.CREATED, P.RUNNING, P.RUNNING, P.FAILED, P.FAILED]


def test_injected_failures_fail_jobs_with_their_message(harness: Harness) -> None:
    # Given
    harness.fake.fail_next("The compiler ran out of memory.")
    harness.fake.fail_project("gears", "Project gears cannot be packaged.")
    first = harness.start(JobName="first", ClientToken="t1")
    second = harness.start(JobName="second", ClientToken="t2", greengrass={"ComponentName": "c2"})
    gears = harness.start(JobName="gear-job", ClientToken="t3", ProjectName="gears")
    harness.fake.fail_job("second", "Named job fails.")
    # When
    harness.fake.advance_until_idle()
    # Then
    assert (harness.describe(first)["Status"], harness.describe(first)["StatusMessage"]) == (
        "FAILED",
        "The compiler ran out of memory.",
    )
    assert harness.describe(second)["StatusMessage"] == "Named job fails."
    assert harness.describe(gears, project="gears")["StatusMessage"] == (
        "Project gears cannot be packaged."
    )
    assert "ModelPackagingOutputDetails" not in harness.describe(first)
    assert harness.keys() == []


def test_an_unwritable_output_location_fails_the_job(harness: Harness) -> None:
    name = harness.start(greengrass={"S3OutputLocation": {"Bucket": "no-such-bucket"}})
    harness.fake.advance_until_idle()
    described = harness.describe(name)
    assert described["Status"] == "FAILED"
    assert described["StatusMessage"] == (
        "Unable to write the component to s3://no-such-bucket/widgets-model/1.0.0/: NoSuchBucket."
    )


def test_an_existing_component_version_fails_the_job(harness: Harness) -> None:
    harness.fake.add_component("widgets-model", "1.0.0")
    name = harness.start()
    harness.fake.advance_until_idle()
    assert harness.describe(name)["StatusMessage"] == (
        "The component widgets-model version 1.0.0 already exists."
    )


# -- listing -------------------------------------------------------------------------------


def test_jobs_are_listed_oldest_first_and_paged(offline: Harness) -> None:
    # Given
    for index in range(7):
        offline.clock.tick(seconds=1)
        offline.start(JobName=f"job-{index}", ClientToken=f"t-{index}")
    offline.start(ProjectName="gears", JobName="other", ClientToken="t-gears")
    # When
    paginator = offline.fake.get_paginator("list_model_packaging_jobs")
    pages = []
    for page in paginator.paginate(ProjectName="widgets", PaginationConfig={"PageSize": 3}):
        offline.clock.tick(seconds=1)
        pages.append([job["JobName"] for job in page["ModelPackagingJobs"]])
    # Then
    assert pages == [["job-0", "job-1", "job-2"], ["job-3", "job-4", "job-5"], ["job-6"]]
    first = offline.fake.list_model_packaging_jobs(ProjectName="widgets", MaxResults=3)
    assert re.fullmatch(r"[a-zA-Z0-9/+=]+", first["NextToken"])
    assert set(first["ModelPackagingJobs"][0]) == {
        "JobName", "ProjectName", "ModelVersion", "ModelPackagingMethod", "Status",
        "CreationTimestamp", "LastUpdatedTimestamp",
    }  # fmt: skip


@pytest.mark.parametrize("token", ["not-base64!", "Z2VhcnM6MQ==", "d2lkZ2V0czo5OQ=="])
def test_a_foreign_or_broken_next_token_is_refused(offline: Harness, token: str) -> None:
    # "Z2VhcnM6MQ==" pages another project; "d2lkZ2V0czo5OQ==" points past the end.
    offline.start()
    with pytest.raises(ClientError) as error:
        offline.fake.list_model_packaging_jobs(ProjectName="widgets", NextToken=token)
    assert _code(error) == ("ValidationException", 400)


def test_a_page_larger_than_100_is_refused(offline: Harness) -> None:
    with pytest.raises(ClientError) as error:
        offline.fake.list_model_packaging_jobs(ProjectName="widgets", MaxResults=101)
    assert _code(error) == ("ValidationException", 400)
    assert "less than or equal to 100" in str(error.value)


def test_responses_are_checked_against_the_model(offline: Harness) -> None:
    # Given: a job in a state the service never reports
    offline.start()
    offline.fake._jobs[("widgets", "job-1")].model_version = "version one"
    # When / Then
    with pytest.raises(AssertionError, match="ModelVersion"):
        offline.describe("job-1")


# -- rate limit and faults -----------------------------------------------------------------


def test_more_than_5_calls_a_second_are_throttled(offline: Harness) -> None:
    # Given
    offline.start()
    answers = []
    # When: 6 describes at the same instant, then one 0.2 s later
    for _ in range(6):
        try:
            offline.fake.describe_model_packaging_job(ProjectName="widgets", JobName="job-1")
            answers.append("ok")
        except ClientError as error:
            answers.append(error.response["Error"]["Code"])
            throttled = error
    offline.clock.tick(seconds=0.2)
    offline.fake.describe_model_packaging_job(ProjectName="widgets", JobName="job-1")
    listed = offline.fake.list_model_packaging_jobs(ProjectName="widgets")  # its own budget
    # Then
    assert answers == ["ok"] * 5 + ["ThrottlingException"]
    assert throttled.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert isinstance(throttled, offline.fake.exceptions.ThrottlingException)
    assert throttled.response["RetryAfterSeconds"] == 1  # type: ignore[typeddict-item]
    assert listed["ModelPackagingJobs"]
    assert [call.error for call in offline.fake.calls if call.operation == DESCRIBE] == (
        [None] * 5 + ["ThrottlingException", None]
    )
    assert offline.fake.peak_rate(DESCRIBE) == 7
    assert offline.fake.peak_rate(DESCRIBE, answered_only=True) == 6


def test_a_poller_within_5_tps_is_never_throttled(offline: Harness) -> None:
    # Given: 100 jobs in flight
    for index in range(100):
        offline.clock.tick(seconds=0.2)
        offline.start(JobName=f"job-{index}", ClientToken=f"t-{index}")
    # When: polled at one call every 0.2 seconds
    for index in range(100):
        offline.clock.tick(seconds=0.2)
        offline.fake.describe_model_packaging_job(ProjectName="widgets", JobName=f"job-{index}")
    # Then
    assert all(call.error is None for call in offline.fake.calls)
    assert offline.fake.peak_rate(DESCRIBE) == 5
    assert offline.fake.peak_rate(START) == 5


def test_injected_faults_answer_the_next_calls_once_each(offline: Harness) -> None:
    # Given
    offline.fake.inject_faults("ThrottlingException", "InternalServerException")
    offline.fake.inject_faults("AccessDeniedException", operation=LIST)
    codes = []
    # When
    for _ in range(2):
        with pytest.raises(ClientError) as error:
            offline.start()
        codes.append(_code(error))
    name = offline.start()
    with pytest.raises(ClientError) as listed:
        offline.fake.list_model_packaging_jobs(ProjectName="widgets")
    # Then
    assert codes == [("ThrottlingException", 429), ("InternalServerException", 500)]
    assert _code(listed) == ("AccessDeniedException", 403)
    assert offline.describe(name)["Status"] == "CREATED"
    with pytest.raises(ValueError, match="never raises"):
        offline.fake.inject_faults("ConflictException", operation=DESCRIBE)
    with pytest.raises(ValueError, match="never raises"):
        offline.fake.inject_faults("NoSuchKey")


def test_a_fault_for_any_call_waits_for_a_call_that_can_raise_it(offline: Harness) -> None:
    offline.start()
    offline.fake.inject_faults("ConflictException")  # only StartModelPackagingJob raises it
    described = offline.describe("job-1")
    with pytest.raises(ClientError) as error:
        offline.start(JobName="job-2", ClientToken="t-2")
    assert described["Status"] == "CREATED"
    assert _code(error) == ("ConflictException", 409)
