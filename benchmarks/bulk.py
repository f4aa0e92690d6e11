"""Bulk SageMaker async run: many uploads through LocalCloud, counting Dropzone's AWS calls.

Each upload is a small JSON object under sagemaker-async/<endpoint>/, put into the drop-zone
bucket by the harness, as a user would. Uploads go in chunks; after each chunk LocalCloud
delivers everything in flight until nothing moves (S3 → rule → SQS → submit function →
ledger → stream → status publisher → EventBridge, the fake endpoint → SNS → SQS → result
function). Most uploads go to answering endpoints (expected SUCCEEDED), every
`failing_every`-th to an endpoint whose model fails (expected FAILED), and every
`redeliver_every`-th Object Created event is delivered a second time, as EventBridge may.

Counting. A botocore `before-parameter-build` hook, put in botocore's built-in handlers so
that every client `dropzone.aws.client()` and LocalCloud create inside the mock carries it,
counts API calls: one per call whatever the retries (unlike `before-call`, it sees the API
parameters rather than the serialized request). Each call is attributed to the function
LocalCloud is running at the time (`dropzone_local.functions.invoking()`), or to the harness
between invocations. The stand-ins for services moto lacks (SageMaker runtime, Lambda,
Bedrock) are counted by wrapping their API methods. Harness calls (the user's PutObject, the
redelivery's HeadObject and PutEvents, the pumps' SQS receives and deletes, the fake
endpoint's output writes, the stack's setup) are kept apart and never counted as
Dropzone's; moto's internal delivery (S3 → EventBridge → SQS, SNS → SQS), LocalCloud's
table stream reads, polls of
queues with nothing to receive and queue depths (read from moto, `dropzone_local.moto_paths`)
and the fake endpoint's input reads and notifications (`dropzone_local.moto_stand_ins`) make
no client calls at all.

Submit path = the calls SageMakerSubmitFunction makes (from the S3 event it receives to the
job SUBMITTED) plus the status publisher's share of PutEvents for the ACCEPTED and SUBMITTED
events: a PutEvents call of n entries counts 1/n towards each entry's status.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

SUBMIT_FUNCTION = "SageMakerSubmitFunction"
PUBLISHER_FUNCTION = "StatusPublisherFunction"
SUBMIT_STATUSES = ("ACCEPTED", "SUBMITTED")
SUBMIT_BUDGET = 5.0  # Dropzone AWS calls per upload on the submit path
HARNESS = "harness"
PREFIX = "sagemaker-async/"
FAILING_ENDPOINT = "bulk-failing-model"
QUIET = {"POWERTOOLS_LOG_LEVEL": "CRITICAL", "POWERTOOLS_METRICS_DISABLED": "true"}
_FAKES = ("sagemaker-runtime", "lambda", "bedrock")


@dataclass
class CallCounter:
    """AWS calls by (caller, "service.Operation"), and the publisher's PutEvents calls
    shared out among the statuses of the entries they carried."""

    calls: Counter[tuple[str, str]] = field(default_factory=Counter)
    put_events_by_status: dict[str, float] = field(default_factory=dict)
    entries_by_status: Counter[str] = field(default_factory=Counter)
    counting: bool = True

    def record(self, operation: str, params: dict[str, Any]) -> None:
        if not self.counting:
            return
        from dropzone_local.functions import invoking

        caller = invoking() or HARNESS
        self.calls[(caller, operation)] += 1
        if caller == PUBLISHER_FUNCTION and operation == "events.PutEvents":
            entries = params.get("Entries") or []
            for entry in entries:
                status = str(json.loads(entry.get("Detail") or "{}").get("status", "?"))
                self.entries_by_status[status] += 1
                share = self.put_events_by_status.get(status, 0.0) + 1 / len(entries)
                self.put_events_by_status[status] = share

    def before_parameter_build(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        self.record(f"{model.service_model.service_name}.{model.name}", params)

    def wrap_fake(self, service: str, fake: Any) -> None:
        """Count the API methods of a stand-in that has no botocore event system."""
        import botocore.session
        from botocore import xform_name

        model = botocore.session.get_session().get_service_model(service)
        for operation in model.operation_names:
            method = getattr(fake, xform_name(operation), None)
            if callable(method):
                setattr(fake, xform_name(operation), self._counted(service, operation, method))

    def _counted(
        self, service: str, operation: str, method: Callable[..., Any]
    ) -> Callable[..., Any]:
        def counted(**params: Any) -> Any:
            self.record(f"{service}.{operation}", params)
            return method(**params)

        return counted

    def by_caller(self, caller: str) -> dict[str, int]:
        return {op: n for (who, op), n in sorted(self.calls.items()) if who == caller}

    def callers(self) -> list[str]:
        return sorted({who for who, _ in self.calls})


@contextmanager
def counting_calls(counter: CallCounter) -> Iterator[CallCounter]:
    """Count every call of every botocore client whose session is created meanwhile.

    moto hands out a fresh default session inside each mock, so the hook goes where every
    new session picks up its handlers: botocore's built-in handler list."""
    from botocore import handlers

    entry = ("before-parameter-build", counter.before_parameter_build)
    handlers.BUILTIN_HANDLERS.append(entry)
    try:
        yield counter
    finally:
        handlers.BUILTIN_HANDLERS.remove(entry)


