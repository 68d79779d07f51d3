"""What a list page changes: bulk delete, bulk transition, saved views.

Bulk actions are all or none: every record goes through the store (or the workflow engine)
with the caller's scope, each in a savepoint so that every refusal is collected, and one
refusal rolls the whole batch back. The answer names each record that could not be changed
and why, in the caller's language.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlparse

import sqlalchemy as sa
from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from appblocks.engine.db import reading
from appblocks.engine.i18n import translate
from appblocks.engine.record_errors import (
    NotFound,
    RecordError,
    RecordErrors,
    Restricted,
    VersionConflict,
)
from appblocks.server.auth import RuntimeDep
from appblocks.server.pages_lists_state import Base, Setup, check, read_state, setup, title_lookup
from appblocks.server.problems import Problem, field_errors, locale_of
from appblocks.server.web import PageUser, flash, is_htmx, render, tr
from appblocks.views import list_saved
from appblocks.workflows.specs import WorkflowError, clean_comment
from appblocks.workflows.states import CommentRequired, TransitionConflict, TransitionForbidden

router = APIRouter(include_in_schema=False)

MAX_BULK = 500


class _Refused(Exception):
    """Some records of a bulk action could not be changed: roll everything back."""

    def __init__(self, failures: list[dict[str, Any]]) -> None:
        super().__init__(f"{len(failures)} records refused")
        self.failures = failures


def _back(s: Setup, target: str) -> str:
    # Same-site paths only: a crafted form must not send the user elsewhere.
    parsed = urlparse(target or "")
    if not target.startswith("/") or target.startswith("//") or parsed.scheme or parsed.netloc:
        return s.path
    return target


def _ids(request: Request, raw: list[str]) -> list[int]:
    ids = list(dict.fromkeys(int(v) for v in raw if v.strip().isdigit() and len(v) < 19))
    if not ids:
        raise Problem(422, tr(request, "Select at least one record."))
    if len(ids) > MAX_BULK:
        raise Problem(422, tr(request, "Select at most %(n)s records at once.", n=MAX_BULK))
    return ids


def _titles(s: Setup, conn: sa.Connection, ids: list[int]) -> dict[int, str]:
    table = s.loaded.catalog.table(s.entity)
    title = s.spec.title
    if not title or title in s.scope.hidden:
        return {i: f"#{i}" for i in ids}
    query = sa.select(table.c.id, table.c[title]).where(table.c.id.in_(ids))
    if s.scope.predicate is not None:
        query = query.where(s.scope.predicate)
    found = {i: str(t) for i, t in conn.execute(query) if t is not None}
    return {i: found.get(i, f"#{i}") for i in ids}


def _reason(request: Request, s: Setup, exc: Exception) -> str:
    """Why one record could not be changed, in the caller's language."""
    locale = locale_of(request)
    catalog = s.loaded.catalog
    if isinstance(exc, Restricted):
        by = catalog.specs.entities.get(exc.by_entity)
        by_field = by.fields.get(exc.by_field) if by else None
        return tr(
            request,
            "%(count)s %(entity)s record(s) still link to it through “%(field)s”.",
            count=exc.count,
            entity=by.label(locale) if by else exc.by_entity,
            field=by_field.label(locale) if by_field else exc.by_field,
        )
    if isinstance(exc, NotFound):
        return tr(request, "It no longer exists, or you may not change it.")
    if isinstance(exc, VersionConflict):
        return tr(request, "Someone else changed it meanwhile; reload and try again.")
    if isinstance(exc, RecordErrors):
        return "; ".join(
            f"{e['field']}: {e['message']}" if e["field"] else str(e["message"])
            for e in field_errors(exc.errors, locale)
        )
    if isinstance(exc, RecordError):
        return translate(exc.code, exc.params, locale)
    if isinstance(exc, TransitionForbidden):
        return tr(request, "Your roles may not run this transition.")
    if isinstance(exc, CommentRequired):
        return tr(request, "This transition needs a comment.")
    if isinstance(exc, TransitionConflict) and exc.code == "transition_wrong_state":
        state = str(exc.params.get("state", ""))
        label = s.workflow.state_label(state, locale) if s.workflow else state
        return tr(request, "It is in the state “%(state)s”.", state=label)
    if isinstance(exc, TransitionConflict) and exc.code == "transition_condition":
        reason = str(exc.params.get("reason", ""))
        return tr(request, "Its condition does not hold: %(reason)s", reason=reason)
    return str(exc)


def _refused(
    request: Request, s: Setup, failures: list[dict[str, Any]], back: str, heading: str
) -> Response:
    context: dict[str, Any] = {
        "failures": failures,
        "back": back,
        "heading": heading,
        "entity": s.spec,
    }
    if is_htmx(request):
        return render(request, "_list_bulk.html", 422, block="failures", **context)
    return render(request, "_list_bulk.html", 422, **context)


def _done(request: Request, back: str, message: str) -> Response:
    flash(request, message, "success")
    if is_htmx(request):
        return Response(status_code=200, headers={"HX-Redirect": back})
    return RedirectResponse(back, status_code=303)


def _run(
    request: Request,
    s: Setup,
    runtime: Any,
    ids: list[int],
    titles: dict[int, str],
    one: Any,
) -> list[dict[str, Any]]:
    """Run `one(conn, id)` for every id in one transaction; the refusals (none: committed)."""
    failures: list[dict[str, Any]] = []
    try:
        with runtime.engine.begin() as conn:
            for record_id in ids:
                try:
                    with conn.begin_nested():
                        one(conn, record_id)
                except (RecordError, WorkflowError) as exc:
                    failures.append(
                        {
                            "id": record_id,
                            "title": titles.get(record_id, f"#{record_id}"),
                            "href": f"{s.path}/{record_id}",
                            "reason": _reason(request, s, exc),
                        }
                    )
            if failures:
                raise _Refused(failures)
    except _Refused:
        return failures
    return []


