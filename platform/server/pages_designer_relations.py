"""Pages: the relation designer, a board of entity cards from every installed app. Dragging a
card onto another (or a card's "Link to…" button) opens a dialog that adds a relation field to
the card dropped on: a many-to-one link, many-to-many links or line items, pointing at the
dragged entity. A link into another app also adds that app to the manifest's `requires`.

The field goes into the draft of the app that holds it (which may be another app than the one
whose board is open); the engine's validation runs first, as for every designer edit.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from appblocks.engine.catalog import installed_apps
from appblocks.engine.db import reading
from appblocks.engine.drafts import DocChange
from appblocks.engine.spec import label_text
from appblocks.server.auth import RuntimeDep
from appblocks.server.pages_designer_common import (
    Workspace,
    apply_edit,
    designer_user,
    layout_context,
    name_message,
    workspace,
)
from appblocks.server.problems import locale_of
from appblocks.server.web import PageUser, flash, render, tr
from appblocks.views.designer import (
    RELATION_KINDS,
    app_colour,
    fields_of,
    link_field,
    links_between,
    put_field,
    with_requires,
)

router = APIRouter(include_in_schema=False)


def _blueprints(ws: Workspace, loaded: Any) -> dict[str, dict[str, Any]]:
    """Every installed app's blueprint, the open app as the designer's draft has it."""
    out = {app: dict(bp) for app, bp in loaded.catalog.blueprints.items()}
    out[ws.app] = ws.blueprint()
    return out


def board(request: Request, ws: Workspace, loaded: Any) -> list[dict[str, Any]]:
    """The board: one group per app (the open app first), each with its entity cards and the
    relation fields each card holds."""
    locale = locale_of(request)
    blueprints = _blueprints(ws, loaded)
    labels = {
        f"{app}.{name}": label_text((doc or {}).get("label"), locale, name)
        for app, bp in blueprints.items()
        for name, doc in (bp.get("entities") or {}).items()
    }
    relations: dict[str, list[dict[str, Any]]] = {}
    parents: dict[str, str] = {}
    for holder, fname, kind, target in links_between(blueprints):
        app, _, entity = holder.partition(".")
        fdoc = fields_of(blueprints[app]["entities"][entity])[fname]
        relations.setdefault(holder, []).append(
            {
                "field": fname,
                "label": label_text(fdoc.get("label"), locale, fname),
                "kind": kind,
                "target": target,
                "target_label": labels.get(target, target),
                "cross": target.split(".")[0] != app,
            }
        )
        if kind == "lines":
            parents[target] = labels.get(holder, holder)
    apps = sorted(blueprints, key=lambda a: (a != ws.app, a))
    groups = []
    for app in sorted(blueprints):
        bp = blueprints[app]
        cards = [
            {
                "ref": f"{app}.{name}",
                "name": name,
                "label": labels[f"{app}.{name}"],
                "label_en": label_text(doc.get("label"), "en", name.replace("_", " ").capitalize()),
                "label_zh": label_text(doc.get("label"), "zh-CN", ""),
                "relations": relations.get(f"{app}.{name}", []),
                "line_of": parents.get(f"{app}.{name}"),
                "customised": app == ws.app and ws.customised("entity", name),
            }
            for name, doc in (bp.get("entities") or {}).items()
        ]
        groups.append(
            {
                "app": app,
                "title": label_text(bp.get("title"), locale, app.upper()),
                "colour": app_colour(app),
                "cards": cards,
            }
        )
    order = {a: i for i, a in enumerate(apps)}
    return sorted(groups, key=lambda g: order[g["app"]])


def _board_page(
    request: Request,
    runtime: Any,
    ws: Workspace,
    *,
    status: int = 200,
    dialog: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    added: str | None = None,
) -> HTMLResponse:
    loaded = runtime.current()
    groups = board(request, ws, loaded)
    choices = [(c["ref"], f"{c['label']} ({g['app'].upper()})") for g in groups for c in g["cards"]]
    return render(
        request, "designer/relations.html", status, groups=groups, choices=choices,
        dialog=dialog, errors=errors or {}, added=added,
        **layout_context(request, ws, "relations"),
    )  # fmt: skip


@router.get("/designer/{app}/relations")
def relations_page(
    request: Request, runtime: RuntimeDep, identity: PageUser, app: str, added: str | None = None
) -> Response:
    """The board of entity cards of every installed app, grouped and coloured by app."""
    with reading(runtime.engine) as conn:
        ws = workspace(conn, app, identity)
    return _board_page(request, runtime, ws, added=added)


@router.post("/designer/{app}/relations")
async def create_relation(
    request: Request, runtime: RuntimeDep, identity: PageUser, app: str
) -> Response:
    """Add the relation field the dialog describes to the holder entity's app draft (with the
    `requires` entry a link into another app needs); refused with the messages, as typed."""
    designer_user(identity)
    form = {k: str(v).strip() for k, v in (await request.form()).items()}
    dialog = {
        k: form.get(k, "") for k in ("holder", "target", "kind", "name", "label_en", "label_zh")
    }
    errors: dict[str, str] = {}
    holder_app, _, holder = dialog["holder"].partition(".")
    target_app, _, target = dialog["target"].partition(".")
    with runtime.engine.begin() as conn:
        page_ws = workspace(conn, app, identity)
        if not holder or not target:
            errors["target"] = tr(request, "Choose both entities")
            return _board_page(request, runtime, page_ws, status=422, dialog=dialog, errors=errors)
        ws = page_ws if holder_app == app else workspace(conn, holder_app, identity)
        entity = ws.doc("entity", holder)
        if not isinstance(entity, dict):
            errors["holder"] = tr(request, "There is no entity %(name)s", name=dialog["holder"])
        kind = dialog["kind"] if dialog["kind"] in RELATION_KINDS else ""
        if not kind:
            errors["kind"] = tr(request, "Choose the kind of relation")
        name = dialog["name"]
        problem = name_message(request, name) if name else tr(request, "Give the field a name")
        if problem:
            errors["name"] = problem
        elif isinstance(entity, dict) and name in fields_of(entity):
            errors["name"] = tr(request, "A field called “%(name)s” exists already", name=name)
        if errors:
            return _board_page(request, runtime, page_ws, status=422, dialog=dialog, errors=errors)
        assert isinstance(entity, dict)
        label = {"en": dialog["label_en"], "zh-CN": dialog["label_zh"]}
        field = link_field(kind, holder_app, dialog["target"], label)
        changes = [DocChange("entity", holder, put_field(entity, name, field))]
        if target_app != holder_app:
            version = dict(installed_apps(conn)).get(target_app, "0.1.0")
            manifest = with_requires(ws.manifest, target_app, version)
            if manifest != ws.manifest:
                changes.append(DocChange("blueprint", holder_app, manifest))
        problems = apply_edit(
            conn, ws, identity, changes, tr(request, "Link %(holder)s to %(target)s",
                                            holder=holder, target=target),
            locale_of(request),
        )  # fmt: skip
        if problems:
            errors["problems"] = "; ".join(problems)
            return _board_page(request, runtime, page_ws, status=422, dialog=dialog, errors=errors)
    flash(request, tr(request, "Link added to your draft of %(app)s: publish to use it",
                      app=ws.title(locale_of(request))), "success")  # fmt: skip
    return RedirectResponse(
        f"/designer/{holder_app}/relations?added={holder_app}.{holder}.{name}", status_code=303
    )
