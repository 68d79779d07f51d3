"""The worker: claims due jobs and runs each in its own transaction, retrying with backoff.

A handler's writes and the job's `done` mark commit together. A failing handler's writes
roll back; the error is recorded on the job, which is tried again after an exponential
backoff and marked `failed` after `max_attempts`. Mail and webhooks are sent from inside
the job's transaction, so a crash between sending and committing sends again: delivery is
at least once, and each message carries the job id for receivers to drop repeats.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import secrets
import signal
import socket
import sys
import threading
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType
from typing import TextIO

import sqlalchemy as sa

from appblocks.engine import housekeeping
from appblocks.engine.models import utcnow
from appblocks.workflows.jobs import (
    DONE,
    FAILED,
    JOBS,
    LEASE,
    MAX_ATTEMPTS,
    PENDING,
    RUNNING,
    ClaimedJob,
    HandlerSpec,
    JobHandlers,
    claim,
    release,
)

log = logging.getLogger(__name__)

BACKOFF_BASE = dt.timedelta(seconds=30)
BACKOFF_CAP = dt.timedelta(hours=1)
_ERROR_CHARS = 4000


def backoff(attempts: int) -> dt.timedelta:
    """The wait before the next try after `attempts` failures: 30 s, 1 min, 2 min ... 1 h."""
    return min(BACKOFF_BASE * 2 ** max(attempts - 1, 0), BACKOFF_CAP)


def new_worker_id() -> str:
    """A worker id that names the host and process, unique across restarts."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{secrets.token_hex(3)}"


@dataclass
class BatchResult:
    """What one claim-and-run round did: jobs run by kind, failures, jobs claimed."""

    at: dt.datetime
    claimed: int = 0
    ran: Counter[str] = field(default_factory=Counter)
    failed: int = 0

    @property
    def count(self) -> int:
        """How many jobs were run (successfully or not)."""
        return sum(self.ran.values())

    def summary(self) -> str:
        """One line for the worker's log, e.g. `... ran 3 job(s): mail x2, webhook x1`."""
        kinds = ", ".join(f"{k} x{n}" for k, n in sorted(self.ran.items(), key=_by_count))
        line = f"{self.at.strftime('%Y-%m-%dT%H:%M:%SZ')} ran {self.count} job(s): {kinds}"
        return line + (f"; {self.failed} failed" if self.failed else "")


def _by_count(item: tuple[str, int]) -> tuple[int, str]:
    return (-item[1], item[0])


def _owned(job_id: int, worker_id: str) -> sa.ColumnElement[bool]:
    return sa.and_(JOBS.c.id == job_id, JOBS.c.status == RUNNING, JOBS.c.locked_by == worker_id)


def _format_error(exc: BaseException) -> str:
    text = "".join(traceback.format_exception(exc)).strip()
    # The end of a traceback (the raising frame and the message) is what an operator needs.
    return text if len(text) <= _ERROR_CHARS else "..." + text[-_ERROR_CHARS:]


def _record_failure(
    engine: sa.Engine,
    job: ClaimedJob,
    worker_id: str,
    now: dt.datetime,
    exc: BaseException,
    max_attempts: int,
) -> None:
    attempts = job.attempts + 1
    values: dict[str, object] = {
        "attempts": attempts,
        "last_error": _format_error(exc),
        "locked_by": None,
        "locked_at": None,
    }
    if attempts >= max_attempts:
        values.update(status=FAILED, done_at=now, dedupe_key=None)
    else:
        values.update(status=PENDING, due_at=now + backoff(attempts))
    with engine.begin() as conn:
        # Owned-by-us guard: if our lease ran out and another worker took the job over, its
        # outcome is the one that counts.
        conn.execute(sa.update(JOBS).where(_owned(job.id, worker_id)).values(values))


def _touch(conn: sa.Connection, job: ClaimedJob, worker_id: str, now: dt.datetime) -> bool:
    """Renew the job's lease; False when another worker has taken it over."""
    return bool(
        conn.execute(
            sa.update(JOBS).where(_owned(job.id, worker_id)).values(locked_at=now)
        ).rowcount
    )


def _finish(conn: sa.Connection, job: ClaimedJob, worker_id: str, now: dt.datetime) -> bool:
    done = {"status": DONE, "done_at": now, "last_error": None, "dedupe_key": None}
    return bool(
        conn.execute(sa.update(JOBS).where(_owned(job.id, worker_id)).values(done)).rowcount
    )


def _run_job(
    engine: sa.Engine,
    spec: HandlerSpec | None,
    job: ClaimedJob,
    worker_id: str,
    now: dt.datetime,
    max_attempts: int,
) -> bool | None:
    """Run one claimed job: True done, False failed (to retry or given up), None not ours."""
    try:
        if spec is None:
            raise LookupError(f"no handler is registered for job kind {job.kind!r}")
        if spec.in_transaction:
            with engine.begin() as conn:
                # Touching the row first renews the lease and, on PostgreSQL, holds its row
                # lock until commit, so no other worker can reclaim a job still running here.
                if not _touch(conn, job, worker_id, now):
                    return None
                spec.fn(conn, dict(job.payload), job.id)
                _finish(conn, job, worker_id, now)
            return True
        with engine.begin() as conn:
            if not _touch(conn, job, worker_id, now):
                return None
        with engine.connect() as conn:
            # Not a write transaction: whatever the handler might begin is rolled back.
            spec.fn(conn, dict(job.payload), job.id)
        with engine.begin() as conn:
            if not _finish(conn, job, worker_id, now):
                log.warning("job %s ran here after another worker took it over", job.id)
        return True
    except Exception as exc:
        limit = (spec.max_attempts if spec else None) or max_attempts
        log.warning("job %s (%s) failed, attempt %d of %d: %s", job.id, job.kind,
                    job.attempts + 1, limit, exc)  # fmt: skip
        try:
            _record_failure(engine, job, worker_id, now, exc, limit)
        except sa.exc.DBAPIError:
            # The database is unreachable: the job stays `running` and is reclaimed after
            # its lease, which counts the attempt then.
            log.exception("could not record the failure of job %s", job.id)
        return False


