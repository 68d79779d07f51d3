"""Worker benchmarks: jobs per second, one worker on SQLite and 1, 2, 4 workers on PostgreSQL.

Each job's handler inserts one row, so a figure is the cost of claim + a job's transaction.
PostgreSQL figures need APPBLOCKS_TEST_PG_URL; each run gets a schema of its own, dropped after.
Set BENCH_WORKER_JOBS to change the job count (default 5,000).
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from appblocks.engine.db import create_engine
from appblocks.engine.platform_db import upgrade
from appblocks.workflows.jobs import JOBS, JobHandlers, enqueue
from appblocks.workflows.worker import run_once

JOBS_N = int(os.environ.get("BENCH_WORKER_JOBS", "5000"))
NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


@contextmanager
def _pg_url() -> Iterator[str]:
    url = os.environ["APPBLOCKS_TEST_PG_URL"]
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    try:
        yield (
            sa.make_url(url)
            .update_query_dict({"options": f"-csearch_path={schema}"})
            .render_as_string(hide_password=False)
        )
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


def _prepare(url: str) -> sa.Table:
    engine = create_engine(url)
    upgrade(engine)
    metadata = sa.MetaData()
    effects = sa.Table(
        "bench_effect",
        metadata,
        sa.Column("job_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("worker", sa.String(100)),
    )
    metadata.create_all(engine)
    with engine.begin() as conn:
        for n in range(JOBS_N):
            enqueue(conn, "bench", {"n": n}, due_at=NOW)
    engine.dispose()
    return effects


def _work(url: str, effects: sa.Table, name: str, start: threading.Barrier) -> None:
    engine = create_engine(url)
    handlers = JobHandlers()

    @handlers.register("bench")
    def bench(conn: sa.Connection, payload: dict[str, Any], job_id: int) -> None:
        conn.execute(sa.insert(effects).values(job_id=job_id, worker=name))

    start.wait()
    while True:
        if run_once(engine, handlers, name, now=NOW, limit=50) == 0:
            with engine.connect() as conn:
                left = conn.execute(
                    sa.select(sa.func.count())
                    .select_from(JOBS)
                    .where(JOBS.c.status.in_(["pending", "running"]))
                ).scalar()
            if not left:
                break
            time.sleep(0.005)
    engine.dispose()


def _measure(url: str, workers: int) -> float:
    effects = _prepare(url)
    start = threading.Barrier(workers)
    threads = [
        threading.Thread(target=_work, args=(url, effects, f"w{i}", start)) for i in range(workers)
    ]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    engine = create_engine(url)
    with engine.connect() as conn:
        done = conn.execute(sa.select(sa.func.count()).select_from(effects)).scalar()
    engine.dispose()
    assert done == JOBS_N, (done, JOBS_N)
    return JOBS_N / elapsed


def run() -> list[tuple[str, float, str]]:
    """Jobs per second for each set-up that this machine can run."""
    figures: list[tuple[str, float, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        figures.append((f"SQLite, 1 worker, {JOBS_N:,} jobs", _measure(url, 1), "jobs/s"))
    if os.environ.get("APPBLOCKS_TEST_PG_URL"):
        for workers in (1, 2, 4):
            with _pg_url() as url:
                rate = _measure(url, workers)
            figures.append((f"PostgreSQL, {workers} worker(s), {JOBS_N:,} jobs", rate, "jobs/s"))
    return figures


if __name__ == "__main__":
    for label, value, unit in run():
        print(f"  {label:<62} {value:>14,.2f} {unit}")
