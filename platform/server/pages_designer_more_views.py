"""Designer pages: views (list, kanban board, calendar) of an app's entities.

`/designer/{app}/views` lists the draft's views and makes a new one; `/designer/{app}/views/
{name}` edits one: entity, type, label, columns (drag or move with the buttons), the filter
builder, sort, a board's grouping and a calendar's date field. `.../form` redraws the form
from what was typed (another entity, another type, a filter row more) without saving.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from appblocks.engine.names import name_problem
from appblocks.engine.users import Identity
from appblocks.server.auth import RuntimeDep
from appblocks.server.pages_designer_more_base import (
    Desk,
    Messages,
    answer,
    delete_document,
    desk,
    document,
    exists,
    form_lists,
    go,
    messages,
    page_context,
    refused,
    save,
)
from appblocks.server.runtime import Runtime
from appblocks.server.web import PageUser, render, tr
from appblocks.views.designer_more_docs import Issue, Verdict
from appblocks.views.designer_more_edits import label_of
from appblocks.views.designer_more_filters import OPERATORS, FilterProblem
from appblocks.views.designer_more_forms import (
    VIEW_TYPES,
    new_view,
    posted_view_form,
    view_body,
    view_form,
)

router = APIRouter(include_in_schema=False)
INDEX = "designer/more_views.html"
EDITOR = "designer/more_view.html"


def _index_context(request: Request, found: Desk, **extra: Any) -> dict[str, Any]:
    views = [
        {
            "name": name,
            "label": found.schema.label(body.get("label"), name),
            "entity": found.schema.entity_label(str(body.get("entity"))),
            "type": str(body.get("type") or "list"),
        }
        for name, body in found.schema.documents("view").items()
    ]
    new = extra.pop(
        "new", {"name": "", "entity": "", "type": "list", "label_en": "", "label_zh": ""}
    )
    return page_context(request, found, "views", views=views, new=new, types=VIEW_TYPES, **extra)


@router.get("/designer/{app}/views")
def views_index(app: str, request: Request, runtime: RuntimeDep, identity: PageUser) -> Response:
    """The draft's views, and a form for a new one."""
    found = desk(runtime, request, identity, app)
    return render(request, INDEX, **_index_context(request, found, verdict=Verdict()))


@router.post("/designer/{app}/views")
async def views_create(
    app: str, request: Request, runtime: RuntimeDep, identity: PageUser
) -> Response:
    """A new view with sensible first choices, then its editor."""
    found = desk(runtime, request, identity, app)
    single, _ = await form_lists(request)
    new = {k: single.get(k, "").strip() for k in ("name", "entity", "type", "label_en", "label_zh")}
    name, entity, kind = new["name"], new["entity"], new["type"] or "list"
    verdict: Verdict
    problem = name_problem(name)
    if problem:
        verdict = Verdict(errors=[Issue("name", problem)])
    elif exists(found, "view", name):
        verdict = refused(request, "A view with this name exists already.")
    else:
        schema = found.schema
        picks = {
            "columns": [f.name for f in schema.columns(entity)],
            "group_by": next((f.name for f in schema.choice_fields(entity)), ""),
            "date_field": next((f.name for f in schema.date_fields(entity)), ""),
        }
        body = new_view(entity, kind, label_of(new["label_en"], new["label_zh"]), picks)
        verdict = save(runtime, request, identity, app, "view", name, body, f"New view {name}")
        if verdict.ok:
            return go(request, f"/designer/{app}/views/{name}")
    ctx = _index_context(request, found, new=new, errors=messages(verdict, f"views.{name}"))
    return answer(request, INDEX, verdict, block="new_view", redirect="", context=ctx)


def _editor_context(
    request: Request, found: Desk, name: str, form: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    schema = found.schema
    entity = form["entity"]
    return page_context(
        request,
        found,
        "views",
        name=name,
        form=form,
        types=VIEW_TYPES,
        operators=OPERATORS,
        entities=schema.entities(),
        fields={f.name: f for f in schema.fields(entity, system=True)},
        columns=schema.columns(entity),
        paths=schema.paths(entity),
        group_fields=schema.choice_fields(entity),
        date_fields=schema.date_fields(entity),
        sortable=[
            f for f in schema.fields(entity, system=True) if f.type not in ("lines", "links")
        ],
        preview=f"/{found.app}/views/{name}",
        errors=extra.pop("errors", Messages()),
        **extra,
    )


@router.get("/designer/{app}/views/{name}")
def view_editor(
    app: str, name: str, request: Request, runtime: RuntimeDep, identity: PageUser
) -> Response:
    """The editor of one view."""
    found = desk(runtime, request, identity, app)
    form = view_form(document(request, found, "view", name))
    return render(request, EDITOR, **_editor_context(request, found, name, form, verdict=Verdict()))


@router.post("/designer/{app}/views/{name}/form")
async def view_form_redraw(
    app: str, name: str, request: Request, runtime: RuntimeDep, identity: PageUser
) -> Response:
    """The form again from what was typed (nothing is saved)."""
    found = desk(runtime, request, identity, app)
    document(request, found, "view", name)
    _, many = await form_lists(request)
    form = posted_view_form(many)
    ctx = _editor_context(request, found, name, form, verdict=Verdict())
    return render(request, EDITOR, block="editor", **ctx)


@router.post("/designer/{app}/views/{name}")
async def view_save(
    app: str, name: str, request: Request, runtime: RuntimeDep, identity: PageUser
) -> Response:
    """Save the view into the draft (refused edits come back with the engine's messages)."""
    found = desk(runtime, request, identity, app)
    document(request, found, "view", name)
    _, many = await form_lists(request)
    form = posted_view_form(many)
    return _save_view(runtime, request, identity, found, name, form)


def _save_view(
    runtime: Runtime,
    request: Request,
    identity: Identity,
    found: Desk,
    name: str,
    form: dict[str, Any],
) -> Response:
    try:
        body = view_body(form)
    except FilterProblem as exc:
        verdict = Verdict(errors=[Issue("filter", tr(request, exc.text, **exc.params))])
    else:
        verdict = save(
            runtime, request, identity, found.app, "view", name, body, f"Edit view {name}"
        )
    if verdict.ok:
        found = desk(runtime, request, identity, found.app)
        form = view_form(document(request, found, "view", name))
    ctx = _editor_context(
        request,
        found,
        name,
        form,
        verdict=verdict,
        errors=messages(verdict, f"views.{name}"),
        saved=verdict.ok,
    )
    return answer(
        request,
        EDITOR,
        verdict,
        block="editor",
        redirect=f"/designer/{found.app}/views/{name}",
        context=ctx,
    )


@router.post("/designer/{app}/views/{name}/delete")
def view_delete(
    app: str, name: str, request: Request, runtime: RuntimeDep, identity: PageUser
) -> Response:
    """Remove the view from the draft."""

    def refused(found: Desk, verdict: Verdict) -> Response:
        form = view_form(document(request, found, "view", name))
        errors = messages(verdict, f"views.{name}")
        ctx = _editor_context(request, found, name, form, verdict=verdict, errors=errors)
        return answer(request, EDITOR, verdict, block="editor", redirect="", context=ctx)

    return delete_document(runtime, request, identity, app, "view", name, refused)
