"""The two ways a unit of work can fail, and what each means for delivery."""

from __future__ import annotations

import json
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Problem:
    """One specific thing wrong with an input: where, and why."""

    field: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "reason": self.reason}


@dataclass
class InvalidInput(Exception):
    """Bad input. The job ends REJECTED; retrying the delivery can never help."""

    problems: list[Problem] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(self.message)

    @classmethod
    def single(cls, field_name: str, reason: str) -> InvalidInput:
        return cls([Problem(field_name, reason)])

    @property
    def message(self) -> str:
        return "; ".join(f"{p.field}: {p.reason}" for p in self.problems)


class UnreadableMessage(InvalidInput):
    """A queued message that is not what its queue carries: not JSON, or not the event or
    notification the queue is for. No retry can make it readable, so `process_sqs_batch`
    reports it failed and makes it visible again at once: the queue moves it to its
    dead-letter queue after its last receive, seconds later rather than one visibility
    timeout per receive. The reasons name fields and JSON errors, never the content."""

    @classmethod
    def of(cls, what: str, error: Exception) -> UnreadableMessage:
        """`error`, from decoding `what`, worded without the values it read."""
        return cls([Problem(what, decoding_reason(error))])


def decoding_reason(error: Exception) -> str:
    """Why decoding failed (pydantic's or json's error), without the values it read."""
    from pydantic import ValidationError

    if isinstance(error, ValidationError):
        items = error.errors(include_url=False, include_input=False)
        reasons = [
            (".".join(str(part) for part in item["loc"]) + ": " if item["loc"] else "")
            + str(item["msg"])[:200]
            for item in items[:5]
        ]
        more = f" (and {len(items) - 5} more)" if len(items) > 5 else ""
        return "; ".join(reasons) + more if reasons else "not readable"
    if isinstance(error, json.JSONDecodeError):
        return f"not valid JSON: {error.msg} at line {error.lineno} column {error.colno}"
    if isinstance(error, RecursionError):
        return "not valid JSON: nested too deeply"
    return f"not readable ({type(error).__name__})"


class TransientError(Exception):
    """A failure worth retrying later (throttling, 5xx, a job busy elsewhere).

    Raising it from a record handler reports the record as a batch item failure, so the
    queue delivers it again after its visibility timeout and, past maxReceiveCount, moves
    it to the dead-letter queue where an alarm watches it.
    """


# SQS's longest visibility timeout.
MAX_RETRY_DELAY_SECONDS = 43_200


class RetryLater(TransientError):
    """A transient failure that needs a longer wait than the queue's visibility timeout,
    such as a quota of concurrent jobs that frees up only as jobs finish.

    `process_sqs_batch` reports the record as failed like any TransientError, and also
    sets the message's visibility timeout to `delay_seconds` (at most 12 hours), so its
    next delivery, and with it the next receive count, comes that much later.
    """

    def __init__(self, message: str, *, delay_seconds: int) -> None:
        super().__init__(message)
        self.delay_seconds = max(0, min(int(delay_seconds), MAX_RETRY_DELAY_SECONDS))


class ConfigurationError(Exception):
    """The function's environment is wrong. Raised at cold start, never per record."""
