"""Pages: the entity designer. An app's entities (and New entity); an entity's field list with
the palette of field types (drag a type into the list, drag fields to reorder, or use the
buttons) and the side panel that edits one field, with a live formula preview. With no field
open, the side panel holds the entity's own settings (label, title field, description) and
its Delete entity action (see `pages_designer_entity_settings`).

Every change is one undoable edit of the designer's draft, replacing the entity document; the
engine's validation runs first and an edit that would bring a new problem is refused with the
engine's message, the panel keeping what was typed.
"""

from __future__ import annotations

import copy
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from appblocks.engine.db import reading
from appblocks.engine.drafts import DocChange
from appblocks.engine.fieldtypes import registry
from appblocks.engine.spec import label_text
from appblocks.engine.users import Identity
from appblocks.server.auth import RuntimeDep
from appblocks.server.pages_designer_common import (
    Workspace,
    apply_edit,
    layout_context,
    name_message,
    workspace,
)
from appblocks.server.pages_designer_entity_settings import (
    Removal,
    Settings,
    read_settings,
    removal,
    removal_changes,
    settings_of,
    title_choices,
)
from appblocks.server.pages_designer_fields import (
    Panel,
    field_rows,
    options_text,
    preview_formula,
    problem_key,
    read_panel,
    rollup_sources,
    sample_record,
    targets,
    type_choices,
)
from appblocks.server.problems import Problem, locale_of
from appblocks.server.web import PageUser, flash, is_htmx, render, tr
from appblocks.views.designer import (
    PRESETS,
    field_mode,
    fields_of,
    form_names,
    move_field,
    move_fields,
    new_entity,
    palette,
    put_field,
    remove_field,
    rename_in_forms,
    slug,
    type_label,
)

router = APIRouter(include_in_schema=False)


@router.get("/designer/{app}/entities")
def entities_page(request: Request, runtime: RuntimeDep, identity: PageUser, app: str) -> Response:
    """The app's entities, each with its field count, and the New entity form."""
    with reading(runtime.engine) as conn:
        ws = workspace(conn, app, identity)
    return _entities(request, ws)


def _entities(
    request: Request, ws: Workspace, status: int = 200, errors: Any = None, values: Any = None
) -> HTMLResponse:
    locale = locale_of(request)
    items = [
        {
            "name": name,
            "label": label_text(doc.get("label"), locale, name),
            "fields": len(fields_of(doc)),
            "description": label_text(doc.get("description"), locale, ""),
            "customised": ws.customised("entity", name),
        }
        for name, doc in ws.entities.items()
    ]
    return render(
        request, "designer/entities.html", status, items=items, errors=errors or {},
        values=values or {}, **layout_context(request, ws, "entities"),
    )  # fmt: skip


@router.post("/designer/{app}/entities")
async def create_entity(
    request: Request, runtime: RuntimeDep, identity: PageUser, app: str
) -> Response:
    """A new entity with a Name field (it names the records; rename it in the panel)."""
    form = await request.form()
    values = {k: str(form.get(k, "")).strip() for k in ("name", "label_en", "label_zh")}
    with runtime.engine.begin() as conn:
        ws = workspace(conn, app, identity)
        name = values["name"] or slug(values["label_en"], fallback="entity")
        errors = {}
        problem = name_message(request, name)
        if problem:
            errors["name"] = problem
        elif ("entity", name) in ws.docs:
            errors["name"] = tr(request, "An entity called “%(name)s” exists already", name=name)
        if not values["label_en"] and not values["label_zh"]:
            errors["label_en"] = tr(request, "Give the entity a name in at least one language")
        label = {
            k: values[key] for k, key in (("en", "label_en"), ("zh-CN", "label_zh")) if values[key]
        }
        body = new_entity(label, {"en": "Name", "zh-CN": "名称"})
        if not errors:
            problems = apply_edit(conn, ws, identity, [DocChange("entity", name, body)],
                                  tr(request, "New entity “%(name)s”", name=name),
                                  locale_of(request))  # fmt: skip
            if problems:
                errors["name"] = "; ".join(problems)
        if errors:
            return _entities(request, ws, 422, errors, values)
    return RedirectResponse(f"/designer/{app}/entities/{name}", status_code=303)


def _entity_doc(ws: Workspace, entity: str) -> dict[str, Any]:
    body = ws.doc("entity", entity)
    if not isinstance(body, dict):
        raise Problem(404, "Not found")
    return body


