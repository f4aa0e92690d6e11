"""In-memory stand-ins for the boto3 clients the adapters call, just enough for the code paths
the warm benchmark drives. They speak the low-level client's shapes (typed attribute values,
ClientError with the real error codes) so the adapters and the ledger run unchanged.

Not a DynamoDB emulator: one table keyed on job_id, a small expression evaluator (conditions
with AND / OR / NOT / parentheses, comparisons, IN, BETWEEN, attribute_exists,
attribute_not_exists, begins_with; SET with if_not_exists / list_append / +, REMOVE, ADD), and
NotImplementedError for anything else rather than a silently wrong answer. Writes copy what they
store; reads hand out the stored items themselves (kept cheap so the fakes weigh little in the
'direct' time): callers must not mutate them, and dropzone.store.ledger does not.
"""

from __future__ import annotations

import copy
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

_CONDITION_FAILED = "ConditionalCheckFailedException"


def _client_error(code: str, operation: str, status: int = 400, **extra: Any) -> ClientError:
    response: dict[str, Any] = {
        "Error": {"Code": code, "Message": f"fake {code}"},
        "ResponseMetadata": {"HTTPStatusCode": status},
        **extra,
    }
    return ClientError(response, operation)  # type: ignore[arg-type]


def _split_top_level(text: str, separator: str = ",") -> list[str]:
    """Split on `separator` outside parentheses."""
    parts: list[str] = []
    depth = 0
    current: list[str] = []
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == separator and depth == 0:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    if "".join(current).strip():
        parts.append("".join(current).strip())
    return parts


_TOKEN = re.compile(r"\s*(<>|<=|>=|[(),=<>]|[A-Za-z_#:][\w#:.\-]*)")
_COMPARATORS = {
    "=": lambda a, b: a == b,
    "<>": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}
_CLAUSE = re.compile(r"\b(SET|REMOVE|ADD|DELETE)\b")


def _tokens(text: str) -> list[str]:
    tokens, position = [], 0
    text = text.strip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if not match:
            raise NotImplementedError(f"expression not supported by the fake: {text!r}")
        tokens.append(match[1])
        position = match.end()
    return tokens


def _plain(value: dict[str, Any] | None) -> Any:
    """A typed attribute value as something comparable (numbers as floats)."""
    if value is None:
        return None
    ((kind, raw),) = value.items()
    return float(raw) if kind == "N" else raw


class _Expression:
    """Recursive descent over DynamoDB condition expressions: OR, AND, NOT, parentheses,
    comparisons, IN, BETWEEN, attribute_exists / attribute_not_exists / begins_with."""

    def __init__(
        self, text: str, item: dict[str, Any] | None, names: dict[str, str], values: dict[str, Any]
    ) -> None:
        self.tokens = _tokens(text)
        self.at = 0
        self.item = item or {}
        self.names = names
        self.values = values

    def _peek(self) -> str | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def _take(self, expected: str | None = None) -> str:
        token = self._peek()
        if token is None or (expected is not None and token.upper() != expected):
            raise NotImplementedError(f"unexpected {token!r} in {' '.join(self.tokens)!r}")
        self.at += 1
        return token

    def evaluate(self) -> bool:
        result = self._or()
        if self._peek() is not None:
            raise NotImplementedError(f"trailing {self._peek()!r} in {' '.join(self.tokens)!r}")
        return result

    def _or(self) -> bool:
        result = self._and()
        while (self._peek() or "").upper() == "OR":
            self._take()
            result = self._and() or result
        return result

    def _and(self) -> bool:
        result = self._not()
        while (self._peek() or "").upper() == "AND":
            self._take()
            result = self._not() and result
        return result

    def _not(self) -> bool:
        if (self._peek() or "").upper() == "NOT":
            self._take()
            return not self._not()
        return self._term()

    def _operand(self) -> Any:
        token = self._take()
        if token.startswith(":"):
            return _plain(self.values[token])
        return _plain(self.item.get(self.names.get(token, token)))

    def _term(self) -> bool:
        word = self._peek()
        if word == "(":
            self._take("(")
            result = self._or()
            self._take(")")
            return result
        if word in ("attribute_exists", "attribute_not_exists", "begins_with"):
            self._take()
            self._take("(")
            path = self._take()
            name = self.names.get(path, path)
            if word == "begins_with":
                self._take(",")
                prefix = self._operand()
                self._take(")")
                current = _plain(self.item.get(name))
                return isinstance(current, str) and current.startswith(prefix)
            self._take(")")
            return (name in self.item) == (word == "attribute_exists")
        left = self._operand()
        operator = self._take()
        if operator.upper() == "IN":
            self._take("(")
            options = [self._operand()]
            while self._peek() == ",":
                self._take(",")
                options.append(self._operand())
            self._take(")")
            return left in options
        if operator.upper() == "BETWEEN":
            low = self._operand()
            self._take("AND")
            high = self._operand()
            return left is not None and low <= left <= high
        right = self._operand()
        if left is None or right is None:
            return operator == "<>" and left != right
        return bool(_COMPARATORS[operator](left, right))


