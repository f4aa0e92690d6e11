"""Daily: the stack region's Bedrock prices from the AWS Price List, written to the results
bucket as the price table's refreshed copy (dropzone.workflows.bedrock.price_sources).

Two Price List offers hold Bedrock's token prices: `AmazonBedrock` (Amazon's models and
the open-weight ones, named by their `model` or `titanModel` attribute, with `feature` and
`inferenceType` saying what a product is) and `AmazonBedrockFoundationModels` (the models
sold through AWS Marketplace, Anthropic's among them, named only by `servicename`, with
`usagetype` saying what a product is). Neither names a model by its Bedrock id, so the
refresh maps only the names in PRICE_LIST_NAMES, each to one model id; a guess from a
display name could price the wrong model. A model the refresh cannot map, or whose
products disagree, keeps its shipped (or overridden) price.

A run that finds nothing usable leaves the last refreshed copy as it is; each run
publishes BedrockPriceRefreshModels, the number of models it refreshed.
"""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dropzone import aws
from dropzone.adapters.pricing import PriceList
from dropzone.adapters.s3 import S3
from dropzone.clock import utcnow
from dropzone.observability import logger, metrics
from dropzone.settings.bedrock_prices import REFRESHED_PRICES_KEY, BedrockPriceRefreshSettings
from dropzone.workflows.bedrock.price_sources import REFRESHED_SOURCE
from dropzone.workflows.bedrock.prices import BATCH, CURRENCY, ON_DEMAND, PriceTable

BEDROCK_OFFER = "AmazonBedrock"
MARKETPLACE_OFFER = "AmazonBedrockFoundationModels"
OFFERS = (BEDROCK_OFFER, MARKETPLACE_OFFER)
INPUT, OUTPUT = "input", "output"
GLOBAL_PROFILE = "global."

# Price List names (as `normalise_name` writes them) → Bedrock model ids.
PRICE_LIST_NAMES: dict[str, str] = {
    "claude 3 haiku": "anthropic.claude-3-haiku-20240307-v1:0",
    "claude haiku 4.5": "anthropic.claude-haiku-4-5-20251001-v1:0",
    "claude sonnet 4.5": "anthropic.claude-sonnet-4-5-20250929-v1:0",
    "claude sonnet 4.6": "anthropic.claude-sonnet-4-6",
    "claude sonnet 5": "anthropic.claude-sonnet-5",
    "claude opus 4.1": "anthropic.claude-opus-4-1-20250805-v1:0",
    "claude opus 4.5": "anthropic.claude-opus-4-5-20251101-v1:0",
    "claude opus 4.6": "anthropic.claude-opus-4-6-v1",
    "claude opus 4.8": "anthropic.claude-opus-4-8",
    "nova micro": "amazon.nova-micro-v1:0",
    "nova lite": "amazon.nova-lite-v1:0",
    "nova pro": "amazon.nova-pro-v1:0",
    "titan text g1 express": "amazon.titan-text-express-v1",
    "titan text g1 lite": "amazon.titan-text-lite-v1",
    "titan text g1 premier": "amazon.titan-text-premier-v1:0",
    "titan text embeddings v2": "amazon.titan-embed-text-v2:0",
    "llama 3 8b instruct": "meta.llama3-8b-instruct-v1:0",
    "llama 3 70b instruct": "meta.llama3-70b-instruct-v1:0",
    "llama 3.1 8b instruct": "meta.llama3-1-8b-instruct-v1:0",
    "llama 3.1 70b instruct": "meta.llama3-1-70b-instruct-v1:0",
    "llama 3.3 70b instruct": "meta.llama3-3-70b-instruct-v1:0",
    "llama 4 maverick 17b instruct": "meta.llama4-maverick-17b-instruct-v1:0",
    "llama 4 scout 17b instruct": "meta.llama4-scout-17b-instruct-v1:0",
    "mistral 7b instruct": "mistral.mistral-7b-instruct-v0:2",
    "mistral large 24.02": "mistral.mistral-large-2402-v1:0",
    "mistral large 3": "mistral.mistral-large-3-675b-instruct",
}
# Models priced for input alone (embeddings): their output price is 0.
INPUT_ONLY = frozenset({"amazon.titan-embed-text-v2:0"})

