"""Pages: the record (the 360 view) and its actions: transitions, approvals, delete.

`/{app}/{entity}/{id}` shows the record's fields in its form's sections, its line items with
totals, a related list for every link that points at it, its history, the transitions and
approvals the viewer may run, and its attachments. Everything runs under the viewer's scopes
(`views/record.py`); outside the record rule the record is not there (404). The generated
forms (new, edit, preview, lookup) are in `pages_records_forms.py`, the files in
`pages_files.py`; their routers are included at the end of this module.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from appblocks.engine.access import Scope
from appblocks.engine.db import reading
from appblocks.engine.record_errors import NotFound, Restricted, VersionConflict
from appblocks.engine.spec import EntitySpec, label_text
from appblocks.engine.users import Identity
from appblocks.forms.files import MAX_FILE_BYTES
from appblocks.forms.layout import Form, find_form, resolve
from appblocks.server.api_records import resolve_entity
from appblocks.server.auth import RuntimeDep
from appblocks.server.problems import Problem, locale_of
from appblocks.server.runtime import Loaded, Runtime
from appblocks.server.visibility import Viewer
from appblocks.server.web import PageUser, flash, render, tr
from appblocks.views import record as record_view
from appblocks.views.record_format import (
    currency_of,
    history_entries,
    is_numeric,
    parts_html,
    show,
)
from appblocks.workflows import approvals
from appblocks.workflows.specs import WorkflowError

router = APIRouter(include_in_schema=False)


# --- shared by the record and form pages -----------------------------------------------------


def entity_spec(request: Request, loaded: Loaded, app: str, entity: str) -> EntitySpec:
    """The entity of a page; line items have no pages of their own (they live in their
    parent's), so they are not found here."""
    qualified = resolve_entity(loaded, app, entity)
    spec = loaded.catalog.entity(qualified)
    if spec.parent is not None:
        raise Problem(404, tr(request, "Line items are shown on their parent record."))
    return spec


def read_scope(request: Request, loaded: Loaded, identity: Identity, qualified: str) -> Scope:
    """The viewer's read scope, or 404 (an entity they may not read is not there)."""
    scope = loaded.scope(identity, qualified, "read")
    if scope is None:
        raise Problem(404, tr(request, "There is no such record, or you may not see it."))
    return scope


def action_scope(
    request: Request, loaded: Loaded, identity: Identity, qualified: str, action: str
) -> Scope:
    """The scope of `action` (create, update, delete): 403 for a reader, 404 otherwise."""
    scope = loaded.scope(identity, qualified, action)
    if scope is None:
        read_scope(request, loaded, identity, qualified)
        raise Problem(403, tr(request, "Your role may not do this with these records."))
    return scope


def build_form(
    loaded: Loaded, identity: Identity, spec: EntitySpec, action: str, name: str | None = None
) -> Form:
    """The entity's form (`name`, else its first, else the default) for this viewer and
    action: hidden fields left out, read-only ones marked."""
    read = loaded.scope(identity, spec.qualified, "read")
    act = loaded.scope(identity, spec.qualified, action) if action != "read" else read
    hidden = (read.hidden if read else frozenset()) | (act.hidden if act else frozenset())
    read_only = act.read_only if act is not None and action != "read" else frozenset(spec.fields)
    line_hidden: dict[str, frozenset[str]] = {}
    for field in spec.fields.values():
        if field.type == "lines" and field.target:
            child = loaded.scope(identity, field.target, "read")
            line_hidden[field.target] = child.hidden if child is not None else frozenset()
    form_name, doc = find_form(loaded.catalog.blueprints, spec, name)
    return resolve(
        doc, spec, loaded.catalog.specs, name=form_name, hidden=hidden,
        read_only=read_only, line_hidden=line_hidden,
    )  # fmt: skip


def templates(kind: str, spec: EntitySpec) -> list[str]:
    """Most specific template first: `record-srm-supplier.html`, then `record.html`."""
    return [f"{kind}-{spec.app}-{spec.name}.html", f"{kind}.html"]


def crumbs(request: Request, spec: EntitySpec) -> list[dict[str, str]]:
    """The way back: the app, then the entity's list."""
    locale = locale_of(request)
    app = next((a for a in request.state.nav or [] if a["app"] == spec.app), None)
    out = []
    if app is not None:
        out.append({"label": app["title"], "url": app["url"]})
    out.append({"label": spec.label(locale), "url": f"/{spec.app}/{spec.name}"})
    return out


def state_of_entity(loaded: Loaded, spec: EntitySpec, state: str | None, locale: str) -> str:
    """The label of a workflow state of `spec`'s records (no state yet: the initial one)."""
    wf = loaded.workflows.workflow_for(spec.qualified)
    if wf is None:
        return state or ""
    return wf.state_label(loaded.workflows.state_of(wf, {"_state": state}), locale)


def level_labels(loaded: Loaded, spec: EntitySpec, locale: str) -> dict[str, str]:
    """Approval level name -> its label in `locale`, from the entity's workflow document."""
    wf = loaded.workflows.workflow_for(spec.qualified)
    if wf is None:
        return {}
    doc = (loaded.catalog.blueprints.get(wf.app, {}).get("workflows") or {}).get(wf.name) or {}
    out: dict[str, str] = {}
    for approval in (doc.get("approvals") or {}).values():
        for position, level in enumerate((approval or {}).get("levels") or [], start=1):
            name = str(level.get("name") or f"level_{position}")
            out.setdefault(name, label_text(level.get("label"), locale, name))
    return out


def record_url(spec: EntitySpec, record_id: Any) -> str:
    """The record page of a record of `spec`."""
    return f"/{spec.app}/{spec.name}/{record_id}"


def max_upload(request: Request) -> int:
    """The largest file a page accepts: 10 MB, or less where the server's upload limit is
    lower (a little of the body is the form around the file)."""
    limit: int = request.app.state.settings.max_upload_bytes
    return max(0, min(MAX_FILE_BYTES, limit - 16 * 1024))


# --- the record page ---------------------------------------------------------------------------


def _may(
    conn: Any, loaded: Loaded, identity: Identity, qualified: str, action: str, rid: int
) -> bool:
    scope = loaded.scope(identity, qualified, action)
    if scope is None:
        return False
    if scope.predicate is None:
        return True
    try:
        loaded.store.check_exists(conn, qualified, rid, scope=scope.predicate)
    except NotFound:
        return False
    return True


def _may_link(loaded: Loaded, identity: Identity, entity: str, field: str) -> bool:
    """Whether the viewer may create records of `entity` and choose their `field` link."""
    scope = loaded.scope(identity, entity, "create")
    return scope is not None and field not in scope.hidden and field not in scope.read_only


def record_response(
    request: Request,
    runtime: Runtime,
    identity: Identity,
    app: str,
    entity: str,
    record_id: int,
    *,
    status: int = 200,
    error: str | None = None,
    comment: str | None = None,
) -> Response:
    """The record page (with `error` on top, e.g. a refused transition)."""
    loaded = runtime.current()
    spec = entity_spec(request, loaded, app, entity)
    read_scope(request, loaded, identity, spec.qualified)
    locale = locale_of(request)
    viewer = Viewer(loaded, identity)
    with reading(runtime.engine) as conn:
        data = record_view.load(
            conn, loaded.catalog, loaded.store, spec.qualified, record_id, viewer,
            user=identity.name, roles=identity.roles,
        )  # fmt: skip
        may_update = _may(conn, loaded, identity, spec.qualified, "update", record_id)
        may_delete = _may(conn, loaded, identity, spec.qualified, "delete", record_id)
    form = build_form(loaded, identity, spec, "read")
    wf = loaded.workflows.workflow_for(spec.qualified)
    state = loaded.workflows.state_of(wf, data.raw) if wf is not None else None
    transitions = []
    for info in loaded.workflows.available(identity, spec.qualified, data.raw):
        tr_spec = wf.transitions[info.name] if wf is not None else None
        condition = tr_spec.when.source if tr_spec is not None and tr_spec.when else ""
        transitions.append({
            "name": info.name,
            "label": tr_spec.title(locale) if tr_spec is not None else info.label,
            "allowed": info.allowed,
            "reason": None if info.allowed else tr(request, "Needs: %(condition)s", condition=condition),
            "comment_required": info.comment_required,
        })  # fmt: skip
    creatable = {
        (rel.entity.qualified, rel.field.name): (
            f"/{rel.entity.app}/{rel.entity.name}/new?{rel.field.name}={record_id}"
        )
        for rel in data.related
        if rel.entity.parent is None
        and _may_link(loaded, identity, rel.entity.qualified, rel.field.name)
    }
    levels = level_labels(loaded, spec, locale)
    tasks = []
    for task in data.tasks:
        approval = wf.approvals.get(task["step"]) if wf is not None else None
        level = approval.level(task["level"]) if approval is not None else None
        tasks.append({**task, "level_name": levels.get(level.name, level.name) if level else ""})
    currency = currency_of(spec, data.record)

    def show_value(field: Any, value: Any) -> Any:
        return show(field, value, locale, data.titles, data.field_files, currency=currency)

    def state_label(name: str) -> str:
        return wf.state_label(name, locale) if wf is not None else name

    title_field = spec.title
    heading = data.record.get(title_field) if title_field else None
    return render(
        request,
        templates("record", spec),
        status,
        spec=spec,
        data=data,
        record=data.record,
        form=form,
        heading=str(heading) if heading not in (None, "") else f"#{record_id}",
        state=state,
        state_name=state_label(state) if state else None,
        transitions=transitions,
        tasks=tasks,
        may_update=may_update,
        may_delete=may_delete,
        entries=[
            replace(e, level=levels.get(e.level, e.level) if e.level else None)
            for e in history_entries(spec, data.history, locale, data.titles, state_label)
        ],
        show=show_value,
        value_html=lambda field, value: parts_html(show_value(field, value)),
        parts_html=parts_html,
        is_numeric=is_numeric,
        lines_of=lambda name: data.record.get(name) or [],
        totals_of=data.record.get,
        state_label_of=lambda other, name: state_of_entity(loaded, other, name, locale),
        crumbs=crumbs(request, spec),
        creatable=creatable,
        url=record_url(spec, record_id),
        error=error,
        comment=comment,
        max_file_bytes=max_upload(request),
    )


@router.get("/{app}/{entity}/{record_id:int}")
def record_page(
    app: str, entity: str, record_id: int, request: Request, runtime: RuntimeDep, identity: PageUser
) -> Response:
    """The record: fields, lines, related lists, history, transitions, attachments."""
    return record_response(request, runtime, identity, app, entity, record_id)


# --- actions ---------------------------------------------------------------------------------


def _version(text: Any) -> int | None:
    value = str(text or "").strip()
    return int(value) if value.isdigit() else None


def workflow_message(request: Request, exc: WorkflowError, condition: str = "") -> str:
    """A refused transition or decision, said plainly in the viewer's language."""
    code = exc.code
    if code == "transition_forbidden":
        return tr(request, "Your role may not run this step.")
    if code == "transition_wrong_state":
        return tr(
            request, "The record has moved on since you opened it; this step no longer applies."
        )
    if code == "transition_condition":
        return tr(request, "This step cannot run yet. Needs: %(condition)s", condition=condition)
    if code == "comment_required":
        return tr(request, "Write a comment saying why.")
    if code == "transition_unknown":
        return tr(request, "There is no such step.")
    if code == "task_not_found":
        return tr(request, "This approval is not waiting for you.")
    if code == "task_self_approval":
        if "already" in exc.message:
            return tr(request, "You have already approved at this level.")
        return tr(request, "You cannot decide on your own request.")
    if code == "task_closed":
        return tr(request, "This approval has already been decided.")
    if code == "approval_blocked":
        return tr(request, "The approval cannot start: %(detail)s", detail=exc.message)
    return exc.message


def _conflict(request: Request) -> str:
    return tr(request, "Someone else changed this record meanwhile. Look at it again and retry.")


def _transition(
    request: Request, runtime: Runtime, identity: Identity, app: str, entity: str,
    record_id: int, name: str, comment: str | None, version: int | None,
) -> Response:  # fmt: skip
    loaded = runtime.current()
    spec = entity_spec(request, loaded, app, entity)
    scope = read_scope(request, loaded, identity, spec.qualified)
    wf = loaded.workflows.workflow_for(spec.qualified)
    tr_spec = wf.transitions.get(name) if wf is not None else None
    try:
        with runtime.engine.begin() as conn:
            loaded.workflows.transition(
                conn, loaded.store, spec.qualified, record_id, name, identity,
                comment=comment, version=version, scope=scope.predicate,
            )  # fmt: skip
    except WorkflowError as exc:
        condition = tr_spec.when.source if tr_spec is not None and tr_spec.when else ""
        return record_response(
            request, runtime, identity, app, entity, record_id, status=exc.status,
            error=workflow_message(request, exc, condition), comment=comment,
        )  # fmt: skip
    except VersionConflict:
        return record_response(
            request, runtime, identity, app, entity, record_id, status=409,
            error=_conflict(request), comment=comment,
        )  # fmt: skip
    label = tr_spec.title(locale_of(request)) if tr_spec is not None else name
    flash(request, tr(request, "Done: %(step)s.", step=label), "success")
    return RedirectResponse(record_url(spec, record_id), status_code=303)


@router.post("/{app}/{entity}/{record_id:int}/transitions/{name}")
async def run_transition(
    app: str, entity: str, record_id: int, name: str, request: Request,
    runtime: RuntimeDep, identity: PageUser,
) -> Response:  # fmt: skip
    """Run a workflow transition (with its comment); back to the record."""
    form = await request.form()
    comment = str(form.get("comment") or "")[:4000].strip() or None
    version = _version(form.get("_version"))
    await form.close()  # a stray file part would be spooled to disk
    return await run_in_threadpool(
        _transition, request, runtime, identity, app, entity, record_id, name, comment, version
    )


def _decide(
    request: Request, runtime: Runtime, identity: Identity, app: str, entity: str,
    record_id: int, task_id: int, decision: str, comment: str | None,
) -> Response:  # fmt: skip
    loaded = runtime.current()
    spec = entity_spec(request, loaded, app, entity)
    read_scope(request, loaded, identity, spec.qualified)
    if decision not in ("approve", "reject"):
        raise Problem(404, tr(request, "There is no such step."))
    try:
        with runtime.engine.begin() as conn:
            approvals.decide(
                conn, loaded.store, loaded.workflows, task_id, identity, decision, comment
            )
    except WorkflowError as exc:
        return record_response(
            request, runtime, identity, app, entity, record_id, status=exc.status,
            error=workflow_message(request, exc), comment=comment,
        )  # fmt: skip
    done = tr(request, "Approved.") if decision == "approve" else tr(request, "Rejected.")
    flash(request, done, "success")
    return RedirectResponse(record_url(spec, record_id), status_code=303)


@router.post("/{app}/{entity}/{record_id:int}/tasks/{task_id:int}/{decision}")
async def decide_task(
    app: str, entity: str, record_id: int, task_id: int, decision: str, request: Request,
    runtime: RuntimeDep, identity: PageUser,
) -> Response:  # fmt: skip
    """Approve or reject an approval task waiting for the viewer on this record."""
    form = await request.form()
    comment = str(form.get("comment") or "")[:4000].strip() or None
    await form.close()  # a stray file part would be spooled to disk
    return await run_in_threadpool(
        _decide, request, runtime, identity, app, entity, record_id, task_id, decision, comment
    )


def _delete(
    request: Request, runtime: Runtime, identity: Identity, app: str, entity: str,
    record_id: int, version: int | None,
) -> Response:  # fmt: skip
    loaded = runtime.current()
    spec = entity_spec(request, loaded, app, entity)
    scope = action_scope(request, loaded, identity, spec.qualified, "delete")
    try:
        with runtime.engine.begin() as conn:
            loaded.store.delete(
                conn, spec.qualified, record_id, version=version, actor=identity.name,
                scope=scope.predicate,
            )  # fmt: skip
    except Restricted as exc:
        by = loaded.catalog.entity(exc.by_entity).label(locale_of(request))
        message = tr(
            request,
            "This record cannot be deleted: %(count)s %(entity)s record(s) still point at it. "
            "Remove or change those first.",
            count=exc.count,
            entity=by,
        )
        return record_response(
            request, runtime, identity, app, entity, record_id, status=409, error=message
        )
    except VersionConflict:
        return record_response(
            request, runtime, identity, app, entity, record_id, status=409,
            error=_conflict(request),
        )  # fmt: skip
    flash(request, tr(request, "Deleted."), "success")
    return RedirectResponse(f"/{spec.app}/{spec.name}", status_code=303)


@router.post("/{app}/{entity}/{record_id:int}/delete")
async def delete_record(
    app: str, entity: str, record_id: int, request: Request, runtime: RuntimeDep,
    identity: PageUser,
) -> Response:  # fmt: skip
    """Delete the record (after the page's confirmation); to the list."""
    form = await request.form()
    version = _version(form.get("_version"))
    await form.close()  # a stray file part would be spooled to disk
    return await run_in_threadpool(
        _delete, request, runtime, identity, app, entity, record_id, version
    )


def _include() -> None:
    # Imported here: both modules use the helpers above.
    from appblocks.server import pages_files, pages_records_forms

    router.include_router(pages_records_forms.router)
    router.include_router(pages_files.router)


_include()
