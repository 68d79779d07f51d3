"""Approvals: chains of levels of tasks in `ab_task`, decided, delegated, listed in an inbox.

Entering an approval state opens the tasks of the first level whose `when` holds (one task per
approver: a role, which any holder may decide, or a user). A level is complete when `need` of
its tasks are approved; its other open tasks are then cancelled and the next level that
applies opens; after the last one the record moves to `approve_to`. One rejection (with a
comment) ends the chain and moves the record to `reject_to`. Tasks of the current chain are
told apart from older ones without a chain column: a record's open tasks are always the current
chain's (leaving the state cancels them), and every task of one level opening, delegated ones
included, carries the level's opening time as `created_at`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import sqlalchemy as sa

from appblocks.engine.audit import write_audit
from appblocks.engine.models import Task, utcnow
from appblocks.engine.records import RecordStore
from appblocks.engine.sandbox import ExpressionError
from appblocks.engine.users import Identity, identity_of
from appblocks.workflows.notify import notify
from appblocks.workflows.specs import ApprovalSpec, WorkflowError, WorkflowSpec, clean_comment

if TYPE_CHECKING:
    from appblocks.workflows.states import WorkflowEngine

TASKS = cast(sa.Table, Task.__table__)
OPEN, APPROVED, REJECTED, DELEGATED, CANCELLED = (
    "open", "approved", "rejected", "delegated", "cancelled",
)  # fmt: skip
APPROVE, REJECT, DELEGATE = "approve", "reject", "delegate"


class TaskError(WorkflowError):
    """A decision or delegation that cannot be made; subclasses carry the HTTP status."""

    code = "task_error"


class NotYourTask(TaskError):
    """No such task, or not one assigned to the user or their roles: 404 (never 403, so that
    task ids reveal nothing)."""

    status = 404
    code = "task_not_found"


class SelfApproval(TaskError):
    """The requester deciding their own request, or one person approving twice in a level: 403."""

    status = 403
    code = "task_self_approval"


class CommentRequired(TaskError):
    """A rejection without a comment: 422."""

    status = 422
    code = "comment_required"


class BadRequest(TaskError):
    """A decision that is not approve/reject, or a delegate who is not an active user: 422."""

    status = 422
    code = "task_bad_request"


class TaskClosed(TaskError):
    """The task is decided, delegated or cancelled, or its record left the state: 409."""

    status = 409
    code = "task_closed"


class ApprovalBlocked(TaskError):
    """A level cannot open (its `when` fails to evaluate, a `$record` approver is empty): 409."""

    status = 409
    code = "approval_blocked"


def _same_level(task: Any) -> list[sa.ColumnElement[bool]]:
    return [
        TASKS.c.entity == task.entity,
        TASKS.c.record_id == task.record_id,
        TASKS.c.step == task.step,
        TASKS.c.level == task.level,
    ]


def open_tasks(
    conn: sa.Connection,
    wf: WorkflowSpec,
    spec: ApprovalSpec,
    record: dict[str, Any],
    *,
    requested_by: str,
    after: int = 0,
) -> bool:
    """Open the tasks of the first level after position `after` whose `when` holds for the
    record; False when no level is left (the chain is complete)."""
    for level in spec.levels[after:]:
        try:
            applies = level.when is None or level.when.holds(record)
        except ExpressionError as exc:
            # Never skip a level because its condition broke: that would skip an approval.
            raise ApprovalBlocked(
                f"approval level '{level.name}': `{level.when.source if level.when else ''}` "
                f"could not be evaluated: {exc.message}",
                level=level.name,
            ) from None
        if not applies:
            continue
        now = utcnow()
        rows = []
        for approver in level.approvers:
            user, role = approver.assignee(record)
            if user is None and role is None:
                raise ApprovalBlocked(
                    f"approval level '{level.name}' has no approver: {approver.user} is empty",
                    level=level.name,
                )
            rows.append(
                {
                    "entity": wf.entity, "record_id": record["id"], "workflow": wf.name,
                    "step": spec.state, "level": level.position, "assignee_user": user,
                    "assignee_role": role, "status": OPEN, "created_at": now,
                    "requested_by": requested_by,
                }
            )  # fmt: skip
        conn.execute(sa.insert(TASKS), rows)
        return True
    return False


def cancel_tasks(
    conn: sa.Connection,
    entity: str,
    record_id: int,
    *,
    step: str | None = None,
    level: int | None = None,
) -> int:
    """Cancel a record's open tasks (of one state, one level); how many were cancelled."""
    where = [TASKS.c.entity == entity, TASKS.c.record_id == record_id, TASKS.c.status == OPEN]
    if step is not None:
        where.append(TASKS.c.step == step)
    if level is not None:
        where.append(TASKS.c.level == level)
    stmt = sa.update(TASKS).where(*where).values(status=CANCELLED, decided_at=utcnow())
    return conn.execute(stmt).rowcount


