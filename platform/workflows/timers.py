"""Workflow timers: jobs that run actions a while after a record enters a state, or at a
date relative to one of its date fields (30 days before `end_date`).

Timers are `workflow_timer` jobs in `ab_job`, keyed `timer:{entity}:{id}:{index}:{due}` so
that one timer of one record is queued once and can be cancelled by prefix. An in-state timer
is queued when a transition enters its state and cancelled when one leaves it; a date timer is
queued when a record is created or its date field changes (the stale job is cancelled). When a
job runs it checks that its reason still holds (the record still in the state, the date
unchanged, `when` true) before running the timer's actions as the `system` user.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

import sqlalchemy as sa

from appblocks.engine.events import RECORD_CREATED, RECORD_DELETED, RECORD_UPDATED, Event, EventBus
from appblocks.engine.models import utcnow
from appblocks.engine.record_errors import NotFound
from appblocks.engine.records import RecordStore
from appblocks.workflows.actions import BUILTIN, ActionContext, Record, run_actions
from appblocks.workflows.approvals import cancel_tasks
from appblocks.workflows.jobs import JobHandlers, cancel, enqueue
from appblocks.workflows.specs import SYSTEM, TimerSpec, WorkflowError, WorkflowSpec

if TYPE_CHECKING:
    from appblocks.workflows.states import WorkflowEngine

log = logging.getLogger(__name__)

WORKFLOW_TIMER = "workflow_timer"
#: What a job handler needs, from the job's connection: the engine and store of the catalog.
Provider = Callable[[sa.Connection], tuple["WorkflowEngine", RecordStore]]


def timer_prefix(entity: str, record_id: int, index: int | None = None) -> str:
    """The dedupe-key prefix of a record's timers (of one timer, with `index`)."""
    prefix = f"timer:{entity}:{record_id}:"
    return prefix if index is None else f"{prefix}{index}:"


def _enqueue(
    conn: sa.Connection,
    wf: WorkflowSpec,
    record_id: int,
    timer: TimerSpec,
    due: dt.datetime,
    extra: dict[str, Any],
) -> int | None:
    payload = {
        "entity": wf.entity, "id": record_id, "workflow": wf.name, "timer": timer.index,
        "due": due.isoformat(), **extra,
    }  # fmt: skip
    key = f"{timer_prefix(wf.entity, record_id, timer.index)}{due.isoformat()}"
    return enqueue(conn, WORKFLOW_TIMER, payload, due_at=due, dedupe_key=key)


def schedule_state_timers(
    conn: sa.Connection, wf: WorkflowSpec, record: Record, *, now: dt.datetime | None = None
) -> list[int]:
    """Queue the in-state timers of the state the record is in; the new job ids."""
    state = record.get("_state")
    now = now or utcnow()
    jobs = []
    for timer in wf.timers:
        if timer.after is not None and state in timer.in_state:
            job = _enqueue(conn, wf, record["id"], timer, now + timer.after, {"state": state})
            if job is not None:
                jobs.append(job)
    return jobs


def cancel_state_timers(conn: sa.Connection, wf: WorkflowSpec, record_id: int, state: str) -> int:
    """Cancel the record's pending in-state timers of `state`; how many were cancelled."""
    cancelled = 0
    for timer in wf.timers:
        if timer.after is not None and state in timer.in_state:
            cancelled += cancel(conn, dedupe_prefix=timer_prefix(wf.entity, record_id, timer.index))
    return cancelled


def _anchor(record: Record, timer: TimerSpec) -> str | None:
    value = record.get(timer.date_field or "")
    return value.isoformat() if isinstance(value, dt.date) else None


def schedule_date_timers(
    conn: sa.Connection,
    wf: WorkflowSpec,
    record: Record,
    before: Record | None = None,
    *,
    now: dt.datetime | None = None,
) -> list[int]:
    """(Re)queue the date timers whose date field is new or changed; the new job ids.

    A due time already past is skipped, except for a `before` timer whose date is still ahead
    (a contract entered 10 days before it ends gets its 30-day warning at once)."""
    now = now or utcnow()
    jobs = []
    for timer in wf.timers:
        if timer.date_field is None:
            continue
        if before is not None and _anchor(before, timer) == _anchor(record, timer):
            continue
        cancel(conn, dedupe_prefix=timer_prefix(wf.entity, record["id"], timer.index))
        due = timer.due(record)
        if due is None:
            continue
        if due < now:
            date_passed = due - timer.offset + dt.timedelta(days=1) <= now
            if timer.offset >= dt.timedelta(0) or date_passed:
                continue
            due = now
        job = _enqueue(conn, wf, record["id"], timer, due, {"anchor": _anchor(record, timer)})
        if job is not None:
            jobs.append(job)
    return jobs


