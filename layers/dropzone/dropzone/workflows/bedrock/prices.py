"""What Bedrock charges for a thousand tokens, per model and mode (pure).

A price table is a JSON document (docs/workflows/bedrock-cost.md#the-price-table):

    {"checked": "2026-12-06", "currency": "USD",
     "models": {"anthropic.claude-3-haiku-20240307-v1:0": {
         "batch": {"input_per_1k": 0.000125, "output_per_1k": 0.000625},
         "on_demand": {"input_per_1k": 0.00025, "output_per_1k": 0.00125},
         "checked": "2026-12-06"}}}

Each model gives its batch prices, its on-demand prices, or both; a missing mode follows
from the other, on-demand prices being twice the batch prices. Documents are checked
strictly, and every problem is named with its model and field. Where tables come from
(the shipped defaults, the refreshed copy, the operator's override) is
dropzone.workflows.bedrock.price_sources.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Any

from dropzone.workflows.bedrock.model_inputs import base_model_id, json_type

BATCH = "batch"
ON_DEMAND = "on_demand"
MODES = (BATCH, ON_DEMAND)
CURRENCY = "USD"
SHIPPED = "shipped"
# On-demand prices are twice the batch prices: the mode a document leaves out follows.
ON_DEMAND_PER_BATCH = 2
MAX_MODEL_ID_LENGTH = 2048
MAX_PROBLEMS_SHOWN = 10

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# A context-window variant of a model: anthropic.claude-3-haiku-20240307-v1:0:200k
_CONTEXT_VARIANT = re.compile(r"^(?P<base>.+:\d+):[a-z0-9]+$")
_TOP_KEYS = {"checked", "currency", "models", "region", "comment"}
_MODEL_KEYS = {BATCH, ON_DEMAND, "checked"}
_PRICE_KEYS = ("input_per_1k", "output_per_1k")


class InvalidPriceTable(ValueError):
    """A price table document that cannot be used; the message names each wrong model and
    field, and why."""


@dataclass(frozen=True)
class TokenPrices:
    """US dollars per 1,000 input tokens and per 1,000 output tokens."""

    input_per_1k: float
    output_per_1k: float

    def __post_init__(self) -> None:
        for name in _PRICE_KEYS:
            value = getattr(self, name)
            if not _is_price(value):
                raise ValueError(f"{name} must be a finite number ≥ 0, got {value!r}")

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        """What these tokens cost, in US dollars."""
        if input_tokens < 0 or output_tokens < 0:
            raise ValueError("token counts cannot be negative")
        return (input_tokens * self.input_per_1k + output_tokens * self.output_per_1k) / 1000

    def scaled(self, factor: float) -> TokenPrices:
        return TokenPrices(self.input_per_1k * factor, self.output_per_1k * factor)

    def as_dict(self) -> dict[str, float]:
        return {"input_per_1k": self.input_per_1k, "output_per_1k": self.output_per_1k}


@dataclass(frozen=True)
class ModelPrice:
    """One model's prices: `checked` is the day they were checked (YYYY-MM-DD), `source`
    where they were read ("shipped", "s3://bucket/key", "ssm:/name", "pricing:GetProducts")."""

    model_id: str
    batch: TokenPrices
    on_demand: TokenPrices
    checked: str
    source: str

    def for_mode(self, mode: str) -> TokenPrices:
        """The prices of a mode: "batch" or "on_demand"."""
        if mode == BATCH:
            return self.batch
        if mode == ON_DEMAND:
            return self.on_demand
        raise ValueError(f"unknown mode {mode!r}; expected one of {MODES}")


class PriceTable:
    """Model prices by model id (lower case). Immutable: `over` builds a new table."""

    def __init__(self, prices: Iterable[ModelPrice] = ()) -> None:
        self._prices: dict[str, ModelPrice] = {price.model_id.lower(): price for price in prices}

    @property
    def models(self) -> Mapping[str, ModelPrice]:
        """Every price, by lower-case model id (read-only)."""
        return MappingProxyType(self._prices)

    def price(self, model_id: str) -> ModelPrice | None:
        """The price of the model a job names, or None. Tried in turn: the id as given (a
        table may price an application inference profile by its ARN, or a cross-region
        profile such as `global.…` on its own), the id inside an ARN, the foundation model
        behind a cross-region inference profile (`us.`, `eu.`, `global.`, …), and that
        model without a context-window suffix (`…-v1:0:200k` → `…-v1:0`)."""
        for candidate in lookup_ids(model_id):
            price = self._prices.get(candidate)
            if price is not None:
                return price
        return None

    def over(self, base: PriceTable) -> PriceTable:
        """This table's prices, and `base`'s for the models this table does not price."""
        return PriceTable([*base._prices.values(), *self._prices.values()])

    @classmethod
    def shipped(cls) -> PriceTable:
        """The list prices Dropzone ships (prices.json beside this module), dated."""
        return _shipped()

    @classmethod
    def from_json(cls, document: bytes | str, source: str) -> PriceTable:
        """Read a price table document; InvalidPriceTable names every problem in it."""
        return cls(_parse(document, source))

    def to_json(self) -> str:
        """The table as a document `from_json` reads back: both modes of every model, each
        with its date, and the newest of them as the document's date."""
        if not self._prices:
            raise ValueError("an empty price table has no document")
        models = {
            price.model_id: {
                BATCH: price.batch.as_dict(),
                ON_DEMAND: price.on_demand.as_dict(),
                "checked": price.checked,
            }
            for price in sorted(self._prices.values(), key=lambda price: price.model_id)
        }
        checked = max(price.checked for price in self._prices.values())
        document = {"checked": checked, "currency": CURRENCY, "models": models}
        return json.dumps(document, indent=2) + "\n"

    def __len__(self) -> int:
        return len(self._prices)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PriceTable) and other._prices == self._prices

    def __hash__(self) -> int:
        return hash(tuple(sorted(self._prices.items(), key=lambda item: item[0])))

    def __repr__(self) -> str:
        return f"PriceTable({len(self._prices)} models)"


