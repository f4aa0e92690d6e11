"""LocalCloud follows EdgeEndpoint: switched on, the endpoint's function is there with its
environment resolved to the credentials table and HMAC key LocalCloud created on moto, and
the endpoint's URL is a stable execute-api URL; by default none of it exists."""

from __future__ import annotations

import re

from dropzone_local.cloud import LocalCloud

QUIET = {"POWERTOOLS_LOG_LEVEL": "ERROR"}
ENABLED = {"EdgeEndpoint": "Enabled"}
FUNCTION = "EdgeEndpointFunction"
URL = re.compile(r"https://[a-z0-9]{10}\.execute-api\.us-east-1\.amazonaws\.com")


def test_the_enabled_endpoint_has_its_function_table_and_key() -> None:
    with LocalCloud(parameters=ENABLED, function_environment=QUIET) as cloud:
        environment = cloud.functions[FUNCTION].environment
        # The function's environment names what LocalCloud created
        assert environment["POWERTOOLS_SERVICE_NAME"] == "edge-endpoint"
        assert environment["RESULTS_BUCKET"] == cloud.results_bucket
        assert environment["EDGE_DEVICES_TABLE"] == cloud.output("EdgeDevicesTableName")
        assert "EDGE_MANAGER_SYNC" not in environment  # it never forwards to Edge Manager
        table = environment["EDGE_CREDENTIALS_TABLE"]
        assert table == cloud.output("EdgeCredentialsTableName")
        described = cloud.client("dynamodb").describe_table(TableName=table)["Table"]
        assert described["KeySchema"] == [{"AttributeName": "access_key_id", "KeyType": "HASH"}]
        assert [index["IndexName"] for index in described["GlobalSecondaryIndexes"]] == [
            "by-device"
        ]
        # The key is an HMAC key, named by its ARN, that computes MACs
        key_arn = environment["EDGE_CREDENTIALS_KEY_ID"]
        assert key_arn == cloud.output("EdgeCredentialsKeyArn")
        assert key_arn.startswith("arn:aws:kms:us-east-1:")
        kms = cloud.client("kms")
        metadata = kms.describe_key(KeyId=key_arn)["KeyMetadata"]
        assert (metadata["KeySpec"], metadata["KeyUsage"]) == ("HMAC_256", "GENERATE_VERIFY_MAC")
        mac = kms.generate_mac(KeyId=key_arn, Message=b"m", MacAlgorithm="HMAC_SHA_256")["Mac"]
        assert len(mac) == 32
        # The endpoint is not provisioned, but its URL is well formed and stable
        url = cloud.output("EdgeEndpointUrl")
        assert URL.fullmatch(url), url
        assert cloud.output("EdgeEndpointFunctionName") == f"{cloud.stack_name}-{FUNCTION}"
    with LocalCloud(parameters=ENABLED, function_environment=QUIET) as again:
        assert again.output("EdgeEndpointUrl") == url


def test_by_default_there_is_no_endpoint() -> None:
    with LocalCloud(function_environment=QUIET) as cloud:
        assert FUNCTION not in cloud.functions
        assert "EdgeHeartbeatFunction" in cloud.functions
        assert cloud.deployed_output("EdgeEndpointUrl") == ""
        assert cloud.deployed_output("EdgeCredentialsTableName") == ""
        assert cloud.client("kms").list_keys()["Keys"] == []
        tables = cloud.client("dynamodb").list_tables()["TableNames"]
        assert [name for name in tables if "EdgeCredentials" in name] == []
