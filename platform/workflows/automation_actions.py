"""Running an automation's actions in the caller's transaction.

Data actions (set, create, update) write through the record store, so they are validated,
audited and announced like any other write (and may trigger further automations). Mail and
webhooks go to the outbox, so they only leave when the transaction commits.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from appblocks.engine.query import compile_filter
from appblocks.engine.records import RecordStore
from appblocks.engine.sandbox import UserContext
from appblocks.engine.users import Identity
from appblocks.workflows.actions import ActionContext, recipients, render
from appblocks.workflows.automation_spec import (
    Action,
    Automation,
    AutomationError,
    CreateAction,
    NotifyAction,
    SetAction,
    UpdateAction,
    Values,
    WebhookAction,
)
from appblocks.workflows.notify import notify
from appblocks.workflows.outbox import queue_webhook
from appblocks.workflows.specs import SYSTEM

#: most records one `update` by filter may change; past it the automation fails, undone
UPDATE_LIMIT = 1_000


@dataclass
class Run:
    """One run of an automation: where it runs, on which record, as whom."""

    conn: sa.Connection
    store: RecordStore
    automation: Automation
    event: str  # record.created / record.updated / record.deleted, or "schedule"
    entity: str | None
    before: Mapping[str, Any] | None
    after: Mapping[str, Any] | None
    actor: str | None
    user: UserContext | None
    env: Mapping[str, str]
    update_limit: int = UPDATE_LIMIT
    at: dt.datetime | None = None
    record: Mapping[str, Any] | None = field(init=False)

    def __post_init__(self) -> None:
        # What expressions see: the record as saved (as it was, for a delete).
        self.record = self.after if self.after is not None else self.before

    def variables(self) -> dict[str, Any]:
        """Expression variables: the record's fields and `old` (the record before an update)."""
        scope = dict(self.record or {})
        old = self.before if self.event != "record.deleted" else None
        scope["old"] = dict(old) if old is not None else None
        return scope

    def fail(self, message: str) -> AutomationError:
        return AutomationError(self.automation.qualified, message)


def evaluate_values(run: Run, values: Values) -> dict[str, Any]:
    """The values of a create, update or set: expressions evaluated over the record."""
    scope = run.variables()
    out = {}
    for name, expression, constant in values:
        out[name] = constant if expression is None else expression.evaluate(scope, user=run.user)
    return out


def _set(run: Run, action: SetAction) -> None:
    if run.entity is None or run.after is None:
        raise run.fail("set needs a record that still exists")
    values = evaluate_values(run, action.values)
    table = run.store.catalog.table(run.entity)
    version = run.conn.execute(
        sa.select(table.c._version).where(table.c.id == run.after["id"])
    ).scalar_one()
    # Later actions (a notification's {field}s, say) see the record as it now is.
    run.record = run.store.update(
        run.conn, run.entity, run.after["id"], values, version=version, actor=run.actor
    )


def _create(run: Run, action: CreateAction) -> None:
    values = evaluate_values(run, action.values)
    run.store.create(run.conn, action.entity, values, actor=run.actor)


def _substitute(spec: Any, record: Mapping[str, Any] | None) -> Any:
    """A filter with each `"$record.<field>"` value replaced by that field of the record."""
    if isinstance(spec, Mapping):
        return {k: _substitute(v, record) for k, v in spec.items()}
    if isinstance(spec, list):
        return [_substitute(v, record) for v in spec]
    if isinstance(spec, str) and spec.startswith("$record."):
        return (record or {}).get(spec.removeprefix("$record."))
    return spec


def _update(run: Run, action: UpdateAction) -> None:
    conn, store = run.conn, run.store
    table = store.catalog.table(action.entity)
    if action.link is not None:
        target = (run.record or {}).get(action.link)
        if target is None:
            return  # the link is empty: there is nothing to update
        where = table.c.id == target
    else:
        where = compile_filter(store.catalog, action.entity, _substitute(action.filter, run.record))
    limit = run.update_limit
    rows = conn.execute(
        sa.select(table.c.id, table.c._version).where(where).order_by(table.c.id).limit(limit + 1)
    ).all()
    if len(rows) > limit:
        raise run.fail(
            f"update would change more than {limit:,} {action.entity} records; "
            "narrow its filter (an automation updates at most that many at once)"
        )
    if action.link is not None and not rows:
        raise run.fail(f"{action.entity} {target} (its '{action.link}') does not exist")
    values = evaluate_values(run, action.values)
    for row in rows:
        store.update(conn, action.entity, row.id, values, version=row._version, actor=run.actor)


def _notify(run: Run, action: NotifyAction) -> None:
    record = dict(run.record or {})
    # Recipients and {field} placeholders resolve exactly as in a workflow's notify.
    actor = Identity(run.actor) if run.actor else SYSTEM
    ctx = ActionContext(run.conn, run.store, run.store.catalog, run.entity or "", record, actor)
    names = recipients(ctx, action.recipients)
    if run.entity is None:
        default = run.automation.label  # a schedule has no record to name
    else:
        default = f"{run.store.catalog.entity(run.entity).label()} #{record.get('id')}"
    notify(
        run.conn,
        names,
        render(action.subject or default, record),
        render(action.body, record),
        entity=run.entity,
        record_id=record.get("id"),
        email=action.email,
    )


def _webhook(run: Run, action: WebhookAction) -> None:
    secret = None
    if action.secret_env:
        secret = run.env.get(action.secret_env)
        if not secret:
            # Sending unsigned would let anyone forge these calls; better to fail loudly.
            raise run.fail(f"the webhook secret variable {action.secret_env} is not set")
    payload: dict[str, Any] = {"automation": run.automation.qualified, "event": run.event}
    if run.entity is not None:
        record = run.after if run.after is not None else run.before
        payload["entity"] = run.entity
        payload["id"] = record["id"] if record else None
        for key, value in (("before", run.before), ("after", run.after)):
            payload[key] = None if value is None else run.store.to_json(run.entity, value)
    if run.at is not None:
        payload["at"] = run.at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    queue_webhook(run.conn, action.url, payload, secret=secret, event=run.event)


_RUNNERS: dict[type, Any] = {
    SetAction: _set,
    CreateAction: _create,
    UpdateAction: _update,
    NotifyAction: _notify,
    WebhookAction: _webhook,
}


def run_actions(run: Run, actions: Sequence[Action]) -> None:
    """Run the actions in order in `run.conn`'s transaction; the first error stops them."""
    for action in actions:
        _RUNNERS[type(action)](run, action)
