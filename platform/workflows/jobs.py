"""Deferred work in `ab_job`: enqueue inside the caller's transaction, claim due jobs safely.

A job's life: `pending` (waiting for `due_at`) -> `running` (claimed by one worker, which
writes its id to `locked_by`) -> `done`, or back to `pending` with a later `due_at` after an
error, or `failed` after too many errors; `cancelled` when the reason for it went away.

`dedupe_key` is unique among live (pending or running) jobs only: a job that finishes, fails
or is cancelled releases its key, so a record that re-enters a state gets its timer again.
Several workers on one PostgreSQL never claim one job twice (`FOR UPDATE SKIP LOCKED`); on
SQLite one worker claims with a single `UPDATE ... RETURNING`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from appblocks.engine.models import Job, utcnow

JOBS = cast(sa.Table, Job.__table__)

PENDING, RUNNING, DONE, FAILED, CANCELLED = "pending", "running", "done", "failed", "cancelled"
#: A `running` job whose worker has not touched it for this long is taken to have crashed.
LEASE = dt.timedelta(minutes=5)
MAX_ATTEMPTS = 8

JobHandler = Callable[[sa.Connection, dict[str, Any], int], None]


@dataclass(frozen=True)
class HandlerSpec:
    """A registered handler, how often its job may fail, and whether it writes to the database.

    `in_transaction=False` is for handlers that only talk to the outside world (SMTP, HTTP):
    they run outside the job's write transaction, so a slow server never holds SQLite's
    single write lock (or a PostgreSQL transaction) open while it answers.
    """

    fn: JobHandler
    max_attempts: int | None = None
    in_transaction: bool = True


class JobHandlers:
    """The registry of job kinds a worker can run: `handlers.register(kind)(fn)`."""

    def __init__(self) -> None:
        self._specs: dict[str, HandlerSpec] = {}

    def register(
        self, kind: str, *, max_attempts: int | None = None, in_transaction: bool = True
    ) -> Callable[[JobHandler], JobHandler]:
        """Register `fn(conn, payload, job_id)` for `kind`; a kind registered twice is an error."""
        if not kind or len(kind) > 32:
            raise ValueError(f"a job kind is 1 to 32 characters, not {kind!r}")
        if kind in self._specs:
            raise ValueError(f"a handler for job kind {kind!r} is already registered")

        def decorator(fn: JobHandler) -> JobHandler:
            self._specs[kind] = HandlerSpec(fn, max_attempts, in_transaction)
            return fn

        return decorator

    def get(self, kind: str) -> HandlerSpec | None:
        """The handler registered for `kind`, or None."""
        return self._specs.get(kind)

    def kinds(self) -> list[str]:
        """The registered kinds, sorted."""
        return sorted(self._specs)

    def __contains__(self, kind: object) -> bool:
        return kind in self._specs


@dataclass(frozen=True)
class ClaimedJob:
    """A job this worker has claimed (marked `running` with its id) and must now run."""

    id: int
    kind: str
    payload: dict[str, Any]
    attempts: int
    due_at: dt.datetime
    dedupe_key: str | None


def enqueue(
    conn: sa.Connection,
    kind: str,
    payload: dict[str, Any],
    *,
    due_at: dt.datetime | None = None,
    dedupe_key: str | None = None,
) -> int | None:
    """Queue a job in the caller's transaction; None when `dedupe_key` is already live."""
    now = utcnow()
    values = {
        "kind": kind,
        "payload": payload,
        "due_at": due_at or now,
        "status": PENDING,
        "attempts": 0,
        "dedupe_key": dedupe_key,
        "created_at": now,
    }
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    stmt = (
        insert(JOBS)
        .values(values)
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(JOBS.c.id)
    )
    job_id = conn.execute(stmt).scalar()
    return None if job_id is None else int(job_id)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def cancel(conn: sa.Connection, *, dedupe_prefix: str) -> int:
    """Cancel pending jobs whose dedupe_key starts with the prefix; how many were cancelled.

    A running job is left alone: it is already under way, so its handler must check that
    what it acts on still holds (e.g. the record is still in the state its timer was for).
    """
    if not dedupe_prefix:
        raise ValueError("cancel() needs a non-empty dedupe_prefix")
    stmt = (
        sa.update(JOBS)
        .where(
            JOBS.c.status == PENDING,
            JOBS.c.dedupe_key.like(_escape_like(dedupe_prefix) + "%", escape="\\"),
        )
        .values(status=CANCELLED, dedupe_key=None, done_at=utcnow())
    )
    return conn.execute(stmt).rowcount


