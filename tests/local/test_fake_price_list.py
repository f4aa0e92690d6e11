"""The local cloud's Price List: GetProducts on a real botocore client, answered from the
shipped prices in the Price List's own shape, and the daily refresh that reads it."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ParamValidationError

from dropzone.workflows.bedrock.price_refresh import PRICE_LIST_NAMES, refreshed_document
from dropzone.workflows.bedrock.prices import PriceTable
from dropzone_local.cloud import LocalCloud
from dropzone_local.price_list import FakePriceList
from tests.support.events import load_event

QUIET = {"POWERTOOLS_LOG_LEVEL": "CRITICAL", "POWERTOOLS_METRICS_DISABLED": "true"}


def _all(client: object, **params: object) -> list[dict[str, object]]:
    pages = client.get_paginator("get_products").paginate(**params)  # type: ignore[attr-defined]
    return [json.loads(item) for page in pages for item in page["PriceList"]]


def test_get_products_pages_the_offer_and_filters_on_attributes() -> None:
    fake = FakePriceList("eu-west-1")
    client = fake.client()
    everything = _all(client, ServiceCode="AmazonBedrock", PaginationConfig={"PageSize": 50})
    priced = [m for m in PRICE_LIST_NAMES.values() if PriceTable.shipped().price(m)]
    assert len(everything) == 4 * len(priced) > 100  # on demand and batch, in and out
    assert len(fake.requests) == -(-len(everything) // 50)  # one call a page
    regions = {str(d["product"]["attributes"]["regionCode"]) for d in everything}  # type: ignore[index]
    assert regions == {"eu-west-1"}
    batch_only = _all(
        client,
        ServiceCode="AmazonBedrock",
        Filters=[{"Type": "TERM_MATCH", "Field": "feature", "Value": "Batch Inference"}],
    )
    assert len(batch_only) == 2 * len(priced)
    assert _all(client, ServiceCode="AmazonBedrockFoundationModels") == []
    with pytest.raises(ParamValidationError):  # botocore still checks every request
        client.get_products(ServiceCode="AmazonBedrock", MaxResults="many")


def test_the_refresh_reads_back_the_shipped_prices() -> None:
    products = _all(FakePriceList("us-east-1").client(), ServiceCode="AmazonBedrock")
    document, report = refreshed_document(products, "us-east-1", "2026-12-06")
    assert document is not None and report["unmapped"] == [] and report["conflicting"] == []
    table = PriceTable.from_json(json.dumps(document), "pricing:GetProducts")
    shipped = PriceTable.shipped()
    for model_id in PRICE_LIST_NAMES.values():
        expected, refreshed = shipped.price(model_id), table.price(model_id)
        if expected is None:
            continue
        assert refreshed is not None, model_id
        assert refreshed.batch == expected.batch and refreshed.on_demand == expected.on_demand


def test_the_refresh_writes_the_refreshed_copy_in_the_local_cloud() -> None:
    parameters = {"BedrockPriceRefresh": "Enabled"}
    with LocalCloud(function_environment=QUIET, parameters=parameters) as cloud:
        assert "BedrockPricesFunction" in cloud.functions
        # its daily schedule's event, as EventBridge Scheduler sends it
        cloud.invoke("BedrockPricesFunction", load_event("bedrock_prices.json"))
        uri = f"s3://{cloud.results_bucket}/bedrock-batch/prices/price-list.json"
        document = json.loads(cloud.read_object(uri))
    assert document["currency"] == "USD"
    assert "anthropic.claude-3-haiku-20240307-v1:0" in document["models"]
