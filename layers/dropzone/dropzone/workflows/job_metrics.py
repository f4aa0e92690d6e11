"""Metrics about jobs as a whole, per workflow: how many ended, and how long the
least recently updated unfinished job has waited.

`JobsSucceeded` and `JobsFailed` carry a `kind` dimension (the workflow) beside `service`,
because one function, the status publisher, sees every workflow's jobs end.
`OldestInFlightJobAgeSeconds` is emitted by each workflow's own scheduled reconciler or
poller, so its `service` dimension already names the workflow.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.metrics.functions import is_metrics_disabled

from dropzone.models.jobs import Job, JobKind, JobStatus
from dropzone.observability import metrics
from dropzone.store.ledger import Ledger

SUCCEEDED = frozenset({JobStatus.SUCCEEDED, JobStatus.PARTIALLY_SUCCEEDED})
FAILED = frozenset({JobStatus.FAILED, JobStatus.STOPPED, JobStatus.EXPIRED})
# Every status before a terminal one: a job in any of them is still in flight.
IN_FLIGHT = tuple(status for status in JobStatus if not status.is_terminal)


def ended_counts(jobs: Iterable[Job]) -> Counter[tuple[str, str]]:
    """(metric name, kind) → jobs that reached a terminal status. A Bedrock upload's own
    jobs (its parts and retry rounds) are left out, as their upload counts once; the edge
    records and roll-outs a packaging job starts count as the jobs of their workflow.
    REJECTED is counted by `JobsRejected`."""
    counts: Counter[tuple[str, str]] = Counter()
    for job in jobs:
        if job.parent_id and job.kind is JobKind.BEDROCK_BATCH:
            continue
        if job.status in SUCCEEDED:
            counts["JobsSucceeded", str(job.kind)] += 1
        elif job.status in FAILED:
            counts["JobsFailed", str(job.kind)] += 1
    return counts


def emit_ended(jobs: Iterable[Job]) -> None:
    """One `JobsSucceeded` / `JobsFailed` datapoint per workflow that had jobs end."""
    if is_metrics_disabled():  # as Metrics itself honours POWERTOOLS_METRICS_DISABLED
        return
    common: dict[str, Any] = {
        "unit": MetricUnit.Count,
        "default_dimensions": {"service": os.environ.get("POWERTOOLS_SERVICE_NAME", "dropzone")},
    }
    for (name, kind), count in sorted(ended_counts(jobs).items()):
        succeeded = name == "JobsSucceeded"
        with (
            single_metric(name="JobsSucceeded", value=count, **common)
            if succeeded
            else single_metric(name="JobsFailed", value=count, **common)
        ) as metric:
            metric.add_dimension(name="kind", value=kind)


def oldest_in_flight_seconds(oldest: Iterable[Job], now: datetime) -> float:
    """Seconds since the least recently updated of these jobs was last updated; 0 for none."""
    ages = [(now - _parse(job.updated_at)).total_seconds() for job in oldest]
    return max([0.0, *ages])


def emit_oldest_in_flight(ledger: Ledger, kind: JobKind, now: datetime) -> float:
    """`OldestInFlightJobAgeSeconds` for one workflow: one indexed read per unfinished
    status (the by-state index is ordered by last update, so its first job is the one
    that has waited longest). Emitted on every run, 0 when nothing is in flight."""
    firsts = [job for status in IN_FLIGHT for job in _first(ledger, kind, status)]
    age = oldest_in_flight_seconds(firsts, now)
    metrics.add_metric(name="OldestInFlightJobAgeSeconds", unit="Seconds", value=age)
    return age


def _first(ledger: Ledger, kind: JobKind, status: JobStatus) -> list[Job]:
    first = next(iter(ledger.by_state(kind, status, page_size=1)), None)  # one page only
    return [] if first is None else [first]


def _parse(timestamp: str) -> datetime:
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
