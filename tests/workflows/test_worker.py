"""The worker: due jobs only, handler writes commit with `done`, backoff, exactly once."""

from __future__ import annotations

import datetime as dt
import io
import os
import signal
import threading
import time
from typing import Any

import pytest
import sqlalchemy as sa

from appblocks.engine.db import create_engine
from appblocks.workflows import worker
from appblocks.workflows.jobs import JOBS, LEASE, JobHandlers, claim, enqueue
from appblocks.workflows.worker import BatchResult, backoff, main_loop, run_batch, run_once

T0 = dt.datetime(2026, 11, 24, 10, 0, tzinfo=dt.UTC)


def recording_handlers(effects: sa.Table, worker_id: str = "w1") -> JobHandlers:
    handlers = JobHandlers()

    @handlers.register("record")
    def record(conn: sa.Connection, payload: dict[str, Any], job_id: int) -> None:
        conn.execute(sa.insert(effects).values(job_id=job_id, worker=worker_id))

    return handlers


def statuses(engine: sa.Engine) -> dict[int, str]:
    with engine.connect() as conn:
        return {r.id: r.status for r in conn.execute(sa.select(JOBS.c.id, JOBS.c.status))}


def count(engine: sa.Engine, table: sa.Table) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def test_run_once_runs_due_jobs_only(engine: sa.Engine, effects: sa.Table) -> None:
    with engine.begin() as conn:
        due = [enqueue(conn, "record", {}, due_at=T0 - dt.timedelta(seconds=s)) for s in (0, 9)]
        future = enqueue(conn, "record", {}, due_at=T0 + dt.timedelta(seconds=1))
    assert run_once(engine, recording_handlers(effects), "w1", now=T0) == 2
    assert statuses(engine) == {due[0]: "done", due[1]: "done", future: "pending"}
    with engine.connect() as conn:
        assert sorted(conn.execute(sa.select(effects.c.job_id)).scalars()) == sorted(due)  # type: ignore[type-var]
    assert run_once(engine, recording_handlers(effects), "w1", now=T0) == 0


def test_failing_handler_rolls_back_and_is_retried_with_backoff(
    engine: sa.Engine, effects: sa.Table
) -> None:
    handlers = JobHandlers()
    calls: list[int] = []

    @handlers.register("flaky")
    def flaky(conn: sa.Connection, payload: dict[str, Any], job_id: int) -> None:
        conn.execute(sa.insert(effects).values(job_id=job_id))
        calls.append(job_id)
        if len(calls) < 3:
            raise RuntimeError(f"boom {len(calls)}")

    with engine.begin() as conn:
        job_id = enqueue(conn, "flaky", {}, due_at=T0)
    assert run_once(engine, handlers, "w1", now=T0) == 1
    with engine.connect() as conn:
        row = conn.execute(sa.select(JOBS).where(JOBS.c.id == job_id)).one()
    assert (row.status, row.attempts, row.locked_by) == ("pending", 1, None)
    assert row.due_at == T0 + dt.timedelta(seconds=30)
    assert "RuntimeError: boom 1" in row.last_error
    assert count(engine, effects) == 0  # the handler's insert was rolled back

    assert run_once(engine, handlers, "w1", now=T0 + dt.timedelta(seconds=29)) == 0
    second = T0 + dt.timedelta(seconds=30)
    assert run_once(engine, handlers, "w1", now=second) == 1
    with engine.connect() as conn:
        due_at = conn.execute(sa.select(JOBS.c.due_at).where(JOBS.c.id == job_id)).scalar()
    assert due_at == second + dt.timedelta(seconds=60)

    assert run_once(engine, handlers, "w1", now=second + dt.timedelta(seconds=60)) == 1
    assert statuses(engine) == {job_id: "done"}
    assert count(engine, effects) == 1


def test_failing_handler_ends_failed_after_max_attempts(engine: sa.Engine) -> None:
    handlers = JobHandlers()

    @handlers.register("broken")
    def broken(conn: sa.Connection, payload: dict[str, Any], job_id: int) -> None:
        raise ValueError("never works")

    with engine.begin() as conn:
        job_id = enqueue(conn, "broken", {}, due_at=T0, dedupe_key="broken:1")
    now = T0
    for _ in range(4):
        run_once(engine, handlers, "w1", now=now, max_attempts=4)
        now += worker.BACKOFF_CAP
    with engine.connect() as conn:
        row = conn.execute(sa.select(JOBS).where(JOBS.c.id == job_id)).one()
    assert (row.status, row.attempts, row.dedupe_key) == ("failed", 4, None)
    assert row.done_at is not None and "never works" in row.last_error
    assert run_once(engine, handlers, "w1", now=now + dt.timedelta(days=1)) == 0


@pytest.mark.parametrize(
    ("attempts", "wait"),
    [(1, 30), (2, 60), (3, 120), (7, 1920), (8, 3600), (20, 3600)],
)
def test_backoff_doubles_and_is_capped_at_an_hour(attempts: int, wait: int) -> None:
    assert backoff(attempts) == dt.timedelta(seconds=wait)


def test_stuck_job_is_reclaimed_after_its_lease_and_run(
    engine: sa.Engine, effects: sa.Table
) -> None:
    with engine.begin() as conn:
        job_id = enqueue(conn, "record", {}, due_at=T0)
    claim(engine, "crashed-worker", now=T0)  # claimed, then the worker died
    handlers = recording_handlers(effects, "w2")
    assert run_once(engine, handlers, "w2", now=T0 + dt.timedelta(minutes=1)) == 0
    assert run_once(engine, handlers, "w2", now=T0 + LEASE + dt.timedelta(seconds=1)) == 1
    assert statuses(engine) == {job_id: "done"}


