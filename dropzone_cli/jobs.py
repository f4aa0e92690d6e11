"""`dropzone jobs list|show|result`: read the job ledger of a deployed stack or a saved local
run, and fetch a Bedrock upload's result file."""

from __future__ import annotations

import heapq
import itertools
import os
import sys
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Protocol

from dropzone.models.jobs import Job, JobKind, JobStatus
from dropzone.store.job_items import job_from_item, state_key
from dropzone.store.ledger import BY_STATE_INDEX, Ledger
from dropzone.workflows.bedrock.estimate import cost_text, describe, estimate_range
from dropzone_cli.common import CliError
from dropzone_cli.render import Column, Printer, short_id, trim_end, trim_middle
from dropzone_local.state import RESULT_FILE_BYTES, LocalState, load

FULL_ID_LENGTH = len("dz-") + 40


class JobSource(Protocol):
    description: str

    def matching(
        self, kinds: list[JobKind], statuses: list[JobStatus], limit: int
    ) -> tuple[list[Job], bool]:
        """Jobs matching the filters (empty = any), most recently updated first; and
        whether more matched than `limit` (0 = no limit)."""
        ...

    def get(self, job_id: str) -> Job | None: ...

    def ids_starting(self, prefix: str) -> list[str]: ...


def _newest_first(job: Job) -> str:
    return job.updated_at


def _take(jobs: Iterable[Job], limit: int) -> tuple[list[Job], bool]:
    if limit <= 0:
        return list(jobs), False
    taken = list(itertools.islice(jobs, limit + 1))
    return taken[:limit], len(taken) > limit


def _newest(jobs: Iterable[Job], limit: int) -> tuple[list[Job], bool]:
    """The `limit` most recently updated of `jobs` in any order (0 = all), keeping no
    more than `limit` of them at a time; and whether there were more."""
    if limit <= 0:
        return sorted(jobs, key=_newest_first, reverse=True), False
    seen = 0

    def counted() -> Iterator[Job]:
        nonlocal seen
        for job in jobs:
            seen += 1
            yield job

    newest = heapq.nlargest(limit, counted(), key=_newest_first)
    return newest, seen > limit


class RemoteJobs:
    """The jobs table of a deployed stack: the by-state index whenever a kind or status
    is given (one query per kind#status pair), otherwise a paginated scan."""

    def __init__(self, table_name: str, dynamodb: Any, s3: Any = None) -> None:
        self.table_name = table_name
        self.description = f"table {table_name}"
        self._client = dynamodb
        self._ledger = Ledger(table_name, dynamodb)
        self.s3 = s3

    def matching(
        self, kinds: list[JobKind], statuses: list[JobStatus], limit: int
    ) -> tuple[list[Job], bool]:
        if kinds or statuses:
            pairs = itertools.product(kinds or list(JobKind), statuses or list(JobStatus))
            streams = [self._query(kind, status) for kind, status in pairs]
            merged = heapq.merge(*streams, key=_newest_first, reverse=True)
            return _take(merged, limit)
        return _newest(self._scan(), limit)

    def get(self, job_id: str) -> Job | None:
        return self._ledger.get(job_id)

    def ids_starting(self, prefix: str) -> list[str]:
        paginator = self._client.get_paginator("scan")
        found: list[str] = []
        for page in paginator.paginate(
            TableName=self.table_name,
            ProjectionExpression="job_id",
            FilterExpression="begins_with(job_id, :prefix)",
            ExpressionAttributeValues={":prefix": {"S": prefix}},
        ):
            found.extend(item["job_id"]["S"] for item in page.get("Items", []))
        return sorted(found)

    def _query(self, kind: JobKind, status: JobStatus) -> Iterator[Job]:
        paginator = self._client.get_paginator("query")
        for page in paginator.paginate(
            TableName=self.table_name,
            IndexName=BY_STATE_INDEX,
            KeyConditionExpression="state_key = :sk",
            ExpressionAttributeValues={":sk": {"S": state_key(kind, status)}},
            ScanIndexForward=False,
        ):
            for item in page.get("Items", []):
                yield job_from_item(item)

    def _scan(self) -> Iterator[Job]:
        paginator = self._client.get_paginator("scan")
        for page in paginator.paginate(TableName=self.table_name):
            for item in page.get("Items", []):
                yield job_from_item(item)


class LocalJobs:
    """The ledger of a local run saved by `dropzone demo --keep`."""

    def __init__(self, state: LocalState) -> None:
        self.state = state
        self.description = f"local state saved {state.saved_at} in {state.directory}"

    def matching(
        self, kinds: list[JobKind], statuses: list[JobStatus], limit: int
    ) -> tuple[list[Job], bool]:
        jobs = [
            job
            for job in self.state.jobs()
            if (not kinds or job.kind in kinds) and (not statuses or job.status in statuses)
        ]
        return _take(sorted(jobs, key=_newest_first, reverse=True), limit)

    def get(self, job_id: str) -> Job | None:
        return self.state.job(job_id)

    def reload(self) -> None:
        """Read the saved run again (a watch sees what a later save wrote)."""
        self.state = load(self.state.directory)

    def ids_starting(self, prefix: str) -> list[str]:
        return sorted(job.job_id for job in self.state.jobs() if job.job_id.startswith(prefix))


