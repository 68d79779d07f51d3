"""Pages: the visual designer's home (`/designer`), an app's overview, the draft bar's actions
(undo, redo, discard, rebase), the publish plan and publishing, and the kept versions.

Every page is for admins and designers only (anyone else gets a 404). Edits live in the
designer's own draft of an app (`engine.drafts`) until they publish it; publishing goes through
the engine's `publish`, the same validation and migration as a blueprint import, and the server
reloads its catalog at once. The entity, relation and form designers live in
`pages_designer_entities`, `pages_designer_relations` and `pages_designer_forms`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from appblocks.engine.blueprints import BlueprintRefused
from appblocks.engine.catalog import installed_apps, read_documents
from appblocks.engine.db import reading
from appblocks.engine.drafts import (
    Draft,
    DraftError,
    discard,
    list_drafts,
    open_draft,
    plan,
    publish,
    rebase,
    redo,
    undo,
)
from appblocks.engine.drafts import replace as replace_doc
from appblocks.engine.layers import CodedError, LayerError, custom_changes, is_shipped
from appblocks.engine.migrations import DataLossRefused, MigrationError
from appblocks.engine.spec import label_text
from appblocks.engine.versions import list_versions, restore
from appblocks.server.auth import RuntimeDep
from appblocks.server.pages_designer_common import (
    designer_user,
    engine_message,
    layout_context,
    name_message,
    workspace,
)
from appblocks.server.pages_designer_plan import document_changes, plain_steps
from appblocks.server.problems import Problem, locale_of
from appblocks.server.web import PageUser, flash, render, tr
from appblocks.views.designer import app_colour
from appblocks.workflows.assembly import store_factory

router = APIRouter(include_in_schema=False)
Text = Annotated[str, Form()]


def _back(next_url: str, app: str) -> str:
    """Where to go after a draft action: a designer page, never another site."""
    if next_url.startswith("/designer/") and "//" not in next_url:
        return next_url
    return f"/designer/{app}"


@router.get("/designer")
def designer_home(request: Request, runtime: RuntimeDep, identity: PageUser) -> HTMLResponse:
    """Installed apps (title, version, shipped or designer-made, customised documents), the
    designer's drafts of new apps, and the New app form."""
    designer_user(identity)
    return _home(request, runtime, identity)


def _home(
    request: Request,
    runtime: Any,
    identity: Any,
    status: int = 200,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
) -> HTMLResponse:
    locale = locale_of(request)
    apps = []
    with reading(runtime.engine) as conn:
        versions = dict(installed_apps(conn))
        docs = read_documents(conn)
        mine = {d.app: d for d in list_drafts(conn) if d.actor == identity.name and not d.restores}
        for app, version in versions.items():
            manifest: dict[str, Any] = next(
                (d.body for d in docs if d.kind == "blueprint" and d.app == app), {}
            )
            entities = [d for d in docs if d.kind == "entity" and d.app == app]
            shipped = is_shipped(conn, app)
            draft = mine.get(app)
            apps.append(
                {
                    "app": app,
                    "title": label_text(manifest.get("title"), locale, app.upper()),
                    "version": version,
                    "shipped": shipped,
                    "customised": len(custom_changes(conn, app)) if shipped else 0,
                    "entities": len(entities),
                    "changes": draft.position if draft else 0,
                }
            )
        new_apps = [
            {
                "app": d.app,
                "title": label_text(
                    (d.document("blueprint", d.app) or {}).get("title"), locale, d.app.upper()
                ),  # fmt: skip
                "changes": d.position,
            }
            for d in mine.values()
            if d.app not in versions
        ]
    return render(
        request, "designer/home.html", status, apps=apps, new_apps=new_apps, nav=None,
        app_colour=app_colour,
        errors=errors or {}, values=values or {},
    )  # fmt: skip


