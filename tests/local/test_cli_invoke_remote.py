"""`dropzone invoke --remote`: Lambda Invoke as the CLI sends it, on Stubbed real clients."""

from __future__ import annotations

import base64
import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.response import StreamingBody

from dropzone_cli import main
from tests.support.cli import ACCOUNT, REGION, STACK, StubbedClients, function_arn

EVENT = Path(__file__).resolve().parents[2] / "events" / "bedrock_admission.json"
DEPLOYED = "dropzone-test-BedrockAdmissionFunction-AbC123"


def _body(payload: bytes) -> StreamingBody:
    return StreamingBody(io.BytesIO(payload), len(payload))


def _remote(*args: str) -> list[str]:
    return ["invoke", *args, "--remote", "--stack", STACK, "--region", REGION]


@pytest.fixture
def aws() -> StubbedClients:
    return StubbedClients("lambda", "cloudformation")


def _resource_detail(logical_id: str, physical_id: str, resource_type: str) -> dict[str, Any]:
    return {
        "StackResourceDetail": {
            "StackName": STACK,
            "LogicalResourceId": logical_id,
            "PhysicalResourceId": physical_id,
            "ResourceType": resource_type,
            "LastUpdatedTimestamp": "2026-11-01T00:00:00Z",
            "ResourceStatus": "CREATE_COMPLETE",
        }
    }