def lookup_ids(model_id: str) -> list[str]:
    """The ids `PriceTable.price` tries for a model id, most specific first."""
    exact = model_id.strip().lower()
    candidates = [exact]
    if exact.startswith("arn:"):
        candidates.append(exact.rpartition("/")[2])
    base = base_model_id(model_id)
    candidates.append(base)
    variant = _CONTEXT_VARIANT.match(base)
    if variant:
        candidates.append(variant.group("base"))
    return list(dict.fromkeys(candidate for candidate in candidates if candidate))


@cache
def _shipped() -> PriceTable:
    document = resources.files(__package__ or "").joinpath("prices.json").read_bytes()
    return PriceTable.from_json(document, SHIPPED)


# ------------------------------------------------------------------------------ reading


def _is_price(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value >= 0
    )


def _date_problem(value: Any) -> str | None:
    if not isinstance(value, str) or not _DATE.match(value):
        return f"must be a date written YYYY-MM-DD, got {json_type(value)}"
    try:
        date.fromisoformat(value)
    except ValueError:
        return f"must be a real date, got {value!r}"
    return None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def _parse(document: bytes | str, source: str) -> list[ModelPrice]:
    try:
        text = document.decode("utf-8") if isinstance(document, bytes) else document
        top = json.loads(text, parse_constant=_reject_constant)
    except UnicodeDecodeError as error:
        raise InvalidPriceTable(f"{source}: not UTF-8 text ({error.reason})") from error
    except json.JSONDecodeError as error:
        raise InvalidPriceTable(
            f"{source}: not valid JSON: {error.msg} at line {error.lineno} column {error.colno}"
        ) from error
    except (ValueError, RecursionError) as error:
        raise InvalidPriceTable(f"{source}: not valid JSON: {error}") from error
    if not isinstance(top, dict):
        raise InvalidPriceTable(f"{source}: must be a JSON object, got {json_type(top)}")
    problems = _top_problems(top)
    prices: list[ModelPrice] = []
    models = top.get("models")
    if isinstance(models, dict):
        seen: dict[str, str] = {}
        for model_id, entry in models.items():
            key = model_id.strip().lower()
            if key in seen:
                problems.append(f"models.{model_id}: names the same model as {seen[key]}")
                continue
            seen[key] = model_id
            price = _model_price(model_id, entry, top.get("checked"), source, problems)
            if price is not None:
                prices.append(price)
    if problems:
        shown = "; ".join(problems[:MAX_PROBLEMS_SHOWN])
        more = len(problems) - MAX_PROBLEMS_SHOWN
        raise InvalidPriceTable(f"{source}: {shown}" + (f" (and {more} more)" if more > 0 else ""))
    return prices