@dataclass(frozen=True)
class Upload:
    key: str
    version_id: str
    expected: str
    redelivered: bool


@dataclass
class BulkResult:
    uploads: int
    chunk: int
    endpoints: int
    redelivered: int
    expected: dict[str, int]
    setup_seconds: float
    wall_seconds: float
    cpu_seconds: float
    rounds: int
    counter: CallCounter
    lost: list[str]
    duplicated: list[str]
    outcomes: dict[str, int]
    status_events: int
    status_event_duplicates: int
    status_events_missing: int
    dead_letters: dict[str, int]
    cpu_marks: list[tuple[int, float]] = field(default_factory=list)  # (uploads, CPU s)

    def cpu_per_upload(self, first: bool) -> float:
        """Mean CPU seconds per upload over the first or the last tenth of the uploads (in
        whole chunks): the per-upload cost as the run starts and as it ends."""
        marks = [(0, 0.0), *self.cpu_marks]
        tenth = max(self.chunk, self.uploads // 10)
        if first:
            start = marks[0]
            end = next((mark for mark in marks if mark[0] >= tenth), marks[-1])
        else:
            end = marks[-1]
            start = next((mark for mark in reversed(marks) if mark[0] <= end[0] - tenth), marks[0])
        return (end[1] - start[1]) / (end[0] - start[0]) if end[0] > start[0] else 0.0

    @property
    def cost_growth(self) -> float:
        """CPU per upload over the last tenth, as a ratio to the first tenth."""
        first = self.cpu_per_upload(first=True)
        return self.cpu_per_upload(first=False) / first if first else 0.0

    @property
    def rate(self) -> float:
        return self.uploads / self.wall_seconds if self.wall_seconds else 0.0

    def per_upload(self, calls: float) -> float:
        return calls / self.uploads if self.uploads else 0.0

    def submit_path(self) -> dict[str, float]:
        """Calls per upload on the submit path, by operation."""
        path = {op: self.per_upload(n) for op, n in self.counter.by_caller(SUBMIT_FUNCTION).items()}
        shares = self.counter.put_events_by_status
        events = sum(shares.get(status, 0.0) for status in SUBMIT_STATUSES)
        if events:
            path["events.PutEvents (status publisher)"] = self.per_upload(events)
        return path

    def submit_calls_per_upload(self) -> float:
        return sum(self.submit_path().values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "uploads": self.uploads,
            "wall_seconds": self.wall_seconds,
            "uploads_per_second": self.rate,
            "submit_calls_per_upload": self.submit_calls_per_upload(),
            "submit_path": self.submit_path(),
            "cpu_ms_per_upload_first_tenth": 1000 * self.cpu_per_upload(first=True),
            "cpu_ms_per_upload_last_tenth": 1000 * self.cpu_per_upload(first=False),
            "lost": len(self.lost),
            "duplicated": len(self.duplicated),
        }


def run_bulk(
    uploads: int,
    *,
    chunk: int = 250,
    endpoints: int = 4,
    failing_every: int = 50,
    redeliver_every: int = 100,
    progress: Callable[[int, int, float], None] | None = None,
) -> BulkResult:
    """Drive `uploads` SageMaker async uploads through LocalCloud; count calls and check
    that every upload ends as expected, once. `progress(done, total, seconds)` is called
    after each chunk; sys.stdout is silenced meanwhile, so it should write elsewhere."""
    from dropzone_local.cloud import LocalCloud

    counter = CallCounter()
    started = time.perf_counter()
    with (
        # Powertools prints a metric set that reaches 100 values even with metrics
        # disabled, and warns of empty ones: neither belongs in the benchmark's output.
        open(os.devnull, "w") as devnull,
        contextlib.redirect_stdout(devnull),
        warnings.catch_warnings(),
        counting_calls(counter),
        LocalCloud(function_environment=QUIET) as cloud,
    ):
        warnings.filterwarnings("ignore", message="No application metrics to publish")
        for index in range(endpoints):
            cloud.add_endpoint(f"bulk-model-{index}")
        cloud.add_endpoint(FAILING_ENDPOINT, failure_reason="ModelError: bulk failure")
        for service in _FAKES:
            counter.wrap_fake(service, _fake(cloud, service))
        bucket = cloud.dropzone_bucket
        setup = time.perf_counter() - started

        done: list[Upload] = []
        cpu_marks: list[tuple[int, float]] = []
        rounds = 0
        t0, c0 = time.perf_counter(), time.process_time()
        for start in range(0, uploads, chunk):
            for number in range(start, min(start + chunk, uploads)):
                done.append(_upload(cloud, number, endpoints, failing_every, redeliver_every))
            rounds += cloud.run_until_idle(max_rounds=100_000)
            cpu_marks.append((len(done), time.process_time() - c0))
            if progress is not None:
                progress(len(done), uploads, time.perf_counter() - t0)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0

        counter.counting = False
        check = _check(cloud, bucket, done)
        dead_letters = {
            name: cloud.queue_depth(name)
            for name in ("SageMakerSubmitDLQUrl", "SageMakerResultDLQUrl", "StatusPublisherDLQUrl")
        }
    return BulkResult(
        uploads=uploads,
        chunk=chunk,
        endpoints=endpoints,
        redelivered=sum(upload.redelivered for upload in done),
        expected=dict(Counter(upload.expected for upload in done)),
        setup_seconds=setup,
        wall_seconds=wall,
        cpu_seconds=cpu,
        rounds=rounds,
        counter=counter,
        dead_letters=dead_letters,
        cpu_marks=cpu_marks,
        **check,
    )


def _fake(cloud: Any, service: str) -> Any:
    return {
        "sagemaker-runtime": cloud.sagemaker,
        "lambda": cloud.lambda_service,
        "bedrock": cloud.bedrock,
    }[service]


def _upload(
    cloud: Any, number: int, endpoints: int, failing_every: int, redeliver_every: int
) -> Upload:
    failing = failing_every > 0 and number % failing_every == failing_every - 1
    endpoint = FAILING_ENDPOINT if failing else f"bulk-model-{number % endpoints}"
    key = f"{PREFIX}{endpoint}/bulk/{number:07d}.json"
    body = json.dumps({"rows": [[number, number % 7, 0.5]]}).encode()
    put = cloud.put_object(key, body, content_type="application/json")
    redelivered = redeliver_every > 0 and number % redeliver_every == redeliver_every // 2
    if redelivered:
        cloud.redeliver(key, put["VersionId"])
    return Upload(key, put["VersionId"], "FAILED" if failing else "SUCCEEDED", redelivered)


def _check(cloud: Any, bucket: str, done: list[Upload]) -> dict[str, Any]:
    """Lost: an upload without a job in its expected terminal status. Duplicated: an
    upload with more than one job, or more than one InvokeEndpointAsync."""
    from boto3.dynamodb.types import TypeDeserializer

    deserialize = TypeDeserializer().deserialize
    jobs_by_version: dict[tuple[str, str], list[str]] = {}
    table = cloud.output("JobsTableName")
    paginator = cloud.client("dynamodb").get_paginator("scan")
    pages = paginator.paginate(
        TableName=table,
        ProjectionExpression="job_id, #status, #source",
        ExpressionAttributeNames={"#status": "status", "#source": "source"},
    )
    for page in pages:
        for item in page.get("Items", []):
            source = deserialize(item["source"])
            version = (source["key"], source.get("version_id") or "")
            jobs_by_version.setdefault(version, []).append(deserialize(item["status"]))
    invocations = Counter(call["InputLocation"] for call in cloud.sagemaker.calls)

    lost, duplicated = [], []
    outcomes: Counter[str] = Counter()
    for upload in done:
        statuses = jobs_by_version.get((upload.key, upload.version_id), [])
        outcomes[statuses[0] if len(statuses) == 1 else f"{len(statuses)} jobs"] += 1
        if upload.expected not in statuses:
            lost.append(upload.key)
        if len(statuses) > 1 or invocations[f"s3://{bucket}/{upload.key}"] > 1:
            duplicated.append(upload.key)

    published = Counter(
        (event["detail"]["job_id"], event["detail"]["status"]) for event in cloud.status_events
    )
    expected_events = 3 * len(done)  # ACCEPTED, SUBMITTED, then SUCCEEDED or FAILED
    return {
        "lost": lost,
        "duplicated": duplicated,
        "outcomes": dict(outcomes),
        "status_events": sum(published.values()),
        "status_event_duplicates": sum(n - 1 for n in published.values() if n > 1),
        "status_events_missing": max(0, expected_events - len(published)),
    }
