"""`make demo`: drop files into a local Dropzone and watch them become tracked jobs.

Runs offline on the local cloud (moto plus model-checked fakes), with the real handlers
wired by template.yaml. Exits 0 only when every job ends in the status expected of it.
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from dropzone.models.jobs import Job, JobStatus
from dropzone.workflows.bedrock.estimate import cost_text, estimate_range
from dropzone_local.cloud import LocalCloud
from dropzone_local.template import FUNCTION, resources_of_type

QUIET = {"POWERTOOLS_LOG_LEVEL": "CRITICAL", "POWERTOOLS_METRICS_DISABLED": "true"}


@dataclass(frozen=True)
class Drop:
    key: str
    body: bytes
    expected: JobStatus
    why: str
    metadata: dict[str, str] | None = None
    content_type: str | None = None
    # Jobs this one starts, by the service they run on (edge record, Greengrass roll-out).
    children: dict[str, JobStatus] = field(default_factory=dict)


PREFIX = "sagemaker-async/"
MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
BATCH_PREFIX = f"bedrock-batch/{MODEL}/"
# Small per-file limit so the demo's batch file is split, as a 1 GB file would be.
PARAMETERS = {
    "BedrockMaxRecordsPerFile": "500",
    "BedrockMaxJobsPerModel": "2",
    # Greengrass roll-outs go only to the things and thing groups the stack names.
    "GreengrassTargets": "line-3-core",
}
PROJECT = "circuit-boards"
FLEET = "line-3"
CORE = "arn:aws:iot:us-east-1:123456789012:thing/line-3-core"
ARTIFACT = "edge-artifacts/defect-detector/model.tar.gz"


def _json(document: dict[str, Any]) -> bytes:
    return json.dumps(document, indent=2).encode()


def _packaging_request(**extra: Any) -> bytes:
    return _json(
        {
            "ModelVersion": "1",
            "Description": "release 7 of the circuit board model",
            "Configuration": {
                "Greengrass": {
                    "TargetDevice": "jetson_xavier",
                    "ComponentName": "circuit-model",
                    "ComponentDescription": "circuit board anomaly detection",
                    **extra,
                }
            },
            "Edge": {"DeviceFleetName": FLEET, "DeviceNames": ["cam-1", "cam-2"]},
            "GreengrassDeployment": {
                "TargetArn": CORE,
                "DeploymentPolicies": {"FailureHandlingPolicy": "ROLLBACK"},
            },
        }
    )


def _edge_document(s3_url: str) -> bytes:
    return _json(
        {
            "DeploymentName": "defect-detector-v2",
            "DeviceNames": ["cam-1", "cam-2"],
            "Definitions": [{"ModelHandle": "defect-detector", "S3Url": s3_url}],
        }
    )


def _batch(count: int, *, failing: frozenset[int] = frozenset(), broken_line: int = 0) -> bytes:
    lines = []
    for index in range(count):
        model_input: dict[str, Any] = {
            "anthropic_version": "bedrock-2023-05-31",
            "max_tokens": 200,
            "messages": [{"role": "user", "content": f"Summarise review {index}."}],
        }
        if index in failing:
            model_input["fail"] = True  # the local Bedrock fails these records
        lines.append(json.dumps({"recordId": f"review-{index:05d}", "modelInput": model_input}))
    if broken_line:
        lines[broken_line - 1] = '{"recordId": "oops", "modelInput": '
    return ("\n".join(lines) + "\n").encode()


SCENARIO = [
    Drop(
        f"{PREFIX}churn-model/2026-11-25/customers-0001.json",
        b'{"rows": [[42, 3, 0.7]]}',
        JobStatus.SUCCEEDED,
        "a JSON input",
        content_type="application/json",
    ),
    Drop(
        f"{PREFIX}churn-model/2026-11-25/customers-0002.csv",
        b"42,3,0.7\n17,1,0.2\n",
        JobStatus.SUCCEEDED,
        "CSV with accept and a 10 minute TTL",
        content_type="text/csv",
        metadata={"accept": "application/json", "request-ttl-seconds": "600"},
    ),
    Drop(
        f"{PREFIX}churn-model/2026-11-25/spaces and+plus.json",
        b'{"rows": []}',
        JobStatus.SUCCEEDED,
        "a key with a space and a plus sign",
    ),
    Drop(
        f"{PREFIX}fraud-model/tx-0001.json",
        b'{"amount": 12.5}',
        JobStatus.FAILED,
        "the model raises an error",
    ),
    Drop(
        f"{PREFIX}no-such-model/x.json",
        b'{"x": 1}',
        JobStatus.REJECTED,
        "bad input: unknown endpoint",
    ),
    Drop(f"{PREFIX}churn-model/empty.json", b"", JobStatus.REJECTED, "bad input: zero-byte object"),
    Drop(
        f"{PREFIX}churn-model/short-ttl.json",
        b'{"x": 1}',
        JobStatus.REJECTED,
        "bad input: request-ttl-seconds below 60",
        metadata={"request-ttl-seconds": "5"},
    ),
    Drop(
        f"{PREFIX}Bad_Endpoint!/x.json",
        b'{"x": 1}',
        JobStatus.REJECTED,
        "bad input: invalid endpoint name",
    ),
    Drop(
        f"{BATCH_PREFIX}reviews-2026-11/reviews.jsonl",
        _batch(1200, failing=frozenset({17, 800, 1100})),
        JobStatus.PARTIALLY_SUCCEEDED,
        "a Bedrock batch of 1,200 records: split in 3, 3 records fail",
    ),
    Drop(
        f"{BATCH_PREFIX}reviews-2026-11/small.jsonl",
        _batch(150),
        JobStatus.SUCCEEDED,
        "a Bedrock batch of 150 records",
        metadata={"timeout-hours": "48"},
    ),
    Drop(
        f"{BATCH_PREFIX}reviews-2026-11/broken.jsonl",
        _batch(150, broken_line=42),
        JobStatus.REJECTED,
        "bad input: line 42 is not JSON",
    ),
    Drop(
        f"model-packaging/{PROJECT}/release-7.json",
        _packaging_request(),
        JobStatus.SUCCEEDED,
        "a Lookout for Vision packaging request naming fleet line-3 and a Greengrass core",
        children={"edge": JobStatus.PARTIALLY_SUCCEEDED, "greengrass": JobStatus.SUCCEEDED},
    ),
    Drop(
        f"model-packaging/{PROJECT}/both-targets.json",
        _packaging_request(TargetPlatform={"Os": "LINUX", "Arch": "ARM64"}),
        JobStatus.REJECTED,
        "bad input: TargetDevice and TargetPlatform together",
    ),
    Drop(
        f"edge-deployments/{FLEET}/defect-detector-v2.json",
        _edge_document("s3://{dropzone}/" + ARTIFACT),
        JobStatus.SUCCEEDED,
        "an edge deployment of a model artifact to cam-1 and cam-2",
    ),
    Drop(
        f"edge-deployments/{FLEET}/elsewhere.json",
        _edge_document("s3://someone-elses-bucket/model.tar.gz"),
        JobStatus.REJECTED,
        "bad input: the artifact is outside Dropzone's buckets",
    ),
]
DUPLICATED = 0  # index of the drop whose event is delivered a second time


def _options(argv: list[str] | None) -> Any:
    import argparse
    from pathlib import Path

    parser = argparse.ArgumentParser(
        prog="dropzone demo", description="Drop files into a local Dropzone, offline."
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="save the ledger, status events and buckets for `dropzone jobs list --local`",
    )
    parser.add_argument(
        "--state-dir", type=Path, help="where --keep saves (default: .dropzone/local/)"
    )
    return parser.parse_args(argv or [])  # None: no options, not the host process argv


def main(argv: list[str] | None = None) -> int:
    options = _options(argv)
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    started = time.monotonic()
    print(
        "Dropzone demo: SageMaker asynchronous inference, Bedrock batch inference, model "
        "packaging and edge deployments from an S3 drop zone, offline.\n"
    )
    with LocalCloud(function_environment=QUIET, parameters=PARAMETERS) as cloud:
        cloud.add_endpoint("churn-model")
        cloud.add_endpoint(
            "fraud-model", failure_reason="ModelError: feature 'merchant' is missing from the input"
        )
        declared = resources_of_type(cloud.template, FUNCTION)
        off = sorted(set(declared) - set(cloud.functions))
        print(
            f"  stack from template.yaml: {len(cloud.functions)} of its {len(declared)} "
            f"functions, drop zone s3://{cloud.dropzone_bucket}, "
            f"results s3://{cloud.results_bucket}"
        )
        if off:
            print(f"  off until a parameter turns them on: {', '.join(off)}")
        cloud.add_packaging_project(PROJECT)
        cloud.add_core_devices(CORE, ["line-3-core"])
        cloud.add_device(FLEET, "cam-1")
        cloud.add_device(FLEET, "cam-2").fail("circuit-model", "not enough GPU memory")
        artifact = b"model weights\n" * 4096
        cloud.put_object(ARTIFACT, artifact)
        print("  endpoints: churn-model (answers), fraud-model (fails)")
        print(
            f"  Lookout for Vision project {PROJECT}; Greengrass core line-3-core; "
            f"edge fleet {FLEET}: cam-1, cam-2 (cannot load circuit-model)"
        )
        print(f"  model artifact s3://{cloud.dropzone_bucket}/{ARTIFACT} ({len(artifact)} bytes)")
        print(
            f"  Bedrock: at most {PARAMETERS['BedrockMaxJobsPerModel']} jobs per model at once, "
            f"{PARAMETERS['BedrockMaxRecordsPerFile']} records per file\n"
        )
        cloud.on_status(lambda event: _progress(event, started))

        versions: list[tuple[str, str]] = []
        for drop in SCENARIO:
            body = drop.body.replace(b"{dropzone}", cloud.dropzone_bucket.encode())
            put = cloud.put_object(
                drop.key, body, metadata=drop.metadata, content_type=drop.content_type
            )
            versions.append((drop.key, put["VersionId"]))
            print(f"  drop  {drop.key}  ({drop.why})")
        print(f"  again {SCENARIO[DUPLICATED].key}  (the same event delivered twice)\n")
        cloud.redeliver(*versions[DUPLICATED])

        cloud.run_until_idle()
        # Lookout for Vision has no job events: its jobs are polled on a schedule.
        for minute in range(1, 11):
            if all(job.status.is_terminal for job in cloud.jobs()):
                break
            print(f"  ... {minute} min later: scheduled functions run")
            cloud.advance(timedelta(minutes=1))
        jobs = cloud.jobs()
        ok = _summary(cloud, jobs)
        answer = cloud.edge_answers().get_deployments("cam-1", FLEET)
        print(f"\n  GetDeployments for cam-1 in {FLEET}, as Dropzone answers it:")
        for deployment in answer["Deployments"]:
            for definition in deployment["Definitions"]:
                print(
                    f"    {deployment['DeploymentName'][:24]:<24}  {definition['State']:<8}  "
                    f"{definition['ModelHandle']:<16}  sha1 {definition['Checksum']['Sum']}"
                )
        if options.keep:
            from dropzone_local import state

            print(f"\n  local state kept in {state.save(cloud, options.state_dir)}")
    print(f"\n{'PASS' if ok else 'FAIL'} in {time.monotonic() - started:.1f}s")
    return 0 if ok else 1


def _progress(event: dict[str, Any], started: float) -> None:
    detail = event["detail"]
    previous = detail.get("previous_status") or "new"
    print(
        f"  {time.monotonic() - started:6.2f}s  {_short_id(detail['job_id'])}  "
        f"{previous:>9} → {detail['status']:<19}  {_short(detail.get('target', ''))}"
    )


def _summary(cloud: LocalCloud, jobs: list[Job]) -> bool:
    top = {job.source.key: job for job in jobs if job.parent_id is None}
    children: dict[str, list[Job]] = {}
    for part in jobs:
        if part.parent_id:
            children.setdefault(part.parent_id, []).append(part)
    rows: list[tuple[str, ...]] = []
    ok = True
    for drop in SCENARIO:
        job = top.get(drop.key)
        good = job is not None and job.status == drop.expected
        ok &= good
        rows.append(_row(job, drop.key, "ok" if good else f"expected {drop.expected}"))
        for child in children.get(job.job_id if job else "", []):
            service = (child.service_ref or "").split(":", 1)[0]
            if service in drop.children:
                expected = drop.children[service]
                good = child.status == expected
                ok &= good
                name = f"  {service} roll-out to {child.target.rsplit(':', 1)[-1]}"
                rows.append(_row(child, name, "ok" if good else f"expected {expected}"))
            else:
                ok &= child.status.is_terminal
                rows.append(_row(child, f"  part {child.options.get('part')}", ""))
        started = {
            (child.service_ref or "").split(":", 1)[0]
            for child in children.get(job.job_id if job else "", [])
        }
        if not set(drop.children) <= started:
            ok = False
            rows.append(("-", "-", "  child jobs", "MISSING", f"expected {drop.children}", ""))
    _table(("job", "kind", "object", "status", "check", "output / reason"), rows)
    ok &= _costs(top.values())

    calls = Counter(call["InputLocation"] for call in cloud.sagemaker.calls)
    duplicated = f"s3://{cloud.dropzone_bucket}/{SCENARIO[DUPLICATED].key}"
    once = calls[duplicated] == 1 and len(top) == len(SCENARIO)
    published = len(cloud.status_events)
    transitions = sum(len(job.history) for job in jobs)
    within_quota = cloud.bedrock_peak_in_flight <= int(PARAMETERS["BedrockMaxJobsPerModel"])
    print(
        f"\n  jobs: {len(top)} for {len(SCENARIO)} objects, plus {len(jobs) - len(top)} parts; "
        f"InvokeEndpointAsync calls for the duplicated object: {calls[duplicated]} "
        f"{'ok' if once else 'WRONG'}"
    )
    print(
        f"  Bedrock jobs in flight at most: {cloud.bedrock_peak_in_flight} "
        f"{'ok' if within_quota else 'WRONG'}"
    )
    print(
        f"  status events published: {published} for {transitions} transitions "
        f"{'ok' if published == transitions else 'WRONG'}"
    )
    return ok and once and within_quota and published == transitions


def _costs(uploads: Iterable[Job]) -> bool:
    """Each Bedrock upload's estimate at intake beside what it cost: the cost must not pass
    the estimate's high end, which caps and budgets are held against."""
    priced = [job for job in uploads if job.estimate and job.cost]
    if not priced:
        return True
    print("\n  Bedrock cost: the estimate at intake, and the cost from the tokens Bedrock reported")
    ok = True
    for job in priced:
        assert job.estimate is not None and job.cost is not None
        cost, high = job.cost.get("usd"), job.estimate.get("high_usd")
        within = cost is not None and high is not None and cost <= high
        ok &= within
        calibration = job.estimate.get("calibration") or {}
        calibrated = " (calibrated by CountTokens)" if "ratio" in calibration else ""
        print(f"    {_short(job.source.key)}")
        print(f"      estimate  {estimate_range(job.estimate)}{calibrated}")
        estimate = job.estimate
        print(
            f"                {estimate['records']:,} records: about "
            f"{estimate['input_tokens']:,} input tokens, at most "
            f"{estimate['max_output_tokens']:,} output"
        )
        prices = str(estimate["mode"]).replace("_", "-")
        print(f"                {prices} prices checked {estimate.get('prices_checked')}")
        verdict = "ok" if within else "OVER THE ESTIMATE"
        billed = (
            f"{job.cost.get('input_tokens', 0):,} input and "
            f"{job.cost.get('output_tokens', 0):,} output tokens"
        )
        print(f"      cost      {cost_text(job.cost)} for {billed}  {verdict}")
    return ok


