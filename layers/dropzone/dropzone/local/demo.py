"""`make demo`: drop files into a local Dropzone and watch them become tracked jobs.

Runs offline on the local cloud (moto plus model-checked fakes), with the real handlers
wired by template.yaml. Exits 0 only when every job ends in the status expected of it.
"""

from __future__ import annotations

import sys
import time
import warnings
from collections import Counter
from dataclasses import dataclass
from typing import Any

from dropzone.local.cloud import LocalCloud
from dropzone.models.jobs import Job, JobStatus

QUIET = {"POWERTOOLS_LOG_LEVEL": "CRITICAL", "POWERTOOLS_METRICS_DISABLED": "true"}


@dataclass(frozen=True)
class Drop:
    key: str
    body: bytes
    expected: JobStatus
    why: str
    metadata: dict[str, str] | None = None
    content_type: str | None = None


PREFIX = "sagemaker-async/"
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
]
DUPLICATED = 0  # index of the drop whose event is delivered a second time


def main(argv: list[str] | None = None) -> int:
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    started = time.monotonic()
    print("Dropzone demo: SageMaker asynchronous inference from an S3 drop zone, offline.\n")
    with LocalCloud(function_environment=QUIET) as cloud:
        cloud.add_endpoint("churn-model")
        cloud.add_endpoint(
            "fraud-model", failure_reason="ModelError: feature 'merchant' is missing from the input"
        )
        print(
            f"  stack from template.yaml: {len(cloud.functions)} functions, "
            f"drop zone s3://{cloud.dropzone_bucket}, results s3://{cloud.results_bucket}"
        )
        print("  endpoints: churn-model (answers), fraud-model (fails)\n")
        cloud.on_status(lambda event: _progress(event, started))

        versions: list[tuple[str, str]] = []
        for drop in SCENARIO:
            put = cloud.put_object(
                drop.key, drop.body, metadata=drop.metadata, content_type=drop.content_type
            )
            versions.append((drop.key, put["VersionId"]))
            print(f"  drop  {drop.key}  ({drop.why})")
        print(f"  again {SCENARIO[DUPLICATED].key}  (the same event delivered twice)\n")
        cloud.redeliver(*versions[DUPLICATED])

        cloud.run_until_idle()
        jobs = cloud.jobs()
        ok = _summary(cloud, jobs)
    print(f"\n{'PASS' if ok else 'FAIL'} in {time.monotonic() - started:.1f}s")
    return 0 if ok else 1


def _progress(event: dict[str, Any], started: float) -> None:
    detail = event["detail"]
    previous = detail.get("previous_status") or "new"
    print(
        f"  {time.monotonic() - started:6.2f}s  {detail['job_id'][:14]}  "
        f"{previous:>9} → {detail['status']:<9}  {detail.get('target', '')}"
    )


def _summary(cloud: LocalCloud, jobs: list[Job]) -> bool:
    by_key = {job.source.key: job for job in jobs}
    rows: list[tuple[str, ...]] = []
    ok = True
    for drop in SCENARIO:
        job = by_key.get(drop.key)
        status = job.status if job else "MISSING"
        good = status == drop.expected
        ok &= good
        outcome = ""
        if job is not None:
            succeeded = job.status is JobStatus.SUCCEEDED
            outcome = (job.output_location if succeeded else job.message) or ""
        rows.append(
            (
                job.job_id[:14] if job else "-",
                job.kind if job else "-",
                drop.key.removeprefix(PREFIX),
                str(status),
                "ok" if good else f"expected {drop.expected}",
                outcome,
            )
        )
    _table(("job", "kind", "object", "status", "check", "output / reason"), rows)

    calls = Counter(call["InputLocation"] for call in cloud.sagemaker.calls)
    duplicated = f"s3://{cloud.dropzone_bucket}/{SCENARIO[DUPLICATED].key}"
    once = calls[duplicated] == 1 and len(jobs) == len(SCENARIO)
    published = len(cloud.status_events)
    transitions = sum(len(job.history) for job in jobs)
    print(
        f"\n  jobs: {len(jobs)} for {len(SCENARIO)} objects; InvokeEndpointAsync calls for the "
        f"duplicated object: {calls[duplicated]} {'ok' if once else 'WRONG'}"
    )
    print(
        f"  status events published: {published} for {transitions} transitions "
        f"{'ok' if published == transitions else 'WRONG'}"
    )
    return ok and once and published == transitions


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    limit = 70
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
