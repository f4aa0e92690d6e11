"""The AWS Price List Query API's GetProducts, as the local cloud answers it for Bedrock.

moto has no Price List. The stand-in is a real botocore `pricing` client (so its requests
are validated and paginated as botocore does) whose GetProducts is answered here: the
`AmazonBedrock` offer lists, for every model of the refresh's name list that the shipped
price table prices, its on-demand and batch input and output prices in the stack's region,
in the Price List's own document shape; every other offer lists nothing. Each answer is
checked against botocore's service model before it is returned.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
from botocore.awsrequest import AWSResponse, HTTPHeaders

from dropzone.workflows.bedrock.price_refresh import PRICE_LIST_NAMES
from dropzone.workflows.bedrock.prices import PriceTable
from dropzone_local.service_model import validate_response

SERVICE, OPERATION = "pricing", "GetProducts"
PRICE_LIST_REGION = "us-east-1"
OFFER = "AmazonBedrock"
OFFER_TERM = "JRTCKXETXF"  # the Price List's code for on-demand terms
RATE = "6YS6EN2CT7"
FEATURES = {"on_demand": "On-demand Inference", "batch": "Batch Inference"}
DIRECTIONS = {"input": "Input tokens", "output": "Output tokens"}


class FakePriceList:
    def __init__(self, region: str) -> None:
        self.region = region
        self.requests: list[dict[str, Any]] = []  # the API parameters of every call

    def client(self) -> Any:
        """A `pricing` client whose GetProducts this stand-in answers."""
        return self.attach(boto3.client("pricing", region_name=PRICE_LIST_REGION))

    def attach(self, client: Any) -> Any:
        """Answer GetProducts on an existing `pricing` client, such as the one a function
        creates for itself; its requests are still validated by botocore."""
        client.meta.events.register(f"before-parameter-build.{SERVICE}.{OPERATION}", self._note)
        client.meta.events.register(f"before-call.{SERVICE}.{OPERATION}", self._answer)
        return client

    def products(self, service_code: str, filters: list[dict[str, str]]) -> list[str]:
        """The PriceList entries of an offer whose attributes match every TERM_MATCH filter."""
        if service_code != OFFER:
            return []
        table = PriceTable.shipped()
        entries = []
        for name, model_id in sorted(PRICE_LIST_NAMES.items()):
            price = table.price(model_id)
            if price is None:
                continue
            for mode, feature in FEATURES.items():
                prices = price.for_mode(mode)
                for direction, inference_type in DIRECTIONS.items():
                    per_1k = prices.input_per_1k if direction == "input" else prices.output_per_1k
                    attributes = {
                        "servicecode": OFFER,
                        "regionCode": self.region,
                        "model": name.title(),
                        "feature": feature,
                        "inferenceType": inference_type,
                        "usagetype": f"{mode}-{direction}-tokens",
                        "operation": "Usage",
                    }
                    if all(attributes.get(f["Field"]) == f["Value"] for f in filters):
                        entries.append(
                            _document(f"{model_id}-{mode}-{direction}", attributes, per_1k)
                        )
        return entries

    def _note(self, params: dict[str, Any], **_: Any) -> None:
        self.requests.append(dict(params))

    def _answer(self, **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        params = self.requests[-1]
        entries = self.products(params["ServiceCode"], params.get("Filters", []))
        start = int(params.get("NextToken") or 0)
        size = int(params.get("MaxResults") or 100)
        page: dict[str, Any] = {
            "FormatVersion": "aws_v1",
            "PriceList": entries[start : start + size],
        }
        if start + size < len(entries):
            page["NextToken"] = str(start + size)
        validate_response(SERVICE, OPERATION, page)
        return AWSResponse(
            f"https://api.pricing.{PRICE_LIST_REGION}.amazonaws.com/", 200, HTTPHeaders(), None
        ), page


def _document(sku: str, attributes: dict[str, str], per_1k: float) -> str:
    """One PriceList entry: a product and its one on-demand price dimension, per 1K tokens."""
    code = f"{sku}.{OFFER_TERM}"
    return json.dumps(
        {
            "product": {"productFamily": "Amazon Bedrock", "attributes": attributes, "sku": sku},
            "serviceCode": OFFER,
            "terms": {
                "OnDemand": {
                    code: {
                        "priceDimensions": {
                            f"{code}.{RATE}": {
                                "unit": "1K tokens",
                                "endRange": "Inf",
                                "description": f"{per_1k} USD per 1K tokens",
                                "appliesTo": [],
                                "rateCode": f"{code}.{RATE}",
                                "beginRange": "0",
                                "pricePerUnit": {"USD": f"{per_1k:.10f}"},
                            }
                        },
                        "sku": sku,
                        "effectiveDate": "2026-12-01T00:00:00Z",
                        "offerTermCode": OFFER_TERM,
                        "termAttributes": {},
                    }
                }
            },
            "version": "20261201000000",
            "publicationDate": "2026-12-01T00:00:00Z",
        }
    )