def _row(job: Job | None, name: str, check: str) -> tuple[str, ...]:
    if job is None:
        return ("-", "-", _short(name), "MISSING", check, "")
    succeeded = job.status is JobStatus.SUCCEEDED
    outcome = (job.output_location if succeeded and job.output_location else job.message) or ""
    if job.status is JobStatus.PARTIALLY_SUCCEEDED and job.failure_location:
        outcome = f"{job.message}; retry file {job.failure_location}"
    return (_short_id(job.job_id), job.kind, _short(name), str(job.status), check, outcome)


def _short(key: str) -> str:
    shorter = key.removeprefix(PREFIX).removeprefix("bedrock-batch/")
    shorter = shorter.removeprefix("model-packaging/").removeprefix("edge-deployments/")
    return shorter.replace(MODEL, "anthropic.claude-3-haiku…")


def _short_id(job_id: str) -> str:
    parent, _, suffix = job_id.rpartition("-")
    if parent.startswith("dz-") and len(parent) > 15:  # a part or a roll-out of a job
        return f"{parent[:10]}…-{suffix}"
    return job_id[:15]


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    limit = 80
    cells = [
        header,
        *[
            tuple(cell if len(cell) <= limit else cell[: limit - 1] + "…" for cell in row)
            for row in rows
        ],
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    line = "  " + "  ".join("-" * width for width in widths)
    print()
    for index, row in enumerate(cells):
        print("  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
        if index == 0:
            print(line)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