def _load(conn: sa.Connection, task_id: Any, *, lock: bool = False) -> Any:
    try:
        key = int(task_id)
    except (TypeError, ValueError):
        raise NotYourTask(f"there is no task {task_id}", task=task_id) from None
    query = sa.select(TASKS).where(TASKS.c.id == key)
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).first()
    if row is None:
        raise NotYourTask(f"there is no task {task_id}", task=task_id)
    return row


def _assigned(identity: Identity, task: Any) -> bool:
    if task.assignee_user is not None:
        return bool(task.assignee_user == identity.name)
    return task.assignee_role in identity.roles


def _close(conn: sa.Connection, task: Any, status: str, who: str, comment: str | None) -> None:
    conn.execute(
        sa.update(TASKS)
        .where(TASKS.c.id == task.id)
        .values(status=status, decided_at=utcnow(), decided_by=who, comment=comment)
    )


def _checked_task(conn: sa.Connection, task_id: Any, identity: Identity, *, admin: bool) -> Any:
    task = _load(conn, task_id)
    if not (_assigned(identity, task) or (admin and identity.is_admin)):
        raise NotYourTask(f"there is no task {task_id} for {identity.name}", task=task_id)
    if task.status != OPEN:
        raise TaskClosed(f"task {task.id} is already {task.status}", task=task.id)
    return task


def decide(
    conn: sa.Connection,
    store: RecordStore,
    engine: WorkflowEngine,
    task_id: Any,
    identity: Identity,
    decision: str,
    comment: str | None = None,
) -> dict[str, Any]:
    """Approve or reject a task as `identity`; the record after it (moved on if the chain
    completed or was rejected)."""
    first = _checked_task(conn, task_id, identity, admin=False)
    if decision not in (APPROVE, REJECT):
        raise BadRequest(f"a decision is approve or reject, not '{decision}'", decision=decision)
    comment = clean_comment(comment)
    if decision == REJECT and not comment:
        raise CommentRequired("a rejection needs a comment saying why", task=first.id)
    engine.lock(conn, first.entity, first.record_id)
    task = _load(conn, first.id, lock=True)  # again, now that the record is ours
    if task.status != OPEN:
        raise TaskClosed(f"task {task.id} is already {task.status}", task=task.id)
    wf = engine.workflow_for(task.entity)
    spec = wf.approvals.get(task.step) if wf is not None else None
    record = store.get(conn, task.entity, task.record_id)
    if wf is None or spec is None or record.get("_state") != task.step:
        raise TaskClosed(f"task {task.id} no longer waits for a decision", task=task.id)
    if task.requested_by == identity.name and not spec.allow_self_approval:
        raise SelfApproval("you cannot decide on your own request", task=task.id)
    if decision == APPROVE and _approved_here(conn, task, identity.name):
        raise SelfApproval("you have already approved at this level", task=task.id)
    _close(conn, task, APPROVED if decision == APPROVE else REJECTED, identity.name, comment)
    level = spec.level(task.level)
    detail = {"task": task.id, "step": task.step, "level": level.name if level else task.level}
    write_audit(conn, task.entity, task.record_id, decision, identity.name, None, detail, comment)
    if decision == REJECT:
        return engine.move(conn, store, wf, record, spec.reject_to, identity, comment=comment)
    if level is not None:
        still_open = conn.execute(
            sa.select(sa.func.count()).where(*_same_level(task), TASKS.c.status == OPEN)
        ).scalar_one()
        if still_open > len(level.approvers) - level.need:
            return record
        cancel_tasks(conn, task.entity, task.record_id, step=task.step, level=task.level)
        requester = task.requested_by or identity.name
        if open_tasks(conn, wf, spec, record, requested_by=requester, after=task.level):
            return record
    return engine.move(conn, store, wf, record, spec.approve_to, identity, comment=comment)


