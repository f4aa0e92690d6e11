"""Where the Bedrock functions get their prices: the shipped table, the copy the scheduled
refresh keeps in the results bucket (read only while BedrockPriceRefresh is Enabled), and
the operator's override (BedrockPriceTable: an object beside that copy, or a Parameter
Store parameter under /dropzone/<stack>/). Per model, the override wins, then the
refreshed copy, then the shipped table.

A table is loaded at most once per CACHE_TTL in a container. A source that is named but
cannot be read, or holds an invalid table, raises ConfigurationError with the reason: the
step that needed a price fails and is retried, and never runs on other prices.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from dropzone import aws
from dropzone.adapters.s3 import S3, ObjectMissing
from dropzone.adapters.ssm import ParameterMissing, ParameterStore
from dropzone.clock import utcnow
from dropzone.errors import ConfigurationError
from dropzone.observability import logger
from dropzone.settings.bedrock_prices import REFRESHED_PRICES_KEY
from dropzone.workflows.bedrock.prices import InvalidPriceTable, PriceTable

if TYPE_CHECKING:  # the batch functions' settings: the price refresh does not build them
    from dropzone.settings.bedrock import BedrockSettings

CACHE_TTL = timedelta(minutes=5)
MAX_TABLE_BYTES = 1_048_576
REFRESHED_SOURCE = "pricing:GetProducts"


@dataclass
class PriceSources:
    """The sources one function's settings name, and the table they last made."""

    settings: BedrockSettings
    client: aws.ClientSource = aws.client
    clock: Callable[[], datetime] = utcnow
    ttl: timedelta = CACHE_TTL
    _table: PriceTable | None = field(default=None, init=False, repr=False)
    _loaded_at: datetime | None = field(default=None, init=False, repr=False)

    def table(self) -> PriceTable:
        """The prices, read again once the last reading is `ttl` old. A failed reading
        leaves nothing behind: the next call reads again."""
        now = self.clock()
        if self._table is None or self._loaded_at is None or now - self._loaded_at >= self.ttl:
            self._table, self._loaded_at = self.load(), now
        return self._table

    def load(self) -> PriceTable:
        """Override over refreshed copy over shipped table, read now."""
        table = PriceTable.shipped()
        refreshed = self._refreshed()
        if refreshed is not None:
            table = refreshed.over(table)
        override = self._override()
        if override is not None:
            table = override.over(table)
        return table

    def _refreshed(self) -> PriceTable | None:
        if self.settings.price_refresh != "Enabled":
            return None
        bucket, key = self.settings.results_bucket, REFRESHED_PRICES_KEY
        where = f"the refreshed price table s3://{bucket}/{key}"
        s3 = S3(self.client("s3"))
        try:
            # Listed first: GetObject of a key not written yet answers 403, not 404, to a
            # role without s3:ListBucket on the whole bucket.
            if key not in set(s3.list_keys(bucket, key)):
                logger.info("no refreshed price table yet", extra={"key": key})
                return None
            text = s3.read_text(f"s3://{bucket}/{key}", max_bytes=MAX_TABLE_BYTES + 1)
        except (ClientError, BotoCoreError) as error:
            raise _unreadable(where, error) from error
        return _table(where, text, REFRESHED_SOURCE)

    def _override(self) -> PriceTable | None:
        location = self.settings.price_table
        if not location:
            return None
        where = f"the price table override {location} (BedrockPriceTable)"
        try:
            if location.startswith("s3://"):
                text = S3(self.client("s3")).read_text(location, max_bytes=MAX_TABLE_BYTES + 1)
            else:
                text, kind = ParameterStore(self.client("ssm")).get(location.removeprefix("ssm:"))
                if kind != "String":
                    raise _failed(where, f"it is a {kind} parameter, not a String parameter")
        except (ObjectMissing, ParameterMissing) as error:
            raise _failed(where, "it does not exist") from error
        except (ClientError, BotoCoreError) as error:
            raise _unreadable(where, error) from error
        return _table(where, text, location)


def _table(where: str, text: str, source: str) -> PriceTable:
    if len(text.encode()) > MAX_TABLE_BYTES:
        raise _failed(where, f"it is larger than {MAX_TABLE_BYTES} bytes")
    try:
        return PriceTable.from_json(text, source)
    except InvalidPriceTable as error:
        raise _failed(where, str(error).removeprefix(f"{source}: ")) from error


def _unreadable(where: str, error: Exception) -> ConfigurationError:
    code = aws.error_code(error) or type(error).__name__
    if code == "InvalidRange":
        return _failed(where, "it is empty")
    hint = (
        ": it may not exist, or lie outside what the stack may read (bedrock-batch/prices/ in "
        "the results bucket, or parameters under /dropzone/<stack name>/)"
        if code in {"AccessDenied", "AccessDeniedException", "403"}
        else ""
    )
    return _failed(where, f"reading it failed ({code}){hint}")


def _failed(where: str, reason: str) -> ConfigurationError:
    logger.error("the price table cannot be used", extra={"table": where, "reason": reason[:500]})
    return ConfigurationError(f"{where} cannot be used: {reason}")


@lru_cache(maxsize=16)
def price_sources(settings: BedrockSettings, client: aws.ClientSource = aws.client) -> PriceSources:
    """The container's price sources for these settings and client source."""
    return PriceSources(settings, client)


def load_prices(settings: BedrockSettings, client: aws.ClientSource = aws.client) -> PriceTable:
    """The prices the stack uses now: the override's, the refreshed copy's and the shipped
    table's, per model in that order; cached for CACHE_TTL per container. Raises
    ConfigurationError (with the reason) when a source that is named cannot be used."""
    return price_sources(settings, client).table()


def forget_loaded_prices() -> None:
    """Drop every cached table, e.g. after switching AWS endpoints or accounts."""
    price_sources.cache_clear()