@dataclass
class FakeDynamoDB:
    """One table (the jobs table). `persist=False` evaluates every write against the seeded
    items but stores nothing, so the same delivery takes the same path on every iteration."""

    items: dict[str, dict[str, Any]] = field(default_factory=dict)
    persist: bool = True
    calls: int = 0
    applied_updates: int = 0  # update_item calls whose condition held

    @staticmethod
    def _holds(
        item: dict[str, Any] | None,
        expression: str | None,
        names: dict[str, str] | None,
        values: dict[str, Any] | None,
    ) -> bool:
        if not expression:
            return True
        return _Expression(expression, item, names or {}, values or {}).evaluate()

    @staticmethod
    def _value(
        source: str, item: dict[str, Any], names: dict[str, str], values: dict[str, Any]
    ) -> Any:
        """The typed value of a SET right-hand side: an operand, if_not_exists(path, v),
        list_append(a, b) (nesting allowed) or `a + b` / `a - b` on numbers."""
        source = source.strip()
        for function in ("if_not_exists", "list_append"):
            if source.startswith(f"{function}(") and source.endswith(")"):
                first, second = _split_top_level(source[len(function) + 1 : -1])
                if function == "if_not_exists":
                    current = item.get(names.get(first, first))
                    return current if current is not None else values[second]
                a = FakeDynamoDB._value(first, item, names, values)
                b = FakeDynamoDB._value(second, item, names, values)
                return {"L": [*a["L"], *b["L"]]}
        for sign in (" + ", " - "):
            if sign in source:
                a, b = (
                    float(FakeDynamoDB._value(part, item, names, values)["N"])
                    for part in source.split(sign, 1)
                )
                total = a + b if sign == " + " else a - b
                return {"N": str(int(total)) if total.is_integer() else str(total)}
        if source.startswith(":"):
            return values[source]
        current = item.get(names.get(source, source))
        if current is None:
            raise NotImplementedError(f"SET from a missing attribute: {source}")
        return current

    def _apply_update(
        self,
        item: dict[str, Any],
        expression: str,
        names: dict[str, str],
        values: dict[str, Any],
    ) -> None:
        pieces = _CLAUSE.split(expression)
        before = dict(item)  # every right-hand side reads the item as it was
        for keyword, body in zip(pieces[1::2], pieces[2::2], strict=True):
            for action in _split_top_level(body):
                if keyword == "SET":
                    target, _, source = (part.strip() for part in action.partition("="))
                    item[names.get(target, target)] = self._value(source, before, names, values)
                elif keyword == "REMOVE":
                    item.pop(names.get(action, action), None)
                elif keyword == "ADD":
                    target, source = action.split()
                    name = names.get(target, target)
                    total = float(item.get(name, {"N": "0"})["N"]) + float(values[source]["N"])
                    item[name] = {"N": str(int(total)) if total.is_integer() else str(total)}
                else:
                    raise NotImplementedError(f"{keyword} is not supported by the fake")

    # -- the client surface ------------------------------------------------------------

    def get_item(self, *, TableName: str, Key: dict[str, Any], **_: Any) -> dict[str, Any]:
        self.calls += 1
        item = self.items.get(Key["job_id"]["S"])
        return {"Item": item} if item is not None else {}

    def put_item(
        self,
        *,
        TableName: str,
        Item: dict[str, Any],
        ConditionExpression: str | None = None,
        ExpressionAttributeNames: dict[str, str] | None = None,
        ExpressionAttributeValues: dict[str, Any] | None = None,
        **_: Any,
    ) -> dict[str, Any]:
        self.calls += 1
        key = Item["job_id"]["S"]
        current = self.items.get(key)
        if not self._holds(
            current, ConditionExpression, ExpressionAttributeNames, ExpressionAttributeValues
        ):
            raise _client_error(_CONDITION_FAILED, "PutItem", Item=current)
        if self.persist:
            self.items[key] = copy.deepcopy(Item)
        return {}

    def update_item(
        self,
        *,
        TableName: str,
        Key: dict[str, Any],
        UpdateExpression: str,
        ConditionExpression: str | None = None,
        ExpressionAttributeNames: dict[str, str] | None = None,
        ExpressionAttributeValues: dict[str, Any] | None = None,
        ReturnValues: str = "NONE",
        ReturnValuesOnConditionCheckFailure: str = "NONE",
    ) -> dict[str, Any]:
        self.calls += 1
        names = ExpressionAttributeNames or {}
        values = ExpressionAttributeValues or {}
        key = Key["job_id"]["S"]
        current = self.items.get(key)
        if not self._holds(current, ConditionExpression, names, values):
            extra = {}
            if ReturnValuesOnConditionCheckFailure == "ALL_OLD" and current is not None:
                extra["Item"] = current
            raise _client_error(_CONDITION_FAILED, "UpdateItem", **extra)
        self.applied_updates += 1
        updated = dict(current) if current is not None else dict(Key)  # top level only
        self._apply_update(updated, UpdateExpression, names, values)
        if self.persist:
            self.items[key] = updated
        return {"Attributes": updated} if ReturnValues == "ALL_NEW" else {}

    def query(
        self,
        *,
        TableName: str,
        KeyConditionExpression: str,
        ExpressionAttributeValues: dict[str, Any],
        ExpressionAttributeNames: dict[str, str] | None = None,
        IndexName: str | None = None,
        **_: Any,
    ) -> dict[str, Any]:
        self.calls += 1
        names = ExpressionAttributeNames or {}
        found = [
            item
            for item in self.items.values()
            if self._holds(item, KeyConditionExpression, names, ExpressionAttributeValues)
        ]
        found.sort(key=lambda item: item.get("updated_at", {}).get("S", ""))
        return {"Items": found, "Count": len(found)}

    def get_paginator(self, operation: str) -> _Paginator:
        if operation != "query":
            raise NotImplementedError(operation)
        return _Paginator(self)


