"""moto's EventBridge rule matching at a lower cost and with the same deliveries, for as
long as the local cloud runs (`event_rules_matched_at_lower_cost`).

moto's PutEvents builds, for each entry and each rule of the bus (enabled or not), a new
event (a deep copy of a template, the detail parsed again, the clock read twice) and asks
the rule whether it matches; the rule's pattern turns the event into JSON and back,
flattens it into a dict of dotted keys, then evaluates every key of the pattern, even
after one has failed. S3's EventBridge notifications ask every rule of every bus the same
way, with one event. Here:

- A pattern is evaluated against the flattened event kept for the last event text seen
  (the flattened dict depends only on that text and is only read), and a pattern whose
  filters can never raise stops at its first failing key, as `all()` would decide the
  same: a pure test either way. A pattern with a filter that can raise (an empty filter,
  a numeric filter with a text bound, ...) is evaluated as moto evaluates it.
- PutEvents checks and answers each entry as moto does (the same code, the same order),
  flattens each entry's event once, and asks each rule of the bus about it in the bus's
  order. Only for a rule that matches, has no pattern, or looks at `time` or
  `ingestion-time` (the two fields moto sets afresh for each rule) does it build the
  event as moto does and hand it to moto's `send_to_targets`, which delivers it: for
  every other rule moto's own call would have returned doing nothing. A rule found to
  match is not asked again about the event built for it, which differs from the one
  flattened only in those two fields, which its pattern does not read.
"""

from __future__ import annotations

import copy
import importlib
import json
import threading
import warnings
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_OPERATORS = frozenset(("<", "<=", "=", ">=", ">"))
_TIMES = frozenset(("time", "ingestion-time"))
_decided = threading.local()  # .event: the event PutEvents has found its rule matches


