"""What every designer page shares: who may design, the workspace (the signed-in designer's
open draft of an app, or the installed documents while there is none), edits checked by the
engine's validation before they enter the draft, and the context of `designer/layout.html`.

Other designer pages (views, dashboards, workflows, roles) use `designer_user`, `workspace`,
`apply_edit` and `layout_context` too, so every page shows the same sidebar and draft bar:

    ws = workspace(conn, app, identity)                     # 404 for an unknown app
    render(request, "designer/x.html", **layout_context(request, ws, "views"), ...)
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from fastapi import Request

from appblocks.engine.blueprints import installed_blueprints
from appblocks.engine.catalog import Doc, installed_apps, join_documents
from appblocks.engine.drafts import DocChange, Draft, edit, get_draft, list_drafts, open_draft
from appblocks.engine.layers import CodedError, is_shipped, read_layer
from appblocks.engine.loader import LoadedBlueprint
from appblocks.engine.merge import same
from appblocks.engine.names import name_problem
from appblocks.engine.spec import label_text
from appblocks.engine.users import Identity
from appblocks.engine.validate import validate_blueprint
from appblocks.server.problems import Problem, locale_of
from appblocks.server.web import tr
from appblocks.views.designer import app_colour

DESIGNER_ROLES = frozenset({"admin", "designer"})
SECTIONS = (
    "entities", "relations", "forms", "views", "dashboards", "workflows", "roles", "publish",
)  # fmt: skip


def designer_user(identity: Identity) -> Identity:
    """The identity, when it may use the designer; a 404 for everyone else (the designer's
    pages do not exist for them)."""
    if not identity.roles & DESIGNER_ROLES:
        raise Problem(404, "Not found")
    return identity


@dataclass
class Workspace:
    """An app as one designer sees it: their open draft's documents, else the installed ones."""

    app: str
    draft: Draft | None
    docs: dict[tuple[str, str], Any]
    installed: bool
    shipped: bool
    base: dict[tuple[str, str], Any] = field(default_factory=dict)
    version: str | None = None

    def doc(self, kind: str, name: str) -> Any:
        """One document's body, or None."""
        return self.docs.get((kind, name))

    def of_kind(self, kind: str) -> dict[str, Any]:
        """The documents of one kind by name, in order."""
        return {n: b for (k, n), b in self.docs.items() if k == kind}

    @property
    def entities(self) -> dict[str, Any]:
        return self.of_kind("entity")

    @property
    def manifest(self) -> dict[str, Any]:
        return dict(self.doc("blueprint", self.app) or {"blueprint": self.app})

    def blueprint(self) -> dict[str, Any]:
        """The documents as one blueprint dict."""
        docs = [Doc(k, self.app, n, b) for (k, n), b in self.docs.items()]
        return join_documents(docs).get(self.app, {"blueprint": self.app})

    def title(self, locale: str) -> str:
        """The app's title in `locale` (its name when it has none)."""
        return label_text(self.manifest.get("title"), locale, self.app.upper())

    def customised(self, kind: str, name: str) -> bool:
        """Whether a shipped app's document differs from what shipped (or is new)."""
        if not self.shipped:
            return False
        key = (kind, name)
        return key not in self.base or not same(self.base[key], self.docs.get(key))

    def field_customised(self, entity: str, fname: str) -> bool:
        """Whether one field of a shipped app differs from what shipped (or is new)."""
        if not self.shipped:
            return False
        base = (self.base.get(("entity", entity)) or {}).get("fields") or {}
        now = (self.docs.get(("entity", entity)) or {}).get("fields") or {}
        return fname not in base or not same(base[fname], now.get(fname))

    @property
    def changes(self) -> int:
        """How many edits of the draft are not published (0 without a draft)."""
        return self.draft.position if self.draft is not None else 0


def find_draft(conn: sa.Connection, app: str, actor: str) -> Draft | None:
    """The actor's newest open draft of `app` (not a restore), or None; creates nothing."""
    for draft in list_drafts(conn, app):
        if draft.actor == actor and draft.restores is None:
            return draft
    return None


def workspace(
    conn: sa.Connection, app: str, identity: Identity, draft_id: int | None = None
) -> Workspace:
    """The workspace of `app` for a designer (a given draft of theirs, or their open one);
    a 404 when the app is neither installed nor drafted by them."""
    designer_user(identity)
    if name_problem(app, app=True):
        raise Problem(404, "Not found")
    draft = None
    if draft_id is not None:
        draft = get_draft(conn, draft_id)
        if draft.app != app or draft.actor != identity.name:
            raise Problem(404, "Not found")
    else:
        draft = find_draft(conn, app, identity.name)
    base = {(d.kind, d.name): d.body for d in read_layer(conn, app, "base")}
    installed = bool(base)
    if draft is None and not installed:
        raise Problem(404, "Not found")
    source = draft.documents() if draft is not None else read_layer(conn, app, "effective")
    docs = {(d.kind, d.name): d.body for d in source}
    versions = dict(installed_apps(conn))
    return Workspace(
        app, draft, docs, installed, installed and is_shipped(conn, app), base, versions.get(app)
    )