def run_batch(
    engine: sa.Engine,
    handlers: JobHandlers,
    worker_id: str,
    *,
    now: dt.datetime | None = None,
    limit: int = 20,
    max_attempts: int = MAX_ATTEMPTS,
    lease: dt.timedelta = LEASE,
    stop: threading.Event | None = None,
) -> BatchResult:
    """Claim up to `limit` due jobs and run each in its own transaction."""
    clock: Callable[[], dt.datetime] = (lambda: now) if now else utcnow
    jobs = claim(
        engine,
        worker_id,
        limit=limit,
        now=clock(),
        kinds=handlers.kinds(),
        lease=lease,
        max_attempts=max_attempts,
    )
    result = BatchResult(at=clock(), claimed=len(jobs))
    for index, job in enumerate(jobs):
        if stop is not None and stop.is_set():
            # Hand the rest back now rather than have them wait out the lease.
            release(engine, worker_id, [j.id for j in jobs[index:]])
            break
        outcome = _run_job(engine, handlers.get(job.kind), job, worker_id, clock(), max_attempts)
        if outcome is None:
            continue
        result.ran[job.kind] += 1
        result.failed += not outcome
    return result


def run_once(
    engine: sa.Engine,
    handlers: JobHandlers,
    worker_id: str,
    now: dt.datetime | None = None,
    *,
    limit: int = 20,
    max_attempts: int = MAX_ATTEMPTS,
) -> int:
    """Claim and run one batch of due jobs; how many jobs were run."""
    return run_batch(
        engine, handlers, worker_id, now=now, limit=limit, max_attempts=max_attempts
    ).count


def run_forever(
    engine: sa.Engine,
    handlers: JobHandlers,
    *,
    poll_seconds: float = 1.0,
    stop: threading.Event | None = None,
    worker_id: str | None = None,
    limit: int = 20,
    max_attempts: int = MAX_ATTEMPTS,
    on_batch: Callable[[BatchResult], None] | None = None,
) -> None:
    """Run batches until `stop` is set; a full batch goes straight on, else wait a poll."""
    stop = stop or threading.Event()
    worker_id = worker_id or new_worker_id()
    while not stop.is_set():
        try:
            result = run_batch(
                engine, handlers, worker_id, limit=limit, max_attempts=max_attempts, stop=stop
            )
        except sa.exc.DBAPIError:
            # A database restart or a network blip must not end the worker.
            log.exception("worker %s: database error; trying again shortly", worker_id)
            stop.wait(max(poll_seconds, 5.0))
            continue
        if result.count and on_batch is not None:
            on_batch(result)
        if result.claimed < limit:
            stop.wait(poll_seconds)


def add_housekeeping(
    engine: sa.Engine,
    handlers: JobHandlers,
    settings: housekeeping.Settings | None = None,
    *,
    now: dt.datetime | None = None,
) -> None:
    """Register the housekeeping job (unclaimed files, interrupted imports: see
    `engine/housekeeping.py`) and queue its next run. It runs every five minutes like a
    scheduled automation: one job per slot however many workers run, each run queueing the
    next, in the job's transaction (what it removes and marks commits together)."""
    from appblocks.workflows.schedule import recurring, schedule_job

    chosen = settings or housekeeping.Settings.from_env(os.environ)
    if housekeeping.JOB_KIND not in handlers:

        def run_housekeeping(conn: sa.Connection, payload: dict[str, object], job_id: int) -> None:
            report = housekeeping.run(conn, chosen)
            if report.files or report.interrupted:
                log.info("housekeeping (job %s): %s", job_id, " ".join(report.lines()))

        handlers.register(housekeeping.JOB_KIND)(recurring(run_housekeeping))
    with engine.begin() as conn:
        schedule_job(
            conn, housekeeping.JOB_KIND, housekeeping.SCHEDULE, now or utcnow(),
            kind=housekeeping.JOB_KIND,
        )  # fmt: skip


def main_loop(
    engine: sa.Engine,
    handlers: JobHandlers | None = None,
    *,
    poll_seconds: float = 1.0,
    out: TextIO | None = None,
    tidy: housekeeping.Settings | bool = True,
) -> int:
    """`appblocks worker`: run jobs until SIGINT or SIGTERM, one stdout line per batch.

    `tidy` runs housekeeping every five minutes (True: with the settings from the
    environment; False: not at all)."""
    if handlers is None:
        from appblocks.workflows.outbox import MailSettings, register_outbox

        handlers = JobHandlers()
        register_outbox(handlers, MailSettings.from_env(os.environ))
    if tidy is not False:
        add_housekeeping(
            engine, handlers, tidy if isinstance(tidy, housekeeping.Settings) else None
        )
    stream = out or sys.stdout
    stop = threading.Event()
    worker_id = new_worker_id()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, request_stop)

    def say(text: str) -> None:
        print(text, file=stream, flush=True)

    stamp = utcnow().strftime("%Y-%m-%dT%H:%M:%SZ")
    say(f"{stamp} worker {worker_id} started; kinds: {', '.join(handlers.kinds())}")
    try:
        run_forever(
            engine,
            handlers,
            poll_seconds=poll_seconds,
            stop=stop,
            worker_id=worker_id,
            on_batch=lambda result: say(result.summary()),
        )
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    say(f"{utcnow().strftime('%Y-%m-%dT%H:%M:%SZ')} worker {worker_id} stopped")
    return 0
