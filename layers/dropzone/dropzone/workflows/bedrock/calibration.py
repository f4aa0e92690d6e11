"""How far an upload's input-token estimate is from the model's own count, measured on a few
of its records with bedrock-runtime CountTokens.

The estimate counts characters (workflows/bedrock/estimate.py); CountTokens gives the exact
input tokens the model would be charged for a record, for the few models that support it.
`calibrate` counts up to `max_calls` sampled records, one call after another, and returns
counted / estimated over the records that counted: the ratio the whole upload's input
estimate is multiplied by.

It is best effort and never stands in intake's way: a model that cannot count, a role that
may not, a throttle or a failing service each end the calibration at once, with a note
saying why, and the upload keeps its uncalibrated estimate. Nothing is retried: at most
`max_calls` calls per upload, each with the short timeout of the adapter's client.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from dropzone.adapters.bedrock import Backpressure
from dropzone.adapters.bedrock_runtime import (
    CountTokensDenied,
    CountTokensRefused,
    CountTokensUnsupported,
)
from dropzone.errors import TransientError

SOURCE = "CountTokens"
# Records counted per upload, at most: enough to average out one odd record, few enough to
# stay far inside CountTokens' request quota with several uploads arriving at once.
MAX_CALLS = 5
# The range a measured ratio is held to. A handful of records stands for up to 50,000. For
# prose the character estimate is within about a quarter of the count; for non-Latin scripts
# it can be off more than threefold (a CJK character can be a token or more, against 3.5
# characters a token), which 4 still covers. A ratio beyond the range says more about the
# sample (a tiny record whose fixed overhead dominates, media charged at their most) than
# about the upload. The low bound is the tighter one: a calibration may at most halve an
# estimate, so a few records never make a large upload look cheap to its budget.
MIN_RATIO = 0.5
MAX_RATIO = 4.0
NOTE_LENGTH = 300

DISABLED = "CountTokens is switched off (BedrockCountTokens is Disabled)"
NO_RECORDS = "no records to count"

# Cross-region inference profile ids: a geography before the model id.
_PROFILE = re.compile(r"^(?:us|us-gov|eu|apac|jp|au|ca|global)\.")
_FOUNDATION_MODEL_ARN = re.compile(r"^arn:aws[a-z-]*:bedrock:[a-z0-9-]*::foundation-model/(.+)$")
# Providers whose models are known to refuse CountTokens (Amazon Nova and Titan). Models of
# other providers are asked: one free call, and a refusal becomes the note.
_UNSUPPORTED_PROVIDERS = ("amazon.",)

Sample = tuple[dict[str, Any], str, int]


@dataclass(frozen=True)
class Calibration:
    """What counting a sample of an upload's records found (Job.estimate's calibration)."""

    source: str  # "CountTokens"
    sampled: int  # records counted
    estimated: int  # the estimate's input tokens for those records
    counted: int  # CountTokens' input tokens for those records
    ratio: float | None  # counted / estimated, held to MIN_RATIO..MAX_RATIO; None: no count
    note: str | None  # why it stopped early or did not run, or that the ratio was held

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def skipped(cls, note: str) -> Calibration:
        """A calibration that made no call, and why."""
        return cls(SOURCE, 0, 0, 0, None, note[:NOTE_LENGTH])

    @classmethod
    def disabled(cls) -> Calibration:
        """No call: the stack switched counting off."""
        return cls.skipped(DISABLED)

    @classmethod
    def unsupported(cls, model_id: str) -> Calibration:
        """No call: `supports_count_tokens(model_id)` says the model cannot count."""
        return cls.skipped(
            f"{model_id} cannot count tokens: CountTokens takes Anthropic Claude models by "
            "their foundation-model id, not inference profiles or Amazon's models"
        )


def sample_lines(total_records: int, limit: int) -> list[int]:
    """Up to `limit` 0-based record positions spread evenly over `total_records`: the
    middle of each of `limit` equal stretches (every record when there are no more)."""
    if total_records <= 0 or limit <= 0:
        return []
    if total_records <= limit:
        return list(range(total_records))
    return [(2 * index + 1) * total_records // (2 * limit) for index in range(limit)]


def supports_count_tokens(model_id: str) -> bool:
    """Whether CountTokens is worth a call for this model id. It counts for a foundation
    model named by its bare id (or its foundation-model ARN), never for an inference
    profile, and not for Amazon's models."""
    if model_id.startswith("arn:"):
        match = _FOUNDATION_MODEL_ARN.match(model_id)
        if match is None:  # an inference profile, a provisioned or an imported model
            return False
        model_id = match.group(1)
    if _PROFILE.match(model_id):
        return False
    return not model_id.startswith(_UNSUPPORTED_PROVIDERS)


def calibrate(
    samples: Sequence[Sample],
    count: Callable[[dict[str, Any], str], int],
    *,
    max_calls: int = MAX_CALLS,
) -> Calibration:
    """Count up to `max_calls` of `samples` (modelInput, invocation type, estimated input
    tokens) with `count`, in order, and compare. A record the service refuses is skipped;
    anything that says no other record will count (unsupported model, access denied,
    throttling, a failing service) stops at once."""
    estimated = counted = sampled = 0
    notes: list[str] = []
    chosen = samples[: max(max_calls, 0)]
    for position, (model_input, invocation_type, tokens) in enumerate(chosen):
        try:
            answer = count(model_input, invocation_type)
        except CountTokensRefused as error:
            notes.append(f"record {position + 1} of the sample skipped: {error}")
            continue
        except (CountTokensUnsupported, CountTokensDenied) as error:
            notes.append(str(error))
            break
        except Backpressure as error:
            notes.append(f"stopped after {position} of {len(chosen)} calls, throttled: {error}")
            break
        except TransientError as error:
            notes.append(f"stopped after {position} of {len(chosen)} calls: {error}")
            break
        sampled += 1
        estimated += tokens
        counted += answer
    if not chosen:
        notes.append(NO_RECORDS)
    measured = counted / estimated if sampled and estimated > 0 else None
    if sampled and measured is None:
        notes.append("the sampled records were estimated at no tokens: nothing to compare")
    if measured is not None and not MIN_RATIO <= measured <= MAX_RATIO:
        notes.append(f"measured ratio {measured:.2f} held to {MIN_RATIO}..{MAX_RATIO}")
    ratio = None if measured is None else round(min(max(measured, MIN_RATIO), MAX_RATIO), 4)
    note = "; ".join(notes)[:NOTE_LENGTH] if notes else None
    return Calibration(SOURCE, sampled, estimated, counted, ratio, note)
