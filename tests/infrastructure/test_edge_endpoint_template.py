"""The Edge Manager-compatible endpoint in the templates: off by default and, switched on,
an HTTP API with exactly the routes of botocore's sagemaker-edge model, proxied (payload 2.0)
to one function whose role grants only what the endpoint's code calls, the credentials
table and HMAC key it verifies signatures with, throttling and header-free access logs,
alarms that notify, and the outputs passed up to the root stack."""

from __future__ import annotations

import json
import re
from typing import Any

import botocore.session
import pytest

from dropzone.adapters.kms import MAC_ALGORITHM
from dropzone.settings.edge import EdgeEndpointSettings, EdgeSettings
from dropzone.store.edge_credentials import BY_DEVICE_INDEX
from dropzone.workflows.edge.sigv4 import MAX_SKEW
from dropzone_local.template import TEMPLATE_PATH, read_document, resources_of_type
from tests.infrastructure.test_dashboard import ALL_ON, _charted
from tests.support.fixtures import STACK_METRICS_NAMESPACE

EDGE_STACK = TEMPLATE_PATH.parent / "stacks" / "edge_deployment.yaml"
CONDITION = "EdgeEndpointEnabled"
ROOT_CONDITION = "EdgeEndpointDeployed"
FUNCTION = "EdgeEndpointFunction"
# Every resource of the endpoint, all under EdgeEndpointEnabled.
ENDPOINT_RESOURCES = {
    "EdgeCredentialsTable": "AWS::DynamoDB::Table",
    "EdgeCredentialsKey": "AWS::KMS::Key",
    "EdgeEndpointLogGroup": "AWS::Logs::LogGroup",
    "EdgeEndpointFunction": "AWS::Serverless::Function",
    "EdgeEndpointFunctionRole": "AWS::IAM::Role",
    "EdgeEndpointApi": "AWS::ApiGatewayV2::Api",
    "EdgeEndpointIntegration": "AWS::ApiGatewayV2::Integration",
    "EdgeEndpointGetDeploymentsRoute": "AWS::ApiGatewayV2::Route",
    "EdgeEndpointGetDeviceRegistrationRoute": "AWS::ApiGatewayV2::Route",
    "EdgeEndpointSendHeartbeatRoute": "AWS::ApiGatewayV2::Route",
    "EdgeEndpointAccessLogGroup": "AWS::Logs::LogGroup",
    "EdgeEndpointStage": "AWS::ApiGatewayV2::Stage",
    "EdgeEndpointInvokePermission": "AWS::Lambda::Permission",
    "EdgeEndpoint5xxAlarm": "AWS::CloudWatch::Alarm",
    "EdgeEndpointFunctionErrorsAlarm": "AWS::CloudWatch::Alarm",
    "EdgeEndpointRequestsDeniedAlarm": "AWS::CloudWatch::Alarm",
}
OUTPUTS = [
    "EdgeEndpointUrl",
    "EdgeCredentialsTableName",
    "EdgeCredentialsKeyArn",
    "EdgeEndpointFunctionName",
]


@pytest.fixture(scope="module")
def stack() -> dict[str, Any]:
    """stacks/edge_deployment.yaml as written."""
    return read_document(EDGE_STACK)


@pytest.fixture(scope="module")
def root() -> dict[str, Any]:
    """template.yaml as written."""
    return read_document(TEMPLATE_PATH)


def _resource(stack: dict[str, Any], name: str) -> dict[str, Any]:
    return stack["Resources"][name]  # type: ignore[no-any-return]


def _properties(stack: dict[str, Any], name: str) -> dict[str, Any]:
    return stack["Resources"][name]["Properties"]  # type: ignore[no-any-return]


def _checkov_skips(resource: dict[str, Any]) -> dict[str, str]:
    return {
        skip["id"]: skip["comment"]
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
    }


def _operations() -> dict[str, str]:
    """botocore's sagemaker-edge model: operation → its route key (`METHOD /path`)."""
    model = botocore.session.get_session().get_service_model("sagemaker-edge")
    return {
        name: f"{model.operation_model(name).http['method']} "
        f"{model.operation_model(name).http['requestUri']}"
        for name in model.operation_names
    }


# ------------------------------------------------------------------ switch and parameters


