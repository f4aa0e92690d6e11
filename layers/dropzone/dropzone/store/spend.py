"""The daily budget's window: the Bedrock spend that began in the last 24 hours.

One item (`spend#window` in the admission slots table) holds an entry per job: what it may
cost while it runs (its upper estimate, *held*), or what it cost once it ended, and when its
spend began to count. An entry ages out of the window a day after that; every write drops
the entries that have.

Writers read the item, change it, and write it back only if nobody wrote it in between (the
`version` they read is still there), so two admission runs can never both take the last of
the room. A job's entry is keyed by its id: reserving it again is harmless, and settling it
twice writes the same thing.

Size: an item holds at most 400 KB. An entry takes at most about 100 bytes (a 63-character
job id, an amount, a time), so the item keeps up to MAX_ENTRIES of them, about 200 KB.
Beyond that the oldest entries of ended jobs are merged, one entry per minute (about 70
bytes each, at most 1,441 of them in a day: about 100 KB more). A merged job no longer
finds its own entry, so a late duplicate settle counts it a second time: the window can
count too much, never too little. Held entries are never merged; should MAX_ENTRIES jobs
all hold one at once, the next write is refused (SpendWindowFull).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from dropzone import aws
from dropzone.clock import iso, utcnow
from dropzone.errors import TransientError
from dropzone.store.dynamo_items import CONDITION_FAILED

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

KEY_PREFIX = "spend#"
WINDOW_KEY = f"{KEY_PREFIX}window"
MERGED_PREFIX = "merged#"  # an entry holding the ended jobs of one minute, merged
DAY = timedelta(days=1)
MAX_ENTRIES = 2000  # entries of single jobs in the item; more are merged by minute
ATTEMPTS = 8  # conflicting writers before the caller is told to try again later
CENTS_EPSILON = 1e-6  # amounts are kept to six decimal places


def is_spend_key(key: str) -> bool:
    return key.startswith(KEY_PREFIX)


class SpendWindowBusy(TransientError):
    """Other writers changed the window every time this one tried: try again later."""


class SpendWindowFull(RuntimeError):
    """The window holds MAX_ENTRIES reservations of jobs still running, none of which can
    be merged: no further job can be recorded until some end or age out."""


@dataclass(frozen=True)
class SpendEntry:
    """One job's spend in the window, or the ended jobs of one minute merged."""

    key: str  # the job id, or MERGED_PREFIX + the minute
    usd: float | None  # None: the job's price is unknown
    at: datetime  # when its spend began to count; it ages out a window later
    held: bool = False  # an upper estimate, held for a job that has not ended
    jobs: int = 1
    unknown_jobs: int = 0  # of a merged entry: the jobs whose price was unknown

    @property
    def merged(self) -> bool:
        return self.key.startswith(MERGED_PREFIX)

    @property
    def unknown(self) -> int:
        """Jobs of unknown price this entry stands for."""
        return self.unknown_jobs if self.merged else int(self.usd is None)


@dataclass(frozen=True)
class WindowState:
    """The window as it stands at `now`: its entries, oldest first."""

    entries: tuple[SpendEntry, ...]
    now: datetime
    window: timedelta = DAY

    @property
    def spent_usd(self) -> float:
        """What the jobs of the window cost or may cost; jobs of unknown price add nothing."""
        return round(sum(entry.usd or 0.0 for entry in self.entries), 6)

    @property
    def held_usd(self) -> float:
        """The part of `spent_usd` held for jobs that have not ended (upper estimates)."""
        return round(sum(entry.usd or 0.0 for entry in self.entries if entry.held), 6)

    @property
    def jobs(self) -> int:
        return sum(entry.jobs for entry in self.entries)

    @property
    def unknown_jobs(self) -> int:
        return sum(entry.unknown for entry in self.entries)

    @property
    def next_ages_out(self) -> datetime | None:
        """When the oldest entry leaves the window (None when it is empty)."""
        return min(entry.at for entry in self.entries) + self.window if self.entries else None

    def room_usd(self, cap_usd: float) -> float:
        return round(max(0.0, cap_usd - self.spent_usd), 6)

    def has_room(self, amount_usd: float, cap_usd: float) -> bool:
        return self.spent_usd + amount_usd <= cap_usd + CENTS_EPSILON

    def room_from(self, amount_usd: float, cap_usd: float) -> datetime | None:
        """The first time `amount_usd` fits under the cap, as the entries age out oldest
        first (now, when it fits already); None when it can never fit (more than the cap)."""
        if amount_usd > cap_usd + CENTS_EPSILON:
            return None
        spent = self.spent_usd
        if spent + amount_usd <= cap_usd + CENTS_EPSILON:
            return self.now
        for entry in sorted(self.entries, key=lambda e: e.at):
            spent -= entry.usd or 0.0
            if spent + amount_usd <= cap_usd + CENTS_EPSILON:
                return entry.at + self.window
        return max(entry.at for entry in self.entries) + self.window  # all aged out