def subscribe(bus: EventBus, engine: WorkflowEngine | Callable[[], WorkflowEngine]) -> None:
    """Keep timers and tasks in step with record changes: date timers on create and update,
    the initial state's timers on create, everything cancelled on delete."""

    # The engine itself, or a callable giving the current one (the catalog can be reloaded).
    current = cast(
        Callable[[], "WorkflowEngine"],
        (lambda: engine) if hasattr(engine, "workflow_for") else engine,
    )

    def on_change(event: Event) -> None:
        wf = current().workflow_for(event.entity)
        if wf is None:
            return
        conn = event.connection
        if event.name == RECORD_DELETED:
            cancel(conn, dedupe_prefix=timer_prefix(wf.entity, event.id))
            cancel_tasks(conn, wf.entity, event.id)
            return
        if not wf.timers or event.after is None:
            return
        after = dict(event.after)
        if event.name == RECORD_CREATED:
            schedule_state_timers(conn, wf, after)
        schedule_date_timers(conn, wf, after, dict(event.before) if event.before else None)

    for name in (RECORD_CREATED, RECORD_UPDATED, RECORD_DELETED):
        bus.subscribe(name, on_change)


def _still_due(wf: WorkflowSpec, timer: TimerSpec, record: Record, payload: dict[str, Any]) -> bool:
    state = record.get("_state")
    if timer.after is not None:
        return bool(state == payload.get("state"))
    if _anchor(record, timer) != payload.get("anchor"):
        return False  # the date moved: a newer job is queued for it
    return not timer.in_state or state in timer.in_state


def fire(
    conn: sa.Connection, engine: WorkflowEngine, store: RecordStore, payload: dict[str, Any]
) -> bool:
    """Run a due timer's actions if its reason still holds; whether it ran."""
    wf = engine.workflow_for(str(payload.get("entity")))
    index = int(payload.get("timer", -1))
    if wf is None or wf.name != payload.get("workflow") or not 0 <= index < len(wf.timers):
        return False  # the workflow changed since the timer was queued
    timer = wf.timers[index]
    try:
        record = store.get(conn, wf.entity, payload["id"])
    except NotFound:
        return False
    if not _still_due(wf, timer, record, payload):
        return False
    if timer.when is not None and timer.when.why_not(record) is not None:
        return False

    def transition(ctx: ActionContext, body: Any) -> Record | None:
        name = body if isinstance(body, str) else str(body["name"])
        comment = None if isinstance(body, str) else body.get("comment")
        comment = comment or f"timer {index} of {wf.name}"
        try:
            return engine.transition(
                ctx.conn, ctx.store, wf.entity, ctx.record["id"], name, SYSTEM,
                comment=comment, bypass_roles=True,
            )  # fmt: skip
        except WorkflowError as exc:
            if exc.status != 409:
                raise
            # The guard or the state says no: the timer has nothing to do, not an error to retry.
            log.info("timer %s of %s #%s: %s", index, wf.entity, ctx.record["id"], exc)
            return None

    run_actions(
        conn, store, timer.do, wf.entity, record, actor=SYSTEM, catalog=engine.catalog,
        extra={"transition": transition, "escalate": BUILTIN["notify"]},
        path=f"timers.{index}.do",
    )  # fmt: skip
    return True


def register(handlers: JobHandlers, provider: Provider) -> None:
    """Register the `workflow_timer` job handler; `provider(conn)` gives (engine, store)."""

    @handlers.register(WORKFLOW_TIMER)
    def run_timer(conn: sa.Connection, payload: dict[str, Any], job_id: int) -> None:
        engine, store = provider(conn)
        fire(conn, engine, store, payload)
