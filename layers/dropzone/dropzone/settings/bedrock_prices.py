"""Where Bedrock prices may be read from, and the scheduled price refresh's settings."""

from __future__ import annotations

from pydantic import Field

from dropzone.settings import EnvModel

# BedrockPriceTable: empty, an object under the results bucket's bedrock-batch/prices/, or a
# parameter under /dropzone/<root stack name>/ (the only places the functions may read).
PRICE_TABLE_PATTERN = (
    r"^(|s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/bedrock-batch/prices/[A-Za-z0-9!_.*'()/-]{1,900}"
    r"|ssm:/dropzone/[A-Za-z0-9-]{1,128}/[A-Za-z0-9_./-]{1,1000})$"
)
PRICES_PREFIX = "bedrock-batch/prices/"
REFRESHED_PRICES_KEY = f"{PRICES_PREFIX}price-list.json"


class BedrockPriceRefreshSettings(EnvModel):
    """The scheduled Bedrock price refresh (BedrockPricesFunction)."""

    results_bucket: str = Field(min_length=3)
    # Set by Lambda: the region whose prices are read from the Price List.
    aws_region: str = Field(min_length=1)
