"""What a Bedrock batch upload is estimated to cost before anything runs, and what its jobs
cost once they end.

The estimate counts each record's input tokens and the most output tokens it may produce
(`tokens` gives the method per model family), optionally calibrated by CountTokens on a
sample (`calibration`), and prices them from the price table (`prices`):

- the low end is the input alone, at the low end of the estimate's expected error;
- the high end is the input at the high end of that error, plus every record's maximum
  output. Budgets and caps are held against the high end.

A model without a price is never free: its estimate says the price is unknown and has no
amounts, and the stack decides whether such uploads run at all (`BedrockUnknownPrice`).
The actual cost comes from the token counts Bedrock reports for each job (its manifest, or
each on-demand answer's usage) and the same table.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dropzone.models.jobs import Job
from dropzone.workflows.bedrock.jsonl import input_lines
from dropzone.workflows.bedrock.plan import BatchPlan
from dropzone.workflows.bedrock.rounds import ON_DEMAND
from dropzone.workflows.bedrock.token_rules import RecordTokens
from dropzone.workflows.bedrock.tokens import record_tokens

if TYPE_CHECKING:
    from dropzone.workflows.bedrock.calibration import Calibration
    from dropzone.workflows.bedrock.prices import ModelPrice

BATCH = "batch"
# The expected relative error of an input-token estimate by characters per token (see the
# cost docs), and of one calibrated by exact counts of a sample.
INPUT_ERROR = 0.25
CALIBRATED_INPUT_ERROR = 0.10
KNOWN, UNKNOWN = "known", "unknown"


@dataclass
class TokenTally:
    """The estimated tokens of some records: a part's, or an upload's."""

    records: int = 0
    input_tokens: int = 0
    max_output_tokens: int = 0

    def add(self, tokens: RecordTokens) -> None:
        self.records += 1
        self.input_tokens += tokens.input_tokens
        self.max_output_tokens += tokens.max_output_tokens

    @classmethod
    def total(cls, tallies: Iterable[TokenTally]) -> TokenTally:
        total = cls()
        for tally in tallies:
            total.records += tally.records
            total.input_tokens += tally.input_tokens
            total.max_output_tokens += tally.max_output_tokens
        return total


@dataclass
class UploadTally:
    """The estimated tokens of each planned part, and the records sampled for calibration:
    (modelInput, estimated input tokens) of each record at the positions asked for."""

    parts: list[TokenTally]
    samples: list[tuple[dict[str, Any], int]] = field(default_factory=list)

    @property
    def total(self) -> TokenTally:
        return TokenTally.total(self.parts)


def tally_upload(
    chunks: Iterable[bytes],
    plan: BatchPlan,
    *,
    model_id: str,
    invocation_type: str,
    sample_positions: Sequence[int] = (),
) -> UploadTally:
    """Estimate the tokens of every planned record, part by part, in one streaming pass
    over a validated input (memory holds one line). `sample_positions` are 0-based record
    positions whose modelInput is kept for calibration."""
    parts = [TokenTally() for _ in plan.parts]
    wanted = set(sample_positions)
    samples: list[tuple[dict[str, Any], int]] = []
    if not plan.parts:
        return UploadTally(parts)
    last_lines = [part.last_line for part in plan.parts]
    longest = max(part.bytes for part in plan.parts)
    index = 0
    records = _records(chunks, longest, last_lines[-1])
    for position, (number, content) in enumerate(records):
        while number > last_lines[index]:
            index += 1
        model_input = json.loads(content)["modelInput"]
        tokens = record_tokens(model_input, model_id, invocation_type)
        parts[index].add(tokens)
        if position in wanted:
            samples.append((model_input, tokens.input_tokens))
    return UploadTally(parts, samples)


def _records(chunks: Iterable[bytes], max_size: int, last_line: int) -> Iterator[tuple[int, bytes]]:
    for number, content, _size in input_lines(chunks, max_size):
        if number > last_line:
            return
        if content is None or not content.strip():
            continue  # validation let only trailing blank lines through
        yield number, content


def estimate(
    tally: TokenTally,
    price: ModelPrice | None,
    mode: str,
    calibration: Calibration | None = None,
) -> dict[str, Any]:
    """A job's or an upload's estimate, as the ledger records it (Job.estimate): with no
    `low_usd`, `high_usd` or `prices_checked` when the price is unknown."""
    ratio = calibration.ratio if calibration is not None else None
    input_tokens = math.ceil(tally.input_tokens * ratio) if ratio else tally.input_tokens
    error = CALIBRATED_INPUT_ERROR if ratio else INPUT_ERROR
    result: dict[str, Any] = {
        "records": tally.records,
        "input_tokens": input_tokens,
        "max_output_tokens": tally.max_output_tokens,
        "mode": mode,
        "price": KNOWN if price is not None else UNKNOWN,
        "low_usd": None,
        "high_usd": None,
        "prices_checked": None,
        "calibration": (
            {name: value for name, value in calibration.as_dict().items() if value is not None}
            if calibration is not None
            else None
        ),
    }
    if ratio:
        result["uncalibrated_input_tokens"] = tally.input_tokens
    if price is not None:
        prices = price.for_mode(mode)
        low_input = math.floor(input_tokens * (1 - error))
        high_input = math.ceil(input_tokens * (1 + error))
        result["low_usd"] = _cents(prices.cost(low_input, 0), up=False)
        result["high_usd"] = _cents(prices.cost(high_input, tally.max_output_tokens), up=True)
        result["prices_checked"] = price.checked
        result["price_source"] = price.source
    # what has no value is left out, as the ledger leaves it out
    return {name: value for name, value in result.items() if value is not None}


def _cents(amount: float, *, up: bool) -> float:
    """An amount rounded outward to a hundredth of a cent: the range never narrows."""
    scaled = amount * 10_000
    return (math.ceil(scaled - 1e-9) if up else math.floor(scaled + 1e-9)) / 10_000


def cap_refusal(
    upload: dict[str, Any], cap_usd: float | None, *, cap_from: str, model_id: str
) -> str | None:
    """Why an upload with this estimate may not run under this cap, or None.

    An upload whose model has no price may not run under an explicit cap: the cap could not
    be honoured."""
    if not cap_usd:
        return None
    if upload.get("price") == UNKNOWN:
        return (
            f"{model_id} has no price in the price table, so its cost cannot be held to the "
            f"{cap_from} of {usd(cap_usd)}"
        )
    high = float(upload["high_usd"])
    if high <= cap_usd:
        return None
    return (
        f"the estimate is up to {usd(high)} ({describe(upload)}), over the {cap_from} of "
        f"{usd(cap_usd)}"
    )


def unknown_price_refusal(model_id: str) -> str:
    return (
        f"{model_id} has no price in the price table, and the stack refuses uploads of "
        "models without a price (BedrockUnknownPrice is Refuse): add the model to the price "
        "table, or set BedrockUnknownPrice to Allow"
    )


def describe(estimate: dict[str, Any]) -> str:
    """The estimate's basis in words: records, tokens, and which prices."""
    prices = "on-demand" if estimate.get("mode") == ON_DEMAND else "batch"
    words = (
        f"{estimate.get('records', 0):,} records, about {estimate.get('input_tokens', 0):,} "
        f"input and at most {estimate.get('max_output_tokens', 0):,} output tokens"
    )
    if estimate.get("price") == UNKNOWN:
        return f"{words}; no price in the price table"
    checked = estimate.get("prices_checked")
    return f"{words} at {prices} prices" + (f" checked {checked}" if checked else "")