def _reclaim(conn: sa.Connection, now: dt.datetime, lease: dt.timedelta, max_attempts: int) -> None:
    """Hand jobs of crashed workers (running past their lease) back, counting an attempt."""
    stale = sa.select(JOBS.c.id).where(JOBS.c.status == RUNNING, JOBS.c.locked_at < now - lease)
    if conn.dialect.name == "postgresql":
        # A live worker holds its job's row lock while the handler runs, so SKIP LOCKED
        # leaves a slow but healthy job alone and takes only rows whose worker is gone.
        stale = stale.with_for_update(skip_locked=True)
    failing = JOBS.c.attempts + 1 >= max_attempts
    conn.execute(
        sa.update(JOBS)
        .where(JOBS.c.id.in_(stale.scalar_subquery()))
        .values(
            status=sa.case((failing, FAILED), else_=PENDING),
            attempts=JOBS.c.attempts + 1,
            last_error=sa.literal("lease expired: worker ")
            + sa.func.coalesce(JOBS.c.locked_by, "?")
            + " stopped while running it",
            locked_by=None,
            locked_at=None,
            done_at=sa.case((failing, now), else_=None),
            dedupe_key=sa.case((failing, None), else_=JOBS.c.dedupe_key),
        )
        .execution_options(synchronize_session=False)
    )


def claim(
    engine: sa.Engine,
    worker_id: str,
    *,
    limit: int = 20,
    now: dt.datetime | None = None,
    kinds: Collection[str] | None = None,
    lease: dt.timedelta = LEASE,
    max_attempts: int = MAX_ATTEMPTS,
) -> list[ClaimedJob]:
    """Claim up to `limit` due jobs (of `kinds`, if given) for this worker, oldest first."""
    now = now or utcnow()
    due = sa.select(JOBS.c.id).where(JOBS.c.status == PENDING, JOBS.c.due_at <= now)
    if kinds is not None:
        # A worker claims only what it can run, so an older worker in a mixed deployment
        # leaves a new kind of job for a newer one instead of failing it.
        due = due.where(JOBS.c.kind.in_(sorted(kinds)))
    due = due.order_by(JOBS.c.due_at, JOBS.c.id).limit(limit)
    # One statement claims the batch. On SQLite a write as the transaction's first statement
    # takes the write lock at once (busy_timeout waits for it) instead of failing to upgrade
    # a read snapshot. On PostgreSQL a MATERIALIZED CTE runs the locking SELECT exactly once,
    # so a re-scan can never lock (and claim) more than `limit` rows.
    if engine.dialect.name == "postgresql":
        picked = due.with_for_update(skip_locked=True).cte("due").prefix_with("MATERIALIZED")
        which = JOBS.c.id == picked.c.id
    else:
        which = JOBS.c.id.in_(due.scalar_subquery())
    stmt = (
        sa.update(JOBS)
        .where(which)
        .values(status=RUNNING, locked_by=worker_id, locked_at=now)
        .returning(
            JOBS.c.id,
            JOBS.c.kind,
            JOBS.c.payload,
            JOBS.c.attempts,
            JOBS.c.due_at,
            JOBS.c.dedupe_key,
        )
    )
    with engine.begin() as conn:
        _reclaim(conn, now, lease, max_attempts)
        rows = conn.execute(stmt).all()
    jobs = [
        ClaimedJob(r.id, r.kind, dict(r.payload or {}), r.attempts, r.due_at, r.dedupe_key)
        for r in rows
    ]
    return sorted(jobs, key=lambda j: (j.due_at, j.id))


def release(engine: sa.Engine, worker_id: str, job_ids: Collection[int]) -> int:
    """Give claimed jobs that were not started back to the queue (a worker stopping)."""
    if not job_ids:
        return 0
    with engine.begin() as conn:
        return conn.execute(
            sa.update(JOBS)
            .where(
                JOBS.c.id.in_(sorted(job_ids)),
                JOBS.c.status == RUNNING,
                JOBS.c.locked_by == worker_id,
            )
            .values(status=PENDING, locked_by=None, locked_at=None)
        ).rowcount