def _form_changes(ws: Workspace, entity: str, old: str, new: str | None) -> list[DocChange]:
    """The entity's forms with a field renamed (or, with `new` None, taken off)."""
    forms = rename_in_forms(ws.of_kind("form"), entity, old, new)
    return [DocChange("form", name, doc) for name, doc in forms.items()]


def _panel_of(ws: Workspace, entity: str, name: str) -> Panel:
    fdoc = fields_of(_entity_doc(ws, entity)).get(name)
    if fdoc is None:
        raise Problem(404, "Not found")
    return Panel(entity, name, copy.deepcopy(fdoc), name, mode=field_mode(fdoc))


def _page(
    request: Request,
    runtime: Any,
    ws: Workspace,
    entity: str,
    panel: Panel | None,
    *,
    status: int = 200,
    block: str | None = None,
    settings: Settings | None = None,
    removing: Removal | None = None,
) -> HTMLResponse:
    locale = locale_of(request)
    loaded = runtime.current()
    body = _entity_doc(ws, entity)
    if panel is None and settings is None:
        settings = settings_of(body)
    link_fields = [
        (n, label_text(f.get("label"), locale, n))
        for n, f in fields_of(body).items()
        if f.get("type") == "link"
    ]
    forms = form_names(ws.of_kind("form"), entity)
    return render(
        request, "designer/entity.html", status, block=block,
        entity=entity, entity_label=label_text(body.get("label"), locale, entity),
        entity_customised=ws.customised("entity", entity), entity_title=body.get("title"),
        fields=field_rows(request, ws, entity), palette=palette(), panel=panel,
        targets=targets(ws, loaded, locale), rollups=rollup_sources(ws, loaded, entity),
        link_fields=link_fields, types=type_choices(locale), options_text=options_text,
        kind=registry.get(panel.type) if panel is not None else None,
        form_url=f"/designer/{ws.app}/forms/{forms[0] if forms else entity}",
        settings=settings, title_choices=title_choices(body, locale),
        removal=removing or removal(ws, loaded, entity, locale),
        draft_bar_oob=block is not None, **layout_context(request, ws, "entities"),
    )  # fmt: skip


@router.get("/designer/{app}/entities/{entity}")
def entity_page(
    request: Request,
    runtime: RuntimeDep,
    identity: PageUser,
    app: str,
    entity: str,
    field: str | None = None,
    delete: int = 0,
) -> Response:
    """The entity designer: palette, field list, and the panel of `field` when given (else the
    entity's settings); `delete=1` opens the Delete entity dialog (for a browser without
    scripts)."""
    with reading(runtime.engine) as conn:
        ws = workspace(conn, app, identity)
    panel = _panel_of(ws, entity, field) if field else None
    removing = None
    if delete:
        removing = removal(ws, runtime.current(), entity, locale_of(request))
        removing.open = True
    return _page(request, runtime, ws, entity, panel, removing=removing)


@router.get("/designer/{app}/entities/{entity}/settings")
def settings_panel(
    request: Request, runtime: RuntimeDep, identity: PageUser, app: str, entity: str
) -> Response:
    """The side panel with the entity's settings (the page, or its work area for htmx)."""
    with reading(runtime.engine) as conn:
        ws = workspace(conn, app, identity)
    block = "entity_work" if is_htmx(request) else None
    return _page(request, runtime, ws, entity, None, block=block)