ELLIPSES = ("…", "...")


def resolve_job(source: JobSource, job_id: str) -> Job:
    """A job by its id, by a unique leading part of it, or by the short form tables print
    for parts (`dz-9d3befc…-p001`: a leading part of the parent's id, then the suffix)."""
    job_id = job_id.strip()
    job = source.get(job_id)
    if job is not None:
        return job
    for ellipsis in ELLIPSES:
        if ellipsis in job_id:
            prefix, _, suffix = job_id.partition(ellipsis)
            break
    else:
        prefix, suffix = job_id, ""
    if len(prefix) < FULL_ID_LENGTH:
        matches = [
            match
            for match in source.ids_starting(prefix)
            if match.endswith(suffix) and len(match) >= len(prefix) + len(suffix)
        ]
        # an upload's id is the start of its parts' ids: a short id names the upload
        shortest = min(matches, key=len, default="")
        if matches and all(
            match.startswith(f"{shortest}-") for match in matches if match != shortest
        ):
            matches = [shortest]
        if len(matches) == 1:
            found = source.get(matches[0])
            if found is not None:
                return found
        if len(matches) > 1:
            shown = ", ".join(matches[:5]) + (" …" if len(matches) > 5 else "")
            raise CliError(f"job id {job_id} is ambiguous: {len(matches)} jobs match ({shown})")
    raise CliError(f"no job {job_id} in {source.description}", exit_code=1)


LIST_COLUMNS = (
    Column("JOB ID", trim=short_id, min_width=16),
    Column("KIND", drop=4),
    Column("STATUS", styled=True),
    Column("TARGET", drop=6, trim=trim_middle, min_width=12),
    Column("UPDATED", drop=5),
    Column("COST", drop=7),
    Column("OBJECT", trim=trim_middle, min_width=22),
    Column("MESSAGE", trim=trim_end, min_width=16, last_to_shrink=True),
)


def job_row(job: Job) -> tuple[str, ...]:
    """A job as `jobs list` shows it, whole: the table trims what does not fit."""
    return (
        job.job_id,
        job.kind,
        job.status,
        job.target,
        job.updated_at,
        _money(job),
        _object(job),
        " ".join((job.message or "").split()),
    )


def list_jobs(
    source: JobSource,
    printer: Printer,
    *,
    kind: str | None,
    status: str | None,
    limit: int,
) -> int:
    kinds = [JobKind(kind)] if kind else []
    statuses = [JobStatus(status)] if status else []
    jobs, more = source.matching(kinds, statuses, limit)
    if printer.output == "json":
        printer.json([job.model_dump(mode="json", exclude_none=True) for job in jobs])
        return 0
    if not jobs:
        printer.line(f"no jobs in {source.description}")
        return 0
    printer.rows(LIST_COLUMNS, [job_row(job) for job in jobs])
    shown = f"{len(jobs)} job{'s' if len(jobs) != 1 else ''}"
    if more:
        shown += " (more match: raise --limit, or --limit 0 for all)"
    printer.line(f"\n{shown}, most recently updated first, from {source.description}")
    return 0


HISTORY_COLUMNS = (
    Column("AT"),
    Column("STATUS", styled=True),
    Column("SERVICE STATUS", drop=1, trim=trim_end, min_width=14),
    Column("MESSAGE", trim=trim_end, min_width=16, last_to_shrink=True),
)


def show_job(source: JobSource, printer: Printer, job_id: str) -> int:
    job = resolve_job(source, job_id)
    record = job.model_dump(mode="json", exclude_none=True)
    if printer.output == "json":
        printer.json(record)
        return 0
    history = record.pop("history", [])
    children = record.pop("children", [])
    fields = [(name, _field(job, name, value)) for name, value in record.items()]
    fields = [(name, value) for name, value in fields if value]
    entries = [
        (
            entry["at"],
            entry["status"],
            entry.get("service_status", ""),
            " ".join(entry.get("message", "").split()),
        )
        for entry in history
    ]
    if printer.output == "text":
        printer.rows((), [*fields, *(("part", child) for child in children)])
        printer.rows((), [("history", *entry) for entry in entries])
        return 0
    printer.fields(fields)
    if children:
        printer.line(f"\nparts ({len(children)}):")
        printer.rows((Column("JOB ID"),), [(child,) for child in children], indent=2)
    printer.line(f"\nhistory ({len(history)} transitions):")
    printer.rows(HISTORY_COLUMNS, entries)
    if isinstance(source, LocalJobs):
        _print_saved_bodies(source.state, job, printer)
    return 0


