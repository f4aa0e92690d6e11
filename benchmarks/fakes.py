"""In-memory stand-ins for the boto3 clients the adapters call, just enough for the code paths
the warm benchmark drives. They speak the low-level client's shapes (typed attribute values,
ClientError with the real error codes) so the adapters and the ledger run unchanged.

Not a DynamoDB emulator: expressions are parsed only in the forms dropzone.ledger writes, and
anything else raises NotImplementedError rather than silently answering wrongly.
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


_CLAUSE = re.compile(r"\b(SET|REMOVE|ADD)\b")
_EXISTS = re.compile(r"^attribute_(not_)?exists\((\S+)\)$")
_COMPARE = re.compile(r"^(\S+)\s*(=|<)\s*(\S+)$")
_IN = re.compile(r"^(\S+)\s+IN\s*\((.*)\)$")
_LIST_APPEND = re.compile(r"^list_append\(if_not_exists\((\S+),\s*(\S+)\),\s*(\S+)\)$")


def _compare_key(value: dict[str, Any]) -> Any:
    ((kind, raw),) = value.items()
    return float(raw) if kind == "N" else raw


@dataclass
class FakeDynamoDB:
    """One table (the jobs table). `persist=False` evaluates every write against the seeded
    items but stores nothing, so the same delivery takes the same path on every iteration."""

    items: dict[str, dict[str, Any]] = field(default_factory=dict)
    persist: bool = True
    calls: int = 0

    # -- helpers ---------------------------------------------------------------------

    @staticmethod
    def _name(token: str, names: dict[str, str]) -> str:
        return names.get(token, token)

    def _condition_holds(
        self,
        item: dict[str, Any] | None,
        expression: str | None,
        names: dict[str, str],
        values: dict[str, Any],
    ) -> bool:
        if not expression:
            return True
        if " OR " in expression:
            raise NotImplementedError(f"condition not supported by the fake: {expression}")
        for clause in (part.strip() for part in expression.split(" AND ")):
            if match := _EXISTS.match(clause):
                present = item is not None and self._name(match[2], names) in item
                if present == bool(match[1]):
                    return False
            elif match := _IN.match(clause):
                current = (item or {}).get(self._name(match[1], names))
                allowed = [values[token.strip()] for token in match[2].split(",")]
                if current not in allowed:
                    return False
            elif match := _COMPARE.match(clause):
                current = (item or {}).get(self._name(match[1], names))
                wanted = values[match[3]]
                if current is None:
                    return False
                if match[2] == "=" and current != wanted:
                    return False
                if match[2] == "<" and not _compare_key(current) < _compare_key(wanted):
                    return False
            else:
                raise NotImplementedError(f"condition not supported by the fake: {clause}")
        return True

    def _apply_update(
        self,
        item: dict[str, Any],
        expression: str,
        names: dict[str, str],
        values: dict[str, Any],
    ) -> None:
        pieces = _CLAUSE.split(expression)
        for keyword, body in zip(pieces[1::2], pieces[2::2], strict=True):
            for action in _split_top_level(body):
                if keyword == "SET":
                    target, _, source = (part.strip() for part in action.partition("="))
                    name = self._name(target, names)
                    if match := _LIST_APPEND.match(source):
                        existing = item.get(self._name(match[1], names)) or values[match[2]]
                        item[name] = {"L": [*existing["L"], *values[match[3]]["L"]]}
                    elif source in values:
                        item[name] = values[source]
                    else:
                        raise NotImplementedError(f"SET source not supported: {source}")
                elif keyword == "REMOVE":
                    item.pop(self._name(action, names), None)
                else:  # ADD <name> <number>
                    target, source = action.split()
                    name = self._name(target, names)
                    total = float(item.get(name, {"N": "0"})["N"]) + float(values[source]["N"])
                    item[name] = {"N": str(int(total)) if total.is_integer() else str(total)}

    # -- the client surface ------------------------------------------------------------

    def get_item(self, *, TableName: str, Key: dict[str, Any], **_: Any) -> dict[str, Any]:
        self.calls += 1
        item = self.items.get(Key["job_id"]["S"])
        return {"Item": copy.deepcopy(item)} if item is not None else {}

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
        if not self._condition_holds(
            current,
            ConditionExpression,
            ExpressionAttributeNames or {},
            ExpressionAttributeValues or {},
        ):
            raise _client_error(_CONDITION_FAILED, "PutItem", Item=copy.deepcopy(current))
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
        if not self._condition_holds(current, ConditionExpression, names, values):
            extra = {}
            if ReturnValuesOnConditionCheckFailure == "ALL_OLD" and current is not None:
                extra["Item"] = copy.deepcopy(current)
            raise _client_error(_CONDITION_FAILED, "UpdateItem", **extra)
        updated = copy.deepcopy(current) if current is not None else dict(Key)
        self._apply_update(updated, UpdateExpression, names, values)
        if self.persist:
            self.items[key] = updated
        return {"Attributes": copy.deepcopy(updated)} if ReturnValues == "ALL_NEW" else {}

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
            copy.deepcopy(item)
            for item in self.items.values()
            if self._condition_holds(item, KeyConditionExpression, names, ExpressionAttributeValues)
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