_MARKETPLACE_SUFFIX = re.compile(r"\s*\(amazon bedrock edition\)\s*$", re.IGNORECASE)
# usagetype words of products that are not the standard per-token price of a model:
# prompt caching, other service tiers, provisioned or reserved capacity, customisation,
# long-context and cross-geography variants, and the separate bedrock-mantle endpoint.
_NOT_STANDARD = re.compile(
    r"cache|flex|priority|latency|provisioned|reserved|custom|lctx|long.?context|crossgeo|"
    r"cross.?region|mantle",
    re.IGNORECASE,
)
_INFERENCE_TYPES = {
    "input tokens": INPUT,
    "text input tokens": INPUT,
    "output tokens": OUTPUT,
    "text output tokens": OUTPUT,
}
_FEATURES = {"on-demand inference": ON_DEMAND, "batch inference": BATCH}


@dataclass(frozen=True)
class PriceRow:
    """One product, read: a model's price per 1,000 tokens of one direction in one mode."""

    model_id: str
    mode: str
    direction: str
    per_1k: float


def normalise_name(name: str) -> str:
    """A Price List model name compared: lower case, "(Amazon Bedrock Edition)" dropped,
    every run of other characters than letters, digits and dots one space."""
    name = _MARKETPLACE_SUFFIX.sub("", name.strip())
    return re.sub(r"[^a-z0-9.]+", " ", name.lower()).strip()


def product_name(product: dict[str, Any]) -> str:
    attributes = _attributes(product)
    for key in ("model", "titanModel", "servicename"):
        value = attributes.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return ""


def price_row(product: dict[str, Any], region: str) -> PriceRow | None:
    """The product as a PriceRow, or None when it is not the standard per-token price of a
    mapped model in `region` (or its price cannot be read for certain)."""
    attributes = _attributes(product)
    usage_type = str(attributes.get("usagetype", ""))
    if attributes.get("regionCode") != region or _NOT_STANDARD.search(usage_type):
        return None
    if attributes.get("service_tier", "standard") != "standard":
        return None
    model_id = PRICE_LIST_NAMES.get(normalise_name(product_name(product)))
    mode, direction = _mode(attributes, usage_type), _direction(attributes, usage_type)
    per_1k = _per_1k(product)
    if model_id is None or mode is None or direction is None or per_1k is None:
        return None
    if "global" in usage_type.lower():
        model_id = GLOBAL_PROFILE + model_id
    return PriceRow(model_id, mode, direction, per_1k)


def refreshed_document(
    products: Iterable[dict[str, Any]], region: str, checked: str
) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """A price table document of every model the products price completely and without
    disagreement (None when there is none), and a report of what was left out."""
    figures: dict[tuple[str, str, str], set[float]] = defaultdict(set)
    unmapped: set[str] = set()
    for product in products:
        row = price_row(product, region)
        if row is not None:
            figures[(row.model_id, row.mode, row.direction)].add(row.per_1k)
        elif _attributes(product).get("regionCode") == region and product_name(product):
            name = normalise_name(product_name(product))
            if name not in PRICE_LIST_NAMES:
                unmapped.add(name)
    conflicting = sorted({model for (model, _, _), prices in figures.items() if len(prices) > 1})
    models: dict[str, Any] = {}
    incomplete: list[str] = []
    for model_id in sorted({model for model, _, _ in figures} - set(conflicting)):
        entry = {}
        for mode in (BATCH, ON_DEMAND):
            input_price = _only(figures.get((model_id, mode, INPUT)))
            output_price = _only(figures.get((model_id, mode, OUTPUT)))
            if output_price is None and model_id.removeprefix(GLOBAL_PROFILE) in INPUT_ONLY:
                output_price = 0.0
            if input_price is not None and output_price is not None and input_price + output_price:
                entry[mode] = {"input_per_1k": input_price, "output_per_1k": output_price}
        if entry:
            models[model_id] = {**entry, "checked": checked}
        else:
            incomplete.append(model_id)
    report = {
        "conflicting": conflicting,
        "incomplete": incomplete,
        "unmapped": sorted(unmapped)[:50],
    }
    if not models:
        return None, report
    document = {"checked": checked, "currency": CURRENCY, "region": region, "models": models}
    return document, report


