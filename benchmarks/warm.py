"""Warm per-event overhead of one function's handler, in one Lambda-like interpreter.

    python benchmarks/warm.py <function> [--iterations N] [--warmup N] [--budget SECONDS]

Spawned by run.py with the function's Lambda environment. Prints one JSON document on the
real stdout; everything the function itself writes (Powertools JSON logs, EMF metrics) goes
to /dev/null, as Lambda would ship it off to CloudWatch.

For each scenario the same input is fed, alternately, to
  handler  the real `handler(event, context, <collaborator>)`: Powertools' logger, metrics and
           tracer decorators, SQS batch processing (SqsMessage wrapping, partial response),
           then the workflow;
  direct   the workflow entry point alone with the same collaborator and the same fakes
           (`submitter.handle_record(SqsMessage)`, `results.handle_record(SqsMessage)`,
           `reconciler.run()`, `publisher.publish(event)`).
overhead = median(handler) - median(direct): what the wrapping costs per invocation.
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from types import ModuleType
from typing import Any

import lambda_env

lambda_env.install_guard()

# Before anything builds a Powertools Logger (it binds sys.stdout when constructed).
_REAL_STDOUT = os.fdopen(os.dup(sys.stdout.fileno()), "w")
sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the process

from fakes import (  # noqa: E402
    FakeDynamoDB,
    FakeEvents,
    FakeLambdaContext,
    FakeS3,
    FakeSageMakerRuntime,
)

from dropzone.adapters.eventbridge import EventBus  # noqa: E402
from dropzone.adapters.s3 import S3  # noqa: E402
from dropzone.adapters.sagemaker_runtime import SageMakerRuntime  # noqa: E402
from dropzone.clock import iso, utcnow  # noqa: E402
from dropzone.models.jobs import Job, JobKind, JobStatus, SourceObject  # noqa: E402
from dropzone.observability import metrics, tracer  # noqa: E402
from dropzone.settings import (  # noqa: E402
    SageMakerReconcileSettings,
    SageMakerResultSettings,
    SageMakerSubmitSettings,
    StatusPublisherSettings,
)
from dropzone.sqs_batch import SqsMessage  # noqa: E402
from dropzone.store.ledger import Ledger  # noqa: E402
from dropzone.workflows.sagemaker_async import (  # noqa: E402
    SageMakerReconciler,
    SageMakerResults,
    SageMakerSubmitter,
)
from dropzone.workflows.status_events import StatusPublisher  # noqa: E402

TABLE = "dropzone-JobsTable"
RESULTS_BUCKET = "dropzone-results"
OK = {"batchItemFailures": []}


@dataclass
class Scenario:
    name: str
    describe: str
    handler: Callable[[int], Any]  # i -> handler result
    direct: Callable[[int], Any]
    check: Callable[[Any], bool] = lambda result: result == OK  # every handler result
    # after the loop, given how many calls were made (both sides): did they take the path?
    path_ok: Callable[[int], bool] = lambda calls: True


def load_event(name: str) -> dict[str, Any]:
    return json.loads((lambda_env.EVENTS / name).read_text())


def load_app(function: lambda_env.Function) -> ModuleType:
    spec = importlib.util.spec_from_file_location(function.module, function.path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


# -- scenarios -------------------------------------------------------------------------------


def _submitter(ddb: FakeDynamoDB) -> SageMakerSubmitter:
    return SageMakerSubmitter(
        settings=SageMakerSubmitSettings.from_env(),
        ledger=Ledger(TABLE, ddb),  # type: ignore[arg-type]
        s3=S3(FakeS3()),  # type: ignore[arg-type]
        runtime=SageMakerRuntime(FakeSageMakerRuntime()),  # type: ignore[arg-type]
    )


def _with_version(event: dict[str, Any], version: str) -> dict[str, Any]:
    event = copy.deepcopy(event)
    body = json.loads(event["Records"][0]["body"])
    body["detail"]["object"]["version-id"] = version
    event["Records"][0]["body"] = json.dumps(body)
    return event


def submit_scenarios(app: ModuleType, context: Any, count: int) -> list[Scenario]:
    event = load_event("sagemaker_submit.json")
    scenarios = []

    # 1. duplicate delivery: the object version is already SUBMITTED (first call makes it so)
    ddb = FakeDynamoDB()
    submitter = _submitter(ddb)
    record = SqsMessage.from_record(event["Records"][0])
    submitter.handle_record(record)
    assert [item["status"]["S"] for item in ddb.items.values()] == ["SUBMITTED"]
    scenarios.append(
        Scenario(
            "submit: duplicate",
            "same event every time; job already SUBMITTED -> 'duplicate delivery ignored'",
            handler=lambda i: app.handler(event, context, submitter=submitter),
            direct=lambda i: submitter.handle_record(record),
            path_ok=lambda calls: submitter.runtime._client.calls == 1,  # type: ignore[attr-defined]
        )
    )

    # 2. a new object version on every delivery: ACCEPTED, HeadObject, InvokeEndpointAsync,
    #    SUBMITTED -- the whole happy path. Each side gets its own pre-built versions.
    ddb_new = FakeDynamoDB()
    fresh = _submitter(ddb_new)
    handler_events = [_with_version(event, f"h{i:07d}") for i in range(count)]
    direct_records = [
        SqsMessage.from_record(_with_version(event, f"d{i:07d}")["Records"][0])
        for i in range(count)
    ]
    scenarios.append(
        Scenario(
            "submit: new version",
            "new object version per event -> get, put, head, invoke, update (SUBMITTED)",
            handler=lambda i: app.handler(handler_events[i], context, submitter=fresh),
            direct=lambda i: fresh.handle_record(direct_records[i]),
            path_ok=lambda calls: (
                fresh.runtime._client.calls == calls  # type: ignore[attr-defined]
                and sum(item["status"]["S"] == "SUBMITTED" for item in ddb_new.items.values())
                == calls
            ),
        )
    )
    return scenarios


INFERENCE_ID = "dz-0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c"


def _seed_submitted(
    ledger: Ledger, job_id: str, *, output: str | None, failure: str | None, deadline: str | None
) -> None:
    ledger.create(
        Job(
            job_id=job_id,
            kind=JobKind.SAGEMAKER_ASYNC,
            status=JobStatus.ACCEPTED,
            source=SourceObject(
                bucket="dropzone-drop", key=f"sagemaker-async/churn-model/{job_id}.json"
            ),
            target="churn-model",
            created_at="",
            updated_at="",
        ),
        lease_owner="seed",
        lease_seconds=60,
    )
    result = ledger.transition(
        job_id,
        JobKind.SAGEMAKER_ASYNC,
        JobStatus.SUBMITTED,
        service_status="Accepted",
        updates={
            "inference_id": job_id,
            "service_ref": f"sagemaker:{job_id}",
            "output_location": output,
            "failure_location": failure,
            "deadline_at": deadline,
        },
    )
    assert result.applied


def result_scenarios(app: ModuleType, context: Any, count: int) -> list[Scenario]:
    event = load_event("sagemaker_result.json")
    record = SqsMessage.from_record(event["Records"][0])
    settings = SageMakerResultSettings.from_env()
    scenarios = []

    # 1. first delivery: SUBMITTED -> SUCCEEDED applied. The fake keeps the seeded SUBMITTED
    #    job (writes are evaluated, not stored), so every delivery is a first delivery.
    ddb = FakeDynamoDB()
    _seed_submitted(
        Ledger(TABLE, ddb),  # type: ignore[arg-type]
        INFERENCE_ID,
        output=f"s3://{RESULTS_BUCKET}/out/{INFERENCE_ID}.out",
        failure=None,
        deadline=None,
    )
    ddb.persist = False
    seeded_updates = ddb.applied_updates
    results = SageMakerResults(settings, Ledger(TABLE, ddb))  # type: ignore[arg-type]
    scenarios.append(
        Scenario(
            "result: applied",
            "success notification for a SUBMITTED job -> get, update (SUCCEEDED)",
            handler=lambda i: app.handler(event, context, results=results),
            direct=lambda i: results.handle_record(record),
            path_ok=lambda calls: ddb.applied_updates - seeded_updates == calls,
        )
    )

    # 2. duplicate: the job is already SUCCEEDED -> conditional check fails, attempt recorded
    ddb_dup = FakeDynamoDB()
    _seed_submitted(
        Ledger(TABLE, ddb_dup),  # type: ignore[arg-type]
        INFERENCE_ID,
        output=None,
        failure=None,
        deadline=None,
    )
    duplicate = SageMakerResults(settings, Ledger(TABLE, ddb_dup))  # type: ignore[arg-type]
    duplicate.handle_record(record)
    assert ddb_dup.items[INFERENCE_ID]["status"]["S"] == "SUCCEEDED"
    scenarios.append(
        Scenario(
            "result: duplicate",
            "same notification again -> get, update fails (ConditionalCheckFailed), update",
            handler=lambda i: app.handler(event, context, results=duplicate),
            direct=lambda i: duplicate.handle_record(record),
            path_ok=lambda calls: int(ddb_dup.items[INFERENCE_ID]["ignored_events"]["N"]) == calls,
        )
    )
    return scenarios


def reconcile_scenarios(app: ModuleType, context: Any, count: int) -> list[Scenario]:
    event = load_event("sagemaker_reconcile.json")
    ddb = FakeDynamoDB()
    two_hours_ago = utcnow() - timedelta(hours=2)
    seeding = Ledger(TABLE, ddb, clock=lambda: two_hours_ago)  # type: ignore[arg-type]
    s3 = FakeS3()
    out = f"s3://{RESULTS_BUCKET}/sagemaker-async/outputs"
    fail = f"s3://{RESULTS_BUCKET}/sagemaker-async/failures"
    past = iso(two_hours_ago + timedelta(minutes=5))
    # one job per outcome: output present, failure present, nothing and past its deadline
    _seed_submitted(seeding, "dz-a", output=f"{out}/a.out", failure=f"{fail}/a.err", deadline=past)
    _seed_submitted(seeding, "dz-b", output=f"{out}/b.out", failure=f"{fail}/b.err", deadline=past)
    _seed_submitted(seeding, "dz-c", output=f"{out}/c.out", failure=f"{fail}/c.err", deadline=past)
    s3.missing |= {f"{fail}/a.err", f"{out}/b.out", f"{out}/c.out", f"{fail}/c.err"}
    s3.bodies[f"{fail}/b.err"] = b'{"failureReason": "model raised ValueError"}'
    ddb.persist = False
    reconciler = SageMakerReconciler(
        SageMakerReconcileSettings.from_env(),
        Ledger(TABLE, ddb),  # type: ignore[arg-type]
        S3(s3),  # type: ignore[arg-type]
    )
    expected = {"examined": 3, "succeeded": 1, "failed": 1, "expired": 1, "unresolved": 0}
    assert reconciler.run().as_dict() == expected
    return [
        Scenario(
            "reconcile: 3 jobs",
            "one scheduled run over 3 SUBMITTED jobs -> 1 succeeded, 1 failed, 1 expired",
            handler=lambda i: app.handler(event, context, reconciler=reconciler),
            direct=lambda i: reconciler.run(),
            check=lambda result: result == expected,
        )
    ]


def publisher_scenarios(app: ModuleType, context: Any, count: int) -> list[Scenario]:
    event = load_event("status_publisher.json")
    events = FakeEvents()
    publisher = StatusPublisher(
        EventBus(StatusPublisherSettings.from_env().event_bus_name, events)  # type: ignore[arg-type]
    )
    records = len(event["Records"])
    return [
        Scenario(
            f"publisher: {records} records",
            f"stream batch of {records} status changes -> {records} entries, 1 PutEvents",
            handler=lambda i: app.handler(event, context, publisher=publisher),
            direct=lambda i: publisher.publish(event),
            path_ok=lambda calls: events.entries == records * calls,
        )
    ]


SCENARIOS = {
    "sagemaker_submit": submit_scenarios,
    "sagemaker_result": result_scenarios,
    "sagemaker_reconcile": reconcile_scenarios,
    "status_publisher": publisher_scenarios,
}


# -- timing ----------------------------------------------------------------------------------


def run_scenario(scenario: Scenario, warmup: int, iterations: int, budget: float) -> dict[str, Any]:
    wall, cpu = time.perf_counter_ns, time.process_time_ns
    failures = 0
    index = 0
    calls = 0
    samples: dict[str, list[int]] = {
        "handler": [],
        "direct": [],
        "handler_cpu": [],
        "direct_cpu": [],
    }

    def one(side: str, record: bool) -> None:
        nonlocal failures, calls
        calls += 1
        call = scenario.handler if side == "handler" else scenario.direct
        start, start_cpu = wall(), cpu()
        result = call(index)
        elapsed_cpu, elapsed = cpu() - start_cpu, wall() - start
        if record:
            samples[side].append(elapsed)
            samples[f"{side}_cpu"].append(elapsed_cpu)
        metrics.clear_metrics()  # `direct` never flushes; keep the handler's flush honest
        if side == "handler" and not scenario.check(result):
            failures += 1

    started = time.perf_counter()
    for _ in range(warmup):
        one("handler", record=False)
        one("direct", record=False)
        index += 1
    per_pair = (time.perf_counter() - started) / max(warmup, 1)
    planned = iterations
    if per_pair > 0:  # stay within the time budget, but never below 200 timed pairs
        iterations = min(iterations, max(int(budget / per_pair), 200))

    for n in range(iterations):
        # alternate which side goes first, so neither always runs on a cache the other warmed
        for side in ("direct", "handler") if n % 2 else ("handler", "direct"):
            one(side, record=True)
        index += 1

    median = {name: statistics.median(values) / 1e6 for name, values in samples.items()}
    return {
        "scenario": scenario.name,
        "describe": scenario.describe,
        "warmup": warmup,
        "iterations": iterations,
        "planned_iterations": planned,
        "handler_ms": median["handler"],
        "direct_ms": median["direct"],
        "overhead_ms": median["handler"] - median["direct"],
        "ratio": median["handler"] / median["direct"],
        "handler_cpu_ms": median["handler_cpu"],
        "direct_cpu_ms": median["direct_cpu"],
        "overhead_cpu_ms": median["handler_cpu"] - median["direct_cpu"],
        "handler_p90_ms": statistics.quantiles(samples["handler"], n=10)[-1] / 1e6,
        "direct_p90_ms": statistics.quantiles(samples["direct"], n=10)[-1] / 1e6,
        "handler_failures": failures,
        "path_ok": scenario.path_ok(calls),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("function", choices=sorted(SCENARIOS))
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument(
        "--budget", type=float, default=4.0, help="seconds of timed loop per scenario, at most"
    )
    args = parser.parse_args()

    function = lambda_env.BY_NAME[args.function]
    app = load_app(function)
    context = FakeLambdaContext(function_name=os.environ["AWS_LAMBDA_FUNCTION_NAME"])
    count = args.warmup + args.iterations
    results = [
        run_scenario(scenario, args.warmup, args.iterations, args.budget)
        for scenario in SCENARIOS[args.function](app, context, count)
    ]
    report = {"tracer_enabled": not tracer.disabled, "scenarios": results}
    _REAL_STDOUT.write(json.dumps(report) + "\n")
    _REAL_STDOUT.flush()


if __name__ == "__main__":
    main()
