"""AWS Price List products for Bedrock, as GetProducts returns them (JSON strings), with the
attributes, usage types, units and descriptions the two Bedrock offers use."""

from __future__ import annotations

import json
from typing import Any

OFFER_TERM = "JRTCKXETXF"  # the Price List's code for on-demand terms
RATE = "6YS6EN2CT7"


def product(
    sku: str,
    attributes: dict[str, str],
    usd: str,
    *,
    unit: str = "1K tokens",
    description: str = "",
    service_code: str = "AmazonBedrock",
) -> str:
    """One PriceList entry: a product and its one on-demand price dimension."""
    document: dict[str, Any] = {
        "product": {
            "productFamily": "Amazon Bedrock" if service_code == "AmazonBedrock" else "",
            "attributes": {"servicecode": service_code, **attributes},
            "sku": sku,
        },
        "serviceCode": service_code,
        "terms": {
            "OnDemand": {
                f"{sku}.{OFFER_TERM}": {
                    "priceDimensions": {
                        f"{sku}.{OFFER_TERM}.{RATE}": {
                            "unit": unit,
                            "endRange": "Inf",
                            "description": description or f"{usd} USD per {unit}",
                            "appliesTo": [],
                            "rateCode": f"{sku}.{OFFER_TERM}.{RATE}",
                            "beginRange": "0",
                            "pricePerUnit": {"USD": usd},
                        }
                    },
                    "sku": sku,
                    "effectiveDate": "2026-11-01T00:00:00Z",
                    "offerTermCode": OFFER_TERM,
                    "termAttributes": {},
                }
            }
        },
        "version": "20261101000000",
        "publicationDate": "2026-11-01T00:00:00Z",
    }
    return json.dumps(document)


def bedrock(
    sku: str,
    model: str,
    inference_type: str,
    usage_type: str,
    usd: str,
    *,
    feature: str = "On-demand Inference",
    region: str = "us-east-1",
    **extra: str,
) -> str:
    """A product of the AmazonBedrock offer: Amazon's and the open-weight models."""
    attributes = {
        "regionCode": region,
        "location": "US East (N. Virginia)" if region == "us-east-1" else region,
        "model": model,
        "inferenceType": inference_type,
        "usagetype": usage_type,
        "feature": feature,
        "operation": "Usage",
        **extra,
    }
    return product(sku, attributes, usd)


def marketplace(sku: str, servicename: str, usage_type: str, usd: str, words: str) -> str:
    """A product of the AmazonBedrockFoundationModels offer (AWS Marketplace): priced in
    "Units" of a million tokens, named only by its servicename."""
    attributes = {
        "regionCode": "us-east-1",
        "location": "US East (N. Virginia)",
        "locationType": "AWS Region",
        "servicename": servicename,
        "usagetype": usage_type,
        "operation": "Usage",
    }
    description = f"AWS Marketplace software usage|us-east-1|{words}"
    return product(
        sku,
        attributes,
        usd,
        unit="Units",
        description=description,
        service_code="AmazonBedrockFoundationModels",
    )


SONNET_46 = "Claude Sonnet 4.6 (Amazon Bedrock Edition)"
HAIKU_45 = "Claude Haiku 4.5 (Amazon Bedrock Edition)"

# us-east-1, AmazonBedrock: Nova Pro in both modes with its look-alikes (cache, flex), an
# input row of Claude 3 Haiku without its output row, a model Dropzone cannot map, and a
# product of another region.
AMAZON_BEDROCK = [
    bedrock("NP1", "Nova Pro", "Input tokens", "USE1-NovaPro-input-tokens", "0.0008000000"),
    bedrock("NP2", "Nova Pro", "Output tokens", "USE1-NovaPro-output-tokens", "0.0032000000"),
    bedrock(
        "NP3",
        "Nova Pro",
        "Input tokens",
        "USE1-NovaPro-input-tokens-batch",
        "0.0004000000",
        feature="Batch Inference",
    ),
    bedrock(
        "NP4",
        "Nova Pro",
        "Output tokens",
        "USE1-NovaPro-output-tokens-batch",
        "0.0016000000",
        feature="Batch Inference",
    ),
    bedrock(
        "NP5",
        "Nova Pro",
        "Prompt cache read input tokens",
        "USE1-NovaPro-cache-read-input-token-count",
        "0.0002000000",
    ),
    bedrock(
        "NP6",
        "Nova Pro",
        "Input tokens flex",
        "USE1-NovaPro-input-tokens-flex",
        "0.0004000000",
        service_tier="flex",
    ),
    bedrock("CH1", "Claude 3 Haiku", "Input tokens", "USE1-Claude3Haiku-input-tokens", "0.00025"),
    bedrock("GL1", "GLM 5", "Input tokens", "USE1-zai.glm5-input-tokens", "0.0010000000"),
    bedrock("GL2", "GLM 5", "Output tokens", "USE1-zai.glm5-output-tokens", "0.0032000000"),
    bedrock(
        "NT1",
        "Nova Pro",
        "Input tokens",
        "APN1-NovaPro-input-tokens",
        "0.0009600000",
        region="ap-northeast-1",
    ),
]

# us-east-1, AmazonBedrockFoundationModels: Claude Sonnet 4.6 regional and global, with its
# cache and long-context look-alikes, and Claude Haiku 4.5 whose two input SKUs disagree.
MARKETPLACE = [
    marketplace(
        "S1",
        SONNET_46,
        "USE1-MP:USE1_InputTokenCount-Units",
        "3.3000000000",
        "Million Input Tokens Regional CRIS",
    ),
    marketplace(
        "S2",
        SONNET_46,
        "USE1-MP:USE1_OutputTokenCount-Units",
        "16.5000000000",
        "Million Output Tokens Regional CRIS",
    ),
    marketplace(
        "S3",
        SONNET_46,
        "USE1-MP:USE1_InputTokenCount_Global-Units",
        "3.0000000000",
        "Million Input Tokens Global",
    ),
    marketplace(
        "S4",
        SONNET_46,
        "USE1-MP:USE1_OutputTokenCount_Global-Units",
        "15.0000000000",
        "Million Output Tokens Global",
    ),
    marketplace(
        "S5",
        SONNET_46,
        "USE1-MP:USE1_CacheReadInputTokenCount-Units",
        "0.3300000000",
        "Million Cache Read Input Tokens Regional",
    ),
    marketplace(
        "S6",
        SONNET_46,
        "USE1-MP:USE1_InputTokenCount_LongContext-Units",
        "6.6000000000",
        "Million Input Tokens Long Context Regional",
    ),
    marketplace(
        "H1",
        HAIKU_45,
        "USE1-MP:USE1_InputTokenCount-Units",
        "1.1000000000",
        "Million Input Tokens Regional CRIS",
    ),
    marketplace(
        "H2",
        HAIKU_45,
        "USE1_input_tokens_standard-Units",
        "1.2000000000",
        "Million Input Tokens Regional",
    ),
    marketplace(
        "H3",
        HAIKU_45,
        "USE1-MP:USE1_OutputTokenCount-Units",
        "5.5000000000",
        "Million Output Tokens Regional CRIS",
    ),
]


def decoded(entries: list[str]) -> list[dict[str, Any]]:
    return [json.loads(entry) for entry in entries]