def test_request_response_with_tail_and_client_context(
    aws: StubbedClients, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a function that answers and logs
    context = {"custom": {"operator": "on-call"}}
    encoded = base64.b64encode(json.dumps(context, separators=(",", ":")).encode()).decode()
    log = "START RequestId: r-1\nadmitted 0 jobs\nEND RequestId: r-1\n"
    aws["lambda"].add_response(
        "invoke",
        {
            "StatusCode": 200,
            "ExecutedVersion": "$LATEST",
            "LogResult": base64.b64encode(log.encode()).decode(),
            "Payload": _body(b'{"submitted": 0, "rejected": 0, "full_models": 0}'),
        },
        expected_params={
            "FunctionName": DEPLOYED,
            "InvocationType": "RequestResponse",
            "LogType": "Tail",
            "ClientContext": encoded,
            "Payload": EVENT.read_bytes(),
        },
    )
    # When
    with aws.active():
        code = main(
            _remote(DEPLOYED, "-e", str(EVENT), "--tail", "--client-context", json.dumps(context)),
            clients=aws,
        )
    # Then
    out = capsys.readouterr().out
    assert code == 0
    assert "StatusCode: 200" in out
    assert "ExecutedVersion: $LATEST" in out
    assert '"submitted": 0' in out
    assert "Log tail:\nSTART RequestId: r-1\nadmitted 0 jobs" in out


def test_event_invocation(aws: StubbedClients, capsys: pytest.CaptureFixture[str]) -> None:
    aws["lambda"].add_response(
        "invoke",
        {"StatusCode": 202, "Payload": _body(b"")},
        expected_params={
            "FunctionName": DEPLOYED,
            "InvocationType": "Event",
            "Payload": EVENT.read_bytes(),
        },
    )
    with aws.active():
        code = main(_remote(DEPLOYED, "--type", "Event", "-e", str(EVENT)), clients=aws)
    assert code == 0
    assert "StatusCode: 202" in capsys.readouterr().out


def test_dry_run(aws: StubbedClients, capsys: pytest.CaptureFixture[str]) -> None:
    aws["lambda"].add_response(
        "invoke",
        {"StatusCode": 204, "Payload": _body(b"")},
        expected_params={"FunctionName": DEPLOYED, "InvocationType": "DryRun"},
    )
    with aws.active():
        code = main(_remote(DEPLOYED, "--type", "DryRun"), clients=aws)
    assert code == 0
    assert "StatusCode: 204" in capsys.readouterr().out


def test_a_function_error_is_printed_and_fails_the_command(
    aws: StubbedClients, capsys: pytest.CaptureFixture[str]
) -> None:
    error = b'{"errorMessage": "boom", "errorType": "RuntimeError"}'
    aws["lambda"].add_response(
        "invoke",
        {
            "StatusCode": 200,
            "FunctionError": "Unhandled",
            "ExecutedVersion": "7",
            "Payload": _body(error),
        },
        expected_params={
            "FunctionName": DEPLOYED,
            "InvocationType": "RequestResponse",
            "Qualifier": "live",
        },
    )
    with aws.active():
        code = main(_remote(DEPLOYED, "--qualifier", "live"), clients=aws)
    out = capsys.readouterr().out
    assert code == 1
    assert "FunctionError: Unhandled" in out
    assert "ExecutedVersion: 7" in out
    assert '"errorMessage": "boom"' in out


@pytest.mark.parametrize(
    ("given", "function_name", "qualifier"),
    [
        ("dropzone-test-Admission-AbC123", "dropzone-test-Admission-AbC123", None),
        ("dropzone-test-Admission-AbC123:live", "dropzone-test-Admission-AbC123", "live"),
        ("dropzone-test-Admission-AbC123:$LATEST", "dropzone-test-Admission-AbC123", "$LATEST"),
        (f"{ACCOUNT}:function:dz-admission", f"{ACCOUNT}:function:dz-admission", None),
        (f"{ACCOUNT}:function:dz-admission:3", f"{ACCOUNT}:function:dz-admission", "3"),
        (function_arn("dz-admission"), function_arn("dz-admission"), None),
        (f"{function_arn('dz-admission')}:live", function_arn("dz-admission"), "live"),
    ],
)
def test_every_documented_name_form(
    aws: StubbedClients, given: str, function_name: str, qualifier: str | None
) -> None:
    expected: dict[str, Any] = {"FunctionName": function_name, "InvocationType": "DryRun"}
    if qualifier:
        expected["Qualifier"] = qualifier
    aws["lambda"].add_response(
        "invoke", {"StatusCode": 204, "Payload": _body(b"")}, expected_params=expected
    )
    with aws.active():
        assert main(_remote(given, "--type", "DryRun"), clients=aws) == 0


def test_a_logical_id_is_resolved_through_cloudformation(
    aws: StubbedClients, capsys: pytest.CaptureFixture[str]
) -> None:
    aws["cloudformation"].add_response(
        "describe_stack_resource",
        _resource_detail("BedrockAdmissionFunction", DEPLOYED, "AWS::Lambda::Function"),
        expected_params={"StackName": STACK, "LogicalResourceId": "BedrockAdmissionFunction"},
    )
    aws["lambda"].add_response(
        "invoke",
        {"StatusCode": 202, "Payload": _body(b"")},
        expected_params={
            "FunctionName": DEPLOYED,
            "InvocationType": "Event",
            "Qualifier": "live",
        },
    )
    with aws.active():
        code = main(_remote("BedrockAdmissionFunction:live", "--type", "Event"), clients=aws)
    assert code == 0
    assert f"Function: {DEPLOYED}:live (BedrockAdmissionFunction)" in capsys.readouterr().out


def test_a_plain_name_the_stack_does_not_hold_is_invoked_as_a_name(
    aws: StubbedClients,
) -> None:
    aws["cloudformation"].add_client_error(
        "describe_stack_resource",
        service_error_code="ValidationError",
        service_message=f"Resource admission does not exist for stack {STACK}",
        http_status_code=400,
        expected_params={"StackName": STACK, "LogicalResourceId": "admission"},
    )
    aws["cloudformation"].add_response(  # nor does any of its nested stacks
        "list_stack_resources",
        {"StackResourceSummaries": []},
        expected_params={"StackName": STACK},
    )
    aws["lambda"].add_response(
        "invoke",
        {"StatusCode": 204, "Payload": _body(b"")},
        expected_params={"FunctionName": "admission", "InvocationType": "DryRun"},
    )
    with aws.active():
        assert main(_remote("admission", "--type", "DryRun"), clients=aws) == 0


def test_a_logical_id_of_something_else_is_refused(
    aws: StubbedClients, capsys: pytest.CaptureFixture[str]
) -> None:
    aws["cloudformation"].add_response(
        "describe_stack_resource",
        _resource_detail("JobsTable", "dropzone-test-JobsTable-1", "AWS::DynamoDB::Table"),
        expected_params={"StackName": STACK, "LogicalResourceId": "JobsTable"},
    )
    with aws.active():
        code = main(_remote("JobsTable"), clients=aws)
    assert code == 2
    assert "is a AWS::DynamoDB::Table, not a function" in capsys.readouterr().err


def test_a_client_context_over_the_limit_is_refused_before_any_call(
    aws: StubbedClients, capsys: pytest.CaptureFixture[str]
) -> None:
    # 2,700 bytes of JSON become more than 3,583 bytes of base64
    context = json.dumps({"custom": {"note": "x" * 2700}})
    with aws.active():
        code = main(_remote(DEPLOYED, "--client-context", context), clients=aws)
    err = capsys.readouterr().err
    assert code == 2
    assert "at most 3,583" in err


def test_a_client_context_at_the_limit_is_sent_and_one_byte_more_is_not(
    aws: StubbedClients, capsys: pytest.CaptureFixture[str]
) -> None:
    # {"custom":{"n":"…"}} adds 19 bytes to the note: 2,685 bytes of JSON are 3,580 base64
    # characters (the most that fits in 3,583); 2,686 bytes would be 3,584.
    fits = json.dumps({"custom": {"n": "y" * 2666}})
    encoded = base64.b64encode(json.dumps(json.loads(fits), separators=(",", ":")).encode())
    assert len(encoded) == 3580
    aws["lambda"].add_response(
        "invoke",
        {"StatusCode": 200, "Payload": _body(b"null")},
        expected_params={
            "FunctionName": DEPLOYED,
            "InvocationType": "RequestResponse",
            "ClientContext": encoded.decode(),
        },
    )
    too_big = json.dumps({"custom": {"n": "y" * 2667}})
    with aws.active():
        assert main(_remote(DEPLOYED, "--client-context", fits), clients=aws) == 0
        assert main(_remote(DEPLOYED, "--client-context", too_big), clients=aws) == 2
    assert "3,584 bytes once base64-encoded" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--type", "Event", "--tail"], "--tail needs --type RequestResponse"),
        (["--type", "DryRun", "--tail"], "--tail needs --type RequestResponse"),
        (["--type", "Event", "--client-context", "{}"], "--client-context needs --type"),
        (["--client-context", "[1, 2]"], "must be a JSON object"),
        (["--client-context", "{nope"], "--client-context: not JSON"),
    ],
)
def test_options_lambda_would_refuse_are_refused(
    aws: StubbedClients, capsys: pytest.CaptureFixture[str], arguments: list[str], message: str
) -> None:
    with aws.active():
        code = main(_remote(DEPLOYED, *arguments), clients=aws)
    assert code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("invocation_type", "size", "limit"),
    [
        ("Event", 1024 * 1024 + 1, "1,048,576"),
        ("RequestResponse", 6 * 1024 * 1024 + 1, "6,291,456"),
    ],
)
def test_payloads_over_the_limit_are_refused(
    aws: StubbedClients,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    invocation_type: str,
    size: int,
    limit: str,
) -> None:
    event = tmp_path / "big.json"
    event.write_bytes(b'"' + b"x" * (size - 2) + b'"')
    with aws.active():
        code = main(_remote(DEPLOYED, "--type", invocation_type, "-e", str(event)), clients=aws)
    assert code == 2
    assert f"at most {limit} bytes for {invocation_type}" in capsys.readouterr().err