def test_worker_that_lost_its_job_does_not_run_it(engine: sa.Engine, effects: sa.Table) -> None:
    with engine.begin() as conn:
        enqueue(conn, "record", {}, due_at=T0)
    [slow] = claim(engine, "slow", now=T0)
    [taken] = claim(engine, "fast", now=T0 + LEASE + dt.timedelta(seconds=1))
    handlers = recording_handlers(effects)
    spec = handlers.get("record")
    assert worker._run_job(engine, spec, slow, "slow", T0, 8) is None
    assert worker._run_job(engine, spec, taken, "fast", T0, 8) is True
    with engine.connect() as conn:
        assert conn.execute(sa.select(effects.c.worker)).scalars().all() == ["w1"]


def test_outside_handler_does_not_hold_the_write_lock(engine: sa.Engine, effects: sa.Table) -> None:
    handlers = JobHandlers()

    @handlers.register("send", in_transaction=False)
    def send(conn: sa.Connection, payload: dict[str, Any], job_id: int) -> None:
        # Stands for the app saving a record while the worker waits on an SMTP server: on
        # SQLite this would wait out busy_timeout and fail if the worker held the write lock.
        with engine.begin() as other:
            other.execute(sa.insert(effects).values(job_id=job_id, worker="app"))

    with engine.begin() as conn:
        job_id = enqueue(conn, "send", {}, due_at=T0)
    began = time.perf_counter()
    assert run_once(engine, handlers, "w1", now=T0) == 1
    assert time.perf_counter() - began < 2
    assert statuses(engine) == {job_id: "done"} and count(engine, effects) == 1


def test_stop_hands_unstarted_jobs_back(engine: sa.Engine, effects: sa.Table) -> None:
    stop = threading.Event()
    handlers = JobHandlers()

    @handlers.register("record")
    def record(conn: sa.Connection, payload: dict[str, Any], job_id: int) -> None:
        stop.set()  # e.g. SIGTERM arrives while the first job runs

    with engine.begin() as conn:
        ids = [enqueue(conn, "record", {}, due_at=T0) for _ in range(3)]
    result = run_batch(engine, handlers, "w1", now=T0, stop=stop)
    assert (result.claimed, result.count) == (3, 1)
    assert statuses(engine) == {ids[0]: "done", ids[1]: "pending", ids[2]: "pending"}
    with engine.connect() as conn:
        assert conn.execute(sa.select(JOBS.c.locked_by).where(JOBS.c.id == ids[1])).scalar() is None


def test_batch_summary_names_kinds_and_failures() -> None:
    result = BatchResult(at=T0, claimed=4)
    result.ran.update({"webhook": 1, "mail": 2, "timer": 1})
    result.failed = 1
    assert result.summary() == (
        "2026-11-24T10:00:00Z ran 4 job(s): mail x2, timer x1, webhook x1; 1 failed"
    )


def test_main_loop_prints_each_batch_and_stops_on_sigterm(engine: sa.Engine) -> None:
    handlers = JobHandlers()
    seen: list[int] = []

    @handlers.register("ping")
    def ping(conn: sa.Connection, payload: dict[str, Any], job_id: int) -> None:
        seen.append(job_id)
        if len(seen) == 2:
            os.kill(os.getpid(), signal.SIGTERM)  # the handler installed by main_loop stops it

    with engine.begin() as conn:
        enqueue(conn, "ping", {})
        enqueue(conn, "ping", {})
    out = io.StringIO()
    previous = signal.getsignal(signal.SIGTERM)
    assert main_loop(engine, handlers, poll_seconds=0.01, out=out) == 0
    lines = out.getvalue().splitlines()
    assert len(seen) == 2 and len(lines) == 3
    assert "started" in lines[0] and lines[1].endswith("ran 2 job(s): ping x2")
    assert "stopped" in lines[2]
    assert signal.getsignal(signal.SIGTERM) is previous


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_two_workers_on_postgresql_run_1000_jobs_exactly_once(
    db_url: str, engine: sa.Engine, effects: sa.Table
) -> None:
    total = 1000
    with engine.begin() as conn:
        for n in range(total):
            enqueue(conn, "record", {"n": n}, due_at=T0)
    now = T0 + dt.timedelta(seconds=1)
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def work(name: str) -> None:
        own = create_engine(db_url)  # each worker its own Engine and connections
        handlers = recording_handlers(effects, name)
        try:
            start.wait()
            while True:
                if run_once(own, handlers, name, now=now) == 0:
                    with own.connect() as conn:
                        left = conn.execute(
                            sa.select(sa.func.count())
                            .select_from(JOBS)
                            .where(JOBS.c.status.in_(["pending", "running"]))
                        ).scalar()
                    if not left:
                        return
                    time.sleep(0.01)  # the other worker still holds the last rows
        except BaseException as exc:
            errors.append(exc)
        finally:
            own.dispose()

    threads = [threading.Thread(target=work, args=(f"worker-{i}",)) for i in (1, 2)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    elapsed = time.perf_counter() - began
    assert not errors, errors

    with engine.connect() as conn:
        done = conn.execute(
            sa.select(sa.func.count()).select_from(JOBS).where(JOBS.c.status == "done")
        ).scalar()
        rows = conn.execute(sa.select(sa.func.count(sa.distinct(effects.c.job_id)))).scalar()
        split = {
            worker: n
            for worker, n in conn.execute(
                sa.select(effects.c.worker, sa.func.count()).group_by(effects.c.worker)
            )
        }
    print(f"\n1,000 jobs, 2 workers on PostgreSQL: {elapsed:.2f} s, split {split}")
    assert done == total and rows == total and count(engine, effects) == total
    assert set(split) == {"worker-1", "worker-2"} and all(n > 0 for n in split.values())