@router.post("/designer/apps")
def new_app(
    request: Request,
    runtime: RuntimeDep,
    identity: PageUser,
    name: Text = "",
    label_en: Text = "",
    label_zh: Text = "",
) -> Response:
    """Start a draft of a new app (its manifest with the titles); published like any draft."""
    designer_user(identity)
    name = name.strip()
    values = {"name": name, "label_en": label_en, "label_zh": label_zh}
    errors: dict[str, str] = {}
    problem = name_message(request, name, app=True) if name else tr(request, "Give the app a name")
    if problem:
        errors["name"] = problem
    if not label_en.strip() and not label_zh.strip():
        errors["label_en"] = tr(request, "Give the app a title in at least one language")
    with runtime.engine.begin() as conn:
        if not errors and (name in dict(installed_apps(conn)) or list_drafts(conn, name)):
            errors["name"] = tr(request, "An app called “%(name)s” exists already", name=name)
        if errors:
            return _home(request, runtime, identity, 422, errors, values)
        draft = open_draft(conn, name, actor=identity.name)
        title = {k: v.strip() for k, v in (("en", label_en), ("zh-CN", label_zh)) if v.strip()}
        manifest = {**(draft.document("blueprint", name) or {}), "title": title}
        replace_doc(conn, draft.id, "blueprint", name, manifest, label=tr(request, "New app"))
    flash(request, tr(request, "Draft of the new app started: add its first entity"), "success")
    return RedirectResponse(f"/designer/{name}/entities", status_code=303)


@router.get("/designer/{app}")
def app_overview(
    request: Request, runtime: RuntimeDep, identity: PageUser, app: str
) -> HTMLResponse:
    """One app: its entities, forms, workflows, views, dashboards and roles at a glance."""
    locale = locale_of(request)
    with reading(runtime.engine) as conn:
        ws = workspace(conn, app, identity)
    groups = []
    for kind, section, title in (
        ("entity", "entities", tr(request, "Entities")),
        ("form", "forms", tr(request, "Forms")),
        ("workflow", "workflows", tr(request, "Workflows")),
        ("view", "views", tr(request, "Views")),
        ("dashboard", "dashboards", tr(request, "Dashboards")),
        ("role", "roles", tr(request, "Roles")),
    ):
        items = []
        for name, body in ws.of_kind(kind).items():
            label = body.get("label") if isinstance(body, dict) else None
            # Views, dashboards, workflows and roles have their own pages (pages_designer_more).
            url = f"/designer/{app}/{section}"
            if kind in ("entity", "form"):
                url = f"/designer/{app}/{section}/{name}"
            items.append(
                {
                    "name": name,
                    "label": label_text(label, locale, name.replace("_", " ").capitalize()),
                    "url": url,
                    "customised": ws.customised(kind, name),
                }
            )
        groups.append({"section": section, "title": title, "items": items})
    return render(
        request, "designer/app.html", groups=groups, **layout_context(request, ws, "overview")
    )


# --- the draft bar --------------------------------------------------------------------------


def _draft_action(
    request: Request, runtime: Any, identity: Any, app: str, action: str, draft_id: str, next_: str
) -> Response:
    with runtime.engine.begin() as conn:
        chosen = int(draft_id) if draft_id.isdigit() else None
        ws = workspace(conn, app, identity, chosen)
        if ws.draft is None:
            return RedirectResponse(_back(next_, app), status_code=303)
        try:
            if action == "undo":
                undo(conn, ws.draft.id)
            elif action == "redo":
                redo(conn, ws.draft.id)
            elif action == "discard":
                discard(conn, ws.draft.id)
                flash(request, tr(request, "The draft is discarded"), "success")
            elif action == "rebase":
                conflicts = rebase(conn, ws.draft.id)
                if conflicts:
                    raise Problem(
                        409,
                        tr(request, "Your draft and the published app changed the same place: %(where)s",
                           where="; ".join(str(c) for c in conflicts)),
                    )  # fmt: skip
        except CodedError as exc:
            flash(request, engine_message(request, exc), "error")
    if action == "discard" and not ws.installed:
        return RedirectResponse("/designer", status_code=303)
    return RedirectResponse(_back(next_, app), status_code=303)


@router.post("/designer/{app}/draft/{action}")
def draft_action(
    request: Request,
    runtime: RuntimeDep,
    identity: PageUser,
    app: str,
    action: str,
    draft: Text = "",
    next: Text = "",
) -> Response:
    """Undo, redo, discard or rebase the designer's draft, then back to where they were."""
    if action not in ("undo", "redo", "discard", "rebase"):
        raise Problem(404, "Not found")
    return _draft_action(request, runtime, identity, app, action, draft, next)


# --- plan and publish -----------------------------------------------------------------------


def _plan_page(
    request: Request,
    runtime: Any,
    identity: Any,
    app: str,
    draft_id: int | None,
    status: int = 200,
    refusal: str | None = None,
    note: str = "",
) -> HTMLResponse:
    with reading(runtime.engine) as conn:
        ws = workspace(conn, app, identity, draft_id)
        context: dict[str, Any] = {"shown": None, "steps": [], "changes": [], "errors": []}
        if ws.draft is not None:
            shown = plan(conn, ws.draft.id)
            context["shown"] = shown
            locale = locale_of(request)
            context["errors"] = [
                e if isinstance(e, str) else f"{e.path}: {e.text(locale)}" for e in shown.errors
            ]
            context["changes"] = document_changes(request, ws.draft)
            if shown.plan is not None:
                context["steps"] = plain_steps(request, shown.plan, conn)
    return render(
        request, "designer/publish.html", status, refusal=refusal, note=note,
        restoring=ws.draft.restores if ws.draft else None,
        **context, **layout_context(request, ws, "publish"),
    )  # fmt: skip