def test_a_qualifier_given_twice_must_agree(
    aws: StubbedClients, capsys: pytest.CaptureFixture[str]
) -> None:
    with aws.active():
        code = main(_remote(f"{DEPLOYED}:live", "--qualifier", "7"), clients=aws)
    assert code == 2
    assert "names qualifier live but --qualifier is 7" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["arn:aws:s3:::bucket", "a b", "x" * 65, "fn:bad qualifier"])
def test_malformed_function_names_are_refused(
    aws: StubbedClients, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    with aws.active():
        code = main(_remote(name), clients=aws)
    assert code == 2
    assert "is not a function name" in capsys.readouterr().err


def test_lambda_refusals_are_one_line_errors(
    aws: StubbedClients, capsys: pytest.CaptureFixture[str]
) -> None:
    aws["lambda"].add_client_error(
        "invoke",
        service_error_code="ResourceNotFoundException",
        service_message=f"Function not found: {function_arn('gone')}",
        http_status_code=404,
        expected_params={"FunctionName": "gone-fn", "InvocationType": "RequestResponse"},
    )
    with aws.active():
        code = main(_remote("gone-fn"), clients=aws)
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("dropzone: error: Invoke: ResourceNotFoundException")
    assert "Traceback" not in err


def test_remote_options_without_remote_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["invoke", "BedrockAdmissionFunction", "--tail", "--qualifier", "live"])
    assert code == 2
    assert "--tail, --qualifier apply to --remote invocations" in capsys.readouterr().err