def test_the_root_parameters_switch_the_endpoint_off_by_default(root: dict[str, Any]) -> None:
    switch = root["Parameters"]["EdgeEndpoint"]
    assert (switch["Type"], switch["Default"], switch["AllowedValues"]) == (
        "String",
        "Disabled",
        ["Enabled", "Disabled"],
    )
    for words in ("HTTPS endpoint", "sagemaker-edge", "per-device credentials"):
        assert words in " ".join(switch["Description"].split()), words
    rate = root["Parameters"]["EdgeEndpointRequestsPerSecond"]
    assert (rate["Type"], rate["Default"], rate["MinValue"], rate["MaxValue"]) == (
        "Number",
        50,
        1,
        10000,
    )


def test_the_root_passes_both_parameters_to_the_edge_stack(
    root: dict[str, Any], stack: dict[str, Any]
) -> None:
    passed = _properties(root, "EdgeDeployment")["Parameters"]
    for name in ("EdgeEndpoint", "EdgeEndpointRequestsPerSecond"):
        assert passed[name] == {"Ref": name}, name
        assert name in stack["Parameters"], name
    assert stack["Conditions"][CONDITION] == {"Fn::Equals": [{"Ref": "EdgeEndpoint"}, "Enabled"]}
    assert root["Conditions"][ROOT_CONDITION] == {
        "Fn::And": [
            {"Condition": "EdgeDeploymentEnabled"},
            {"Fn::Equals": [{"Ref": "EdgeEndpoint"}, "Enabled"]},
        ]
    }


def test_every_endpoint_resource_exists_only_when_the_endpoint_is_enabled(
    stack: dict[str, Any],
) -> None:
    for name, resource_type in ENDPOINT_RESOURCES.items():
        resource = _resource(stack, name)
        assert (resource["Type"], resource.get("Condition")) == (resource_type, CONDITION), name
    # ... and nothing else of the stack is an API, a key or an endpoint resource
    others = {
        name
        for name, resource in stack["Resources"].items()
        if name not in ENDPOINT_RESOURCES
        and (
            resource.get("Condition") == CONDITION
            or resource["Type"].startswith("AWS::ApiGatewayV2::")
            or resource["Type"] == "AWS::KMS::Key"
        )
    }
    assert others == set()


# ------------------------------------------------------------------------------ the API


def test_the_routes_are_exactly_the_sagemaker_edge_operations(stack: dict[str, Any]) -> None:
    operations = _operations()
    assert sorted(operations) == ["GetDeployments", "GetDeviceRegistration", "SendHeartbeat"]
    routes = resources_of_type(stack, "AWS::ApiGatewayV2::Route")
    by_key = {route["Properties"]["RouteKey"]: name for name, route in routes.items()}
    assert sorted(by_key) == sorted(operations.values())
    for operation, key in operations.items():
        name = by_key[key]
        assert name == f"EdgeEndpoint{operation}Route"
        properties = routes[name]["Properties"]
        assert properties["ApiId"] == {"Ref": "EdgeEndpointApi"}, name
        assert properties["Target"] == {"Fn::Sub": "integrations/${EdgeEndpointIntegration}"}
        # No API Gateway authorization, with the reason: the function checks SigV4 itself
        assert properties["AuthorizationType"] == "NONE", name
        reason = _checkov_skips(routes[name])["CKV_AWS_309"]
        for words in ("SigV4", "service sagemaker", "execute-api", "body the signature covers"):
            assert words in reason, words


def test_the_api_proxies_every_route_to_the_function_with_payload_2(
    stack: dict[str, Any],
) -> None:
    assert _properties(stack, "EdgeEndpointApi")["ProtocolType"] == "HTTP"
    integrations = resources_of_type(stack, "AWS::ApiGatewayV2::Integration")
    assert list(integrations) == ["EdgeEndpointIntegration"]
    integration = integrations["EdgeEndpointIntegration"]["Properties"]
    assert integration == {
        "ApiId": {"Ref": "EdgeEndpointApi"},
        "IntegrationType": "AWS_PROXY",
        "IntegrationUri": {"Fn::GetAtt": [FUNCTION, "Arn"]},
        "PayloadFormatVersion": "2.0",
    }
    permission = _properties(stack, "EdgeEndpointInvokePermission")
    assert permission["Principal"] == "apigateway.amazonaws.com"
    assert permission["FunctionName"] == {"Ref": FUNCTION}
    assert permission["SourceAccount"] == {"Ref": "AWS::AccountId"}
    assert permission["SourceArn"] == {
        "Fn::Sub": "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:"
        "${EdgeEndpointApi}/$default/POST/*"
    }