@router.post("/designer/{app}/entities/{entity}/settings")
async def save_settings(
    request: Request, runtime: RuntimeDep, identity: PageUser, app: str, entity: str
) -> Response:
    """Change the entity's label, title field and description: one undoable edit, checked by
    the engine; refused with the messages in the panel, as typed."""
    form = await request.form()
    with runtime.engine.begin() as conn:
        ws = workspace(conn, app, identity)
        body = _entity_doc(ws, entity)
        settings, updated = read_settings(request, body, {k: str(v) for k, v in form.items()})
        if not settings.errors:
            what = settings.label_en if locale_of(request) == "en" else settings.label_zh
            label = tr(request, "Entity settings of “%(name)s”", name=what or entity)
            settings.problems = apply_edit(
                conn, ws, identity, [DocChange("entity", entity, updated)], label,
                locale_of(request),
            )  # fmt: skip
    if settings.errors or settings.problems:
        block = "entity_work" if is_htmx(request) else None
        return _page(request, runtime, ws, entity, None, status=422, block=block,
                     settings=settings)  # fmt: skip
    # A full page again: the heading, the sidebar and the draft bar all show the new label.
    flash(request, tr(request, "Entity settings saved in your draft."), "success")
    target = f"/designer/{app}/entities/{entity}"
    if is_htmx(request):
        return Response(status_code=204, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


@router.post("/designer/{app}/entities/{entity}/delete")
def delete_entity(
    request: Request, runtime: RuntimeDep, identity: PageUser, app: str, entity: str
) -> Response:
    """Delete the entity with its forms, views, workflows, automations, role permissions and
    dashboard widgets, as one undoable edit; refused while other entities link to it (the
    dialog names the links) or when the engine's validation finds a new problem."""
    locale = locale_of(request)
    with runtime.engine.begin() as conn:
        ws = workspace(conn, app, identity)
        body = _entity_doc(ws, entity)
        removing = removal(ws, runtime.current(), entity, locale)
        name = label_text(body.get("label"), locale, entity)
        if removing.blocked:
            removing.problems = [
                tr(request, "“%(name)s” cannot be deleted while other entities link to it: "
                   "%(links)s. Delete those link fields first.",
                   name=name, links="; ".join(removing.links))
            ]  # fmt: skip
        else:
            label = tr(request, "Delete entity “%(name)s”", name=name)
            removing.problems = apply_edit(
                conn, ws, identity, removal_changes(ws, entity), label, locale_of(request)
            )
    if removing.problems:
        removing.open = True
        return _page(request, runtime, ws, entity, None, status=422, removing=removing)
    flash(request, tr(request, "“%(name)s” is deleted in your draft. Publishing deletes its "
                      "table and records; the plan asks you to confirm.", name=name),
          "success")  # fmt: skip
    return RedirectResponse(f"/designer/{app}/entities", status_code=303)


@router.get("/designer/{app}/entities/{entity}/panel")
def field_panel(
    request: Request,
    runtime: RuntimeDep,
    identity: PageUser,
    app: str,
    entity: str,
    field: str | None = None,
    new: str | None = None,
    position: int | None = None,
) -> Response:
    """The side panel of one field, or of a new field of type `new` dropped at `position`."""
    with reading(runtime.engine) as conn:
        ws = workspace(conn, app, identity)
    if new is not None:
        ftype, mode = new, "input"
        if new in PRESETS:
            ftype, mode = PRESETS[new][0], PRESETS[new][1]
        taken = fields_of(_entity_doc(ws, entity))
        panel = Panel(entity, "", {"type": ftype}, None, position, mode)
        panel.name = slug(type_label(ftype, "en"), taken)
    else:
        panel = _panel_of(ws, entity, field or "")
    block = "entity_work" if is_htmx(request) else None
    return _page(request, runtime, ws, entity, panel, block=block)


@router.post("/designer/{app}/entities/{entity}/panel")
async def refresh_panel(
    request: Request, runtime: RuntimeDep, identity: PageUser, app: str, entity: str
) -> Response:
    """The panel again as typed, after its type or its way of computing changed (nothing is
    saved: the inputs that type takes appear, what was typed stays)."""
    form = await request.form()
    with reading(runtime.engine) as conn:
        ws = workspace(conn, app, identity)
    original = str(form.get("original") or "")
    old = fields_of(_entity_doc(ws, entity)).get(original, {}) if original else {}
    panel = read_panel(request, entity, {k: str(v) for k, v in form.items()}, old)
    panel.errors = {}
    return _respond(request, runtime, ws, entity, panel, 200)


def _respond(
    request: Request,
    runtime: Any,
    ws: Workspace,
    entity: str,
    panel: Panel | None,
    status: int = 200,
) -> Response:
    if is_htmx(request):
        return _page(request, runtime, ws, entity, panel, status=status, block="entity_work")
    if status >= 400:
        return _page(request, runtime, ws, entity, panel, status=status)
    suffix = f"?field={panel.name}" if panel is not None else ""
    return RedirectResponse(f"/designer/{ws.app}/entities/{entity}{suffix}", status_code=303)


@router.post("/designer/{app}/entities/{entity}/fields")
async def save_field(
    request: Request, runtime: RuntimeDep, identity: PageUser, app: str, entity: str
) -> Response:
    """Add or change one field from the panel; refused with the messages, as typed."""
    form = await request.form()
    with runtime.engine.begin() as conn:
        ws = workspace(conn, app, identity)
        body = _entity_doc(ws, entity)
        current = fields_of(body)
        original = str(form.get("original") or "") or None
        old = current.get(original or "", {}) if original else {}
        panel = read_panel(request, entity, {k: str(v) for k, v in form.items()}, old)
        if panel.name in current and panel.name != original:
            panel.errors["name"] = tr(
                request, "A field called “%(name)s” exists already", name=panel.name
            )
        if panel.errors:
            return _respond(request, runtime, ws, entity, panel, 422)
        published = fields_of(ws.base.get(("entity", entity)) or {})
        if original and panel.name != original and original in published:
            # Keep the stored values: the migration renames the column instead of dropping it.
            panel.doc.setdefault("renamed_from", original)
        updated = put_field(body, panel.name, panel.doc, old_name=original, position=panel.position)
        changes = [DocChange("entity", entity, updated)]
        if original and panel.name != original:
            changes += _form_changes(ws, entity, original, panel.name)
        what = panel.label(locale_of(request))
        label = (
            tr(request, "Add field “%(name)s”", name=what) if original is None
            else tr(request, "Change field “%(name)s”", name=what)
        )  # fmt: skip
        problems = apply_edit(conn, ws, identity, changes, label, locale_of(request))
        if problems:
            panel.problems = problems
            for problem in problems:
                key = problem_key(problem, entity, panel.name)
                if key:
                    panel.errors.setdefault(key, problem.split(": ", 1)[-1])
            return _respond(request, runtime, ws, entity, panel, 422)
    saved = _panel_of(ws, entity, panel.name)
    saved.saved = True
    return _respond(request, runtime, ws, entity, saved)


@router.post("/designer/{app}/entities/{entity}/order")
async def reorder_fields(
    request: Request, runtime: RuntimeDep, identity: PageUser, app: str, entity: str
) -> Response:
    """The fields in the order dragged (`order`: the names, first to last)."""
    form = await request.form()
    order = [str(v) for v in form.getlist("order")]
    return _edit(request, runtime, identity, app, entity,
                 lambda body: move_fields(body, order), tr(request, "Reorder fields"))  # fmt: skip


@router.post("/designer/{app}/entities/{entity}/fields/{name}/move")
async def move_one_field(
    request: Request, runtime: RuntimeDep, identity: PageUser, app: str, entity: str, name: str
) -> Response:
    """Move one field up (`step=-1`) or down (`step=1`): the keyboard's way to reorder."""
    form = await request.form()
    step = -1 if str(form.get("step")) == "-1" else 1
    return _edit(request, runtime, identity, app, entity,
                 lambda body: move_field(body, name, step), tr(request, "Reorder fields"))  # fmt: skip


@router.post("/designer/{app}/entities/{entity}/fields/{name}/delete")
def delete_field(
    request: Request, runtime: RuntimeDep, identity: PageUser, app: str, entity: str, name: str
) -> Response:
    """Remove a field (and take it off the entity's forms)."""
    return _edit(request, runtime, identity, app, entity,
                 lambda body: remove_field(body, name),
                 tr(request, "Remove field “%(name)s”", name=name), removed=name)  # fmt: skip


def _edit(
    request: Request,
    runtime: Any,
    identity: Identity,
    app: str,
    entity: str,
    change: Any,
    label: str,
    removed: str | None = None,
) -> Response:
    with runtime.engine.begin() as conn:
        ws = workspace(conn, app, identity)
        body = _entity_doc(ws, entity)
        changes = [DocChange("entity", entity, change(body))]
        if removed:
            changes += _form_changes(ws, entity, removed, None)
        problems = apply_edit(conn, ws, identity, changes, label, locale_of(request))
    if problems:
        if not is_htmx(request):
            flash(request, "; ".join(problems), "error")
            return RedirectResponse(f"/designer/{app}/entities/{entity}", status_code=303)
        panel = Panel(entity, "", {"type": "text"}, None)
        panel.problems = problems
        return _page(request, runtime, ws, entity, panel, status=422, block="entity_work")
    return _respond(request, runtime, ws, entity, None)


@router.post("/designer/{app}/entities/{entity}/formula")
async def formula_preview(
    request: Request, runtime: RuntimeDep, identity: PageUser, app: str, entity: str
) -> Response:
    """The formula's value on a sample record (the first the user may read), with the values
    the user typed over it; or the sandbox's error."""
    form = await request.form()
    loaded = runtime.current()
    with reading(runtime.engine) as conn:
        ws = workspace(conn, app, identity)
        body = _entity_doc(ws, entity)
        sample = sample_record(conn, loaded, identity, f"{app}.{entity}")
    typed = {
        k.removeprefix("sample__"): str(v) for k, v in form.items() if k.startswith("sample__")
    }
    preview = preview_formula(
        request, body, f"{app}.{entity}", str(form.get("formula", "")), sample, typed, identity
    )
    return render(request, "designer/entity.html", block="formula_preview", preview=preview,
                  app=app, entity=entity)  # fmt: skip
