"""The whole SageMaker async pipeline, offline, through the template's own wiring."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dropzone import clock
from dropzone.models.jobs import JobStatus
from dropzone_local import demo
from dropzone_local.cloud import LocalCloud
from dropzone_local.record_faults import Fault
from tests.support.docs import page
from tests.support.stack_copy import copy_stack

ROOT = Path(__file__).resolve().parents[2]
QUIET = {"POWERTOOLS_LOG_LEVEL": "CRITICAL", "POWERTOOLS_METRICS_DISABLED": "true"}


def test_the_demo_scenario_passes(capsys: pytest.CaptureFixture[str]) -> None:
    assert demo.main([]) == 0
    out = capsys.readouterr().out
    assert "PASS" in out
    assert re.search(r"status events published: (\d+) for \1 transitions ok", out)
    # it counts the functions it runs against the template's, and names the ones left off
    on, declared = map(int, re.findall(r"template.yaml: (\d+) of its (\d+) functions", out)[0])
    assert declared == len(list(ROOT.glob("functions/*/app.py")))  # the benchmarks' count
    off = re.findall(r"off until a parameter turns them on: (.+)", out)[0].split(", ")
    assert on + len(off) == declared and 0 < len(off) < declared
    assert "BedrockOnDemandFunction" in off and "SageMakerSubmitFunction" not in off
    assert "Bedrock jobs in flight at most: 2 ok" in out
    # the getting-started page shows the Bedrock cost lines as the demo prints them
    shown = page("getting-started.md").split("  Bedrock cost:", 1)[1].split("\n\n", 1)[0]
    assert "  Bedrock cost:" + shown in out
    assert shown.count(" ok") == 1 and "OVER THE ESTIMATE" not in out


def test_upload_to_final_status_with_events_for_every_transition() -> None:
    with LocalCloud(function_environment=QUIET) as cloud:
        # Given an endpoint that answers
        cloud.add_endpoint("churn-model")
        # When a file is dropped under its prefix
        cloud.put_object("sagemaker-async/churn-model/in.json", b'{"rows": [[1, 2]]}')
        cloud.run_until_idle()
        # Then the job ends SUCCEEDED with the endpoint's output, and every step was published
        (job,) = cloud.jobs()
        assert job.status is JobStatus.SUCCEEDED
        assert job.output_location is not None
        output = json.loads(cloud.read_object(job.output_location))
        assert output["inputBytes"] == len(b'{"rows": [[1, 2]]}')
        assert [e["detail"]["status"] for e in cloud.status_events] == [
            "ACCEPTED",
            "SUBMITTED",
            "SUCCEEDED",
        ]
        assert cloud.queue_depth("SageMakerSubmitDLQUrl") == 0


def test_throttling_is_retried_through_the_queue_without_loss_or_duplication() -> None:
    with LocalCloud(function_environment=QUIET) as cloud:
        cloud.add_endpoint("churn-model")
        cloud.sagemaker.inject_faults("ThrottlingException", "ServiceUnavailable")
        cloud.put_object("sagemaker-async/churn-model/in.json", b"{}")
        cloud.run_until_idle()
        (job,) = cloud.jobs()
        assert job.status is JobStatus.SUCCEEDED
        assert len(cloud.sagemaker.calls) == 3  # two refused, one accepted
        assert cloud.queue_depth("SageMakerSubmitDLQUrl") == 0


def test_persistent_failure_lands_in_the_dead_letter_queue() -> None:
    with LocalCloud(function_environment=QUIET) as cloud:
        cloud.add_endpoint("churn-model")
        cloud.sagemaker.inject_faults(*["ServiceUnavailable"] * 20)
        cloud.put_object("sagemaker-async/churn-model/in.json", b"{}")
        cloud.run_until_idle()
        (job,) = cloud.jobs()
        assert job.status is JobStatus.ACCEPTED  # recorded, not lost; redrive resumes it
        assert cloud.queue_depth("SageMakerSubmitDLQUrl") == 1


def test_objects_outside_the_prefix_are_not_routed() -> None:
    with LocalCloud(function_environment=QUIET) as cloud:
        cloud.put_object("elsewhere/file.json", b"{}")
        cloud.run_until_idle()
        assert cloud.jobs() == []


def test_routing_follows_the_prefix_in_the_template(tmp_path: Path) -> None:
    # Given a copy of the template whose async prefix default is changed
    changed = copy_stack(
        tmp_path, {"template.yaml": ("Default: sagemaker-async/", "Default: inference/async/")}
    )
    with LocalCloud(changed, function_environment=QUIET) as cloud:
        cloud.add_endpoint("churn-model")
        # When files are dropped under the old and the new prefix
        cloud.put_object("sagemaker-async/churn-model/old.json", b"{}")
        cloud.put_object("inference/async/churn-model/new.json", b"{}")
        cloud.run_until_idle()
        # Then only the new prefix is routed, and the function reads the same setting
        (job,) = cloud.jobs()
        assert job.source.key == "inference/async/churn-model/new.json"
        assert job.status is JobStatus.SUCCEEDED


@pytest.mark.parametrize(
    ("parameters", "reason"),
    [
        ({"BedrockDailyBudgetUsd": "abc"}, "BedrockDailyBudgetUsd: 'abc' does not match ^"),
        (
            {"BedrockDailyBudgetUSD": "5"},
            "BedrockDailyBudgetUSD: the template has no such parameter (did you mean "
            "BedrockDailyBudgetUsd?)",
        ),
        ({"BedrockOnDemand": "yes"}, "BedrockOnDemand: 'yes' is not one of Enabled, Disabled"),
    ],
)
def test_parameters_cloudformation_would_refuse_are_refused(
    parameters: dict[str, str], reason: str
) -> None:
    with (
        pytest.raises(ValueError, match="parameters the template refuses") as refused,
        LocalCloud(parameters=parameters),
    ):
        pass
    assert reason in str(refused.value)


def test_a_cloud_that_is_not_open_refuses_to_reach_any_service() -> None:
    # Given a LocalCloud configured but never opened
    cloud = LocalCloud(function_environment=QUIET)
    cloud.record_faults.add("marker", Fault.throttling())  # configuring it is fine
    # Then nothing reaches a service: boto3 would reach real AWS from here
    for reach in (
        lambda: cloud.client("s3"),
        lambda: cloud.function_client("dynamodb"),
        lambda: cloud.invoke("StatusPublisherFunction", {"Records": []}),
        lambda: cloud.advance(timedelta(hours=3)),
    ):
        with pytest.raises(RuntimeError, match=r"is not open: use it inside `with LocalCloud"):
            reach()
    assert abs(clock.utcnow() - datetime.now(UTC)) < timedelta(seconds=5)  # the clock stayed


def test_only_one_cloud_is_open_at_a_time_and_a_closed_one_stays_closed() -> None:
    first = LocalCloud(function_environment=QUIET)
    with first:
        first.add_endpoint("churn-model")
        given = list(first._function_clients)  # the stand-ins and wrapped clients handed out
        # A second, or the same one again, is refused while it is open, and changes nothing
        with pytest.raises(RuntimeError, match="Another LocalCloud is already open"):
            LocalCloud(function_environment=QUIET).__enter__()
        with pytest.raises(RuntimeError, match="This LocalCloud is already open: use the one"):
            first.__enter__()
        first.put_object("sagemaker-async/churn-model/in.json", b'{"rows": [[1]]}')
        first.run_until_idle()
        assert [job.status for job in first.jobs()] == [JobStatus.SUCCEEDED]
    # Once closed, it refuses services and reopening; a new one opens
    assert {"sqs", "bedrock", "sagemaker-runtime", "pricing"} <= set(given)
    for service in [*given, "s3", "dynamodb"]:
        with pytest.raises(RuntimeError, match="was closed: make a new one and use it inside"):
            first.function_client(service)
    with pytest.raises(RuntimeError, match="was closed: make a new one and use it inside"):
        first.client("s3")
    with pytest.raises(RuntimeError, match="was closed; make a new one"):
        first.__enter__()
    # close() is leaving the block: the next cloud opens, and closing twice is harmless
    second = LocalCloud(function_environment=QUIET).__enter__()
    assert second.jobs() == []
    second.close()
    second.close()
    with LocalCloud(function_environment=QUIET) as third:
        assert third.jobs() == []
