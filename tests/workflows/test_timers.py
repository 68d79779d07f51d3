"""Timers: queued on entering a state, cancelled on leaving, run by the worker; date timers."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa

from appblocks.engine.models import utcnow
from appblocks.workflows import approvals
from appblocks.workflows.jobs import JOBS
from appblocks.workflows.timers import WORKFLOW_TIMER, schedule_date_timers
from appblocks.workflows.worker import run_once

from .wf_kit import CONTRACT, PO, World, make_world


@pytest.fixture
def world(engine: sa.Engine) -> World:
    return make_world(engine)


def jobs(world: World, status: str | None = "pending") -> list[Any]:
    query = sa.select(JOBS).where(JOBS.c.kind == WORKFLOW_TIMER).order_by(JOBS.c.id)
    if status:
        query = query.where(JOBS.c.status == status)
    with world.db.connect() as conn:
        return list(conn.execute(query))


def later(**delta: float) -> dt.datetime:
    return utcnow() + dt.timedelta(**delta)


def test_timer_queued_on_entering_and_cancelled_on_leaving(world: World) -> None:
    po = world.po(500)
    assert jobs(world) == []
    start = utcnow()
    world.run(PO, po["id"], "submit", "bob")
    queued = jobs(world)
    assert [j.payload["timer"] for j in queued] == [0, 1]
    assert queued[0].payload["state"] == "pending"
    assert start + dt.timedelta(days=3) <= queued[0].due_at <= later(days=3)
    assert queued[1].due_at - queued[0].due_at == dt.timedelta(days=11)
    assert queued[0].dedupe_key.startswith(f"timer:{PO}:{po['id']}:0:")
    (task,) = world.tasks(po["id"])
    mia = world.who("mia")
    with world.db.begin() as conn:
        approvals.decide(conn, world.store, world.wf, task.id, mia, "approve", None)
    assert jobs(world) == []
    assert {j.status for j in jobs(world, None)} == {"cancelled"}


def test_timer_escalates_when_due(world: World) -> None:
    po = world.po(500)
    world.run(PO, po["id"], "submit", "bob")
    assert run_once(world.db, world.handlers, "w1", now=later(days=2)) == 0
    assert run_once(world.db, world.handlers, "w1", now=later(days=3, minutes=1)) == 1
    for cfo in ("carl", "cora", "duo"):
        assert world.notices(cfo) == ["PO PO-500 waits for approval"]
    assert world.notices("mia") == []
    assert world.get(PO, po["id"])["_state"] == "pending"


def test_timer_transition_runs_as_system(world: World) -> None:
    po = world.po(500)
    world.run(PO, po["id"], "submit", "bob")
    assert run_once(world.db, world.handlers, "w1", now=later(weeks=2, minutes=1)) == 2
    after = world.get(PO, po["id"])
    assert after["_state"] == "cancelled"  # `cancel` needs the buyer role: system skips it
    top = world.history(PO, po["id"])[0]
    assert (top["actor"], top["comment"]) == ("system", "No decision within two weeks")
    assert [t.status for t in world.tasks(po["id"])] == ["cancelled"]


def test_timer_that_lost_its_reason_does_nothing(world: World) -> None:
    po = world.po(500)
    world.run(PO, po["id"], "submit", "bob")
    # the record leaves and the pending job is cancelled; a job already running re-checks
    with world.db.begin() as conn:
        conn.execute(sa.update(JOBS).where(JOBS.c.status == "pending").values(status="running"))
    world.run(PO, po["id"], "cancel", "bob", "stop")
    with world.db.begin() as conn:
        conn.execute(sa.update(JOBS).where(JOBS.c.status == "running").values(status="pending"))
    assert run_once(world.db, world.handlers, "w1", now=later(weeks=3)) == 2
    assert world.notices("carl") == []


def contract(world: World, end: dt.date | None, **extra: Any) -> dict[str, Any]:
    values = {"name": "Lease", "owner": "olga", "end_date": end, **extra}
    return world.create(CONTRACT, values, by="lena")


def test_timer_date_relative_queued_and_rescheduled(world: World) -> None:
    end = dt.date.today() + dt.timedelta(days=90)
    record = contract(world, end)
    (job,) = [j for j in jobs(world) if j.payload["timer"] == 0]
    warn = dt.datetime.combine(end - dt.timedelta(days=30), dt.time(), tzinfo=dt.UTC)
    assert job.due_at == warn
    assert job.dedupe_key == f"timer:{CONTRACT}:{record['id']}:0:{warn.isoformat()}"
    (expire,) = [j for j in jobs(world) if j.payload["timer"] == 1]
    assert expire.due_at == warn + dt.timedelta(days=31)
    with world.db.begin() as conn:
        world.store.update(conn, CONTRACT, record["id"], {"name": "Lease 2"}, version=1)
    assert [j.id for j in jobs(world)] == [job.id, expire.id]  # no date change, no churn
    moved = end + dt.timedelta(days=10)
    with world.db.begin() as conn:
        world.store.update(conn, CONTRACT, record["id"], {"end_date": moved}, version=2)
    assert [j.due_at for j in jobs(world) if j.payload["timer"] == 0] == [
        warn + dt.timedelta(days=10)
    ]
    assert {j.status for j in jobs(world, None) if j.id in (job.id, expire.id)} == {"cancelled"}
    with world.db.begin() as conn:
        world.store.update(conn, CONTRACT, record["id"], {"end_date": None}, version=3)
    assert jobs(world) == []


def test_timer_date_relative_runs_only_in_its_state(world: World) -> None:
    end = dt.date.today() + dt.timedelta(days=40)
    draft = contract(world, end)
    active = contract(world, end, name="Active lease")
    world.run(CONTRACT, active["id"], "activate", "lena")
    assert run_once(world.db, world.handlers, "w1", now=later(days=11)) == 2
    subject = f"Contract Active lease ends on {end.isoformat()}"
    assert world.notices("olga") == [subject]
    assert world.notices("lena") == [subject]
    assert world.get(CONTRACT, draft["id"])["_state"] == "draft"
    # a day past the end date the active contract expires; the draft cannot, and stays
    assert run_once(world.db, world.handlers, "w1", now=later(days=42)) == 2
    assert world.get(CONTRACT, active["id"])["_state"] == "expired"
    assert world.get(CONTRACT, draft["id"])["_state"] == "draft"


def test_timer_date_in_the_past(world: World) -> None:
    now = utcnow()
    soon = contract(world, now.date() + dt.timedelta(days=10))
    (warn,) = [j for j in jobs(world) if j.payload["id"] == soon["id"] and j.payload["timer"] == 0]
    assert now <= warn.due_at <= utcnow()  # inside the 30-day window: warn at once
    gone = contract(world, now.date() - dt.timedelta(days=5))
    assert [j for j in jobs(world) if j.payload["id"] == gone["id"]] == []


def test_timer_schedule_date_timers_directly(world: World) -> None:
    wf = world.wf.workflow_for(CONTRACT)
    assert wf is not None
    record = {"id": 77, "end_date": dt.date(2030, 6, 30), "_state": "active"}
    with world.db.begin() as conn:
        ids = schedule_date_timers(conn, wf, record, now=dt.datetime(2030, 1, 1, tzinfo=dt.UTC))
    assert len(ids) == 2


def test_timer_delete_cancels_timers_and_tasks(world: World) -> None:
    po = world.po(500)
    world.run(PO, po["id"], "submit", "bob")
    record = contract(world, dt.date.today() + dt.timedelta(days=90))
    with world.db.begin() as conn:
        world.store.delete(conn, PO, po["id"])
        world.store.delete(conn, CONTRACT, record["id"])
    assert jobs(world) == []
    assert [t.status for t in world.tasks(po["id"])] == ["cancelled"]