def test_the_stage_throttles_to_the_parameter(stack: dict[str, Any]) -> None:
    stage = _properties(stack, "EdgeEndpointStage")
    assert (stage["ApiId"], stage["StageName"], stage["AutoDeploy"]) == (
        {"Ref": "EdgeEndpointApi"},
        "$default",
        True,
    )
    rate = {"Ref": "EdgeEndpointRequestsPerSecond"}
    assert stage["DefaultRouteSettings"] == {
        "ThrottlingRateLimit": rate,
        "ThrottlingBurstLimit": rate,
    }


def test_the_access_log_is_json_without_headers_in_its_own_log_group(
    stack: dict[str, Any],
) -> None:
    settings = _properties(stack, "EdgeEndpointStage")["AccessLogSettings"]
    assert settings["DestinationArn"] == {"Fn::GetAtt": ["EdgeEndpointAccessLogGroup", "Arn"]}
    line = json.loads(settings["Format"])
    assert line == {
        "requestId": "$context.requestId",
        "sourceIp": "$context.identity.sourceIp",
        "requestTime": "$context.requestTime",
        "routeKey": "$context.routeKey",
        "status": "$context.status",
        "responseLength": "$context.responseLength",
        "integrationError": "$context.integrationErrorMessage",
    }
    for secret in ("header", "authorization", "accesskey", "caller", "user"):
        assert secret not in settings["Format"].lower(), secret
    group = _properties(stack, "EdgeEndpointAccessLogGroup")
    assert group == {
        "LogGroupName": {"Fn::Sub": "/aws/apigateway/${RootStackName}/EdgeEndpointApi"},
        "RetentionInDays": 30,
    }


# ---------------------------------------------------------------- function, table, key


def test_the_function_has_its_log_group_its_environment_and_no_event_source(
    stack: dict[str, Any],
) -> None:
    function = _properties(stack, FUNCTION)
    assert function["CodeUri"] == "../functions/edge_endpoint/"
    assert function["Role"] == {"Fn::GetAtt": [f"{FUNCTION}Role", "Arn"]}
    assert "Events" not in function
    assert function["LoggingConfig"] == {"LogGroup": {"Ref": "EdgeEndpointLogGroup"}}
    assert _properties(stack, "EdgeEndpointLogGroup")["LogGroupName"] == {
        "Fn::Sub": f"/aws/lambda/${{RootStackName}}/{FUNCTION}"
    }
    variables = function["Environment"]["Variables"]
    assert variables == {
        "POWERTOOLS_SERVICE_NAME": "edge-endpoint",
        "RESULTS_BUCKET": {"Ref": "ResultsBucketName"},
        "EDGE_DEVICES_TABLE": {"Ref": "EdgeDevicesTable"},
        "EDGE_CREDENTIALS_TABLE": {"Ref": "EdgeCredentialsTable"},
        "EDGE_CREDENTIALS_KEY_ID": {"Fn::GetAtt": ["EdgeCredentialsKey", "Arn"]},
    }
    # Each setting is one the endpoint's settings read, or the heartbeat path it feeds
    read = set(EdgeEndpointSettings.model_fields) | set(EdgeSettings.model_fields)
    assert [
        name for name in variables if name.lower() not in read | {"powertools_service_name"}
    ] == []
    # Well inside HTTP API's 30-second integration timeout
    assert function["Timeout"] < 30


def test_the_credentials_table_is_keyed_by_access_key_id_and_kept(stack: dict[str, Any]) -> None:
    table = _resource(stack, "EdgeCredentialsTable")
    assert (table["DeletionPolicy"], table["UpdateReplacePolicy"]) == ("Retain", "Retain")
    properties = table["Properties"]
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["KeySchema"] == [{"AttributeName": "access_key_id", "KeyType": "HASH"}]
    assert properties["AttributeDefinitions"] == [
        {"AttributeName": "access_key_id", "AttributeType": "S"},
        {"AttributeName": "device_key", "AttributeType": "S"},
    ]
    assert properties["GlobalSecondaryIndexes"] == [
        {
            "IndexName": BY_DEVICE_INDEX,
            "KeySchema": [{"AttributeName": "device_key", "KeyType": "HASH"}],
            "Projection": {"ProjectionType": "ALL"},
        }
    ]
    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert properties["SSESpecification"] == {"SSEEnabled": True}