def _field(job: Job, name: str, value: Any) -> str:
    if value in ({}, [], None, "") or (name == "ignored_events" and not value):
        return ""
    if name == "estimate":
        text = f"{estimate_range(job.estimate)} ({describe(value)})"
        calibration = job.estimate.get("calibration") if job.estimate else None
        return text + (f"; calibration: {_calibration(calibration)}" if calibration else "")
    if name == "cost":
        return (
            f"{cost_text(job.cost)} ({value.get('input_tokens', 0):,} input and "
            f"{value.get('output_tokens', 0):,} output tokens at "
            f"{str(value.get('mode', 'batch')).replace('_', '-')} prices)"
        )
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    return str(value)


def job_result(source: JobSource, printer: Printer, job_id: str, *, output: str | None) -> int:
    """Write a Bedrock upload's result file to `output`, or to standard output. A part's id
    stands for its upload."""
    job = resolve_job(source, job_id)
    if job.kind is JobKind.BEDROCK_BATCH and job.parent_id:
        job = resolve_job(source, job.parent_id)
    uri = job.output_location
    if job.kind is not JobKind.BEDROCK_BATCH:
        raise CliError(f"{job.job_id} is not a Bedrock batch upload: only those have a result file")
    if job.status is JobStatus.REJECTED:
        report = f"; its report: {job.report_location}" if job.report_location else ""
        raise CliError(f"{job.job_id} was REJECTED, so it has no result file{report}", exit_code=1)
    if not uri or not job.status.is_terminal:
        raise CliError(
            f"{job.job_id} is {job.status}: its result file is written once every one of its "
            "jobs has ended",
            exit_code=1,
        )
    chunks = _result_chunks(source, uri)
    if not output:
        for chunk in chunks:
            sys.stdout.buffer.write(chunk)
        sys.stdout.buffer.flush()
        return 0
    # into a file beside FILE, renamed over it once whole: FILE is untouched on any failure
    target = Path(output)
    handle, partial = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(handle, "wb") as sink:
            for chunk in chunks:
                sink.write(chunk)
        os.replace(partial, target)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
    if printer.output != "table":
        printer.record({"job_id": job.job_id, "source": uri, "file": output})
    else:
        print(f"{uri} → {output}", file=sys.stderr)
    return 0


def _result_chunks(source: JobSource, uri: str) -> Iterator[bytes]:
    if isinstance(source, LocalJobs):
        saved = source.state.object(uri)
        if saved is None or saved.body is None:
            size = f" ({saved.size} bytes)" if saved is not None else ""
            raise CliError(
                f"the local state did not keep {uri}{size}: it keeps result files up to "
                f"{RESULT_FILE_BYTES // (1024 * 1024)} MiB",
                exit_code=1,
            )
        yield saved.body
        return
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    body = source.s3.get_object(Bucket=bucket, Key=key)["Body"]  # type: ignore[attr-defined]
    try:
        yield from body.iter_chunks(1 << 20)
    finally:
        body.close()


SHOWN_LINES = 10


def _print_saved_bodies(state: LocalState, job: Job, printer: Printer) -> None:
    for label, uri in (("report", job.report_location), ("output", job.output_location)):
        saved = state.object(uri) if uri else None
        if saved is None or saved.body is None:
            continue
        try:
            lines = saved.body.decode("utf-8").rstrip().splitlines()
        except UnicodeDecodeError:
            lines = [f"({saved.size} bytes, not text)"]
        if len(lines) > SHOWN_LINES:  # a long output, a result file say: its first lines
            more = len(lines) - SHOWN_LINES
            whole = (
                "dropzone jobs result gives them all"
                if label == "output" and job.kind is JobKind.BEDROCK_BATCH
                else "--output json gives the job; the object is saved with the run"
            )
            lines = [*lines[:SHOWN_LINES], f"… {more} more lines ({whole})"]
        printer.line(f"\n{label} {uri} ({saved.size} bytes):")
        for line in lines:
            printer.line(line, crop=True)


def _money(job: Job) -> str:
    """What a job cost, or, until it has one, its estimate (`est.` marks one)."""
    if job.cost:
        return cost_text(job.cost)
    estimated = estimate_range(job.estimate)
    return f"est. {estimated}" if estimated else ""


def _calibration(calibration: dict[str, object]) -> str:
    ratio = calibration.get("ratio")
    words = f"{calibration.get('sampled', 0)} records counted by {calibration.get('source', '')}"
    if isinstance(ratio, int | float):
        words += f", ratio {ratio:.2f}"
    note = calibration.get("note")
    return f"{words} ({note})" if note else words


def _object(job: Job) -> str:
    if job.parent_id and "part" in job.options:
        return f"part {job.options['part']}"  # of the upload whose id starts its own
    if job.parent_id:  # an edge record or a Greengrass roll-out made by a packaging job
        return f"from {short_id(job.parent_id, 15)}"
    return job.source.key
