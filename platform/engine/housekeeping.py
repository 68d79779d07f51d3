"""Housekeeping: the platform's own leftovers, removed or closed on a schedule.

Two things are left behind by work that never finished:

- Unclaimed files. A file chosen in a form is stored (`ab_file`, bytes and all) before the
  record is saved, and the save claims it (sets its `record_id`). A form that is never saved
  leaves its files unclaimed forever. Those older than `file_age` (24 h unless configured) go,
  row and bytes together (the bytes live in the row). A claimed file is never touched, nor one
  an import run keeps (`ab_import.file_id`: a run may be mapped and checked again), nor one
  whose key a record's `file` field holds (written by the API, say, without a claim).
- Interrupted imports. An import (or its dry run) works in one transaction in the web server
  process. On PostgreSQL its progress is committed as it goes, together with the time of that
  progress (`PROGRESS_AT` in the run's `mapping`, see `views/imports.py`); a process that dies
  mid-import leaves the run `importing` (or `checking`) forever and its page polling. A run
  without progress for `import_stale` (15 min unless configured) is marked `failed` with the
  problem code `interrupted`: nothing was written, since the rows commit all together or not.
  On SQLite the one server process runs every import and its page already closes a run it is
  not running (see `server/pages_import.py`), and no progress is committed while the import
  holds the write lock; so there housekeeping leaves import runs alone.

`run()` does both in the caller's transaction and reports what it did; the worker runs it
every few minutes (`workflows/worker.py`), and `appblocks housekeeping` once.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import sqlalchemy as sa

from appblocks.engine.db import is_sqlite
from appblocks.engine.models import ImportRun, StoredFile, utcnow

FILES = cast(sa.Table, StoredFile.__table__)
RUNS = cast(sa.Table, ImportRun.__table__)

FILE_AGE = dt.timedelta(hours=24)
IMPORT_STALE = dt.timedelta(minutes=15)
SCHEDULE = "*/5 * * * *"  # the worker's housekeeping runs: every five minutes
JOB_KIND = "housekeeping"
FILE_AGE_ENV = "APPBLOCKS_UNCLAIMED_FILE_HOURS"
IMPORT_STALE_ENV = "APPBLOCKS_IMPORT_STALE_MINUTES"
_CHUNK = 500  # keys or ids per IN (...) list

# The import run's statuses this module reads and writes (named in views/imports.py too).
RUN_RUNNING = ("checking", "importing")
RUN_FAILED = "failed"
INTERRUPTED = "interrupted"  # the problem code of a run that died half-way
PROGRESS_AT = "progress_at"  # the mapping's key holding the UTC time of the last progress


class HousekeepingError(ValueError):
    """A setting that cannot be used: the message says which and why."""


@dataclass(frozen=True)
class Settings:
    """How old an unclaimed file, and how long without progress an import run, may get."""

    file_age: dt.timedelta = FILE_AGE
    import_stale: dt.timedelta = IMPORT_STALE

    def __post_init__(self) -> None:
        if self.file_age <= dt.timedelta(0):
            raise HousekeepingError("the age of unclaimed files to remove must be positive")
        if self.import_stale <= dt.timedelta(0):
            raise HousekeepingError("the time an import may go without progress must be positive")

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str] = os.environ,
        *,
        file_hours: float | None = None,
        stale_minutes: float | None = None,
    ) -> Settings:
        """Settings from $APPBLOCKS_UNCLAIMED_FILE_HOURS and $APPBLOCKS_IMPORT_STALE_MINUTES,
        unless given here (the CLI's options); HousekeepingError for a value that is not a
        positive number of at most ten years."""
        hours = _number(
            FILE_AGE_ENV, "--files-older-than", file_hours, env, FILE_AGE, dt.timedelta(hours=1)
        )
        minutes = _number(
            IMPORT_STALE_ENV, "--imports-stale-after", stale_minutes, env, IMPORT_STALE,
            dt.timedelta(minutes=1),
        )  # fmt: skip
        return cls(hours, minutes)


_LONGEST = dt.timedelta(days=3650)


def _number(
    name: str, option: str, given: float | None, env: Mapping[str, str],
    default: dt.timedelta, unit: dt.timedelta,
) -> dt.timedelta:  # fmt: skip
    text = env.get(name)
    if given is None and not (text or "").strip():
        return default
    value = given
    if value is None:
        try:
            value = float(str(text).strip())
        except ValueError:
            raise HousekeepingError(f"${name} must be a number, not {text!r}") from None
    where = f"${name}" if given is None else option
    if not (value > 0 and value * unit.total_seconds() <= _LONGEST.total_seconds()):
        raise HousekeepingError(f"{where} must be more than 0 and at most ten years, not {value:g}")
    return value * unit


@dataclass
class Report:
    """What one housekeeping pass did."""

    files: int = 0
    file_bytes: int = 0
    interrupted: list[int] = field(default_factory=list)

    def lines(self) -> list[str]:
        """What was removed and marked, for a person (the CLI prints these)."""
        runs = ", ".join(str(i) for i in self.interrupted)
        return [
            f"Removed {self.files} unclaimed file(s), {self.file_bytes} byte(s).",
            f"Marked {len(self.interrupted)} import run(s) as interrupted"
            + (f": {runs}." if runs else "."),
        ]


# --- unclaimed files ---------------------------------------------------------------------------


def _chunks(items: list[Any]) -> Iterable[list[Any]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def _keys_in_records(conn: sa.Connection, keys: list[str]) -> set[str]:
    """Those of `keys` that a record's `file` field holds, in any installed entity."""
    from appblocks.engine.catalog import Catalog  # the catalog's import graph is large

    if not keys:
        return set()
    catalog = Catalog.load(conn)
    held: set[str] = set()
    for qualified, spec in catalog.specs.entities.items():
        table = catalog.table(qualified)
        for f in spec.columns():
            column = table.c.get(f.name)
            if f.type != "file" or column is None:
                continue
            for part in _chunks(keys):
                held.update(conn.execute(sa.select(column).where(column.in_(part))).scalars())
    return held


def remove_unclaimed_files(
    conn: sa.Connection, older_than: dt.timedelta = FILE_AGE, *, now: dt.datetime | None = None
) -> tuple[int, int]:
    """Delete the unclaimed files stored before `now - older_than`; (files, bytes) removed."""
    cutoff = (now or utcnow()) - older_than
    kept_by_imports = sa.select(RUNS.c.file_id).where(RUNS.c.file_id.is_not(None))
    candidates = conn.execute(
        sa.select(FILES.c.id, FILES.c.key, FILES.c.size).where(
            FILES.c.record_id.is_(None),
            FILES.c.created_at < cutoff,
            FILES.c.id.not_in(kept_by_imports),
        )
    ).all()
    held = _keys_in_records(conn, [row.key for row in candidates])
    doomed = [row for row in candidates if row.key not in held]
    removed = size = 0
    for part in _chunks([row.id for row in doomed]):
        # The conditions again: a save that claimed one meanwhile keeps it.
        gone = conn.execute(
            sa.delete(FILES)
            .where(FILES.c.id.in_(part), FILES.c.record_id.is_(None), FILES.c.created_at < cutoff)
            .returning(FILES.c.size)
        ).all()
        removed += len(gone)
        size += sum(int(row.size or 0) for row in gone)
    return removed, size


# --- interrupted imports -----------------------------------------------------------------------


def _iso(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).isoformat(timespec="seconds")


def stamp_progress(
    mapping: Mapping[str, Any] | None, now: dt.datetime | None = None
) -> dict[str, Any]:
    """The run's mapping with the time of its latest progress set to `now`."""
    return {**(mapping or {}), PROGRESS_AT: _iso(now or utcnow())}


def last_progress(mapping: Mapping[str, Any] | None, created_at: dt.datetime) -> dt.datetime:
    """When the run last made progress: its stamp, else (a run started before stamps were
    kept) its upload time."""
    text = (mapping or {}).get(PROGRESS_AT)
    if isinstance(text, str):
        try:
            when = dt.datetime.fromisoformat(text)
        except ValueError:
            return created_at
        return when if when.tzinfo else when.replace(tzinfo=dt.UTC)
    return created_at


def interrupted_problem(status: str) -> dict[str, Any]:
    """The `ab_import.errors` entry of a run that died while `status` (checking, importing)."""
    return {
        "row": None,
        "field": "",
        "message": f"interrupted while {status}",
        "code": INTERRUPTED,
        "params": {"status": status},
    }


def interrupted_while(run: Mapping[str, Any]) -> str | None:
    """What a run was doing (checking, importing) when its process died, or None: it was
    not interrupted."""
    errors = run.get("errors") or []
    if run.get("status") != RUN_FAILED or len(errors) != 1 or not isinstance(errors[0], Mapping):
        return None
    if errors[0].get("code") != INTERRUPTED:
        return None
    status = (errors[0].get("params") or {}).get("status")
    return str(status) if status in RUN_RUNNING else RUN_RUNNING[-1]


def mark_interrupted(
    conn: sa.Connection, run_id: int, status: str, *, done: int | None = None,
    now: dt.datetime | None = None,
) -> bool:  # fmt: skip
    """Close a run that is still `status` (and, if given, still at `done` rows) as
    interrupted; False when it moved on meanwhile (it was alive after all)."""
    where = [RUNS.c.id == run_id, RUNS.c.status == status]
    if done is not None:
        where.append(RUNS.c.done == done)
    values = {
        "status": RUN_FAILED,
        "errors": [interrupted_problem(status)],
        "finished_at": now or utcnow(),
    }
    return conn.execute(sa.update(RUNS).where(*where).values(values)).rowcount == 1


def interrupt_stale_imports(
    conn: sa.Connection, stale_after: dt.timedelta = IMPORT_STALE, *, now: dt.datetime | None = None
) -> list[int]:
    """Mark the runs without progress since `now - stale_after` as interrupted (PostgreSQL
    only, see the module doc); their ids."""
    if is_sqlite(conn):
        return []
    now = now or utcnow()
    cutoff = now - stale_after
    rows = conn.execute(
        sa.select(RUNS.c.id, RUNS.c.status, RUNS.c.done, RUNS.c.mapping, RUNS.c.created_at)
        .where(RUNS.c.status.in_(RUN_RUNNING))
        .order_by(RUNS.c.id)
    ).all()
    marked = []
    for row in rows:
        if last_progress(row.mapping, row.created_at) >= cutoff:
            continue
        # Guarded by the status and the count read: a run that moved on is alive.
        if mark_interrupted(conn, row.id, row.status, done=row.done, now=now):
            marked.append(int(row.id))
    return marked


# --- both --------------------------------------------------------------------------------------


def run(
    conn: sa.Connection, settings: Settings | None = None, *, now: dt.datetime | None = None
) -> Report:
    """One housekeeping pass in the caller's transaction."""
    settings = settings or Settings()
    now = now or utcnow()
    files, size = remove_unclaimed_files(conn, settings.file_age, now=now)
    marked = interrupt_stale_imports(conn, settings.import_stale, now=now)
    return Report(files=files, file_bytes=size, interrupted=marked)
