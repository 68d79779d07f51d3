"""Pages: the approval inbox (`/tasks`), decided and delegated in place.

Each task shows the record it waits on (title, entity, the amounts and the party that matter,
read under the approver's own scope), who asked and how long ago. Approve, Reject (with a
comment) and Delegate post through htmx and the task's row is replaced by its outcome; a
refused decision comes back in the row with the reason in the user's language. Decisions go
through `workflows.approvals`, exactly as the REST API's do.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, cast

import sqlalchemy as sa
from babel.dates import format_timedelta
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from appblocks.engine.db import reading
from appblocks.engine.i18n import translate
from appblocks.engine.models import User, utcnow
from appblocks.engine.record_errors import RecordError, RecordErrors
from appblocks.engine.spec import EntitySpec, FieldSpec, label_text
from appblocks.engine.users import Identity
from appblocks.server.auth import RuntimeDep
from appblocks.server.problems import Problem, field_errors, locale_of
from appblocks.server.runtime import Loaded
from appblocks.server.visibility import Viewer
from appblocks.server.web import PageUser, flash, is_htmx, render, tr
from appblocks.views import display
from appblocks.views.portal import cell_text
from appblocks.workflows import approvals
from appblocks.workflows.specs import WorkflowError

router = APIRouter(include_in_schema=False)
STATUSES = ("open", "approved", "rejected", "delegated")
SUMMARY_TYPES = ("money", "decimal", "link", "date")
USERS = cast(sa.Table, User.__table__)


def open_task_count(conn: sa.Connection, identity: Identity) -> int:
    """How many approvals wait for the user (the badge next to the Inbox link)."""
    return approvals.open_count(conn, identity)


def _summary_fields(spec: EntitySpec, hidden: frozenset[str]) -> list[FieldSpec]:
    """The amounts, the party and the date that tell an approver what they are deciding."""
    picked: dict[str, list[FieldSpec]] = {k: [] for k in SUMMARY_TYPES}
    limits = {"money": 2, "decimal": 1, "link": 1, "date": 1}
    for f in spec.fields.values():
        kind = "money" if f.type == "money" else f.type
        if f.name in hidden or f.name == spec.title or kind not in picked:
            continue
        if kind == "link" and not f.required:
            continue
        if len(picked[kind]) < limits[kind]:
            picked[kind].append(f)
    money = picked["money"] or picked["decimal"]
    return [*picked["link"], *money, *picked["date"]]


def _level_label(loaded: Loaded, task: dict[str, Any], locale: str) -> str:
    """The approval level's label from the workflow document (its name if it has none)."""
    wf = loaded.workflows.workflow_for(task["entity"])
    name = task.get("level_name") or ""
    if wf is None:
        return str(name)
    doc = (loaded.catalog.blueprints.get(wf.app) or {}).get("workflows", {}).get(wf.name) or {}
    levels = ((doc.get("approvals") or {}).get(task["step"]) or {}).get("levels") or []
    position = int(task.get("level") or 0)
    level = levels[position - 1] if 0 < position <= len(levels) else {}
    return label_text(level.get("label"), locale, str(name))


def _age(moment: Any, locale: str) -> str:
    if not isinstance(moment, dt.datetime):
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return format_timedelta(
        moment - utcnow(),
        add_direction=True,
        threshold=1.1,
        locale=display.babel_locale(locale),
    )


