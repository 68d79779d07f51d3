"""Jobs: enqueue with dedupe in the caller's transaction, cancel by prefix, claim, reclaim."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from appblocks.workflows.jobs import (
    JOBS,
    LEASE,
    JobHandlers,
    cancel,
    claim,
    enqueue,
)

T0 = dt.datetime(2026, 11, 24, 10, 0, tzinfo=dt.UTC)


def job_row(engine: sa.Engine, job_id: int) -> sa.Row[tuple[object, ...]]:
    with engine.connect() as conn:
        return conn.execute(sa.select(JOBS).where(JOBS.c.id == job_id)).one()


def test_enqueue_inserts_a_pending_job(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        job_id = enqueue(conn, "mail", {"to": ["a@example.org"]}, due_at=T0)
    assert job_id is not None
    row = job_row(engine, job_id)
    assert (row.kind, row.status, row.attempts, row.payload) == (
        "mail",
        "pending",
        0,
        {"to": ["a@example.org"]},
    )
    assert row.due_at == T0


def test_enqueue_with_a_live_dedupe_key_does_nothing(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        first = enqueue(conn, "timer", {"n": 1}, due_at=T0, dedupe_key="timer:po:1:remind")
        second = enqueue(conn, "timer", {"n": 2}, due_at=T0, dedupe_key="timer:po:1:remind")
    assert first is not None and second is None
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(JOBS)).scalar() == 1
        assert conn.execute(sa.select(JOBS.c.payload)).scalar() == {"n": 1}


def test_enqueue_rolls_back_with_the_callers_transaction(engine: sa.Engine) -> None:
    with pytest.raises(RuntimeError), engine.begin() as conn:
        enqueue(conn, "mail", {})
        raise RuntimeError("the save failed")
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(JOBS)).scalar() == 0


def test_cancel_takes_pending_jobs_by_prefix_and_frees_their_keys(engine: sa.Engine) -> None:
    keys = ["timer:po:1:a", "timer:po:1:b", "timer:po:10:a", "timer:pox1:a", "other"]
    with engine.begin() as conn:
        ids = {key: enqueue(conn, "timer", {}, due_at=T0, dedupe_key=key) for key in keys}
        # `_` and `%` in a prefix are literal, not LIKE wildcards.
        assert cancel(conn, dedupe_prefix="timer:po_1:") == 0
        assert cancel(conn, dedupe_prefix="timer:po:1:") == 2
    statuses = {key: job_row(engine, ids[key] or 0).status for key in keys}
    assert statuses == {
        "timer:po:1:a": "cancelled",
        "timer:po:1:b": "cancelled",
        "timer:po:10:a": "pending",
        "timer:pox1:a": "pending",
        "other": "pending",
    }
    with engine.begin() as conn:  # the record re-entered its state: the timer comes back
        assert enqueue(conn, "timer", {}, due_at=T0, dedupe_key="timer:po:1:a") is not None


def test_cancel_refuses_an_empty_prefix(engine: sa.Engine) -> None:
    with engine.begin() as conn, pytest.raises(ValueError, match="non-empty"):
        cancel(conn, dedupe_prefix="")


def test_claim_takes_due_jobs_oldest_first_and_marks_them_running(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        later = enqueue(conn, "mail", {}, due_at=T0 - dt.timedelta(minutes=1))
        earlier = enqueue(conn, "mail", {}, due_at=T0 - dt.timedelta(minutes=5))
        enqueue(conn, "mail", {}, due_at=T0 + dt.timedelta(seconds=1))  # not due yet
    jobs = claim(engine, "w1", now=T0)
    assert [j.id for j in jobs] == [earlier, later]
    row = job_row(engine, earlier or 0)
    assert (row.status, row.locked_by, row.locked_at) == ("running", "w1", T0)
    assert claim(engine, "w2", now=T0) == []  # running jobs are not claimed again


def test_claim_respects_the_limit_and_the_kinds(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        for _ in range(5):
            enqueue(conn, "mail", {}, due_at=T0)
        unknown = enqueue(conn, "newer_kind", {}, due_at=T0)
    assert len(claim(engine, "w1", now=T0, limit=3, kinds=["mail"])) == 3
    assert len(claim(engine, "w1", now=T0, kinds=["mail"])) == 2
    assert claim(engine, "w1", now=T0, kinds=["mail"]) == []
    assert job_row(engine, unknown or 0).status == "pending"  # left for a worker that knows it


def test_claim_reclaims_a_running_job_after_its_lease(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        job_id = enqueue(conn, "mail", {}, due_at=T0)
    assert [j.id for j in claim(engine, "crashed", now=T0)] == [job_id]
    assert claim(engine, "w2", now=T0 + LEASE - dt.timedelta(seconds=1)) == []
    reclaimed = claim(engine, "w2", now=T0 + LEASE + dt.timedelta(seconds=1))
    assert [(j.id, j.attempts) for j in reclaimed] == [(job_id, 1)]
    row = job_row(engine, job_id or 0)
    assert row.locked_by == "w2" and "crashed" in row.last_error


def test_claim_fails_a_job_whose_worker_keeps_dying(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        job_id = enqueue(conn, "mail", {}, due_at=T0, dedupe_key="k")
    now = T0
    for _ in range(3):
        claim(engine, "dies", now=now, max_attempts=3)
        now += LEASE + dt.timedelta(seconds=1)
    assert claim(engine, "w2", now=now, max_attempts=3) == []
    row = job_row(engine, job_id or 0)
    assert (row.status, row.attempts, row.dedupe_key) == ("failed", 3, None)


def test_handlers_refuse_a_kind_registered_twice() -> None:
    handlers = JobHandlers()
    handlers.register("mail")(lambda conn, payload, job_id: None)
    assert "mail" in handlers and handlers.kinds() == ["mail"]
    with pytest.raises(ValueError, match="already registered"):
        handlers.register("mail")