def estimate_range(estimate: dict[str, Any] | None) -> str:
    """`$0.12 to $3.40`, `price unknown`, or `` (no estimate): for tables and messages."""
    if not estimate:
        return ""
    if estimate.get("price") == UNKNOWN or estimate.get("high_usd") is None:
        return "price unknown"
    return f"{usd(float(estimate['low_usd']))} to {usd(float(estimate['high_usd']))}"


def usd(amount: float) -> str:
    """Whole cents as cents ($41.20), anything finer to a hundredth of a cent ($0.1582,
    $0.0042), as amounts are kept; an amount too small for that is `under $0.0001`, never a
    free-looking `$0.0000`."""
    if 0 < abs(amount) < 0.0001:
        return "under $0.0001"
    if abs(amount * 100 - round(amount * 100)) < 1e-6:
        return f"${amount:,.2f}"
    return f"${amount:,.4f}"


# -- actual cost ------------------------------------------------------------------------


def mode_of(job: Job) -> str:
    return ON_DEMAND if job.options.get("mode") == ON_DEMAND else BATCH


def job_cost(job: Job, counts: dict[str, int], price: ModelPrice | None) -> dict[str, Any]:
    """What a job cost, from the tokens Bedrock reported for it (Job.cost); no `usd` when
    the price is unknown."""
    mode = mode_of(job)
    tokens_in = int(counts.get("input_tokens", 0))
    tokens_out = int(counts.get("output_tokens", 0))
    cost: dict[str, Any] = {
        "usd": None,
        "input_tokens": tokens_in,
        "output_tokens": tokens_out,
        "mode": mode,
        "price": KNOWN if price is not None else UNKNOWN,
    }
    if price is not None:
        cost["usd"] = round(price.for_mode(mode).cost(tokens_in, tokens_out), 6)
    return {name: value for name, value in cost.items() if value is not None}


def upload_cost(children: Iterable[Job]) -> dict[str, Any] | None:
    """What an upload cost: its jobs' costs summed (None when no job has a cost). It has no
    `usd` when any job's price was unknown: a sum that left that job out would claim it was
    free."""
    costs = [child.cost for child in children if child.cost]
    if not costs:
        return None
    unknown = any(cost.get("usd") is None for cost in costs)
    modes = {str(cost.get("mode", BATCH)) for cost in costs}
    total: dict[str, Any] = {
        "input_tokens": sum(int(cost.get("input_tokens", 0)) for cost in costs),
        "output_tokens": sum(int(cost.get("output_tokens", 0)) for cost in costs),
        "mode": modes.pop() if len(modes) == 1 else "mixed",
        "price": UNKNOWN if unknown else KNOWN,
    }
    if not unknown:
        total["usd"] = round(sum(float(cost["usd"]) for cost in costs), 6)
    return total


def cost_text(cost: dict[str, Any] | None) -> str:
    """`$1.23`, `price unknown`, or `` (no cost yet)."""
    if not cost:
        return ""
    return "price unknown" if cost.get("usd") is None else usd(float(cost["usd"]))
