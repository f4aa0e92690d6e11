"""Warm per-event overhead of one function's handler, in one Lambda-like interpreter.

    python benchmarks/warm.py <function> [--iterations N] [--warmup N] [--budget SECONDS]

Spawned by run.py with the function's Lambda environment. Prints one JSON document on the
real stdout; everything the function itself writes (Powertools JSON logs, EMF metrics) goes
to /dev/null, as Lambda would ship it off to CloudWatch.

AWS is the local cloud's: moto for DynamoDB (each scenario has a jobs table of its own, as
template.yaml declares it), S3 and EventBridge, and the local package's SageMaker runtime
stand-in. moto is loaded before the layer-only import guard, which then keeps the function
to what the layer ships.

For each scenario the same input is fed, alternately, to
  handler  the real `handler(event, context, <collaborator>)`: Powertools' logger, metrics and
           tracer decorators, SQS batch processing (SqsMessage wrapping, partial response),
           then the workflow;
  direct   the workflow entry point alone with the same collaborator on the same AWS
           (`submitter.handle_record(SqsMessage)`, `results.handle_record(SqsMessage)`,
           `reconciler.run()`, `publisher.publish(event)`).
Before each call, untimed, a scenario may set the stage (put the object a new delivery names,
or put back the jobs a run settles), so that every call takes the same path.
overhead = median(handler) - median(direct): what the wrapping costs per invocation.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import importlib.util
import json
import os
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from types import ModuleType
from typing import Any
from urllib.parse import unquote_plus

import lambda_env

# Before anything builds a Powertools Logger (it binds sys.stdout when constructed).
_REAL_STDOUT = os.fdopen(os.dup(sys.stdout.fileno()), "w")
sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the process

import boto3  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402
from moto import mock_aws  # noqa: E402

from dropzone_local.template import load_template  # noqa: E402

REGION = "us-east-1"
TABLE = "dropzone-JobsTable"
DROP_BUCKET = "dropzone-drop"
RESULTS_BUCKET = "dropzone-results"


def client(service: str) -> Any:
    return boto3.client(service, region_name=REGION)  # type: ignore[call-overload]


def start_aws() -> dict[str, Any]:
    """moto, for the life of the process, with the drop zone and results buckets (versioned,
    as the template declares them). A first call to each service loads what moto imports on
    first use, before the guard would refuse it. Returns the jobs table's properties."""
    mock_aws().start()
    s3 = client("s3")
    for bucket in (DROP_BUCKET, RESULTS_BUCKET):
        s3.create_bucket(Bucket=bucket)
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    with contextlib.suppress(ClientError):
        s3.head_object(Bucket=DROP_BUCKET, Key="nothing-here")  # and how it answers errors
    client("dynamodb").list_tables()
    client("events").list_rules()
    properties: dict[str, Any] = load_template()["Resources"]["JobsTable"]["Properties"]
    return properties


_JOBS_TABLE = start_aws()
lambda_env.install_guard()

from dropzone.adapters.eventbridge import EventBus  # noqa: E402
from dropzone.adapters.s3 import S3  # noqa: E402
from dropzone.adapters.sagemaker_runtime import SageMakerRuntime  # noqa: E402
from dropzone.clock import iso, utcnow  # noqa: E402
from dropzone.models.jobs import Job, JobKind, JobStatus, SourceObject  # noqa: E402
from dropzone.observability import metrics, tracer  # noqa: E402
from dropzone.settings.sagemaker import (  # noqa: E402
    SageMakerReconcileSettings,
    SageMakerResultSettings,
    SageMakerSubmitSettings,
)
from dropzone.settings.status import StatusPublisherSettings  # noqa: E402
from dropzone.sqs_batch import SqsMessage  # noqa: E402
from dropzone.store.ledger import Ledger  # noqa: E402
from dropzone.workflows.sagemaker.reconcile import SageMakerReconciler  # noqa: E402
from dropzone.workflows.sagemaker.result import SageMakerResults  # noqa: E402
from dropzone.workflows.sagemaker.submit import SageMakerSubmitter  # noqa: E402
from dropzone.workflows.status.publisher import StatusPublisher  # noqa: E402
from dropzone_local.lambda_context import LambdaContext  # noqa: E402
from dropzone_local.provision import create_table  # noqa: E402
from dropzone_local.sagemaker import FakeEndpoint, FakeSageMakerRuntime  # noqa: E402