@router.post("/{app}/{entity}/bulk")
def bulk(
    app: str,
    entity: str,
    request: Request,
    runtime: RuntimeDep,
    identity: PageUser,
    action: Annotated[str, Form(max_length=32)] = "",
    id: Annotated[list[str], Form()] = [],  # noqa: B006 - FastAPI copies defaults
    transition: Annotated[str, Form(max_length=64)] = "",
    comment: Annotated[str, Form(max_length=4000)] = "",
    back: Annotated[str, Form(max_length=8000)] = "",
) -> Response:
    """Delete the selected records, or run a transition on them: all or none."""
    s = setup(request, runtime, identity, f"{app}.{entity}")
    target = _back(s, back)
    ids = _ids(request, id)
    with reading(runtime.engine) as conn:
        titles = _titles(s, conn, ids)
    store, locale = s.loaded.store, locale_of(request)
    if action in ("delete-ask", "delete"):
        scope = s.loaded.scope(identity, s.entity, "delete")
        if scope is None:
            raise Problem(403, tr(request, "Your roles may not delete these records."))
        if action == "delete-ask":
            context: dict[str, Any] = {
                "entity": s.spec,
                "ids": ids,
                "titles": titles,
                "back": target,
            }
            if is_htmx(request):
                # The confirmation goes into the page's dialog (lists.js opens it).
                retarget = {"HX-Retarget": "#bulk-dialog", "HX-Reswap": "innerHTML"}
                return render(
                    request, "_list_bulk.html", block="confirm", headers=retarget, **context
                )
            return render(request, "_list_bulk.html", confirm=True, **context)

        def delete(conn: sa.Connection, record_id: int) -> None:
            store.delete(conn, s.entity, record_id, actor=identity.name, scope=scope.predicate)

        failures = _run(request, s, runtime, ids, titles, delete)
        if failures:
            return _refused(request, s, failures, target, tr(request, "Nothing was deleted."))
        done = (
            tr(request, "Deleted 1 record.")
            if len(ids) == 1
            else tr(request, "Deleted %(n)s records.", n=len(ids))
        )
        return _done(request, target, done)
    if action != "transition":
        raise Problem(422, tr(request, "Choose what to do with the selected records."))
    wf = s.workflow
    spec = wf.transitions.get(transition) if wf is not None else None
    if wf is None or spec is None or not s.loaded.workflows.may_run(wf, spec, identity):
        raise Problem(422, tr(request, "Choose a transition you may run."))
    note = clean_comment(comment)
    predicate = s.scope.predicate

    def move(conn: sa.Connection, record_id: int) -> None:
        s.loaded.workflows.transition(
            conn, store, s.entity, record_id, transition, identity, comment=note, scope=predicate
        )

    failures = _run(request, s, runtime, ids, titles, move)
    if failures:
        return _refused(request, s, failures, target, tr(request, "No record was moved."))
    name = spec.title(locale)
    done = (
        tr(request, "“%(transition)s” done for 1 record.", transition=name)
        if len(ids) == 1
        else tr(request, "“%(transition)s” done for %(n)s records.", transition=name, n=len(ids))
    )
    return _done(request, target, done)


@router.post("/{app}/{entity}/saved-views")
def save_view(
    app: str,
    entity: str,
    request: Request,
    runtime: RuntimeDep,
    identity: PageUser,
    name: Annotated[str, Form(max_length=500)] = "",
    q: Annotated[str, Form(max_length=500)] = "",
    filter: Annotated[str, Form(max_length=8000)] = "",
    sort: Annotated[str, Form(max_length=500)] = "",
    columns: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    """Save the list's columns, filter, sort and search under a name (the user's own)."""
    s = setup(request, runtime, identity, f"{app}.{entity}")
    title = " ".join(name.split())
    if not title:
        raise Problem(422, tr(request, "Give the view a name."))
    if len(title) > list_saved.MAX_NAME:
        raise Problem(
            422, tr(request, "A view's name has at most %(n)s characters.", n=list_saved.MAX_NAME)
        )
    params = {"q": q, "filter": filter, "sort": sort, "columns": columns}
    params = {k: v for k, v in params.items() if v}
    with reading(runtime.engine) as conn:
        state = read_state(request, s, Base(list(s.defaults)), None, title_lookup(conn, s), params)
    check(request, s, state)
    body = list_saved.body(state.columns, state.filter, state.sort, state.q)
    with runtime.engine.begin() as conn:
        view_id = list_saved.save(conn, identity.name, s.entity, title, body)
    flash(request, tr(request, "Saved the view “%(name)s”.", name=title), "success")
    return RedirectResponse(f"{s.path}?view={view_id}", status_code=303)


@router.post("/{app}/{entity}/saved-views/{view_id:int}/delete")
def delete_view(
    app: str,
    entity: str,
    view_id: int,
    request: Request,
    runtime: RuntimeDep,
    identity: PageUser,
) -> Response:
    """Delete one of the user's saved views."""
    s = setup(request, runtime, identity, f"{app}.{entity}")
    with runtime.engine.begin() as conn:
        deleted = list_saved.delete(conn, identity.name, s.entity, view_id)
    if not deleted:
        raise Problem(404, tr(request, "There is no such saved view."))
    flash(request, tr(request, "Deleted the saved view."), "success")
    return RedirectResponse(s.path, status_code=303)