@dataclass
class PriceRefresh:
    settings: BedrockPriceRefreshSettings
    price_list: PriceList
    s3: S3
    clock: Callable[[], datetime] = utcnow

    @classmethod
    def from_env(cls, client: aws.ClientSource = aws.client) -> PriceRefresh:
        settings = BedrockPriceRefreshSettings.from_env()
        return cls(settings, PriceList.from_source(client), S3(client("s3")))

    def run(self) -> dict[str, Any]:
        """Read both offers for the stack's region and write what they price. The Price
        List failing fails the run (retried, alarmed); the last copy stays either way."""
        region = self.settings.aws_region
        products = (
            product
            for offer in OFFERS
            for product in self.price_list.products(offer, regionCode=region)
        )
        document, report = refreshed_document(products, region, self.clock().date().isoformat())
        summary: dict[str, Any] = {"region": region, "models": 0, **report}
        if document is None:
            logger.warning(
                "the price list priced no model Dropzone knows; the last refreshed copy stays",
                extra=summary,
            )
        else:
            table = PriceTable.from_json(json.dumps(document), REFRESHED_SOURCE)
            summary["models"] = len(table)
            summary["location"] = self.s3.put_bytes(
                self.settings.results_bucket,
                REFRESHED_PRICES_KEY,
                table.to_json().encode(),
                content_type="application/json",
            )
            logger.info("bedrock prices refreshed", extra=summary)
        metrics.add_metric(name="BedrockPriceRefreshModels", unit="Count", value=summary["models"])
        return summary


def _attributes(product: dict[str, Any]) -> dict[str, Any]:
    attributes = (product.get("product") or {}).get("attributes")
    return attributes if isinstance(attributes, dict) else {}


def _mode(attributes: dict[str, Any], usage_type: str) -> str | None:
    feature = attributes.get("feature")
    if isinstance(feature, str):
        return _FEATURES.get(feature.strip().lower())
    return BATCH if "batch" in usage_type.lower() else ON_DEMAND


def _direction(attributes: dict[str, Any], usage_type: str) -> str | None:
    inference_type = attributes.get("inferenceType")
    if isinstance(inference_type, str):
        return _INFERENCE_TYPES.get(inference_type.strip().lower())
    lowered = usage_type.lower()
    if re.search(r"inputtokencount|input[_-]tokens", lowered):
        return INPUT
    if re.search(r"outputtokencount|output[_-]tokens", lowered):
        return OUTPUT
    return None


def _per_1k(product: dict[str, Any]) -> float | None:
    """The product's one US dollar price, per 1,000 tokens; None when it has no single
    price or its unit is not one of tokens by the thousand or the million."""
    found: set[float] = set()
    terms = (product.get("terms") or {}).get("OnDemand") or {}
    for term in terms.values() if isinstance(terms, dict) else ():
        for dimension in (term.get("priceDimensions") or {}).values():
            per_1k = _dimension_per_1k(dimension)
            if per_1k is None:
                return None
            found.add(per_1k)
    return found.pop() if len(found) == 1 else None


def _dimension_per_1k(dimension: dict[str, Any]) -> float | None:
    try:
        usd = float((dimension.get("pricePerUnit") or {})["USD"])
    except (KeyError, TypeError, ValueError):
        return None
    if not math.isfinite(usd) or usd < 0:
        return None
    unit = str(dimension.get("unit", "")).lower()
    words = f"{unit} {dimension.get('description', '')}".lower()
    if unit == "1k tokens" or (unit == "units" and "thousand" in words):
        return usd
    if unit == "1m tokens" or (unit == "units" and "million" in words):
        return round(usd / 1000, 12)
    return None


def _only(prices: set[float] | None) -> float | None:
    return next(iter(prices)) if prices and len(prices) == 1 else None
