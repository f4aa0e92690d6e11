"""`dropzone jobs summary` (counts by workflow and status) and `dropzone jobs watch` (the
jobs shown, refreshed until every one of them has ended)."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from dropzone.models.jobs import Job, JobKind, JobStatus
from dropzone_cli.jobs import LIST_COLUMNS, JobSource, job_row
from dropzone_cli.render import Column, Printer, short_id


def counts(jobs: Iterable[Job]) -> dict[str, Any]:
    """Jobs by workflow, then status, in the ledger's order of both (only those present)."""
    counted = Counter((job.kind, job.status) for job in jobs)
    workflows: dict[str, Any] = {}
    for kind in JobKind:
        statuses = {
            str(status): counted[kind, status] for status in JobStatus if counted[kind, status]
        }
        if statuses:
            workflows[str(kind)] = {"total": sum(statuses.values()), "statuses": statuses}
    return {"total": sum(counted.values()), "workflows": workflows}


SUMMARY_COLUMNS = (Column("WORKFLOW"), Column("STATUS", styled=True), Column("JOBS"))


def summary(source: JobSource, printer: Printer, *, kind: str | None) -> int:
    jobs, _ = source.matching([JobKind(kind)] if kind else [], [], 0)
    counted = counts(jobs)
    if printer.output == "json":
        printer.json({"source": source.description, **counted})
        return 0
    rows: list[tuple[str, str, str]] = []
    for workflow, entry in counted["workflows"].items():
        for number, (status, count) in enumerate(entry["statuses"].items()):
            shown = workflow if number == 0 or printer.output == "text" else ""
            rows.append((shown, status, str(count)))
        if printer.output == "table":
            rows.append(("", "all", str(entry["total"])))
    if not rows:
        printer.line(f"no jobs in {source.description}")
        return 0
    printer.rows(SUMMARY_COLUMNS, rows)
    total = counted["total"]
    printer.line(f"\n{total} job{'s' * (total != 1)} (parts included), from {source.description}")
    return 0


def watch(
    source: JobSource,
    printer: Printer,
    *,
    kind: str | None,
    status: str | None,
    limit: int,
    interval: float,
    sleep: Callable[[float], None] = time.sleep,
    live: bool | None = None,
) -> int:
    """Refresh the jobs `jobs list` would show every `interval` seconds, until each of them
    has ended. On a terminal (table output) the table is redrawn in place; otherwise each
    job is printed once, then again whenever its status or message changes: JSON Lines
    (json), tab-separated rows (text) or lines of prose (table)."""
    jobs, _ = source.matching(
        [JobKind(kind)] if kind else [], [JobStatus(status)] if status else [], limit
    )
    if not jobs:
        printer.line(f"no jobs in {source.description}")
        return 0
    ids = [job.job_id for job in jobs]
    current = {job.job_id: job for job in jobs}
    in_place = printer.output == "table" and (
        printer.console().is_terminal if live is None else live
    )
    if in_place:
        return _watch_in_place(source, printer, ids, current, interval, sleep)
    seen: dict[str, tuple[str, str | None]] = {}
    while True:
        for job_id in ids:
            job = current[job_id]
            if seen.get(job_id) != (job.status, job.message):
                seen[job_id] = (job.status, job.message)
                _print_change(printer, job)
        if all(job.status.is_terminal for job in current.values()):
            return 0
        sleep(interval)
        current = _refreshed(source, current)


def _watch_in_place(
    source: JobSource,
    printer: Printer,
    ids: list[str],
    current: dict[str, Job],
    interval: float,
    sleep: Callable[[float], None],
) -> int:
    from rich.console import Group
    from rich.live import Live
    from rich.text import Text

    console = printer.console()

    def view() -> Group:
        ended = sum(job.status.is_terminal for job in current.values())
        at = datetime.now(UTC).strftime("%H:%M:%S")
        going = "; Ctrl-C stops watching" if ended < len(ids) else ""
        footer = f"{ended} of {len(ids)} jobs ended, as of {at} UTC{going}"
        table = printer.table(LIST_COLUMNS, [job_row(current[job_id]) for job_id in ids])
        return Group(table, Text(""), Text(footer))

    with Live(view(), console=console, auto_refresh=False, transient=False) as shown:
        while not all(job.status.is_terminal for job in current.values()):
            sleep(interval)
            current = _refreshed(source, current)
            shown.update(view(), refresh=True)
    return 0


def _refreshed(source: JobSource, current: dict[str, Job]) -> dict[str, Job]:
    reload = getattr(source, "reload", None)
    if callable(reload):
        reload()
    return {job_id: source.get(job_id) or job for job_id, job in current.items()}


def _print_change(printer: Printer, job: Job) -> None:
    if printer.output == "json":
        record = job.model_dump(mode="json", exclude_none=True, exclude={"history"})
        print(json.dumps(record, default=str), file=printer.stream, flush=True)
    elif printer.output == "text":
        printer.rows((), [job_row(job)])
    else:
        message = f"  {job.message}" if job.message else ""
        printer.line(f"{job.updated_at}  {short_id(job.job_id)}  {job.status}{message}", crop=True)