ENDPOINT = "churn-model"
INPUT = b'{"rows": "' + b"0" * 1036 + b'"}'  # 1048 bytes of JSON
OK: dict[str, Any] = {"batchItemFailures": []}


@dataclass
class Scenario:
    name: str
    describe: str
    handler: Callable[[int], Any]  # i -> handler result
    direct: Callable[[int], Any]
    check: Callable[[Any], bool] = lambda result: result == OK  # every handler result
    # after the loop, given how many calls were made (both sides): did they take the path?
    path_ok: Callable[[int], bool] = lambda calls: True
    # untimed, before each call (side, i): set the stage for it
    prepare: Callable[[str, int], None] = lambda side, i: None


def load_event(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((lambda_env.EVENTS / name).read_text())
    return event


def load_app(function: lambda_env.Function) -> ModuleType:
    spec = importlib.util.spec_from_file_location(function.module, function.path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


# -- AWS ---------------------------------------------------------------------------------------


def jobs_table(scenario: str) -> str:
    """A jobs table of one scenario's own."""
    name = f"{TABLE}-{scenario}"
    create_table(client("dynamodb"), name, _JOBS_TABLE)
    return name


def items(table: str) -> list[dict[str, Any]]:
    """Every item of a table, as stored."""
    pages = client("dynamodb").get_paginator("scan").paginate(TableName=table)
    return [item for page in pages for item in page.get("Items", [])]


def put_back(dynamodb: Any, table: str, stored: list[dict[str, Any]]) -> None:
    for item in stored:
        dynamodb.put_item(TableName=table, Item=item)


class Calls:
    """The calls one boto3 client made, by operation, and those AWS refused."""

    def __init__(self, aws_client: Any) -> None:
        self.made: Counter[str] = Counter()
        self.refused: Counter[str] = Counter()
        aws_client.meta.events.register("after-call", self._note)

    def _note(self, http_response: Any, model: Any, **_: Any) -> None:
        self.made[model.name] += 1
        if http_response.status_code >= 300:
            self.refused[model.name] += 1

    def succeeded(self, operation: str) -> int:
        return self.made[operation] - self.refused[operation]


# -- scenarios -------------------------------------------------------------------------------


def _runtime() -> FakeSageMakerRuntime:
    runtime = FakeSageMakerRuntime(region=REGION)
    runtime.add_endpoint(FakeEndpoint(ENDPOINT, RESULTS_BUCKET))
    return runtime


def _submitter(table: str, runtime: FakeSageMakerRuntime) -> SageMakerSubmitter:
    return SageMakerSubmitter(
        settings=SageMakerSubmitSettings.from_env(),
        ledger=Ledger(table, client("dynamodb")),
        s3=S3(client("s3")),
        runtime=SageMakerRuntime(runtime),  # type: ignore[arg-type]
    )


def _put_input(s3: Any, key: str) -> str:
    """An object in the drop zone; its version id."""
    response = s3.put_object(
        Bucket=DROP_BUCKET, Key=key, Body=INPUT, ContentType="application/json"
    )
    return str(response["VersionId"])


def _with_object(event: dict[str, Any], key: str, version: str) -> dict[str, Any]:
    """The event, for another object version (`key` as S3 events encode it)."""
    event = copy.deepcopy(event)
    body = json.loads(event["Records"][0]["body"])
    body["detail"]["object"]["key"] = key
    body["detail"]["object"]["version-id"] = version
    event["Records"][0]["body"] = json.dumps(body)
    return event


def submit_scenarios(app: ModuleType, context: Any) -> list[Scenario]:
    template = load_event("sagemaker_submit.json")
    key = json.loads(template["Records"][0]["body"])["detail"]["object"]["key"]
    s3 = client("s3")
    scenarios = []

    # 1. duplicate delivery: the object version is already SUBMITTED (first call makes it so)
    runtime = _runtime()
    table = jobs_table("submit-duplicate")
    submitter = _submitter(table, runtime)
    event = _with_object(template, key, _put_input(s3, unquote_plus(key)))
    record = SqsMessage.from_record(event["Records"][0])
    submitter.handle_record(record)
    assert [item["status"]["S"] for item in items(table)] == ["SUBMITTED"]
    scenarios.append(
        Scenario(
            "submit: duplicate",
            "same event every time; job already SUBMITTED -> 'duplicate delivery ignored'",
            handler=lambda i: app.handler(event, context, submitter=submitter),
            direct=lambda i: submitter.handle_record(record),
            path_ok=lambda calls: len(runtime.calls) == 1,
        )
    )

    # 2. a new object version on every delivery: ACCEPTED, HeadObject, InvokeEndpointAsync,
    #    SUBMITTED -- the whole happy path. Each delivery names an object of its own, put in
    #    the drop zone before it.
    runtime_new = _runtime()
    table_new = jobs_table("submit-new-version")
    fresh = _submitter(table_new, runtime_new)
    deliveries: dict[str, Any] = {}

    def new_version(side: str, i: int) -> None:
        new_key = f"sagemaker-async/{ENDPOINT}/bench/{side}-{i:07d}.json"
        delivery = _with_object(template, new_key, _put_input(s3, new_key))
        deliveries[side] = (
            delivery if side == "handler" else SqsMessage.from_record(delivery["Records"][0])
        )

    scenarios.append(
        Scenario(
            "submit: new version",
            "new object version per event -> get, put, head, invoke, update (SUBMITTED)",
            handler=lambda i: app.handler(deliveries["handler"], context, submitter=fresh),
            direct=lambda i: fresh.handle_record(deliveries["direct"]),
            prepare=new_version,
            path_ok=lambda calls: (
                len(runtime_new.calls) == calls
                and sum(item["status"]["S"] == "SUBMITTED" for item in items(table_new)) == calls
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
                bucket=DROP_BUCKET, key=f"sagemaker-async/{ENDPOINT}/{job_id}.json"
            ),
            target=ENDPOINT,
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


def result_scenarios(app: ModuleType, context: Any) -> list[Scenario]:
    event = load_event("sagemaker_result.json")
    record = SqsMessage.from_record(event["Records"][0])
    settings = SageMakerResultSettings.from_env()
    seeding = client("dynamodb")
    scenarios = []

    # 1. first delivery: SUBMITTED -> SUCCEEDED applied. The seeded SUBMITTED job is put back
    #    before every delivery, so every delivery is a first delivery.
    table = jobs_table("result-applied")
    _seed_submitted(
        Ledger(table, seeding),
        INFERENCE_ID,
        output=f"s3://{RESULTS_BUCKET}/out/{INFERENCE_ID}.out",
        failure=None,
        deadline=None,
    )
    seeded = items(table)
    dynamodb = client("dynamodb")
    calls = Calls(dynamodb)
    results = SageMakerResults(settings, Ledger(table, dynamodb))
    scenarios.append(
        Scenario(
            "result: applied",
            "success notification for a SUBMITTED job -> get, update (SUCCEEDED)",
            handler=lambda i: app.handler(event, context, results=results),
            direct=lambda i: results.handle_record(record),
            prepare=lambda side, i: put_back(seeding, table, seeded),
            path_ok=lambda made: calls.succeeded("UpdateItem") == made,
        )
    )

    # 2. duplicate: the job is already SUCCEEDED -> conditional check fails, attempt recorded
    table_dup = jobs_table("result-duplicate")
    _seed_submitted(
        Ledger(table_dup, seeding),
        INFERENCE_ID,
        output=None,
        failure=None,
        deadline=None,
    )
    duplicate = SageMakerResults(settings, Ledger(table_dup, client("dynamodb")))
    duplicate.handle_record(record)
    (settled,) = items(table_dup)
    assert settled["status"]["S"] == "SUCCEEDED"
    scenarios.append(
        Scenario(
            "result: duplicate",
            "same notification again -> get, update fails (ConditionalCheckFailed), update",
            handler=lambda i: app.handler(event, context, results=duplicate),
            direct=lambda i: duplicate.handle_record(record),
            path_ok=lambda made: int(items(table_dup)[0]["ignored_events"]["N"]) == made,
        )
    )
    return scenarios


def reconcile_scenarios(app: ModuleType, context: Any) -> list[Scenario]:
    event = load_event("sagemaker_reconcile.json")
    table = jobs_table("reconcile")
    seeding = client("dynamodb")
    two_hours_ago = utcnow() - timedelta(hours=2)
    ledger = Ledger(table, seeding, clock=lambda: two_hours_ago)
    s3 = client("s3")
    out = f"s3://{RESULTS_BUCKET}/sagemaker-async/outputs"
    fail = f"s3://{RESULTS_BUCKET}/sagemaker-async/failures"
    past = iso(two_hours_ago + timedelta(minutes=5))
    # one job per outcome: output present, failure present, nothing and past its deadline
    _seed_submitted(ledger, "dz-a", output=f"{out}/a.out", failure=f"{fail}/a.err", deadline=past)
    _seed_submitted(ledger, "dz-b", output=f"{out}/b.out", failure=f"{fail}/b.err", deadline=past)
    _seed_submitted(ledger, "dz-c", output=f"{out}/c.out", failure=f"{fail}/c.err", deadline=past)
    s3.put_object(Bucket=RESULTS_BUCKET, Key="sagemaker-async/outputs/a.out", Body=b"{}")
    s3.put_object(
        Bucket=RESULTS_BUCKET,
        Key="sagemaker-async/failures/b.err",
        Body=b'{"failureReason": "model raised ValueError"}',
    )
    seeded = items(table)
    reconciler = SageMakerReconciler(
        SageMakerReconcileSettings.from_env(), Ledger(table, client("dynamodb")), S3(s3)
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
            prepare=lambda side, i: put_back(seeding, table, seeded),
        )
    ]


def publisher_scenarios(app: ModuleType, context: Any) -> list[Scenario]:
    event = load_event("status_publisher.json")
    events = client("events")
    sent: Counter[str] = Counter()

    def note_entries(parsed: dict[str, Any], **_: Any) -> None:
        sent["entries"] += len(parsed.get("Entries", []))

    events.meta.events.register("after-call.events.PutEvents", note_entries)
    publisher = StatusPublisher(EventBus(StatusPublisherSettings.from_env().event_bus_name, events))
    records = len(event["Records"])
    return [
        Scenario(
            f"publisher: {records} records",
            f"stream batch of {records} status changes -> {records} entries, 1 PutEvents",
            handler=lambda i: app.handler(event, context, publisher=publisher),
            direct=lambda i: publisher.publish(event),
            path_ok=lambda calls: sent["entries"] == records * calls,
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
        scenario.prepare(side, index)
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
    context = LambdaContext(
        function_name=os.environ["AWS_LAMBDA_FUNCTION_NAME"],
        timeout_seconds=900,  # Lambda's longest: outlasts the whole run
        memory_limit_in_mb=int(os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"]),
        aws_request_id="00000000-0000-4000-8000-000000000000",
    )
    results = [
        run_scenario(scenario, args.warmup, args.iterations, args.budget)
        for scenario in SCENARIOS[args.function](app, context)
    ]
    report = {"tracer_enabled": getattr(tracer.provider, "enabled", False), "scenarios": results}
    _REAL_STDOUT.write(json.dumps(report) + "\n")
    _REAL_STDOUT.flush()


if __name__ == "__main__":
    main()
