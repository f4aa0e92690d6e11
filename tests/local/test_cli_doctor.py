"""`dropzone doctor`: every check on Stubbed real clients, passing and failing."""

from __future__ import annotations

from typing import Any

import pytest

from dropzone_cli import main
from dropzone_cli.common import Target
from dropzone_cli.doctor import REQUIRED_OUTPUTS, WORKFLOW_OUTPUTS, expected_outputs
from dropzone_cli.stack import DeployedStack
from dropzone_local.template import load_template
from tests.support.cli import (
    REGION,
    STACK,
    StubbedClients,
    queue_url,
    resource_summaries,
    stack_description,
)


@pytest.fixture(autouse=True)
def _wide(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tables as wide as their rows, so that every table here is checked whole."""
    monkeypatch.setenv("COLUMNS", "250")


OUTPUTS = {
    name: f"value-of-{name}"
    for name in (*REQUIRED_OUTPUTS, *(o for outputs in WORKFLOW_OUTPUTS.values() for o in outputs))
}
RESOURCES = [
    ("JobsTable", "dropzone-test-JobsTable-1", "AWS::DynamoDB::Table"),
    ("SageMakerSubmitQueue", queue_url("dz-SageMakerSubmitQueue"), "AWS::SQS::Queue"),
    ("SageMakerSubmitDLQ", queue_url("dz-SageMakerSubmitDLQ"), "AWS::SQS::Queue"),
    ("EventDeliveryDLQ", queue_url("dz-EventDeliveryDLQ"), "AWS::SQS::Queue"),
    ("SageMakerSubmitDLQAlarm", "dz-SageMakerSubmitDLQAlarm", "AWS::CloudWatch::Alarm"),
    ("EventDeliveryDLQAlarm", "dz-EventDeliveryDLQAlarm", "AWS::CloudWatch::Alarm"),
    ("SageMakerSubmitFunction", "dz-SageMakerSubmitFunction-1", "AWS::Lambda::Function"),
    ("BedrockAdmissionFunction", "dz-BedrockAdmissionFunction-1", "AWS::Lambda::Function"),
]
ALARMS = ["dz-SageMakerSubmitDLQAlarm", "dz-EventDeliveryDLQAlarm"]
DEPTHS = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
)


def _alarm(name: str, state: str) -> dict[str, Any]:
    return {"AlarmName": name, "StateValue": state}


def _stub_stack(
    aws: StubbedClients,
    *,
    status: str = "UPDATE_COMPLETE",
    outputs: dict[str, str] = OUTPUTS,
    depths: tuple[dict[str, str], dict[str, str]] = ({}, {}),
    alarm_states: tuple[str, str] = ("OK", "INSUFFICIENT_DATA"),
    dry_run_error: str | None = None,
) -> None:
    aws["cloudformation"].add_response(
        "describe_stacks",
        stack_description(outputs, status=status),
        expected_params={"StackName": STACK},
    )
    aws["cloudformation"].add_response(
        "list_stack_resources", resource_summaries(RESOURCES), expected_params={"StackName": STACK}
    )
    for name, depth in zip(("dz-SageMakerSubmitDLQ", "dz-EventDeliveryDLQ"), depths, strict=True):
        aws["sqs"].add_response(
            "get_queue_attributes",
            {"Attributes": {**dict.fromkeys(DEPTHS, "0"), **depth}},
            expected_params={"QueueUrl": queue_url(name), "AttributeNames": list(DEPTHS)},
        )
    aws["cloudwatch"].add_response(
        "describe_alarms",
        {
            "MetricAlarms": [
                _alarm(name, state) for name, state in zip(ALARMS, alarm_states, strict=True)
            ]
        },
        expected_params={"AlarmNames": ALARMS, "AlarmTypes": ["MetricAlarm"]},
    )
    for index, function in enumerate(
        ("dz-SageMakerSubmitFunction-1", "dz-BedrockAdmissionFunction-1")
    ):
        expected = {"FunctionName": function, "InvocationType": "DryRun"}
        if dry_run_error and index == 1:
            aws["lambda"].add_client_error(
                "invoke",
                service_error_code=dry_run_error,
                service_message="not allowed",
                http_status_code=403,
                expected_params=expected,
            )
        else:
            aws["lambda"].add_response("invoke", {"StatusCode": 204}, expected_params=expected)


@pytest.fixture
def aws() -> StubbedClients:
    return StubbedClients("cloudformation", "sqs", "cloudwatch", "lambda")


def test_a_healthy_stack_passes(aws: StubbedClients, capsys: pytest.CaptureFixture[str]) -> None:
    _stub_stack(aws)
    with aws.active():
        code = main(["doctor", "--stack", STACK, "--region", REGION], clients=aws)
    out = capsys.readouterr().out
    assert code == 0, out
    assert "FAIL" not in out
    assert "PASS  stack" in out and "UPDATE_COMPLETE" in out
    assert "PASS  queue SageMakerSubmitDLQ" in out
    assert "PASS  queue EventDeliveryDLQ" in out
    assert "SageMakerSubmitQueue " not in out  # not a DLQ
    assert "none of 2 alarms in ALARM" in out
    assert "PASS  function BedrockAdmissionFunction" in out
    assert "all 7 checks passed" in out


def test_every_failure_is_reported_and_fails_the_command(
    aws: StubbedClients, capsys: pytest.CaptureFixture[str]
) -> None:
    outputs = {k: v for k, v in OUTPUTS.items() if k != "BedrockServiceRoleArn"}
    _stub_stack(
        aws,
        status="UPDATE_ROLLBACK_COMPLETE",
        outputs=outputs,
        depths=({}, {"ApproximateNumberOfMessages": "3"}),
        alarm_states=("OK", "ALARM"),
        dry_run_error="AccessDeniedException",
    )
    with aws.active():
        code = main(["doctor", "--stack", STACK, "--region", REGION], clients=aws)
    lines = capsys.readouterr().out.splitlines()
    failures = [line for line in lines if line.startswith("FAIL")]
    assert code == 1
    assert len(failures) == 5
    text = "\n".join(failures)
    assert "stack" in text and "rolled back" in text
    assert "missing: BedrockServiceRoleArn" in text
    assert "queue EventDeliveryDLQ" in text and "messages: 3 waiting (see" in text
    assert "alarm dz-EventDeliveryDLQAlarm" in text
    assert "function BedrockAdmissionFunction" in text and "AccessDeniedException" in text
    assert "5 of 7 checks failed" in lines[-1]


@pytest.mark.parametrize(
    ("depth", "detail"),
    [
        ({"ApproximateNumberOfMessagesNotVisible": "2"}, "messages: 2 in flight"),
        ({"ApproximateNumberOfMessagesDelayed": "1"}, "messages: 1 delayed"),
        (
            dict.fromkeys(DEPTHS, "4"),
            "messages: 4 waiting, 4 in flight, 4 delayed (see `dropzone redrive`)",
        ),
    ],
)
def test_a_dlq_with_messages_in_flight_or_delayed_fails(
    aws: StubbedClients, capsys: pytest.CaptureFixture[str], depth: dict[str, str], detail: str
) -> None:
    _stub_stack(aws, depths=(depth, {}))
    with aws.active():
        code = main(["doctor", "--stack", STACK, "--region", REGION], clients=aws)
    lines = capsys.readouterr().out.splitlines()
    failures = [line for line in lines if line.startswith("FAIL")]
    assert code == 1
    assert len(failures) == 1
    assert "queue SageMakerSubmitDLQ" in failures[0] and detail in failures[0]


def test_required_outputs_exist_in_the_template() -> None:
    template = load_template()
    assert set(OUTPUTS) <= set(template["Outputs"])
    # the core's outputs always exist; a workflow's exist with its switch on
    assert not any("Condition" in template["Outputs"][name] for name in REQUIRED_OUTPUTS)
    for switch, outputs in WORKFLOW_OUTPUTS.items():
        assert switch in template["Parameters"]
        assert all("Condition" in template["Outputs"][name] for name in outputs)


def test_a_stack_with_workflows_switched_off_expects_none_of_their_outputs(
    aws: StubbedClients,
) -> None:
    aws["cloudformation"].add_response(
        "describe_stacks",
        stack_description(
            dict.fromkeys((*REQUIRED_OUTPUTS, "BedrockServiceRoleArn"), "x"),
            parameters={"EnableSageMakerAsync": "false", "EnableBedrockBatch": "true"},
        ),
        expected_params={"StackName": STACK},
    )
    with aws.active():
        stack = DeployedStack(Target(STACK, REGION, aws))
        assert expected_outputs(stack) == [*REQUIRED_OUTPUTS, "BedrockServiceRoleArn"]
