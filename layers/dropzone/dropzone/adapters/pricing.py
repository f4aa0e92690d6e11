"""The AWS Price List Query API (`pricing:GetProducts`), read for Bedrock's prices.

The API answers in a few regions only, whatever region the stack runs in: Dropzone's own
client is created for us-east-1.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache
from typing import Any

from dropzone import aws
from dropzone.observability import logger

PRICE_LIST_REGION = "us-east-1"
PAGE_SIZE = 100  # GetProducts' MaxResults allows 1 to 100


@cache
def price_list_client() -> Any:
    """The container's Price List client, in the API's region."""
    return aws.default_session().client(
        "pricing", region_name=PRICE_LIST_REGION, config=aws.RETRY_CONFIG
    )


class PriceList:
    def __init__(self, client: Any | None = None) -> None:
        self._client = client or price_list_client()

    @classmethod
    def from_source(cls, client: aws.ClientSource) -> PriceList:
        """Dropzone's client source gets the us-east-1 client; any other (the local cloud,
        a test) is asked for its "pricing" client."""
        return cls(price_list_client() if client is aws.client else client("pricing"))

    def products(self, service_code: str, **attributes: str) -> Iterator[dict[str, Any]]:
        """Every product of a service whose attributes have these exact values, each a
        decoded PriceList document (product, serviceCode, terms). A document that is not
        JSON is skipped and logged: one bad entry must not hide the others."""
        filters = [
            {"Type": "TERM_MATCH", "Field": field, "Value": value}
            for field, value in sorted(attributes.items())
        ]
        paginator = self._client.get_paginator("get_products")
        pages = paginator.paginate(
            ServiceCode=service_code,
            Filters=filters,
            FormatVersion="aws_v1",
            PaginationConfig={"PageSize": PAGE_SIZE},
        )
        skipped = 0
        for page in pages:
            for item in page.get("PriceList", []):
                try:
                    document = json.loads(item) if isinstance(item, str) else item
                except json.JSONDecodeError:
                    document = None
                if isinstance(document, dict):
                    yield document
                else:
                    skipped += 1
        if skipped:
            logger.warning(
                "price list entries that are not JSON objects were skipped",
                extra={"service_code": service_code, "skipped": skipped},
            )
