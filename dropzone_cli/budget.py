"""`dropzone budget`: the daily budget's window of a deployed stack or a saved local run.

It prints the cap (BedrockDailyBudgetUsd), what the jobs of the last 24 hours spent or hold,
the room left, when spend next ages out, that spend by model, and the Bedrock jobs waiting
QUEUED for room, oldest first, with when each would go if nothing else changed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from dropzone.clock import iso
from dropzone.models.jobs import Job, JobStatus
from dropzone.store.ledger import Ledger
from dropzone.store.spend import WINDOW_KEY, SpendEntry, SpendWindow, WindowState, window_state
from dropzone.workflows.bedrock.budget import (
    PARAMETER,
    dollars,
    is_waiting,
    minute_after,
    reservation,
)
from dropzone.workflows.bedrock.rules import KIND
from dropzone_cli.common import CliError
from dropzone_cli.render import Column, Printer, short_id, trim_end, trim_middle
from dropzone_cli.stack import DeployedStack
from dropzone_local.state import LocalState

MERGED = "(merged by minute)"
NOT_IN_LEDGER = "(not in the ledger)"


class BudgetSource(Protocol):
    description: str

    def cap_usd(self) -> float | None:
        """BedrockDailyBudgetUsd; None when the stack has no such parameter."""
        ...

    def window(self) -> WindowState: ...

    def jobs(self, job_ids: list[str]) -> dict[str, Job]: ...

    def queued(self) -> list[Job]:
        """The QUEUED Bedrock batch jobs, oldest first."""
        ...


def _cap(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except ValueError as error:
        raise CliError(f"{PARAMETER} is {value!r}, not a number of dollars") from error


class RemoteBudget:
    """A deployed stack: its parameter, its admission slots table and its ledger."""

    def __init__(self, stack: DeployedStack) -> None:
        self.stack = stack
        self.description = f"stack {stack.name}"
        dynamodb = stack.target.client("dynamodb")
        slots_table = stack.outputs.get("AdmissionSlotsTableName")
        if not slots_table:
            raise CliError(
                f"stack {stack.name} has no AdmissionSlotsTableName output: is its Bedrock "
                "batch workflow switched on (EnableBedrockBatch)?"
            )
        self._window = SpendWindow(slots_table, dynamodb)
        self._ledger = Ledger(stack.jobs_table(), dynamodb)

    def cap_usd(self) -> float | None:
        parameters = {
            parameter["ParameterKey"]: parameter.get("ParameterValue", "")
            for parameter in self.stack.description.get("Parameters", [])
        }
        return _cap(parameters.get(PARAMETER))

    def window(self) -> WindowState:
        return self._window.state()

    def jobs(self, job_ids: list[str]) -> dict[str, Job]:
        return {job.job_id: job for job in self._ledger.get_many(job_ids)}

    def queued(self) -> list[Job]:
        return list(self._ledger.by_state(KIND, JobStatus.QUEUED))


class LocalBudget:
    """A local run saved by `dropzone demo --keep`, as its clock stood when it was saved."""

    def __init__(self, state: LocalState) -> None:
        self.state = state
        self.description = f"local state saved {state.saved_at} in {state.directory}"

    def cap_usd(self) -> float | None:
        return _cap(self.state.parameters.get(PARAMETER))

    def window(self) -> WindowState:
        item = next(
            (item for item in self.state.slot_items if item["model_id"]["S"] == WINDOW_KEY), None
        )
        now = (
            datetime.fromisoformat(self.state.clock.replace("Z", "+00:00"))
            if self.state.clock
            else datetime.now(UTC)
        )
        return window_state(item, now)

    def jobs(self, job_ids: list[str]) -> dict[str, Job]:
        wanted = set(job_ids)
        return {job.job_id: job for job in self.state.jobs() if job.job_id in wanted}

    def queued(self) -> list[Job]:
        jobs = [
            job for job in self.state.jobs() if job.kind is KIND and job.status is JobStatus.QUEUED
        ]
        return sorted(jobs, key=lambda job: job.updated_at)


@dataclass(frozen=True)
class Waiter:
    job: Job
    up_to_usd: float | None
    room_from: datetime | None  # None: never (or the price is unknown: it goes at once)


def waiting_order(state: WindowState, queued: Iterable[Job], cap_usd: float) -> list[Waiter]:
    """The jobs waiting for room, oldest first, each with when it would go if nothing else
    changed: once the window has room for it, and not before the job ahead of it went
    (from then on, that job holds its own estimate)."""
    entries = list(state.entries)
    ahead = state.now
    waiters = []
    for job in queued:
        if not is_waiting(job.message):
            continue
        amount = reservation(job)
        room = None
        if amount is not None:
            view = WindowState(tuple(entries), state.now, state.window)
            fits = view.room_from(amount, cap_usd)
            if fits is not None:
                room = max(fits, ahead)
                ahead = room
                entries.append(SpendEntry(job.job_id, amount, room, held=True))
        waiters.append(Waiter(job, amount, room))
    return waiters


def by_model(state: WindowState, jobs: dict[str, Job]) -> list[dict[str, Any]]:
    groups: dict[str, dict[str, Any]] = {}
    for entry in state.entries:
        model = MERGED if entry.merged else getattr(jobs.get(entry.key), "target", NOT_IN_LEDGER)
        group = groups.setdefault(
            model,
            {"model": model, "jobs": 0, "spent_usd": 0.0, "held_usd": 0.0, "unknown_price_jobs": 0},
        )
        group["jobs"] += entry.jobs
        group["spent_usd"] = round(group["spent_usd"] + (entry.usd or 0.0), 6)
        group["held_usd"] = round(group["held_usd"] + (entry.usd or 0.0) * entry.held, 6)
        group["unknown_price_jobs"] += entry.unknown
    return sorted(groups.values(), key=lambda group: (-group["spent_usd"], group["model"]))


def report(source: BudgetSource) -> dict[str, Any]:
    """Everything `dropzone budget` prints, as plain data (what --json prints)."""
    cap = source.cap_usd()
    state = source.window()
    jobs = source.jobs([entry.key for entry in state.entries if not entry.merged])
    waiters = waiting_order(state, source.queued(), cap) if cap else []
    return {
        "source": source.description,
        "as_of": iso(state.now),
        "cap_usd": cap,
        "spent_usd": state.spent_usd,
        "held_usd": state.held_usd,
        "room_usd": state.room_usd(cap) if cap else None,
        "jobs": state.jobs,
        "unknown_price_jobs": state.unknown_jobs,
        "next_ages_out": iso(state.next_ages_out) if state.next_ages_out else None,
        "by_model": by_model(state, jobs),
        "entries": [
            {
                "job_id": None if entry.merged else entry.key,
                "model": MERGED
                if entry.merged
                else getattr(jobs.get(entry.key), "target", NOT_IN_LEDGER),
                "usd": entry.usd,
                "held": entry.held,
                "jobs": entry.jobs,
                "at": iso(entry.at),
                "ages_out": iso(entry.at + state.window),
            }
            for entry in state.entries
        ],
        "waiting": [
            {
                "job_id": waiter.job.job_id,
                "model": waiter.job.target,
                "up_to_usd": waiter.up_to_usd,
                "waiting_since": waiter.job.updated_at,
                "room_from": iso(waiter.room_from) if waiter.room_from else None,
                "message": waiter.job.message,
            }
            for waiter in waiters
        ],
    }


MODEL_COLUMNS = (
    Column("MODEL", trim=trim_middle, min_width=16),
    Column("JOBS"),
    Column("SPENT"),
    Column("HELD"),
    Column("UNKNOWN PRICE", drop=1),
)
WAITING_COLUMNS = (
    Column("JOB ID", trim=short_id, min_width=16),
    Column("MODEL", drop=2, trim=trim_middle, min_width=16),
    Column("UP TO"),
    Column("WAITING SINCE", drop=1),
    Column("ROOM FROM (IF NOTHING ELSE CHANGES)", trim=trim_end, min_width=17),
)


def show_budget(source: BudgetSource, printer: Printer) -> int:
    shown = report(source)
    if printer.output == "json":
        printer.json(shown)
        return 0
    if printer.output == "text":
        printer.record({k: v for k, v in shown.items() if not isinstance(v, list)})
        printer.rows((), [("model", *map(str, group.values())) for group in shown["by_model"]])
        printer.rows((), [("waiting", *map(str, waiter.values())) for waiter in shown["waiting"]])
        return 0
    say = printer.line  # prose, fitted to the terminal
    cap = shown["cap_usd"]
    if not cap:
        why = f"has no {PARAMETER} parameter" if cap is None else f"has {PARAMETER} 0"
        local = " --local" if isinstance(source, LocalBudget) else ""
        say(
            f"no daily budget: {source.description} {why}, so Bedrock jobs are not held back "
            f"and no spend is kept in a window (each job's cost is on the job: dropzone jobs "
            f"list{local} --kind bedrock_batch)"
        )
        return 0
    say(f"daily budget   {dollars(cap)} in any 24 hours ({PARAMETER})")
    jobs = shown["jobs"]
    spent = f"{dollars(shown['spent_usd'])} by {jobs} job{'s' * (jobs != 1)} in the last 24 h"
    if shown["held_usd"]:
        spent += f", {dollars(shown['held_usd'])} of it held for jobs not yet ended"
    say(f"spent          {spent}")
    if shown["unknown_price_jobs"]:
        say(f"               + {shown['unknown_price_jobs']} of unknown price, not counted")
    if shown["room_usd"] is not None:
        say(f"room           {dollars(shown['room_usd'])}")
    if shown["next_ages_out"]:
        oldest = shown["entries"][0]
        say(
            f"next ages out  {minute_after(_moment(shown['next_ages_out']))}"
            f" ({_usd(oldest['usd'])})"
        )
    say(f"               as of {shown['as_of']}, from {source.description}")
    if shown["by_model"]:
        say()
        printer.rows(
            MODEL_COLUMNS,
            [
                (
                    group["model"],
                    str(group["jobs"]),
                    dollars(group["spent_usd"]),
                    dollars(group["held_usd"]),
                    str(group["unknown_price_jobs"] or ""),
                )
                for group in shown["by_model"]
            ],
        )
    waiting = shown["waiting"]
    if waiting:
        say(f"\nwaiting for the daily budget, oldest first ({len(waiting)}):")
        printer.rows(
            WAITING_COLUMNS,
            [
                (
                    waiter["job_id"],
                    waiter["model"],
                    _usd(waiter["up_to_usd"]),
                    waiter["waiting_since"],
                    minute_after(_moment(waiter["room_from"])) if waiter["room_from"] else "never",
                )
                for waiter in waiting
            ],
        )
    elif cap:
        say("\nno job is waiting for the daily budget")
    return 0


def _usd(amount: float | None) -> str:
    return "unknown price" if amount is None else dollars(amount)


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