def test_the_credentials_key_is_a_retained_hmac_key_the_accounts_iam_governs(
    stack: dict[str, Any],
) -> None:
    key = _resource(stack, "EdgeCredentialsKey")
    assert (key["DeletionPolicy"], key["UpdateReplacePolicy"]) == ("Retain", "Retain")
    properties = key["Properties"]
    assert (properties["KeySpec"], properties["KeyUsage"]) == ("HMAC_256", "GENERATE_VERIFY_MAC")
    assert "EnableKeyRotation" not in properties
    (statement,) = properties["KeyPolicy"]["Statement"]
    assert statement["Principal"] == {
        "AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}
    }
    assert (statement["Effect"], statement["Action"], statement["Resource"]) == (
        "Allow",
        "kms:*",
        "*",
    )
    assert "HMAC" in _checkov_skips(key)["CKV_AWS_7"]


# ------------------------------------------------------------------------- least privilege


def _policies(stack: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    role = _properties(stack, f"{FUNCTION}Role")
    return {
        policy["PolicyName"]: policy["PolicyDocument"]["Statement"] for policy in role["Policies"]
    }


def test_the_role_grants_only_what_the_endpoint_calls(stack: dict[str, Any]) -> None:
    policies = _policies(stack)
    assert list(policies) == ["Runtime", "Work"]
    runtime = {s["Sid"]: (s["Action"], s["Resource"]) for s in policies["Runtime"]}
    assert runtime == {
        "WriteOwnLogs": (
            ["logs:CreateLogStream", "logs:PutLogEvents"],
            {"Fn::GetAtt": ["EdgeEndpointLogGroup", "Arn"]},
        ),
        "WriteTraces": (["xray:PutTraceSegments", "xray:PutTelemetryRecords"], "*"),
    }
    work = [s for s in policies["Work"] if "Fn::If" not in s]
    granted = {s["Sid"]: (sorted(_as_list(s["Action"])), s["Resource"]) for s in work}
    assert granted == {
        "ReadCredentials": (["dynamodb:GetItem"], {"Fn::GetAtt": ["EdgeCredentialsTable", "Arn"]}),
        "DeriveSecretKeys": (["kms:GenerateMac"], {"Fn::GetAtt": ["EdgeCredentialsKey", "Arn"]}),
        "ReadAndUpdateDevices": (
            ["dynamodb:GetItem", "dynamodb:UpdateItem"],
            {"Fn::GetAtt": ["EdgeDevicesTable", "Arn"]},
        ),
        "ReadAndSettleDeployments": (
            ["dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:UpdateItem"],
            {"Ref": "JobsTableArn"},
        ),
        "FindJobsByServiceRef": (
            ["dynamodb:Query"],
            {"Fn::Sub": "${JobsTableArn}/index/by-service-ref"},
        ),
        "WriteRejectedHeartbeats": (
            ["s3:PutObject"],
            {"Fn::Sub": "arn:${AWS::Partition}:s3:::${ResultsBucketName}/reports/edge_heartbeat/*"},
        ),
    }
    (mac,) = [s for s in work if s["Sid"] == "DeriveSecretKeys"]
    assert mac["Condition"] == {"StringEquals": {"kms:MacAlgorithm": MAC_ALGORITHM}}
    assert all(s["Effect"] == "Allow" for s in work)


def test_no_statement_but_the_traces_is_granted_on_every_resource(stack: dict[str, Any]) -> None:
    statements = [s for statements in _policies(stack).values() for s in statements]
    unscoped = [
        s["Sid"] for s in statements if "Fn::If" not in s and "*" in _as_list(s["Resource"])
    ]
    assert unscoped == ["WriteTraces"]
    assert not any(
        "*" in action for s in statements if "Action" in s for action in _as_list(s["Action"])
    )


def test_the_endpoint_never_forwards_heartbeats_to_edge_manager(stack: dict[str, Any]) -> None:
    statements = [
        statement
        for policy in _properties(stack, f"{FUNCTION}Role")["Policies"]
        for statement in policy["PolicyDocument"]["Statement"]
    ]
    assert not [s for s in statements if "Fn::If" in s]
    actions = {a for s in statements for a in _as_list(s["Action"])}
    assert not any(action.startswith("sagemaker:") for action in actions)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# ------------------------------------------------------------------------------- alarms


def test_the_endpoint_alarms_watch_the_api_the_function_and_refusals(
    alarms: dict[str, dict[str, Any]],
) -> None:
    endpoint = {name: alarm for name, alarm in alarms.items() if name.startswith("EdgeEndpoint")}
    watched = {
        name: (alarm["Namespace"], alarm["MetricName"], alarm["Dimensions"])
        for name, alarm in endpoint.items()
    }
    assert watched == {
        "EdgeEndpoint5xxAlarm": (
            "AWS/ApiGateway",
            "5xx",
            [{"Name": "ApiId", "Value": {"Ref": "EdgeEndpointApi"}}],
        ),
        "EdgeEndpointFunctionErrorsAlarm": (
            "AWS/Lambda",
            "Errors",
            [{"Name": "FunctionName", "Value": {"Ref": FUNCTION}}],
        ),
        "EdgeEndpointRequestsDeniedAlarm": (
            STACK_METRICS_NAMESPACE,
            "EdgeEndpointRequestsDenied",
            [{"Name": "service", "Value": "edge-endpoint"}],
        ),
    }
    for name, alarm in endpoint.items():
        assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}], name
        assert alarm["OKActions"] == alarm["AlarmActions"], name
        assert alarm["TreatMissingData"] == "notBreaching", name
        assert alarm["ComparisonOperator"] == "GreaterThanThreshold", name
        assert (alarm["Statistic"], alarm["Period"]) == ("Sum", 300), name
    assert endpoint["EdgeEndpoint5xxAlarm"]["Threshold"] == 0
    assert endpoint["EdgeEndpointFunctionErrorsAlarm"]["Threshold"] == 0
    assert endpoint["EdgeEndpointRequestsDeniedAlarm"]["Threshold"] == 25