@router.get("/designer/{app}/publish")
def publish_plan(
    request: Request, runtime: RuntimeDep, identity: PageUser, app: str, draft: int | None = None
) -> HTMLResponse:
    """The migration plan of the draft: the document changes, the table changes in plain
    words, validation errors (publishing refused while any) and any data loss to confirm."""
    return _plan_page(request, runtime, identity, app, draft)


@router.post("/designer/{app}/publish")
def publish_draft(
    request: Request,
    runtime: RuntimeDep,
    identity: PageUser,
    app: str,
    draft: Text = "",
    confirm_data_loss: Text = "",
    note: Text = "",
) -> Response:
    """Apply the plan and keep the result as a new version; refused with the reason, nothing
    changed, when the draft is invalid, stale, or loses data without the box ticked."""
    chosen = int(draft) if draft.isdigit() else None
    with reading(runtime.engine) as conn:
        ws = workspace(conn, app, identity, chosen)
    if ws.draft is None:
        return RedirectResponse(f"/designer/{app}/publish", status_code=303)
    try:
        result = publish(
            runtime.engine,
            ws.draft.id,
            confirm_data_loss=confirm_data_loss == "yes",
            actor=identity.name,
            note=note.strip() or None,
            store_factory=store_factory(automations=False),
        )
    except DataLossRefused:
        why = tr(request, "Tick the box to confirm that the stored values may be deleted")
        return _plan_page(request, runtime, identity, app, chosen, 422, why, note)
    except BlueprintRefused as exc:
        locale = locale_of(request)
        why = "; ".join(
            e if isinstance(e, str) else f"{e.path}: {e.text(locale)}" for e in exc.errors
        )
        return _plan_page(request, runtime, identity, app, chosen, 422, why, note)
    except (DraftError, LayerError) as exc:
        return _plan_page(request, runtime, identity, app, chosen, 409,
                          engine_message(request, exc), note)  # fmt: skip
    except MigrationError as exc:
        return _plan_page(request, runtime, identity, app, chosen, 422, str(exc), note)
    runtime.reload()
    flash(request, tr(request, "Published: version %(n)s is live", n=result.version), "success")
    return RedirectResponse(f"/designer/{app}/versions", status_code=303)


# --- versions ---------------------------------------------------------------------------------


@router.get("/designer/{app}/versions")
def versions_page(
    request: Request, runtime: RuntimeDep, identity: PageUser, app: str
) -> HTMLResponse:
    """Every kept version (number, how it came, who, when, note), each with Restore."""
    with reading(runtime.engine) as conn:
        ws = workspace(conn, app, identity)
        kept = list_versions(conn, app) if ws.installed else []
    sources = {
        "import": tr(request, "Imported"), "upgrade": tr(request, "Upgraded"),
        "create": tr(request, "Created"), "publish": tr(request, "Published"),
        "restore": tr(request, "Restored"),
    }  # fmt: skip
    return render(
        request, "designer/versions.html", versions=kept, sources=sources,
        **layout_context(request, ws, "publish"),
    )  # fmt: skip


@router.post("/designer/{app}/versions/{number:int}/restore")
def restore_version(
    request: Request, runtime: RuntimeDep, identity: PageUser, app: str, number: int
) -> Response:
    """A draft holding that version's documents; its plan comes next, then publish."""
    with runtime.engine.begin() as conn:
        workspace(conn, app, identity)
        try:
            draft: Draft = restore(conn, app, number, actor=identity.name)
        except CodedError as exc:
            raise Problem(404, engine_message(request, exc)) from None
    return RedirectResponse(f"/designer/{app}/publish?draft={draft.id}", status_code=303)


def _include() -> None:
    # The entity, relation and form designers are routers of their own modules, served under
    # this one (the app registers `router` before the generic `/{app}/...` pages).
    from appblocks.server import (
        pages_designer_entities,
        pages_designer_forms,
        pages_designer_relations,
    )

    for sub in (pages_designer_entities, pages_designer_relations, pages_designer_forms):
        router.include_router(sub.router)


_include()
