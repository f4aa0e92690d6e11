"""The metrics a local run emits, kept as CloudWatch would receive them.

Custom metrics: a function prints its metrics to stdout as Embedded Metric Format (EMF)
documents, which CloudWatch Logs turns into datapoints. `capture` reads those lines from a
function's output. LocalCloud stands in for CloudWatch, so it records them even where the
function environment says POWERTOOLS_METRICS_DISABLED (as the demo's does, to keep its
terminal quiet): the function then runs with metrics on, and the EMF lines are recorded
but kept off the terminal (`LocalFunction.run`).

AWS metrics: LocalCloud records what it knows itself, per invocation, AWS/Lambda
Invocations, Errors, Throttles (always 0: nothing limits concurrency locally) and Duration,
and, sampled as a run starts and ends, AWS/SQS ApproximateNumberOfMessagesVisible of
every queue. Every datapoint is stamped with the local cloud's clock, which a run may move.
"""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, TextIO

from dropzone.clock import iso, utcnow


@dataclass(frozen=True)
class Datapoint:
    namespace: str
    name: str
    dimensions: tuple[tuple[str, str], ...]  # sorted (name, value) pairs
    value: float
    unit: str
    at: str  # ISO 8601, the local cloud's clock

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "dimensions": dict(self.dimensions)}

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> Datapoint:
        return cls(
            namespace=str(record["namespace"]),
            name=str(record["name"]),
            dimensions=tuple(sorted((str(k), str(v)) for k, v in record["dimensions"].items())),
            value=float(record["value"]),
            unit=str(record.get("unit", "")),
            at=str(record["at"]),
        )


def emf_datapoints(document: Any, at: datetime) -> list[Datapoint]:
    """The datapoints of one EMF document (none if it is not one): each metric of each
    directive, with each of the directive's dimension sets, one datapoint per value."""
    if not isinstance(document, dict):
        return []
    directives = document.get("_aws", {})
    if not isinstance(directives, dict):
        return []
    found = []
    for directive in directives.get("CloudWatchMetrics", []):
        namespace = str(directive.get("Namespace", ""))
        for dimension_set in directive.get("Dimensions", []) or [[]]:
            dimensions = tuple(sorted((str(n), str(document.get(n, ""))) for n in dimension_set))
            for metric in directive.get("Metrics", []):
                values = document.get(metric.get("Name"))
                for value in values if isinstance(values, list) else [values]:
                    if isinstance(value, int | float) and not isinstance(value, bool):
                        found.append(
                            Datapoint(
                                namespace=namespace,
                                name=str(metric["Name"]),
                                dimensions=dimensions,
                                value=float(value),
                                unit=str(metric.get("Unit", "")),
                                at=iso(at),
                            )
                        )
    return found


@dataclass
class MetricsRecorder:
    """Every datapoint of a local run, in the order recorded."""

    datapoints: list[Datapoint] = field(default_factory=list)

    def add(
        self, namespace: str, name: str, dimensions: dict[str, str], value: float, unit: str
    ) -> None:
        self.datapoints.append(
            Datapoint(
                namespace, name, tuple(sorted(dimensions.items())), value, unit, iso(utcnow())
            )
        )

    def add_emf_line(self, line: str) -> bool:
        """Record the line's datapoints if it is an EMF document; say whether it was."""
        if '"_aws"' not in line:
            return False
        try:
            document = json.loads(line)
        except json.JSONDecodeError:
            return False
        found = emf_datapoints(document, utcnow())
        self.datapoints.extend(found)
        return bool(found)

    def invocation(self, function_name: str, *, milliseconds: float, failed: bool) -> None:
        dimensions = {"FunctionName": function_name}
        self.add("AWS/Lambda", "Invocations", dimensions, 1, "Count")
        self.add("AWS/Lambda", "Errors", dimensions, 1 if failed else 0, "Count")
        self.add("AWS/Lambda", "Throttles", dimensions, 0, "Count")
        self.add("AWS/Lambda", "Duration", dimensions, milliseconds, "Milliseconds")

    def queue_depth(self, queue_name: str, visible: int) -> None:
        self.add(
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            {"QueueName": queue_name},
            visible,
            "Count",
        )

    def to_json(self) -> list[dict[str, Any]]:
        return [point.to_json() for point in self.datapoints]


class _Tee(io.TextIOBase):
    """Reads each complete line for EMF documents; writes the others through to `target`,
    and the EMF ones too when `echo`."""

    def __init__(self, target: TextIO, recorder: MetricsRecorder, *, echo: bool) -> None:
        self._target = target
        self._recorder = recorder
        self._echo = echo
        self._partial = ""

    def write(self, text: str) -> int:
        lines = (self._partial + text).split("\n")
        self._partial = lines.pop()
        for line in lines:
            if not self._recorder.add_emf_line(line) or self._echo:
                self._target.write(line + "\n")
        return len(text)

    def flush(self) -> None:
        self._target.flush()

    def close_line(self) -> None:
        if self._partial and (not self._recorder.add_emf_line(self._partial) or self._echo):
            self._target.write(self._partial)
        self._partial = ""


@contextmanager
def capture(recorder: MetricsRecorder, *, echo: bool = True) -> Iterator[None]:
    """Record the EMF documents printed to stdout meanwhile; everything else still goes
    out, and the EMF documents too when `echo`."""
    previous = sys.stdout
    tee = _Tee(previous, recorder, echo=echo)
    sys.stdout = tee
    try:
        yield
    finally:
        sys.stdout = previous
        tee.close_line()
