"""Pieces the fakes of services share: a record of calls, injected faults, a request-rate
limit, client-token idempotency, and the steps every call goes through."""

from __future__ import annotations

import copy
import math
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar

from botocore.exceptions import ClientError

from dropzone_local.service_model import check_constraints, client_error, error_codes


@dataclass(frozen=True)
class ApiCall:
    """One request that reached the fake service: when, and what it answered (the error
    code, or None for a successful answer). Requests botocore refuses before sending
    (ParamValidationError) never reach the service and are not recorded."""

    operation: str
    params: dict[str, Any]
    at: datetime
    error: str | None = None


def peak_rate(
    calls: Iterable[ApiCall],
    operation: str | None = None,
    window: timedelta = timedelta(seconds=1),
    *,
    answered_only: bool = False,
) -> int:
    """The most calls (of `operation`, or of all) that fall within any `window` of time."""
    moments = sorted(
        call.at
        for call in calls
        if (operation is None or call.operation == operation)
        and not (answered_only and call.error is not None)
    )
    peak, start = 0, 0
    for end, moment in enumerate(moments):
        while moment - moments[start] >= window:
            start += 1
        peak = max(peak, end - start + 1)
    return peak


@dataclass
class TokenBucket:
    """A request-rate limit: `rate` requests a second, bursts of up to `capacity`."""

    rate: float
    capacity: float
    _tokens: float | None = field(default=None, init=False, repr=False)
    _updated: datetime | None = field(default=None, init=False, repr=False)

    def take(self, now: datetime) -> int | None:
        """Spend one token; None when granted, else whole seconds until one is free."""
        if self._tokens is None or self._updated is None:
            self._tokens, self._updated = self.capacity, now
        elapsed = max((now - self._updated).total_seconds(), 0.0)
        self._tokens = min(self.capacity, self._tokens + elapsed * self.rate)
        self._updated = max(now, self._updated)
        if self._tokens >= 1:
            self._tokens -= 1
            return None
        return max(1, math.ceil((1 - self._tokens) / self.rate))


@dataclass
class InjectedFaults:
    """Errors the next calls answer with, one call each, in order; each fault is for one
    operation or (None) for whichever call comes next."""

    service_name: str
    _queue: deque[tuple[str | None, str]] = field(default_factory=deque, init=False)

    def add(self, codes: Iterable[str], operation: str | None, operations: Iterable[str]) -> None:
        """Queue `codes`, after checking that `operation` (or, for None, one of
        `operations`) can raise each of them."""
        scope = [operation] if operation is not None else list(operations)
        known = frozenset().union(*(error_codes(self.service_name, name) for name in scope))
        unknown = sorted(set(codes) - known)
        if unknown:
            raise ValueError(
                f"{' or '.join(scope)} never raises {unknown}; it raises {sorted(known)}"
            )
        self._queue.extend((operation, code) for code in codes)

    def take(self, operation: str) -> str | None:
        """The fault for this call, if one is queued for it."""
        for index, (scope, code) in enumerate(self._queue):
            if (scope is None and code in error_codes(self.service_name, operation)) or (
                scope == operation
            ):
                del self._queue[index]
                return code
        return None

    def __len__(self) -> int:
        return len(self._queue)


@dataclass
class _Remembered:
    params: dict[str, Any]
    result: str
    at: datetime


@dataclass
class IdempotencyTokens:
    """Client tokens a service remembers for `window`: the same token with the same
    parameters answers the first result again; with other parameters it is a mismatch."""

    window: timedelta
    _seen: dict[str, _Remembered] = field(default_factory=dict, init=False, repr=False)

    def recall(self, token: str, params: dict[str, Any], now: datetime) -> tuple[str | None, bool]:
        """(the earlier result or None, whether the parameters differ from the earlier call)."""
        remembered = self._seen.get(token)
        if remembered is None or now - remembered.at >= self.window:
            self._seen.pop(token, None)
            return None, False
        return remembered.result, remembered.params != params

    def remember(self, token: str, params: dict[str, Any], result: str, now: datetime) -> None:
        self._seen[token] = _Remembered(copy.deepcopy(params), result, now)


class ServiceFake:
    """What a fake service does with every call before and after its own work: note the
    call, answer an injected fault or the model's constraints, and mark the call with the
    error it answered. Subclasses name their service, the casing of the error message
    member, and the members each error code carries."""

    service_name: ClassVar[str]
    message_member: ClassVar[str] = "message"
    calls: list[ApiCall]
    clock: Callable[[], datetime]
    _faults: InjectedFaults

    @property
    def in_flight(self) -> int:
        raise NotImplementedError

    def advance(self, now: datetime | None = None) -> list[Any]:
        raise NotImplementedError

    def advance_until_idle(self, limit: int = 100) -> list[Any]:
        """Advance until nothing is in flight (or `limit` advances); return what changed.
        A fake whose work takes time on its clock needs the clock moved instead."""
        changes: list[Any] = []
        for _ in range(limit):
            if not self.in_flight:
                break
            changes.extend(self.advance())
        return changes

    def _error_members(self, code: str) -> dict[str, Any]:
        """The members the model requires on this error (the message aside)."""
        return {}

    def _record(self, operation_name: str, params: dict[str, Any]) -> datetime:
        """Note the call, then answer an injected fault for it."""
        now = self.clock()
        self.calls.append(ApiCall(operation_name, copy.deepcopy(params), now))
        fault = self._faults.take(operation_name)
        if fault is not None:
            raise self._fail(
                operation_name, fault, f"injected {fault}", **self._error_members(fault)
            )
        return now

    def _check(self, operation_name: str, params: dict[str, Any]) -> None:
        """Refuse what breaks the model's constraints, as the service validates requests."""
        problems = check_constraints(self.service_name, operation_name, params)
        if problems is not None:
            raise self._fail(operation_name, "ValidationException", problems)

    def _fail(self, operation_name: str, code: str, message: str, **members: Any) -> ClientError:
        """The error to raise, noted on the call it answers."""
        last = self.calls[-1]
        self.calls[-1] = ApiCall(last.operation, last.params, last.at, code)
        return client_error(
            self.service_name,
            operation_name,
            code,
            message,
            **{self.message_member: message},
            **members,
        )