def task_rows(
    conn: sa.Connection,
    loaded: Loaded,
    identity: Identity,
    tasks: list[dict[str, Any]],
    locale: str,
) -> list[dict[str, Any]]:
    """Tasks with what the page shows of their records (only what the user may read)."""
    viewer = Viewer(loaded, identity)
    records: dict[tuple[str, int], dict[str, Any]] = {}
    by_entity: dict[str, list[int]] = {}
    for task in tasks:
        by_entity.setdefault(task["entity"], []).append(int(task["record_id"]))
    summaries: dict[str, list[FieldSpec]] = {}
    for entity, ids in by_entity.items():
        scope = loaded.scope(identity, entity, "read")
        if scope is None or entity not in loaded.catalog.specs.entities:
            continue
        spec = loaded.catalog.entity(entity)
        fields = summaries[entity] = _summary_fields(spec, scope.hidden)
        links = [f.name for f in fields if f.type == "link"]
        page = loaded.store.list(
            conn,
            entity,
            filter={"id": {"in": sorted(set(ids))}},
            limit=len(set(ids)),
            expand=links,
            scope=scope.predicate,
        )
        items = [loaded.store.to_json(entity, r) for r in page.items]
        viewer.restrict_expanded(conn, entity, items, links)
        for item in items:
            records[(entity, int(item["id"]))] = viewer.strip(entity, item)
    out = []
    for task in tasks:
        entity = task["entity"]
        found = loaded.catalog.specs.entities.get(entity)
        record = records.get((entity, int(task["record_id"])))
        wf = loaded.workflows.workflow_for(entity)
        row = dict(task)
        row["entity_label"] = found.label(locale) if found else entity
        row["level_label"] = _level_label(loaded, task, locale)
        row["age"] = _age(task.get("created_at"), locale)
        row["decided_age"] = _age(task.get("decided_at"), locale)
        row["url"] = None
        row["title"] = f"#{task['record_id']}"
        row["cells"] = []
        row["state"] = ""
        row["delegated_to"] = _delegated_to(conn, task) if task["status"] == "delegated" else ""
        if found is not None and record is not None:
            row["url"] = f"/{found.app}/{found.name}/{task['record_id']}"
            if found.title and record.get(found.title) not in (None, ""):
                row["title"] = display.value(found.fields[found.title], record[found.title], locale)
            row["cells"] = [
                (f.label(locale), cell_text(loaded.catalog, f, record.get(f.name), locale))
                for f in summaries.get(entity, [])
                if record.get(f.name) not in (None, "", [])
            ]
            if wf is not None and record.get("_state"):
                row["state"] = wf.state_label(str(record["_state"]), locale)
        out.append(row)
    return out


def _delegated_to(conn: sa.Connection, task: dict[str, Any]) -> str:
    """Who took a delegated task over (the task that delegation opened)."""
    tasks = approvals.TASKS
    query = (
        sa.select(tasks.c.assignee_user)
        .where(
            tasks.c.entity == task["entity"],
            tasks.c.record_id == task["record_id"],
            tasks.c.delegated_from == task["decided_by"],
            tasks.c.id > task["id"],
        )
        .order_by(tasks.c.id)
        .limit(1)
    )
    return str(conn.execute(query).scalar() or "")


def _mine(identity: Identity, task: dict[str, Any]) -> bool:
    """Assigned to the user (or one of their roles), or decided by them."""
    if task["decided_by"] == identity.name or task["assignee_user"] == identity.name:
        return True
    return task["assignee_user"] is None and task["assignee_role"] in identity.roles


def _one(conn: sa.Connection, task_id: int) -> dict[str, Any] | None:
    row = conn.execute(sa.select(approvals.TASKS).where(approvals.TASKS.c.id == task_id)).first()
    return approvals.task_dict(row) if row is not None else None


def _delegates(conn: sa.Connection, loaded: Loaded, identity: Identity) -> list[str]:
    """Active users who could take a task over (not portal users, not the user)."""
    query = sa.select(USERS.c.name, USERS.c.roles).where(USERS.c.active.is_(True))
    names = []
    for name, roles in conn.execute(query.order_by(USERS.c.name).limit(500)):
        roles = set(roles or ())
        if name != identity.name and roles and not roles <= loaded.policy.portal_roles:
            names.append(str(name))
    return names