# -- no stack needed --------------------------------------------------------------------------


def _stackless(tmp_path: Path, *args: str) -> list[str]:
    """A remote invocation with no --stack and a samconfig.toml that names none."""
    return ["invoke", *args, "--remote", "--config-file", str(tmp_path / "samconfig.toml")]


@pytest.mark.parametrize(
    ("given", "function_name", "qualifier"),
    [
        (function_arn("dz-admission"), function_arn("dz-admission"), None),
        (f"{function_arn('dz-admission')}:live", function_arn("dz-admission"), "live"),
        (f"{ACCOUNT}:function:dz-admission:3", f"{ACCOUNT}:function:dz-admission", "3"),
    ],
)
def test_an_arn_needs_no_stack(
    aws: StubbedClients,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    given: str,
    function_name: str,
    qualifier: str | None,
) -> None:
    expected: dict[str, Any] = {"FunctionName": function_name, "InvocationType": "DryRun"}
    if qualifier:
        expected["Qualifier"] = qualifier
    aws["lambda"].add_response(
        "invoke", {"StatusCode": 204, "Payload": _body(b"")}, expected_params=expected
    )
    with aws.active():  # and CloudFormation is never asked
        code = main(
            _stackless(tmp_path, given, "--type", "DryRun", "--region", REGION), clients=aws
        )
    assert code == 0, capsys.readouterr().err


def test_an_arn_is_not_looked_up_in_a_configured_stack(aws: StubbedClients) -> None:
    aws["lambda"].add_response(
        "invoke",
        {"StatusCode": 204, "Payload": _body(b"")},
        expected_params={"FunctionName": function_arn("dz-admission"), "InvocationType": "DryRun"},
    )
    with aws.active():
        assert main(_remote(function_arn("dz-admission"), "--type", "DryRun"), clients=aws) == 0


