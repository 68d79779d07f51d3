"""Pages: the form designer. A form's sections (a title in both languages, 1 to 4 columns)
hold the entity's fields; fields are dragged from the list of fields not on the form into a
section, between sections and within one (or moved with buttons and selects), and a live
preview renders the form the way `forms.layout` resolves it for the record pages.

The layout is saved whole on every change as one undoable edit of the form document (created
in the draft when the entity has none yet). A section without fields is not saved (a form
section holds at least one field): it stays on the page until a field is dropped in.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from appblocks.engine.db import reading
from appblocks.engine.drafts import DocChange
from appblocks.engine.spec import AppSpecs, SpecError, build_specs, label_text
from appblocks.forms.layout import Form, default_form, resolve
from appblocks.server.auth import RuntimeDep
from appblocks.server.pages_designer_common import Workspace, apply_edit, layout_context, workspace
from appblocks.server.problems import Problem, locale_of
from appblocks.server.web import PageUser, render, tr
from appblocks.views import display
from appblocks.views.designer import (
    fields_of,
    form_names,
    layout_form,
    placed_fields,
    type_icon,
    type_label,
)

router = APIRouter(include_in_schema=False)


def _specs(ws: Workspace, loaded: Any) -> AppSpecs | None:
    """Entity specs of every installed app with the open app as drafted (None if the draft
    cannot be resolved yet)."""
    blueprints = {app: dict(bp) for app, bp in loaded.catalog.blueprints.items()}
    blueprints[ws.app] = ws.blueprint()
    try:
        return build_specs(blueprints)
    except SpecError:
        return None


def _form_doc(ws: Workspace, loaded: Any, name: str) -> tuple[dict[str, Any], str, bool]:
    """(form document, its entity, whether it is saved in the app) for the form `name`, or
    for the entity `name` when it has no form yet (its generated form, from the published
    entity when there is one: fields added in the draft start off the form)."""
    doc = ws.doc("form", name)
    if isinstance(doc, dict):
        return dict(doc), str(doc.get("entity")), True
    if ("entity", name) not in ws.docs:
        raise Problem(404, "Not found")
    qualified = f"{ws.app}.{name}"
    if qualified in loaded.catalog.specs.entities:
        generated = default_form(loaded.catalog.entity(qualified))
    else:
        specs = _specs(ws, loaded)
        if specs is None or qualified not in specs.entities:
            generated = {"entity": name, "sections": []}
        else:
            generated = default_form(specs.entity(qualified))
    return generated, name, False


@router.get("/designer/{app}/forms")
def forms_page(request: Request, runtime: RuntimeDep, identity: PageUser, app: str) -> Response:
    """Every entity of the app with its forms (or its generated one)."""
    locale = locale_of(request)
    with reading(runtime.engine) as conn:
        ws = workspace(conn, app, identity)
    items = []
    forms = ws.of_kind("form")
    for name, doc in ws.entities.items():
        mine = form_names(forms, name)
        items.append(
            {
                "entity": name,
                "label": label_text(doc.get("label"), locale, name),
                "forms": [
                    {
                        "name": f,
                        "label": label_text(forms[f].get("label"), locale, f),
                        "customised": ws.customised("form", f),
                    }  # fmt: skip
                    for f in mine
                ],
            }
        )
    return render(
        request, "designer/forms.html", items=items, **layout_context(request, ws, "forms")
    )


def _preview(
    request: Request, ws: Workspace, loaded: Any, doc: dict[str, Any], entity: str
) -> dict[str, Any]:
    """What the preview block needs: the resolved form, or why it cannot be shown."""
    specs = _specs(ws, loaded)
    qualified = f"{ws.app}.{entity}"
    if specs is None or qualified not in specs.entities:
        return {
            "form": None,
            "preview_problem": tr(
                request, "The preview appears once the entity's problems are fixed"
            ),
        }
    form: Form = resolve(doc, specs.entity(qualified), specs)
    locale = locale_of(request)
    return {"form": form, "preview_problem": None,
            "choice_options": lambda spec: display.options(spec, locale)}  # fmt: skip


def _page(
    request: Request,
    runtime: Any,
    ws: Workspace,
    name: str,
    doc: dict[str, Any],
    entity: str,
    saved: bool,
    *,
    status: int = 200,
    block: str | None = None,
    problems: list[str] | None = None,
    hide_hint: bool = False,
) -> HTMLResponse:
    locale = locale_of(request)
    loaded = runtime.current()
    fields = fields_of(ws.doc("entity", entity) or {})
    info = {
        n: {
            "name": n,
            "label": label_text(f.get("label"), locale, n.replace("_", " ").capitalize()),
            "icon": type_icon(str(f.get("type"))),
            "type_label": type_label(str(f.get("type")), locale),
            "required": bool(f.get("required")),
        }
        for n, f in fields.items()
    }
    placed = set(placed_fields(doc))
    sections = [
        {
            "title": s.get("title")
            if isinstance(s.get("title"), dict)
            else {"en": s.get("title") or ""},
            "columns": int(s.get("columns") or 2),
            "fields": [info[n] for n in placed_fields({"sections": [s]}) if n in info],
        }
        for s in doc.get("sections") or []
    ]
    entity_label = label_text((ws.doc("entity", entity) or {}).get("label"), locale, entity)
    return render(
        request, "designer/form.html", status, block=block, form_name=name, entity=entity,
        entity_label=entity_label, sections=sections, saved=saved, problems=problems or [],
        unplaced=[i for n, i in info.items() if n not in placed],
        draft_bar_oob=block is not None, hide_hint=hide_hint,
        **_preview(request, ws, loaded, doc, entity), **layout_context(request, ws, "forms"),
    )  # fmt: skip


@router.get("/designer/{app}/forms/{name}")
def form_page(
    request: Request, runtime: RuntimeDep, identity: PageUser, app: str, name: str
) -> Response:
    """The form designer of the form `name` (or of the entity `name`'s generated form)."""
    with reading(runtime.engine) as conn:
        ws = workspace(conn, app, identity)
    doc, entity, saved = _form_doc(ws, runtime.current(), name)
    return _page(request, runtime, ws, name, doc, entity, saved)


@router.post("/designer/{app}/forms/{name}")
async def save_form(
    request: Request, runtime: RuntimeDep, identity: PageUser, app: str, name: str
) -> Response:
    """Save the layout (`layout`: JSON sections with title, columns and field names) as one
    edit; answers with the preview (and the draft bar), or the engine's messages."""
    form = await request.form()
    try:
        sections = json.loads(str(form.get("layout") or "[]"))
        if not isinstance(sections, list) or not all(isinstance(s, dict) for s in sections):
            raise ValueError
    except ValueError:
        raise Problem(422, tr(request, "The layout could not be read; reload the page")) from None
    with runtime.engine.begin() as conn:
        ws = workspace(conn, app, identity)
        loaded = runtime.current()
        doc, entity, was_saved = _form_doc(ws, loaded, name)
        doc.setdefault("entity", entity)
        known = fields_of(ws.doc("entity", entity) or {})
        new_doc = layout_form(doc, sections, known)
        if not new_doc["sections"]:
            problems = [tr(request, "Place at least one field on the form")]
        else:
            label = tr(request, "Arrange form “%(name)s”", name=name)
            problems = apply_edit(
                conn, ws, identity, [DocChange("form", name, new_doc)], label, locale_of(request)
            )
    if problems:
        return _page(request, runtime, ws, name, doc, entity, True, status=422,
                     block="form_preview", problems=problems)  # fmt: skip
    return _page(request, runtime, ws, name, new_doc, entity, True, block="form_preview",
                 hide_hint=not was_saved)  # fmt: skip