@contextmanager
def event_rules_matched_at_lower_cost() -> Iterator[None]:
    models = importlib.import_module("moto.events.models")
    pattern_class, backend = models.EventPattern, models.EventsBackend
    matches, put = vars(pattern_class)["matches_event"], vars(backend)["put_events"]
    kept: list[tuple[str, dict[str, Any]]] = []  # the last event text and its flat dict
    plans: weakref.WeakKeyDictionary[Any, tuple[Any, bool, bool]] = weakref.WeakKeyDictionary()

    def flat(event: Any) -> dict[str, Any]:
        text = json.dumps(event)
        last = kept[-1] if kept else None
        if last is not None and last[0] == text:
            return last[1]
        flattened: dict[str, Any] = pattern_class._flatten_dict(json.loads(text))
        kept[:] = [(text, flattened)]
        return flattened

    def plan(pattern: Any) -> tuple[bool, bool]:
        """(whether its filters can never raise, whether it looks at a time field)."""
        known = plans.get(pattern)
        if known is None or known[0] is not pattern._pattern:
            keys: set[str] = set()
            safe = _safe_node(pattern._pattern, "", keys)
            known = (pattern._pattern, safe, bool(keys & _TIMES))
            plans[pattern] = known
        return known[1], known[2]

    def decide(pattern: Any, flattened: dict[str, Any]) -> bool:
        if plan(pattern)[0]:
            return _first_failure_stops(pattern, flattened, pattern._pattern, "", models.UNDEFINED)
        return bool(pattern._does_event_match(flattened, pattern._pattern))

    def matches_event(self: Any, event: Any) -> bool:
        if not self._pattern or event is getattr(_decided, "event", None):
            return True
        return decide(self, flat(event))

    def put_events(self: Any, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if len(events) > 10:  # moto's checks and answers, word for word
            raise models.ValidationException(
                "1 validation error detected: "
                "Value '[PutEventsRequestEntry]' at 'entries' failed to satisfy constraint: "
                "Member must have length less than or equal to 10"
            )
        entries: list[dict[str, Any]] = []
        for event in events:
            for field in ("Source", "DetailType", "Detail"):
                if not event.get(field):
                    entries.append(_missing(field))
                    break
            else:
                try:
                    detail = json.loads(event["Detail"])
                    if not isinstance(detail, dict):
                        warnings.warn(
                            "EventDetail should be of type dict - types such as "
                            f"{type(detail)} are ignored by AWS",
                            stacklevel=2,
                        )
                except ValueError:
                    entries.append(
                        {"ErrorCode": "MalformedDetail", "ErrorMessage": "Detail is malformed."}
                    )
                    continue
                event_id = str(models.random.uuid4())
                entries.append({"EventId": event_id})
                bus = self.describe_event_bus(
                    self._normalize_event_bus_arn(event.get("EventBusName"))
                )
                flattened: dict[str, Any] | None = None
                for rule in bus.rules.values():
                    pattern = rule.event_pattern
                    if not pattern._pattern or plan(pattern)[1]:
                        rule.send_to_targets(_message(models, self, event, event_id))
                        continue
                    if flattened is None:
                        flattened = flat(_message(models, self, event, event_id, dict))
                    if decide(pattern, flattened):
                        message = _message(models, self, event, event_id)
                        before, _decided.event = getattr(_decided, "event", None), message
                        try:  # moto's delivery, without matching the event a second time
                            rule.send_to_targets(message)
                        finally:
                            _decided.event = before
        return entries

    pattern_class.matches_event = matches_event
    backend.put_events = put_events
    try:
        yield
    finally:
        pattern_class.matches_event = matches
        backend.put_events = put


def _missing(field: str) -> dict[str, str]:
    return {
        "ErrorCode": "InvalidArgument",
        "ErrorMessage": f"Parameter {field} is not valid. Reason: {field} is a required argument.",
    }


def _message(
    models: Any, backend: Any, event: dict[str, Any], event_id: str, base: Any = copy.deepcopy
) -> Any:
    """The event moto's PutEvents builds for a rule, built the same way; with `base=dict`,
    a copy with the same JSON text, only to be read."""
    message = base(models._BASE_EVENT_MESSAGE)
    message["id"] = event_id
    message["detail-type"] = event["DetailType"]
    message["source"] = event["Source"]
    message["account"] = backend.account_id
    message["time"] = event.get("Time", models.unix_time())
    message["region"] = backend.region_name
    message["resources"] = event.get("Resources", [])
    message["detail"] = json.loads(event["Detail"])
    message["ingestion-time"] = models.unix_time()
    return message


def _first_failure_stops(
    pattern: Any, flattened: dict[str, Any], node: Any, prefix: str, missing: object
) -> bool:
    """moto's `_does_event_match`, stopping at the first key that fails: the same answer
    for a pattern whose filters cannot raise, as evaluating a key changes nothing."""
    if not isinstance(node, dict):
        return False
    for key, value in node.items():
        if key == "$or":
            matched = any(
                _first_failure_stops(pattern, flattened, p, prefix, missing) for p in value
            )
        else:
            path = f"{prefix}.{key}" if prefix else key
            if isinstance(value, dict):
                matched = _first_failure_stops(pattern, flattened, value, path, missing)
            elif isinstance(value, list):
                matched = pattern._does_item_match_filters(flattened.get(path, missing), value)
            else:
                matched = False
        if not matched:
            return False
    return True


def _safe_node(node: Any, prefix: str, keys: set[str]) -> bool:
    """Whether evaluating this pattern node can never raise, whatever the event; collects
    the flattened keys it reads into `keys`."""
    if not isinstance(node, dict):
        return True
    safe = True
    for key, value in node.items():
        if key == "$or":
            if not isinstance(value, (list, dict)):
                safe = False
                continue
            for alternative in value:
                safe = _safe_node(alternative, prefix, keys) and safe
            continue
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            safe = _safe_node(value, path, keys) and safe
        elif isinstance(value, list):
            keys.add(path)
            safe = all(not isinstance(f, dict) or _safe_filter(f) for f in value) and safe
    return safe


def _strings(value: Any) -> bool:
    return isinstance(value, str) or (
        isinstance(value, list) and all(isinstance(v, str) for v in value)
    )


def _safe_filter(named: dict[Any, Any]) -> bool:
    """Whether moto's `_does_item_match_named_filter` can never raise for this filter."""
    if not named:
        return False  # moto reads its first entry
    name, value = next(iter(named.items()))
    if name in ("prefix", "suffix"):
        if isinstance(value, dict) and "equals-ignore-case" in value:
            return isinstance(value["equals-ignore-case"], str)
        return _strings(value)
    if name in ("equals-ignore-case", "wildcard"):
        return _strings(value)
    if name == "numeric":
        if not isinstance(value, list):
            return False
        pairs = zip(value[::2], value[1::2], strict=False)
        return all(
            isinstance(op, str) and op in _OPERATORS and isinstance(bound, (int, float))
            for op, bound in pairs
        )
    if name == "anything-but" and isinstance(value, dict):
        return _safe_filter(value)
    return True  # exists, cidr (moto catches its errors), anything-but, and the rest