def _reason(request: Request, exc: Exception) -> str:
    """Why a decision was refused, in the user's language."""
    if isinstance(exc, approvals.SelfApproval):
        if "already approved" in str(exc):
            return tr(request, "You have already approved at this level.")
        return tr(request, "You cannot decide on your own request.")
    if isinstance(exc, approvals.CommentRequired):
        return tr(request, "Write a comment: a rejection needs a reason.")
    if isinstance(exc, approvals.TaskClosed):
        return tr(request, "This task is no longer open: someone has already decided it.")
    if isinstance(exc, approvals.NotYourTask):
        return tr(request, "There is no such task in your inbox.")
    if isinstance(exc, approvals.BadRequest):
        if exc.params.get("user"):
            return tr(request, "There is no active user “%(name)s”.", name=exc.params["user"])
        return tr(request, "Name another user to pass the task to.")
    if isinstance(exc, approvals.ApprovalBlocked):
        return tr(request, "The next approval level cannot open: %(detail)s", detail=str(exc))
    return tr(request, "The decision was refused: %(detail)s", detail=str(exc))


def _status_code(exc: Exception) -> int:
    return int(getattr(exc, "status", 422))


@router.get("/tasks")
def tasks_page(
    request: Request, runtime: RuntimeDep, identity: PageUser, status: str = "open"
) -> HTMLResponse:
    """The inbox: open tasks (or, by tab, the ones the user approved, rejected, delegated)."""
    if status not in STATUSES:
        raise Problem(404, tr(request, "There is no such list of tasks."))
    loaded = runtime.current()
    locale = locale_of(request)
    with reading(runtime.engine) as conn:
        tasks = approvals.inbox(conn, identity, status=status, engine=loaded.workflows)
        rows = task_rows(conn, loaded, identity, tasks, locale)
        count = open_task_count(conn, identity)
        delegates = _delegates(conn, loaded, identity) if status == "open" else []
    return render(
        request,
        "tasks.html",
        tasks=rows,
        tab=status,
        statuses=STATUSES,
        open_count=count,
        delegates=delegates,
    )


@router.post("/tasks/{task_id:int}/{decision}")
def decide(
    task_id: int,
    decision: str,
    request: Request,
    runtime: RuntimeDep,
    identity: PageUser,
    comment: Annotated[str, Form(max_length=4000)] = "",
    to: Annotated[str, Form(max_length=150)] = "",
) -> Response:
    """Approve, reject or delegate one task; the task's row after it (htmx), else the inbox."""
    if decision not in ("approve", "reject", "delegate"):
        raise Problem(404, tr(request, "There is no such action on a task."))
    loaded = runtime.current()
    locale = locale_of(request)
    error: str | None = None
    status = 200
    try:
        if decision == "reject" and not comment.strip():
            raise approvals.CommentRequired("a rejection needs a comment saying why")
        with runtime.engine.begin() as conn:
            if decision == "delegate":
                approvals.delegate(conn, task_id, identity, to, comment)
            else:
                approvals.decide(
                    conn, loaded.store, loaded.workflows, task_id, identity, decision, comment
                )
    except approvals.NotYourTask:
        raise Problem(404, tr(request, "There is no such task in your inbox.")) from None
    except WorkflowError as exc:
        error, status = _reason(request, exc), _status_code(exc)
    except RecordErrors as exc:
        messages = [e["message"] for e in field_errors(exc.errors, locale)]
        error, status = (
            tr(request, "The record cannot move on: %(detail)s", detail="; ".join(messages)),
            422,
        )
    except RecordError as exc:
        detail = translate(exc.code, exc.params, locale)
        error, status = tr(request, "The record cannot move on: %(detail)s", detail=detail), 409
    if not is_htmx(request):
        flash(request, error or tr(request, "Done."), "error" if error else "success")
        return RedirectResponse("/tasks", status_code=303)
    with reading(runtime.engine) as conn:
        task = _one(conn, task_id)
        if task is None or not (_mine(identity, task) or identity.is_admin):
            raise Problem(404, tr(request, "There is no such task in your inbox."))
        row = task_rows(conn, loaded, identity, [task], locale)[0]
        count = open_task_count(conn, identity)
        delegates = _delegates(conn, loaded, identity) if task["status"] == "open" else []
    return render(
        request,
        "_task_row.html",
        status,
        task=row,
        error=error,
        open_decision=decision if error else None,
        comment=comment,
        to=to,
        open_count=count,
        delegates=delegates,
        oob=True,
    )
