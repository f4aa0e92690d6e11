"""Where the prices come from at run time (the override in S3 or Parameter Store, the
refreshed copy, the shipped table), what a bad override does, and the daily refresh against
the Price List API (botocore's Stubber on a real pricing client: moto has no Price List)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from dropzone.adapters.pricing import PriceList
from dropzone.adapters.s3 import S3
from dropzone.errors import ConfigurationError
from dropzone.observability import metrics
from dropzone.settings.bedrock import BedrockSettings
from dropzone.settings.bedrock_prices import REFRESHED_PRICES_KEY, BedrockPriceRefreshSettings
from dropzone.workflows.bedrock.price_refresh import PriceRefresh
from dropzone.workflows.bedrock.price_sources import (
    CACHE_TTL,
    MAX_TABLE_BYTES,
    PriceSources,
    forget_loaded_prices,
    load_prices,
)
from dropzone.workflows.bedrock.prices import PriceTable
from functions.bedrock_prices import app as prices_app
from tests.support.clock import ManualClock
from tests.support.events import load_event
from tests.support.fixtures import Stack
from tests.support.price_list import AMAZON_BEDROCK, MARKETPLACE

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
NOVA_PRO = "amazon.nova-pro-v1:0"
OVERRIDE_KEY = "bedrock-batch/prices/override.json"
PARAMETER = "/dropzone/dropzone-test/prices"
METRIC = "BedrockPriceRefreshModels"


def table(model_id: str, batch: tuple[float, float], checked: str = "2026-12-01") -> str:
    price = {"input_per_1k": batch[0], "output_per_1k": batch[1]}
    return json.dumps(
        {"checked": checked, "currency": "USD", "models": {model_id: {"batch": price}}}
    )


def settings(stack: Stack, **values: str) -> BedrockSettings:
    environment = {
        "JOBS_TABLE": stack.table_name,
        "RESULTS_BUCKET": stack.results_bucket,
        "SLOTS_TABLE": stack.slots_table,
        **values,
    }
    return BedrockSettings.from_env(environment)


def put(stack: Stack, key: str, body: str | bytes) -> None:
    stack.s3_client.put_object(Bucket=stack.results_bucket, Key=key, Body=body)


def parameter(value: str, kind: str = "String") -> None:
    boto3.client("ssm", region_name="us-east-1").put_parameter(
        Name=PARAMETER, Value=value, Type=kind
    )


@pytest.fixture(autouse=True)
def fresh_cache() -> Iterator[None]:
    forget_loaded_prices()
    yield
    forget_loaded_prices()


# ------------------------------------------------------------------------------ load order


def test_without_override_or_refresh_the_shipped_table_is_used(stack: Stack) -> None:
    put(stack, REFRESHED_PRICES_KEY, table(HAIKU, (9, 9)))  # read only while refreshing
    prices = load_prices(settings(stack))
    assert prices == PriceTable.shipped()


def test_the_override_wins_then_the_refreshed_copy_then_the_shipped_table(stack: Stack) -> None:
    refreshed = json.loads(table(HAIKU, (0.2, 0.4)))
    refreshed["models"][NOVA_PRO] = {"batch": {"input_per_1k": 0.5, "output_per_1k": 1}}
    put(stack, REFRESHED_PRICES_KEY, json.dumps(refreshed))
    put(stack, OVERRIDE_KEY, table(HAIKU, (0.1, 0.3)))
    location = f"s3://{stack.results_bucket}/{OVERRIDE_KEY}"

    prices = load_prices(settings(stack, PRICE_TABLE=location, PRICE_REFRESH="Enabled"))

    assert prices.price(HAIKU).source == location  # type: ignore[union-attr]
    assert prices.price(HAIKU).batch.input_per_1k == 0.1  # type: ignore[union-attr]
    assert prices.price(NOVA_PRO).source == "pricing:GetProducts"  # type: ignore[union-attr]
    assert prices.price("amazon.nova-lite-v1:0").source == "shipped"  # type: ignore[union-attr]


def test_a_refresh_not_run_yet_leaves_the_shipped_table(stack: Stack) -> None:
    prices = load_prices(settings(stack, PRICE_REFRESH="Enabled"))
    assert prices == PriceTable.shipped()


def test_an_override_may_live_in_parameter_store(stack: Stack) -> None:
    parameter(table(HAIKU, (0.1, 0.3)))
    prices = load_prices(settings(stack, PRICE_TABLE=f"ssm:{PARAMETER}"))
    assert prices.price(f"us.{HAIKU}").source == f"ssm:{PARAMETER}"  # type: ignore[union-attr]
    assert prices.price(HAIKU).on_demand.output_per_1k == 0.6  # type: ignore[union-attr]


# ------------------------------------------------------------------------------ bad sources


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (None, "it does not exist"),
        (b"", "it is empty"),
        ("{not json", "not valid JSON"),
        (table(HAIKU, (-1, 2)), f"models.{HAIKU}.batch.input_per_1k: must be a finite number"),
        ("x" * (MAX_TABLE_BYTES + 1), f"larger than {MAX_TABLE_BYTES} bytes"),
    ],
)
def test_an_override_that_cannot_be_used_fails_loudly(
    stack: Stack, body: str | bytes | None, reason: str
) -> None:
    if body is not None:
        put(stack, OVERRIDE_KEY, body)
    location = f"s3://{stack.results_bucket}/{OVERRIDE_KEY}"
    with pytest.raises(ConfigurationError) as raised:
        load_prices(settings(stack, PRICE_TABLE=location))
    assert str(raised.value).startswith(f"the price table override {location}")
    assert reason in str(raised.value)


@pytest.mark.parametrize(
    ("value", "kind", "reason"),
    [
        (None, "String", "it does not exist"),
        ("secret", "SecureString", "a SecureString parameter, not a String parameter"),
        ('{"currency": "USD"}', "String", "models: must be an object"),
    ],
)
def test_a_parameter_that_cannot_be_used_fails_loudly(
    stack: Stack, value: str | None, kind: str, reason: str
) -> None:
    if value is not None:
        parameter(value, kind)
    with pytest.raises(ConfigurationError, match=reason):
        load_prices(settings(stack, PRICE_TABLE=f"ssm:{PARAMETER}"))


def test_an_invalid_refreshed_copy_fails_loudly_too(stack: Stack) -> None:
    put(stack, REFRESHED_PRICES_KEY, '{"checked": "2026-12-01"}')
    with pytest.raises(ConfigurationError, match="the refreshed price table s3://"):
        load_prices(settings(stack, PRICE_REFRESH="Enabled"))


# ------------------------------------------------------------------------------ caching


def test_a_table_is_kept_for_a_few_minutes_then_read_again(stack: Stack) -> None:
    clock = ManualClock()
    location = f"s3://{stack.results_bucket}/{OVERRIDE_KEY}"
    put(stack, OVERRIDE_KEY, table(HAIKU, (0.1, 0.3)))
    sources = PriceSources(settings(stack, PRICE_TABLE=location), clock=clock)
    first = sources.table()

    put(stack, OVERRIDE_KEY, table(HAIKU, (0.2, 0.3)))
    clock.tick(seconds=CACHE_TTL.total_seconds() - 1)
    assert sources.table() is first
    clock.tick(seconds=1)
    assert sources.table().price(HAIKU).batch.input_per_1k == 0.2  # type: ignore[union-attr]


def test_a_failed_reading_is_not_kept(stack: Stack) -> None:
    location = f"s3://{stack.results_bucket}/{OVERRIDE_KEY}"
    sources = PriceSources(settings(stack, PRICE_TABLE=location), clock=ManualClock())
    with pytest.raises(ConfigurationError):
        sources.table()
    put(stack, OVERRIDE_KEY, table(HAIKU, (0.1, 0.3)))
    assert sources.table().price(HAIKU).source == location  # type: ignore[union-attr]


def test_each_container_keeps_one_set_of_sources_per_settings(stack: Stack) -> None:
    put(stack, OVERRIDE_KEY, table(HAIKU, (0.1, 0.3)))
    chosen = settings(stack, PRICE_TABLE=f"s3://{stack.results_bucket}/{OVERRIDE_KEY}")
    first = load_prices(chosen)
    stack.s3_client.delete_object(Bucket=stack.results_bucket, Key=OVERRIDE_KEY)
    assert load_prices(chosen) is first


# ------------------------------------------------------------------------------ refresh


GET_PRODUCTS = "get_products"


def expected(offer: str, token: str | None = None) -> dict[str, Any]:
    params: dict[str, Any] = {
        "ServiceCode": offer,
        "Filters": [{"Type": "TERM_MATCH", "Field": "regionCode", "Value": "us-east-1"}],
        "FormatVersion": "aws_v1",
        "MaxResults": 100,
    }
    if token:
        params["NextToken"] = token
    return params


def page(entries: list[str], token: str | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {"FormatVersion": "aws_v1", "PriceList": entries}
    if token:
        response["NextToken"] = token
    return response


@pytest.fixture
def pricing() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client("pricing", region_name="us-east-1")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def refresher(stack: Stack, client: Any) -> PriceRefresh:
    return PriceRefresh(
        BedrockPriceRefreshSettings(results_bucket=stack.results_bucket, aws_region="us-east-1"),
        PriceList(client),
        S3(stack.s3_client),
        clock=ManualClock(),
    )


def test_the_refresh_writes_what_the_price_list_prices(
    stack: Stack, pricing: tuple[Any, Stubber]
) -> None:
    client, stubber = pricing
    stubber.add_response(GET_PRODUCTS, page(AMAZON_BEDROCK[:5], "t1"), expected("AmazonBedrock"))
    stubber.add_response(
        GET_PRODUCTS, page(AMAZON_BEDROCK[5:]), expected("AmazonBedrock", token="t1")
    )
    stubber.add_response(GET_PRODUCTS, page(MARKETPLACE), expected("AmazonBedrockFoundationModels"))
    metrics.clear_metrics()

    summary = refresher(stack, client).run()

    assert summary["models"] == 3
    assert metrics.metric_set[METRIC]["Value"] == [3.0]
    written = S3(stack.s3_client).read_text(
        f"s3://{stack.results_bucket}/{REFRESHED_PRICES_KEY}", max_bytes=MAX_TABLE_BYTES
    )
    refreshed = PriceTable.from_json(written, "pricing:GetProducts")
    assert sorted(refreshed.models) == [
        NOVA_PRO,
        "anthropic.claude-sonnet-4-6",
        "global.anthropic.claude-sonnet-4-6",
    ]
    assert {price.checked for price in refreshed.models.values()} == {"2026-11-25"}
    prices = load_prices(settings(stack, PRICE_REFRESH="Enabled"))
    assert prices.price(NOVA_PRO).source == "pricing:GetProducts"  # type: ignore[union-attr]
    assert prices.price(HAIKU).source == "shipped"  # type: ignore[union-attr]
    metrics.clear_metrics()


def test_a_refresh_that_finds_nothing_usable_keeps_the_last_copy(
    stack: Stack, pricing: tuple[Any, Stubber]
) -> None:
    last = table(NOVA_PRO, (0.5, 1), checked="2026-11-20")
    put(stack, REFRESHED_PRICES_KEY, last)
    client, stubber = pricing
    stubber.add_response(GET_PRODUCTS, page(AMAZON_BEDROCK[4:]), expected("AmazonBedrock"))
    stubber.add_response(GET_PRODUCTS, page([]), expected("AmazonBedrockFoundationModels"))
    metrics.clear_metrics()

    summary = refresher(stack, client).run()

    assert summary["models"] == 0 and summary["incomplete"] == [HAIKU]
    assert metrics.metric_set[METRIC]["Value"] == [0.0]
    body = stack.s3_client.get_object(Bucket=stack.results_bucket, Key=REFRESHED_PRICES_KEY)
    assert body["Body"].read().decode() == last
    metrics.clear_metrics()


def test_a_price_list_failure_fails_the_run_and_keeps_the_last_copy(
    stack: Stack, pricing: tuple[Any, Stubber]
) -> None:
    last = table(NOVA_PRO, (0.5, 1), checked="2026-11-20")
    put(stack, REFRESHED_PRICES_KEY, last)
    client, stubber = pricing
    stubber.add_client_error(
        GET_PRODUCTS, "AccessDeniedException", expected_params=expected("AmazonBedrock")
    )
    with pytest.raises(client.exceptions.ClientError, match="AccessDeniedException"):
        refresher(stack, client).run()
    body = stack.s3_client.get_object(Bucket=stack.results_bucket, Key=REFRESHED_PRICES_KEY)
    assert body["Body"].read().decode() == last
    metrics.clear_metrics()


def test_the_handler_runs_the_refresh_on_its_schedule(
    stack: Stack, pricing: tuple[Any, Stubber], lambda_context: Any
) -> None:
    client, stubber = pricing
    stubber.add_response(GET_PRODUCTS, page(AMAZON_BEDROCK), expected("AmazonBedrock"))
    stubber.add_response(GET_PRODUCTS, page([]), expected("AmazonBedrockFoundationModels"))
    result = prices_app.handler(
        load_event("bedrock_prices.json"), lambda_context, refresher=refresher(stack, client)
    )
    assert result["models"] == 1
    assert result["location"] == f"s3://{stack.results_bucket}/{REFRESHED_PRICES_KEY}"