def _approved_here(conn: sa.Connection, task: Any, name: str) -> bool:
    """Whether `name` approved another task of this level opening (one person, one approval)."""
    query = sa.select(TASKS.c.id).where(
        *_same_level(task),
        TASKS.c.created_at == task.created_at,
        TASKS.c.status == APPROVED,
        TASKS.c.decided_by == name,
    )
    return conn.execute(query.limit(1)).first() is not None


def delegate(
    conn: sa.Connection,
    task_id: Any,
    identity: Identity,
    to_user: str,
    comment: str | None = None,
) -> dict[str, Any]:
    """Pass an open task to another user (the assignee, a holder of its role, or an admin
    may); the new task, which the delegate now decides."""
    task = _checked_task(conn, task_id, identity, admin=True)
    to_user = (to_user or "").strip()
    if not to_user or to_user == identity.name:
        raise BadRequest("name another user to delegate the task to", task=task.id)
    if identity_of(conn, to_user) is None:
        raise BadRequest(f"there is no active user '{to_user}'", user=to_user)
    comment = clean_comment(comment)
    _close(conn, task, DELEGATED, identity.name, comment)
    values = {
        k: getattr(task, k)
        for k in ("entity", "record_id", "workflow", "step", "level", "requested_by", "created_at")
    }
    values.update(status=OPEN, assignee_user=to_user, delegated_from=identity.name)
    new_id = conn.execute(sa.insert(TASKS).values(values).returning(TASKS.c.id)).scalar_one()
    write_audit(
        conn, task.entity, task.record_id, DELEGATE, identity.name,
        {"task": task.id, "assignee": task.assignee_user or f"role:{task.assignee_role}"},
        {"task": new_id, "assignee": to_user}, comment,
    )  # fmt: skip
    notify(
        conn, [to_user], f"{identity.name} passed an approval to you", comment or "",
        entity=task.entity, record_id=task.record_id,
    )  # fmt: skip
    return task_dict(_load(conn, new_id))


def task_dict(row: Any) -> dict[str, Any]:
    """A task row as a plain dict (the shape the inbox and the API return)."""
    return dict(row._mapping)


def inbox(
    conn: sa.Connection,
    identity: Identity,
    *,
    status: str = OPEN,
    limit: int = 100,
    engine: WorkflowEngine | None = None,
) -> list[dict[str, Any]]:
    """Open tasks assigned to the user or to one of their roles, newest first (for another
    `status`: the tasks the user decided or delegated); with `engine`, each also names its
    level (`level_name`)."""
    if status == OPEN:
        mine = TASKS.c.assignee_user == identity.name
        if identity.roles:
            mine = sa.or_(mine, TASKS.c.assignee_role.in_(sorted(identity.roles)))
    else:
        mine = TASKS.c.decided_by == identity.name
    query = (
        sa.select(TASKS)
        .where(TASKS.c.status == status, mine)
        .order_by(TASKS.c.created_at.desc(), TASKS.c.id.desc())
        .limit(limit)
    )
    out = [task_dict(row) for row in conn.execute(query)]
    if engine is not None:
        for item in out:
            wf = engine.workflow_for(item["entity"])
            spec = wf.approvals.get(item["step"]) if wf is not None else None
            level = spec.level(item["level"]) if spec is not None else None
            item["level_name"] = level.name if level is not None else None
    return out


def record_tasks(conn: sa.Connection, entity: str, record_id: int) -> list[dict[str, Any]]:
    """Every task of one record (all chains), oldest first: for the record page."""
    query = (
        sa.select(TASKS)
        .where(TASKS.c.entity == entity, TASKS.c.record_id == record_id)
        .order_by(TASKS.c.id)
    )
    return [task_dict(row) for row in conn.execute(query)]


def open_count(conn: sa.Connection, identity: Identity) -> int:
    """How many open tasks are assigned to the user or one of their roles (one COUNT)."""
    mine = TASKS.c.assignee_user == identity.name
    if identity.roles:
        mine = sa.or_(mine, TASKS.c.assignee_role.in_(sorted(identity.roles)))
    query = sa.select(sa.func.count()).where(TASKS.c.status == OPEN, mine)
    return int(conn.execute(query).scalar_one())