@dataclass(frozen=True)
class Admitted:
    """The job holds its amount in the window (`again`: it held it already)."""

    job_id: str
    amount_usd: float | None
    again: bool = False


@dataclass(frozen=True)
class Waiting:
    """Not enough room: what was spent, what the job asks, the cap, and when enough spend
    ages out for it to fit (None: never, the job alone asks more than the cap)."""

    job_id: str
    spent_usd: float
    amount_usd: float
    cap_usd: float
    room_from: datetime | None

    @property
    def never_fits(self) -> bool:
        return self.room_from is None


# -- the item, to and from entries (pure) ---------------------------------------------


def window_state(
    item: dict[str, Any] | None, now: datetime, window: timedelta = DAY
) -> WindowState:
    """The window an item (as DynamoDB returns it) holds at `now`: aged-out entries left
    out. Used on the item the table holds, and on one saved from a local run."""
    entries = _live(_entries(item), now, window)
    return WindowState(tuple(sorted(entries.values(), key=lambda e: (e.at, e.key))), now, window)


def _entries(item: dict[str, Any] | None) -> dict[str, SpendEntry]:
    found: dict[str, SpendEntry] = {}
    for key, value in ((item or {}).get("entries", {}).get("M", {})).items():
        fields = value["M"]
        found[key] = SpendEntry(
            key=key,
            usd=float(fields["usd"]["N"]) if "usd" in fields else None,
            at=datetime.fromtimestamp(int(fields["at"]["N"]), UTC),
            held=bool(fields.get("held", {}).get("BOOL", False)),
            jobs=int(fields.get("jobs", {}).get("N", 1)),
            unknown_jobs=int(fields.get("unknown", {}).get("N", 0)),
        )
    return found


def window_item(entries: dict[str, SpendEntry], version: int, now: datetime) -> dict[str, Any]:
    """The item that holds `entries`, written at `now` as the window's `version`."""
    return {
        "model_id": {"S": WINDOW_KEY},
        "entries": {"M": {key: _entry_value(entry) for key, entry in entries.items()}},
        "version": {"N": str(version)},
        "updated_at": {"S": iso(now)},
    }


def _entry_value(entry: SpendEntry) -> dict[str, Any]:
    fields: dict[str, Any] = {"at": {"N": str(int(entry.at.timestamp()))}}
    if entry.usd is not None:
        fields["usd"] = {"N": _number(entry.usd)}
    if entry.held:
        fields["held"] = {"BOOL": True}
    if entry.merged:
        fields["jobs"] = {"N": str(entry.jobs)}
        fields["unknown"] = {"N": str(entry.unknown_jobs)}
    return {"M": fields}


def _number(usd: float) -> str:
    return f"{usd:.6f}".rstrip("0").rstrip(".") or "0"


def _amount(usd: float | None) -> float | None:
    if usd is None:
        return None
    if not math.isfinite(usd) or usd < 0:
        raise ValueError(f"an amount of spend is a finite number of dollars ≥ 0, got {usd}")
    return round(float(usd), 6)


def _live(
    entries: dict[str, SpendEntry], now: datetime, window: timedelta
) -> dict[str, SpendEntry]:
    return {key: entry for key, entry in entries.items() if entry.at + window > now}


def bounded(entries: dict[str, SpendEntry], limit: int = MAX_ENTRIES) -> dict[str, SpendEntry]:
    """At most `limit` entries of single jobs: past it, the oldest entries of ended jobs are
    merged into one entry per minute, which ages out with the latest of them."""
    single = [entry for entry in entries.values() if not entry.merged]
    excess = len(single) - limit
    if excess <= 0:
        return entries
    ended = sorted((entry for entry in single if not entry.held), key=lambda e: (e.at, e.key))
    if len(ended) < excess:
        raise SpendWindowFull(
            f"the spend window holds {len(single) - len(ended)} reservations of jobs that "
            f"have not ended, more than the {limit} it can keep"
        )
    result = dict(entries)
    for entry in ended[:excess]:
        del result[entry.key]
        key = MERGED_PREFIX + entry.at.strftime("%Y-%m-%dT%H:%M")
        into = result.get(key) or SpendEntry(key, 0.0, entry.at, jobs=0)
        result[key] = replace(
            into,
            usd=round((into.usd or 0.0) + (entry.usd or 0.0), 6),
            at=max(into.at, entry.at),
            jobs=into.jobs + 1,
            unknown_jobs=into.unknown_jobs + int(entry.usd is None),
        )
    return result


# -- the store -------------------------------------------------------------------------

