"""Actions that workflows (on_enter, on_exit, timers) and automations run on a record.

An action is a one-key mapping: `{set: {field: expr}}` changes the record itself,
`{create: {entity, values: {field: expr}}}` creates a record in any installed app, and
`{notify: {users, roles, subject, body, email}}` sends in-app notifications (and mail). Values
are sandbox expressions over the record's fields (plus `user`, the acting user); a value that
is not text is taken as it is. Subjects and bodies are plain text with `{field}` placeholders.
Callers add kinds of their own through `extra` (timers add `transition` and `escalate`).
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import sqlalchemy as sa

from appblocks.engine.catalog import Catalog
from appblocks.engine.models import User
from appblocks.engine.records import RecordStore
from appblocks.engine.sandbox import ExpressionError, compile_expression
from appblocks.engine.spec import qualify
from appblocks.engine.users import Identity
from appblocks.workflows.notify import notify
from appblocks.workflows.specs import (
    RECORD_REF,
    WorkflowError,
    as_list,
    role_name,
    user_context,
)

USERS = cast(sa.Table, User.__table__)
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")

Record = dict[str, Any]


class ActionError(WorkflowError):
    """An action that could not run (a value that does not evaluate, an unknown kind): 422."""

    status = 422
    code = "action_failed"

    def __init__(self, message: str, path: str = "") -> None:
        super().__init__(f"{path}: {message}" if path else message, path=path)
        self.path = path


@dataclass
class ActionContext:
    """What an action runs with: the caller's connection, the record as it is now, who acts."""

    conn: sa.Connection
    store: RecordStore
    catalog: Catalog
    entity: str
    record: Record
    actor: Identity
    path: str = ""


#: An action kind: (context, the action's body) -> the record after it, or None if unchanged.
ActionFn = Callable[[ActionContext, Any], Record | None]


def evaluate(value: Any, ctx: ActionContext, path: str) -> Any:
    """An action value: text is an expression over the record, anything else is itself."""
    if not isinstance(value, str):
        return value
    try:
        return compile_expression(value).evaluate(ctx.record, user=user_context(ctx.actor))
    except ExpressionError as exc:
        raise ActionError(exc.message, path) from None


def _set(ctx: ActionContext, body: Mapping[str, Any]) -> Record:
    values = {f: evaluate(v, ctx, f"{ctx.path}.set.{f}") for f, v in body.items()}
    record = ctx.record
    return ctx.store.update(
        ctx.conn, ctx.entity, record["id"], values, version=record["_version"], actor=ctx.actor.name
    )


def _create(ctx: ActionContext, body: Mapping[str, Any]) -> None:
    target = qualify(ctx.entity.partition(".")[0], str(body["entity"]))
    values = {
        f: evaluate(v, ctx, f"{ctx.path}.create.values.{f}")
        for f, v in (body.get("values") or {}).items()
    }
    ctx.store.create(ctx.conn, target, values, actor=ctx.actor.name)
    return None


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return format(value, "f")
    return str(value)


def render(template: str, record: Mapping[str, Any]) -> str:
    """`{field}` placeholders filled from the record; anything else stays as written.

    Only plain names are replaced (no attribute or item access, no format specs), so a
    template can never reach past the record's own values."""
    values = {k: _text(v) for k, v in record.items() if not isinstance(v, list | dict)}
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)


def users_with_roles(conn: sa.Connection, roles: Sequence[str]) -> list[str]:
    """Names of the active users holding any of `roles`, sorted."""
    wanted = {role_name(r) for r in roles}
    if not wanted:
        return []
    # Roles are a JSON list: a LIKE on its text narrows the rows on either database and the
    # exact test runs here (user tables are small; this runs when a notice goes out).
    text = sa.cast(USERS.c.roles, sa.Text)
    query = sa.select(USERS.c.name, USERS.c.roles).where(
        USERS.c.active.is_(True), sa.or_(*(text.like(f'%"{r}"%') for r in sorted(wanted)))
    )
    return sorted(row.name for row in conn.execute(query) if wanted & set(row.roles or ()))


def recipients(ctx: ActionContext, body: Mapping[str, Any]) -> list[str]:
    """The user names a notify body names: `users` (names, `$record.f`, `$user`) and `roles`."""
    names: list[str] = []
    for ref in [*as_list(body.get("users")), *as_list(body.get("user"))]:
        ref = str(ref)
        if ref == "$user":
            names.append(ctx.actor.name)
        elif ref.startswith(RECORD_REF):
            value = ctx.record.get(ref[len(RECORD_REF) :])
            names += [str(v) for v in as_list(value) if v]
        else:
            names.append(ref)
    roles = [str(r) for r in [*as_list(body.get("roles")), *as_list(body.get("role"))]]
    names += users_with_roles(ctx.conn, roles)
    return list(dict.fromkeys(n for n in names if n))


def _notify(ctx: ActionContext, body: Mapping[str, Any]) -> None:
    record = ctx.record
    default = f"{ctx.catalog.entity(ctx.entity).label()} #{record['id']}"
    subject = render(str(body.get("subject") or default), record)
    text = render(str(body.get("body") or body.get("message") or ""), record)
    notify(
        ctx.conn,
        recipients(ctx, body),
        subject,
        text,
        entity=ctx.entity,
        record_id=record["id"],
        email=bool(body.get("email", False)),
    )
    return None


BUILTIN: dict[str, ActionFn] = {"set": _set, "create": _create, "notify": _notify}


def run_actions(
    conn: sa.Connection,
    store: RecordStore,
    actions: Sequence[Mapping[str, Any]],
    entity: str,
    record: Mapping[str, Any],
    *,
    actor: Identity | str,
    catalog: Catalog | None = None,
    extra: Mapping[str, ActionFn] | None = None,
    path: str = "actions",
) -> Record:
    """Run actions in order on a record, in the caller's transaction; the record after them."""
    ctx = ActionContext(
        conn,
        store,
        catalog or store.catalog,
        entity,
        dict(record),
        actor if isinstance(actor, Identity) else Identity(str(actor)),
    )
    kinds = {**BUILTIN, **(extra or {})}
    for index, action in enumerate(actions):
        for kind, body in action.items():
            ctx.path = f"{path}.{index}"
            fn = kinds.get(kind)
            if fn is None:
                raise ActionError(f"'{kind}' is not an action here", ctx.path)
            changed = fn(ctx, body)
            if changed is not None:
                ctx.record = dict(changed)
    return ctx.record


def compile_actions(actions: Sequence[Mapping[str, Any]]) -> None:
    """Compile every expression of some actions now (cached), so a bad one fails at load."""
    for action in actions:
        values = [*(action.get("set") or {}).values()]
        values += [*((action.get("create") or {}).get("values") or {}).values()]
        for value in values:
            if isinstance(value, str):
                compile_expression(value)