def test_an_arn_in_another_region_than_region_is_refused(
    aws: StubbedClients, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with aws.active():
        code = main(
            _stackless(tmp_path, function_arn("dz-admission"), "--region", "eu-west-1"),
            clients=aws,
        )
    assert code == 2
    assert f"the function ARN is in {REGION} but --region is eu-west-1" in (capsys.readouterr().err)


def test_a_name_without_a_stack_is_invoked_as_a_name(
    aws: StubbedClients, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    aws["lambda"].add_response(
        "invoke",
        {"StatusCode": 204, "Payload": _body(b"")},
        expected_params={"FunctionName": "admission", "InvocationType": "DryRun"},
    )
    with aws.active():
        code = main(_stackless(tmp_path, "admission", "--type", "DryRun"), clients=aws)
    assert code == 0
    assert "no stack configured; admission is invoked as a function name" in (
        capsys.readouterr().err
    )


@pytest.mark.parametrize(
    ("error_code", "message", "status"),
    [
        ("ValidationError", f"Stack '{STACK}' does not exist", 400),
        ("AccessDenied", "not authorized to perform: cloudformation:DescribeStackResource", 403),
    ],
)
def test_a_missing_or_unreadable_stack_means_not_a_logical_id(
    aws: StubbedClients,
    capsys: pytest.CaptureFixture[str],
    error_code: str,
    message: str,
    status: int,
) -> None:
    aws["cloudformation"].add_client_error(
        "describe_stack_resource",
        service_error_code=error_code,
        service_message=message,
        http_status_code=status,
        expected_params={"StackName": STACK, "LogicalResourceId": "admission"},
    )
    aws["lambda"].add_response(
        "invoke",
        {"StatusCode": 204, "Payload": _body(b"")},
        expected_params={"FunctionName": "admission", "InvocationType": "DryRun"},
    )
    with aws.active():
        code = main(_remote("admission", "--type", "DryRun"), clients=aws)
    assert code == 0, capsys.readouterr().err
    assert "note: admission not looked up as a logical id" in capsys.readouterr().err


def test_other_cloudformation_failures_still_fail(
    aws: StubbedClients, capsys: pytest.CaptureFixture[str]
) -> None:
    aws["cloudformation"].add_client_error(
        "describe_stack_resource",
        service_error_code="Throttling",
        service_message="Rate exceeded",
        http_status_code=400,
        expected_params={"StackName": STACK, "LogicalResourceId": "admission"},
    )
    with aws.active():
        code = main(_remote("admission", "--type", "DryRun"), clients=aws)
    assert code == 1
    assert "DescribeStackResource: Throttling: Rate exceeded" in capsys.readouterr().err


def test_a_logical_id_in_a_workflows_nested_stack_is_found_there(aws: StubbedClients) -> None:
    nested = f"arn:aws:cloudformation:us-east-1:123456789012:stack/{STACK}-BedrockBatch-1/x"
    aws["cloudformation"].add_client_error(
        "describe_stack_resource",
        service_error_code="ValidationError",
        service_message=f"Resource BedrockAdmissionFunction does not exist for stack {STACK}",
        http_status_code=400,
        expected_params={"StackName": STACK, "LogicalResourceId": "BedrockAdmissionFunction"},
    )
    aws["cloudformation"].add_response(
        "list_stack_resources",
        {
            "StackResourceSummaries": [
                _summary("BedrockBatch", nested, "AWS::CloudFormation::Stack"),
                _summary("JobsTable", "dropzone-jobs", "AWS::DynamoDB::Table"),
            ]
        },
        expected_params={"StackName": STACK},
    )
    aws["cloudformation"].add_response(
        "list_stack_resources",
        {
            "StackResourceSummaries": [
                _summary("BedrockAdmissionFunction", DEPLOYED, "AWS::Lambda::Function")
            ]
        },
        expected_params={"StackName": nested},
    )
    aws["lambda"].add_response(
        "invoke",
        {"StatusCode": 204, "Payload": _body(b"")},
        expected_params={"FunctionName": DEPLOYED, "InvocationType": "DryRun"},
    )
    with aws.active():
        code = main(_remote("BedrockAdmissionFunction", "--type", "DryRun"), clients=aws)
    assert code == 0


def _summary(logical_id: str, physical_id: str, resource_type: str) -> dict[str, Any]:
    return {
        "LogicalResourceId": logical_id,
        "PhysicalResourceId": physical_id,
        "ResourceType": resource_type,
        "ResourceStatus": "CREATE_COMPLETE",
        "LastUpdatedTimestamp": datetime(2026, 12, 1, tzinfo=UTC),
    }