@dataclass
class _Paginator:
    table: FakeDynamoDB

    def paginate(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        yield self.table.query(**kwargs)


@dataclass
class FakeS3:
    """Every key exists (with `metadata`/`content_type`) unless it is listed in `missing`;
    `bodies` holds what get_object returns."""

    size: int = 1048
    content_type: str | None = "application/json"
    metadata: dict[str, str] = field(default_factory=dict)
    missing: set[str] = field(default_factory=set)
    bodies: dict[str, bytes] = field(default_factory=dict)
    calls: int = 0

    def head_object(self, *, Bucket: str, Key: str, VersionId: str | None = None) -> dict[str, Any]:
        self.calls += 1
        if f"s3://{Bucket}/{Key}" in self.missing:
            raise _client_error("404", "HeadObject", status=404)
        response: dict[str, Any] = {
            "ContentLength": self.size,
            "ETag": '"b1946ac92492d2347c6235b4d2611184"',
            "Metadata": dict(self.metadata),
        }
        if VersionId:
            response["VersionId"] = VersionId
        if self.content_type:
            response["ContentType"] = self.content_type
        return response

    def get_object(self, *, Bucket: str, Key: str, Range: str | None = None) -> dict[str, Any]:
        self.calls += 1
        uri = f"s3://{Bucket}/{Key}"
        if uri in self.missing or uri not in self.bodies:
            raise _client_error("NoSuchKey", "GetObject", status=404)
        return {"Body": io.BytesIO(self.bodies[uri])}

    def put_object(self, *, Bucket: str, Key: str, Body: bytes, **_: Any) -> dict[str, Any]:
        self.calls += 1
        self.bodies[f"s3://{Bucket}/{Key}"] = Body
        return {"ETag": '"0"'}


@dataclass
class FakeSageMakerRuntime:
    output_bucket: str = "dropzone-results"
    calls: int = 0

    def invoke_endpoint_async(self, **request: Any) -> dict[str, Any]:
        self.calls += 1
        inference_id = request["InferenceId"]
        return {
            "InferenceId": inference_id,
            "OutputLocation": f"s3://{self.output_bucket}/sagemaker-async/outputs/{inference_id}.out",
            "FailureLocation": (
                f"s3://{self.output_bucket}/sagemaker-async/failures/{inference_id}-error.out"
            ),
        }


@dataclass
class FakeEvents:
    calls: int = 0
    entries: int = 0

    def put_events(self, *, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.calls += 1
        self.entries += len(Entries)
        return {
            "FailedEntryCount": 0,
            "Entries": [{"EventId": f"event-{self.entries}-{n}"} for n in range(len(Entries))],
        }


@dataclass
class FakeLambdaContext:
    function_name: str = "dropzone-bench"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:dropzone-bench"
    aws_request_id: str = "00000000-0000-4000-8000-000000000000"
    function_version: str = "$LATEST"
    log_group_name: str = "/aws/lambda/dropzone-bench"
    log_stream_name: str = "2026/11/25/[$LATEST]0123456789abcdef"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000