def draft_errors(
    conn: sa.Connection, app: str, blueprint: Mapping[str, Any], locale: str = "en"
) -> list[str]:
    """The engine's validation messages for `blueprint` among the installed apps, in `locale`
    (English by default: the text to compare)."""
    others = {a: b for a, b in installed_blueprints(conn).items() if a != app}
    loaded = LoadedBlueprint(doc={**blueprint, "blueprint": app}, root=Path(app))
    return [f"{e.path}: {e.text(locale)}" for e in validate_blueprint(loaded, others)]


def apply_edit(
    conn: sa.Connection,
    ws: Workspace,
    identity: Identity,
    changes: Iterable[DocChange],
    label: str,
    locale: str | None = None,
) -> list[str]:
    """Check `changes` with the engine's validation and, when they bring no new problem, make
    them one undoable edit of the designer's draft (opened on the first edit). Returns the new
    problems (the draft unchanged) or [], in `locale` (by default the designer's own setting;
    callers with the request pass `locale_of(request)`)."""
    from appblocks.engine.i18n import negotiate

    locale = locale or negotiate(identity.locale)
    changes = list(changes)
    before = set(draft_errors(conn, ws.app, ws.blueprint()))
    after_docs = dict(ws.docs)
    for change in changes:
        if change.body is None:
            after_docs.pop((change.kind, change.name), None)
        else:
            after_docs[(change.kind, change.name)] = change.body
    trial = Workspace(ws.app, ws.draft, after_docs, ws.installed, ws.shipped, ws.base)
    after = draft_errors(conn, ws.app, trial.blueprint())
    new = [index for index, e in enumerate(after) if e not in before]  # compared in English
    if new:
        if locale != "en":
            after = draft_errors(conn, ws.app, trial.blueprint(), locale)
        return [after[index] for index in new]
    draft = ws.draft or open_draft(conn, ws.app, actor=identity.name)
    ws.draft = edit(conn, draft.id, changes, label=label)
    ws.docs = {(d.kind, d.name): d.body for d in ws.draft.documents()}
    return []


def engine_message(request: Request, exc: CodedError) -> str:
    """An engine refusal in the caller's language."""
    return exc.message(locale_of(request))


_NAME_MESSAGES = (
    (re.compile(r"^'(?P<name>.*)' starts with '_'"), "starts_with_underscore"),
    (re.compile(r"^'(?P<name>.*)' is not a valid name: .* at most (?P<limit>\d+)"), "pattern"),
    (re.compile(r"^'(?P<name>.*)' is an SQL keyword"), "keyword"),
)


def name_message(request: Request, name: str, *, app: bool = False) -> str | None:
    """Why `name` cannot name a field, entity or app (the engine's naming rules), in the
    caller's language; None when it can."""
    problem = name_problem(name, app=app)
    if problem is None:
        return None
    for pattern, code in _NAME_MESSAGES:
        found = pattern.match(problem)
        if not found:
            continue
        params = found.groupdict()
        if code == "starts_with_underscore":
            return tr(
                request, "“%(name)s” starts with “_”, which is kept for system fields", **params
            )
        if code == "pattern":
            return tr(
                request,
                "“%(name)s” is not a valid name: use lower-case letters, digits and “_”, "
                "starting with a letter, at most %(limit)s characters",
                **params,
            )
        return tr(request, "“%(name)s” is a reserved word of SQL; choose another name", **params)
    return problem


def _current_page(request: Request) -> str:
    """The page the browser shows: for an htmx request the page it came from (its own URL may
    be a POST-only address), else the request's path."""
    current = request.headers.get("hx-current-url")
    if current:
        path = urlsplit(current).path
        if path.startswith("/designer/"):
            return path
    return request.url.path


def layout_context(request: Request, ws: Workspace, section: str, **extra: Any) -> dict[str, Any]:
    """What `designer/layout.html` needs: the app, its sidebar and the draft bar."""
    locale = locale_of(request)
    entities = [
        {
            "name": name,
            "label": label_text((body or {}).get("label"), locale, name),
            "customised": ws.customised("entity", name),
        }
        for name, body in ws.entities.items()
    ]
    draft = ws.draft
    designer = {
        "app": ws.app,
        "title": ws.title(locale),
        "section": section,
        "entities": entities,
        "installed": ws.installed,
        "shipped": ws.shipped,
        "changes": ws.changes,
        "draft_id": draft.id if draft is not None else None,
        "can_undo": bool(draft and draft.can_undo),
        "can_redo": bool(draft and draft.can_redo),
        "undo_label": draft.undo_label if draft is not None else None,
        "redo_label": draft.redo_label if draft is not None else None,
        "next": _current_page(request),
    }
    return {"designer": designer, "nav": None, "app_colour": app_colour, **extra}
