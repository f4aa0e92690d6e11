"""How long a job's lease must last.

A lease keeps other deliveries off a job while its holder works on it. It must not run out
while the holder can still act, or a redelivery takes the job over and does the work (an
InvokeEndpointAsync, say) a second time. The holder can act until the earlier of:

- the end of the AWS calls the lease guards, each retried by botocore under the one retry
  policy (`dropzone.aws.RETRY_CONFIG`): `worst_case_call_seconds` is one call's worst case,
  `guarded_seconds` the sum over the calls a lease guards;
- the end of its invocation: Lambda stops a function at its Timeout (and resets its
  environment), after which a request it had already sent may still be answered, which
  the client would have waited for up to its read timeout.

`holder_bound_seconds` is the earlier of the two: a lease must be at least that long.

Pure arithmetic: nothing here imports botocore, so the figures botocore's retry code uses
are copied below, and the tests check them against the installed botocore.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

# botocore.retries.standard.ExponentialBackoff: the delay after attempt i (1-based) is
# rand(0, 1) * min(base_scale * 2 ** (i - 1), 20); base_scale is 1 s for throttling
# errors (the largest), and an x-amz-retry-after header can add up to 5 s more.
BACKOFF_BASE = 2
BACKOFF_SCALE_SECONDS = 1.0
BACKOFF_CAP_SECONDS = 20.0
RETRY_AFTER_EXTRA_SECONDS = 5.0
# botocore.retries.bucket.TokenBucket: once adaptive mode has seen throttling, every
# attempt first takes a token, refilled at no less than 0.5 a second. A client used by one
# thread at a time (Dropzone's functions run no threads) waits at most 1 / 0.5 s for it.
ADAPTIVE_MIN_FILL_RATE = 0.5
RETRY_MODES = ("standard", "adaptive")


@dataclass(frozen=True)
class GuardedCall:
    """An AWS call made while a lease is held: "service:Operation", and how many times on
    the longest path (within the request's limits). `data_bound` calls take as long as the
    input is large (a streamed body, a part per chunk): the retry policy does not bound
    them, only the invocation's Timeout does."""

    operation: str
    count: int = 1
    data_bound: bool = False


@dataclass(frozen=True)
class LeaseGuard:
    """Where a lease is taken ("module.Class.method") and the calls made under it, from
    taking it to the write that ends it (SUBMITTED, REJECTED, or the lease released)."""

    holder: str
    calls: tuple[GuardedCall, ...]


def total_attempts(config: Any) -> int:
    """Attempts botocore makes in all: its `max_attempts` counts retries after the first
    (botocore.args adds one), `total_max_attempts` counts them all."""
    retries = dict(getattr(config, "retries", None) or {})
    if retries.get("mode") not in RETRY_MODES:
        raise ValueError(f"the retry mode must be one of {RETRY_MODES}, got {retries}")
    if "total_max_attempts" in retries:
        return int(retries["total_max_attempts"])
    if "max_attempts" in retries:
        return int(retries["max_attempts"]) + 1
    raise ValueError("the retry policy must set max_attempts or total_max_attempts")


def worst_case_call_seconds(config: Any) -> float:
    """The longest one AWS call can take under a botocore Config in standard or adaptive
    mode: every attempt waits its connect and read timeouts out, every retry sleeps the
    largest backoff (plus the retry-after allowance), and in adaptive mode every attempt
    waits for a token at the rate limiter's slowest refill.

    The timeouts bound each wait for the network; a response still trickling in is not
    covered, nor is DNS resolution (urllib3 does not time it)."""
    attempts = total_attempts(config)
    per_attempt = float(config.connect_timeout) + float(config.read_timeout)
    backoff = sum(
        min(BACKOFF_SCALE_SECONDS * float(BACKOFF_BASE) ** (attempt - 1), BACKOFF_CAP_SECONDS)
        + RETRY_AFTER_EXTRA_SECONDS
        for attempt in range(1, attempts)
    )
    adaptive = config.retries["mode"] == "adaptive"
    rate_limiter = attempts / ADAPTIVE_MIN_FILL_RATE if adaptive else 0.0
    return attempts * per_attempt + backoff + rate_limiter


def guarded_seconds(calls: Iterable[GuardedCall], config: Any) -> float:
    """The worst case of a lease's calls, one after another; infinite when one of them is
    bound by the input's size."""
    calls = list(calls)
    if any(call.data_bound for call in calls):
        return math.inf
    return sum(call.count for call in calls) * worst_case_call_seconds(config)


def holder_bound_seconds(
    calls: Iterable[GuardedCall], config: Any, function_timeout: float
) -> float:
    """How long the holder of a lease can still act: the worst case of its calls, or the
    end of its invocation (Timeout) plus one read timeout for a request in flight then,
    whichever comes first. A lease must last at least this long."""
    invocation = float(function_timeout) + float(config.read_timeout)
    return min(guarded_seconds(calls, config), invocation)