def test_the_denied_requests_alarm_says_what_to_check(alarms: dict[str, dict[str, Any]]) -> None:
    description = " ".join(alarms["EdgeEndpointRequestsDeniedAlarm"]["AlarmDescription"].split())
    for words in ("revoked", "mistyped", "another device's", "probing", "More than 25"):
        assert words in description, words
    (minutes,) = re.findall(r"clock off by more than (\d+) minutes", description)
    assert int(minutes) * 60 == MAX_SKEW.total_seconds()


# ----------------------------------------------------------------- outputs and dashboards


def test_the_outputs_are_conditional_and_passed_through_the_root(
    root: dict[str, Any], stack: dict[str, Any]
) -> None:
    for name in OUTPUTS:
        assert stack["Outputs"][name]["Condition"] == CONDITION, name
        assert root["Outputs"][name]["Condition"] == ROOT_CONDITION, name
        assert root["Outputs"][name]["Value"] == {
            "Fn::GetAtt": ["EdgeDeployment", f"Outputs.{name}"]
        }, name
    values = {name: stack["Outputs"][name]["Value"] for name in OUTPUTS}
    assert values == {
        "EdgeEndpointUrl": {
            "Fn::Sub": "https://${EdgeEndpointApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}"
        },
        "EdgeCredentialsTableName": {"Ref": "EdgeCredentialsTable"},
        "EdgeCredentialsKeyArn": {"Fn::GetAtt": ["EdgeCredentialsKey", "Arn"]},
        "EdgeEndpointFunctionName": {"Ref": FUNCTION},
    }


def test_the_dashboard_charts_the_function_and_refusals_only_when_enabled() -> None:
    def charted(endpoint: str) -> set[tuple[str, str, str]]:
        _, lines, _ = _charted({**ALL_ON, "EdgeEndpoint": endpoint})
        return {(line[0], line[1], line[3]) for line in lines}

    on, off = charted("Enabled"), charted("Disabled")
    endpoint_lines = {
        ("AWS/Lambda", "Errors", f"name-of-{FUNCTION}"),
        ("AWS/Lambda", "Throttles", f"name-of-{FUNCTION}"),
        ("AWS/Lambda", "Duration", f"name-of-{FUNCTION}"),
        ("Dropzone/dz-test", "EdgeEndpointRequestsDenied", "edge-endpoint"),
    }
    assert on - off == endpoint_lines


def test_the_saved_query_reads_the_functions_log_group_only_when_enabled(
    stack: dict[str, Any],
) -> None:
    groups = _properties(stack, "EdgeJobQuery")["LogGroupNames"]
    assert {"Fn::If": [CONDITION, {"Ref": "EdgeEndpointLogGroup"}, {"Ref": "AWS::NoValue"}]} in (
        groups
    )
    # The access log names no job: it is not searched for one
    assert "EdgeEndpointAccessLogGroup" not in json.dumps(groups)