def _top_problems(top: dict[str, Any]) -> list[str]:
    problems = [
        f"{key}: unknown field; a price table has {', '.join(sorted(_TOP_KEYS))}"
        for key in sorted(set(top) - _TOP_KEYS)
    ]
    if top.get("currency") != CURRENCY:
        problems.append(
            f"currency: must be {CURRENCY!r}, got "
            + (repr(top["currency"]) if isinstance(top.get("currency"), str) else "none")
        )
    problem = _date_problem(top.get("checked"))
    if problem:
        problems.append(f"checked: {problem}; it is the day the prices were checked")
    for key in ("region", "comment"):
        if key in top and not isinstance(top[key], str):
            problems.append(f"{key}: must be a string, got {json_type(top[key])}")
    models = top.get("models")
    if not isinstance(models, dict):
        problems.append(f"models: must be an object of model ids, got {json_type(models)}")
    elif not models:
        problems.append("models: names no model")
    return problems


def _model_price(
    model_id: str, entry: Any, default_checked: Any, source: str, problems: list[str]
) -> ModelPrice | None:
    where = f"models.{model_id}"
    if not model_id.strip() or len(model_id) > MAX_MODEL_ID_LENGTH or model_id != model_id.strip():
        problems.append(
            f"{where}: a model id must be 1 to {MAX_MODEL_ID_LENGTH} characters, unpadded"
        )
        return None
    if not isinstance(entry, dict):
        problems.append(
            f"{where}: must be an object with batch and/or on_demand, got {json_type(entry)}"
        )
        return None
    before = len(problems)
    problems.extend(
        f"{where}.{key}: unknown field; a model has batch, on_demand and checked"
        for key in sorted(set(entry) - _MODEL_KEYS)
    )
    checked = entry.get("checked", default_checked)
    if "checked" in entry:
        problem = _date_problem(checked)
        if problem:
            problems.append(f"{where}.checked: {problem}")
    modes = {
        mode: _token_prices(f"{where}.{mode}", entry[mode], problems)
        for mode in MODES
        if mode in entry
    }
    if not modes:
        problems.append(
            f"{where}: gives neither batch nor on_demand prices; give one (the other is "
            f"derived: on-demand prices are twice the batch prices) or both"
        )
    if len(problems) > before or any(prices is None for prices in modes.values()):
        return None
    batch, on_demand = modes.get(BATCH), modes.get(ON_DEMAND)
    if batch is None and on_demand is not None:
        batch = on_demand.scaled(1 / ON_DEMAND_PER_BATCH)
    if on_demand is None and batch is not None:
        on_demand = batch.scaled(ON_DEMAND_PER_BATCH)
    assert batch is not None and on_demand is not None
    return ModelPrice(model_id, batch, on_demand, str(checked), source)


def _token_prices(where: str, value: Any, problems: list[str]) -> TokenPrices | None:
    if not isinstance(value, dict):
        problems.append(
            f"{where}: must be an object with input_per_1k and output_per_1k, "
            f"got {json_type(value)}"
        )
        return None
    found = len(problems)
    problems.extend(
        f"{where}.{key}: unknown field; prices are input_per_1k and output_per_1k (US dollars "
        "per 1,000 tokens)"
        for key in sorted(set(value) - set(_PRICE_KEYS))
    )
    for key in _PRICE_KEYS:
        if key not in value:
            problems.append(f"{where}.{key}: missing; US dollars per 1,000 tokens")
        elif not isinstance(value[key], int | float) or isinstance(value[key], bool):
            problems.append(f"{where}.{key}: must be a number, got {json_type(value[key])}")
        elif not math.isfinite(value[key]) or value[key] < 0:
            problems.append(f"{where}.{key}: must be a finite number ≥ 0, got {value[key]!r}")
    if len(problems) > found:
        return None
    if value["input_per_1k"] == 0 and value["output_per_1k"] == 0:
        problems.append(f"{where}: both prices are 0; no model is free, leave it out instead")
        return None
    return TokenPrices(float(value["input_per_1k"]), float(value["output_per_1k"]))