Change = Callable[[dict[str, SpendEntry], datetime], tuple[Any, bool]]


class SpendWindow:
    def __init__(
        self,
        table_name: str,
        client: DynamoDBClient | None = None,
        *,
        clock: Callable[[], datetime] = utcnow,
        window: timedelta = DAY,
    ) -> None:
        self.table_name = table_name
        self.window = window
        self._client = client or aws.client("dynamodb")
        self._clock = clock

    def reserve(self, job_id: str, amount_usd: float | None, cap_usd: float) -> Admitted | Waiting:
        """Hold a job's upper estimate if the window has room for it under the cap. A job
        of unknown price (None) is recorded and let through. A job that holds its
        reservation already is let through again, counted once."""
        amount = _amount(amount_usd)

        def change(entries: dict[str, SpendEntry], now: datetime) -> tuple[Any, bool]:
            if job_id in entries:
                return Admitted(job_id, amount, again=True), False
            state = WindowState(tuple(entries.values()), now, self.window)
            if amount is not None and not state.has_room(amount, cap_usd):
                room_from = state.room_from(amount, cap_usd)
                return Waiting(job_id, state.spent_usd, amount, cap_usd, room_from), False
            entries[job_id] = SpendEntry(job_id, amount, now, held=True)
            return Admitted(job_id, amount), True

        outcome: Admitted | Waiting = self._update(change)
        return outcome

    def add(self, job_id: str, amount_usd: float | None) -> None:
        """Count spend that was not held first (on-demand calls, which run at once): the
        job's entry takes this amount, and keeps its time if it had one."""
        amount = _amount(amount_usd)

        def change(entries: dict[str, SpendEntry], now: datetime) -> tuple[Any, bool]:
            entry = entries.get(job_id)
            new = SpendEntry(job_id, amount, entry.at if entry else now)
            entries[job_id] = new
            return None, new != entry

        self._update(change)

    def settle(
        self, job_id: str, actual_usd: float | None, *, since: datetime | None = None
    ) -> None:
        """Replace a job's reservation by what it cost, keeping the time it was reserved.
        None (the cost is unknown) keeps the reservation. A job with no entry is added at
        `since` (when its spend began; default now), unless that is already out of the
        window: a reservation that aged out is not counted again."""
        actual = _amount(actual_usd)

        def change(entries: dict[str, SpendEntry], now: datetime) -> tuple[Any, bool]:
            entry = entries.get(job_id)
            if entry is None:
                at = since or now
                if at + self.window <= now:
                    return None, False
                entries[job_id] = SpendEntry(job_id, actual, at)
                return None, True
            if actual is None:
                return None, False
            new = replace(entry, usd=actual, held=False)
            entries[job_id] = new
            return None, new != entry

        self._update(change)

    def release(self, job_id: str) -> None:
        """Forget a job's reservation: it was not submitted after all."""

        def change(entries: dict[str, SpendEntry], now: datetime) -> tuple[Any, bool]:
            return None, entries.pop(job_id, None) is not None

        self._update(change)

    def state(self) -> WindowState:
        return window_state(self._read()[0], self._clock(), self.window)

    # -- reading and writing the item ------------------------------------------------

    def _read(self) -> tuple[dict[str, Any] | None, str | None]:
        item = self._client.get_item(
            TableName=self.table_name, Key={"model_id": {"S": WINDOW_KEY}}, ConsistentRead=True
        ).get("Item")
        return item, (item["version"]["N"] if item else None)

    def _update(self, change: Change) -> Any:
        """Read, change, and write back only if the item is still the one read; again, up
        to ATTEMPTS times, while other writers get in between."""
        for _ in range(ATTEMPTS):
            item, version = self._read()
            now = self._clock()
            entries = _live(_entries(item), now, self.window)
            outcome, changed = change(entries, now)
            if not changed:
                return outcome
            if self._write(bounded(entries), version, now):
                return outcome
        raise SpendWindowBusy(
            f"the spend window changed under this writer {ATTEMPTS} times in a row; try again"
        )

    def _write(self, entries: dict[str, SpendEntry], version: str | None, now: datetime) -> bool:
        item = window_item(entries, int(version or 0) + 1, now)
        condition: dict[str, Any]
        if version is None:
            condition = {"ConditionExpression": "attribute_not_exists(model_id)"}
        else:
            condition = {
                "ConditionExpression": "#version = :version",
                "ExpressionAttributeNames": {"#version": "version"},
                "ExpressionAttributeValues": {":version": {"N": version}},
            }
        try:
            self._client.put_item(TableName=self.table_name, Item=item, **condition)
        except ClientError as error:
            if aws.error_code(error) != CONDITION_FAILED:
                raise
            return False  # another writer got in between: read again
        return True
