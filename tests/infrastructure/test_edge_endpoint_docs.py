"""The edge endpoint's page states what the code and the template do: its operations, its
error codes, its limits, its credentials and its alarms."""

from __future__ import annotations

import re

import botocore.session

from dropzone.workflows.edge import endpoint_protocol, sigv4
from dropzone.workflows.edge.credentials import (
    ACCESS_KEY_LENGTH,
    ACCESS_KEY_PREFIX,
    secret_from_mac,
)
from dropzone_local.template import TEMPLATE_PATH, load_template, read_document
from tests.support.docs import first_name, page, prose, rows

PAGE = "workflows/edge-endpoint.md"
TEXT = prose(page(PAGE))
FLAT = " ".join(TEXT.split())


def test_the_operations_are_the_models_and_the_endpoints() -> None:
    model = botocore.session.get_session().get_service_model("sagemaker-edge")
    table = rows(page(PAGE), "operation")
    assert [first_name(row["operation"]) for row in table] == sorted(model.operation_names)
    for row in table:
        http = model.operation_model(first_name(row["operation"])).http
        assert first_name(row["request"]).startswith(f"{http['method']} {http['requestUri']}")
    assert sorted(endpoint_protocol.OPERATIONS.values()) == sorted(model.operation_names)


def test_the_error_codes_are_every_code_the_endpoint_answers() -> None:
    answered = {
        endpoint_protocol.INTERNAL,
        endpoint_protocol.VALIDATION,
        endpoint_protocol.SERIALIZATION,
        endpoint_protocol.DENIED,
        endpoint_protocol.UNRECOGNIZED,
        endpoint_protocol.UNKNOWN_OPERATION,
        sigv4.UNAUTHENTICATED,
        sigv4.INCOMPLETE,
        sigv4.INVALID,
    }
    assert {first_name(row["code"]) for row in rows(page(PAGE), "code")} == answered
    model = botocore.session.get_session().get_service_model("sagemaker-edge")
    modelled = {
        shape.name
        for op in model.operation_names
        for shape in model.operation_model(op).error_shapes
    }
    assert modelled == {endpoint_protocol.INTERNAL}
    assert "the one error the model names" in TEXT


def test_the_limits_are_the_codes() -> None:
    assert endpoint_protocol.MAX_BODY_BYTES == 256 * 1024 and "at most 256 KiB" in FLAT
    minutes = int(sigv4.MAX_SKEW.total_seconds() // 60)
    assert f"within {minutes} minutes of the endpoint's clock" in FLAT
    assert f"({ACCESS_KEY_LENGTH} characters, starting `{ACCESS_KEY_PREFIX}`)" in FLAT
    secret = secret_from_mac(bytes(32))  # a KMS HMAC_SHA_256 is 32 bytes
    assert f"`SecretAccessKey` ({len(secret)} characters)" in FLAT


def test_the_throttle_and_the_alarms_are_the_templates() -> None:
    root = read_document(TEMPLATE_PATH)
    default = root["Parameters"]["EdgeEndpointRequestsPerSecond"]["Default"]
    assert f"`EdgeEndpointRequestsPerSecond` (default {default};" in FLAT
    resources = load_template()["Resources"]
    named = set(re.findall(r"`(EdgeEndpoint\w+Alarm)`", TEXT))
    endpoint_alarms = {
        name
        for name, resource in resources.items()
        if resource["Type"] == "AWS::CloudWatch::Alarm" and name.startswith("EdgeEndpoint")
    }
    assert named == endpoint_alarms
    denied = resources["EdgeEndpointRequestsDeniedAlarm"]["Properties"]
    stated = f"above {int(denied['Threshold'])} in {int(denied['Period']) // 60}"
    assert stated in FLAT
