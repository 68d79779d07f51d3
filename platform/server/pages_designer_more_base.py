"""What the designer's view, dashboard, workflow and role pages share: who may use them, the
signed-in designer's draft of an app, saving one document edit through the engine, and the
answer a page gives to a saved or refused edit.

Every edit is one `drafts.edit` of the designer's own open draft (the workspace, sidebar and
draft bar are the designer core's, `pages_designer_common`); before it, `check_edit` runs the
blueprint validator on the draft with the edit, and an edit that adds an error changes nothing
and comes back with the engine's messages in place. Unlike the core's `apply_edit`, a state
that no transition reaches yet is only a warning: a state is added before its arrows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from appblocks.engine.blueprints import installed_blueprints
from appblocks.engine.db import reading
from appblocks.engine.drafts import DocChange, edit, open_draft
from appblocks.engine.layers import CodedError
from appblocks.engine.users import Identity
from appblocks.server.pages_designer_common import (
    Workspace,
    designer_user,
    layout_context,
    workspace,
)
from appblocks.server.problems import Problem, locale_of
from appblocks.server.runtime import Runtime
from appblocks.server.web import is_htmx, render, tr
from appblocks.views.designer_more_docs import Issue, Schema, Verdict, check_edit, section_of
from appblocks.views.designer_more_edits import label_parts


@dataclass
class Desk:
    """An app as the designer sees it: the core's workspace (the designer's open draft, else
    what is installed) and the pick lists of its documents."""

    ws: Workspace
    installed: dict[str, Any]
    schema: Schema
    #: (kind, name) of the documents the running app has (their pages can be opened)
    published: frozenset[tuple[str, str]] = frozenset()

    @property
    def app(self) -> str:
        return self.ws.app


def _others(conn: Any, app: str) -> dict[str, Any]:
    return {a: b for a, b in installed_blueprints(conn).items() if a != app}


def desk(runtime: Runtime, request: Request, identity: Identity, app: str) -> Desk:
    """The app's documents for an admin or designer (a GET opens no draft); for anyone else,
    and for an app that is neither installed nor drafted, a 404."""
    designer_user(identity)
    with reading(runtime.engine) as conn:
        ws = workspace(conn, app, identity)
        installed = _others(conn, app)
    schema = Schema(
        app, ws.blueprint(), installed, locale_of(request), tr(request, "Workflow state")
    )
    running = runtime.current().catalog.blueprints.get(app) or {}
    live = frozenset(
        (kind, name)
        for kind in ("view", "dashboard")
        for name in running.get(section_of(kind)) or {}
    )
    return Desk(ws, installed, schema, live)


def document(request: Request, desk: Desk, kind: str, name: str) -> dict[str, Any]:
    """One document of the draft, or a 404."""
    body = desk.schema.documents(kind).get(name)
    if body is None:
        raise Problem(404, tr(request, "There is no such document in this app."))
    return dict(body)


def save(
    runtime: Runtime,
    request: Request,
    identity: Identity,
    app: str,
    kind: str,
    name: str,
    body: Mapping[str, Any] | None,
    label: str,
) -> Verdict:
    """Validate the edit on the designer's draft and, when the engine accepts it, apply it as
    one undoable step of the draft (opened on the first edit; body None deletes)."""
    designer_user(identity)
    with runtime.engine.begin() as conn:
        ws = workspace(conn, app, identity)
        verdict = check_edit(
            app, ws.blueprint(), _others(conn, app), kind, name, body, locale_of(request)
        )
        if not verdict.ok:
            return verdict
        try:
            draft = ws.draft or open_draft(conn, app, actor=identity.name)
            body = dict(body) if body is not None else None
            edit(conn, draft.id, [DocChange(kind, name, body)], label=label)
        except CodedError as exc:
            return Verdict(errors=[Issue("", exc.message(locale_of(request)))])
    return verdict


def exists(desk: Desk, kind: str, name: str) -> bool:
    """Whether the draft already has a document of that kind and name."""
    return name in desk.schema.documents(kind)


def refused(request: Request, text: str) -> Verdict:
    """A refusal of our own (before the engine is asked), in the caller's language."""
    return Verdict(errors=[Issue("", tr(request, text))])


class Messages(dict[str, list[str]]):
    """Error messages by key path relative to the document; `errs("transitions.submit")`
    in a template gives every message at or under that path."""

    def __call__(self, prefix: str = "") -> list[str]:
        if not prefix:
            return self.get("", [])
        return [
            m for k, ms in self.items() if k == prefix or k.startswith(prefix + ".") for m in ms
        ]

    def elsewhere(self, *shown: str) -> list[str]:
        """Messages at no path a form shows (the document's own, other documents')."""
        return [
            m
            for k, ms in self.items()
            if not any(k == p or k.startswith(p + ".") for p in shown if p)
            for m in ms
        ]


def messages(verdict: Verdict, prefix: str) -> Messages:
    """The verdict's errors by key path relative to the document at `prefix`."""
    out = Messages()
    for issue in verdict.errors:
        if issue.under(prefix):
            out.setdefault(issue.within(prefix), []).append(issue.message)
        elif issue.path and "." in issue.path:
            # Another document broke because of this edit: say which.
            out.setdefault("", []).append(f"{issue.path}: {issue.message}")
        else:
            out.setdefault(issue.path, []).append(issue.message)
    return out


def delete_document(
    runtime: Runtime,
    request: Request,
    identity: Identity,
    app: str,
    kind: str,
    name: str,
    refused: Callable[[Desk, Verdict], Response],
) -> Response:
    """Remove a document from the draft and go back to its section's index; when the engine
    refuses (something still names it), `refused(desk, verdict)` answers with the reasons."""
    found = desk(runtime, request, identity, app)
    document(request, found, kind, name)
    verdict = save(runtime, request, identity, app, kind, name, None, f"Delete {kind} {name}")
    if verdict.ok:
        return go(request, f"/designer/{app}/{kind}s")
    return refused(found, verdict)


def go(request: Request, target: str) -> Response:
    """Send the browser to another page (htmx follows HX-Redirect, a form post a 303)."""
    if is_htmx(request):
        return Response(status_code=204, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


def answer(
    request: Request,
    template: str,
    verdict: Verdict,
    *,
    block: str,
    redirect: str,
    context: Mapping[str, Any],
) -> Response:
    """After a POST: htmx gets the block again (422 with the messages when refused), a plain
    form post a redirect (or the whole page with the messages)."""
    status = 200 if verdict.ok else 422
    if verdict.ok and not is_htmx(request):
        return RedirectResponse(redirect, status_code=303)
    ctx = {"verdict": verdict, "draft_bar_oob": verdict.ok, **context}
    return render(
        request,
        template,
        status,
        block=block if is_htmx(request) else None,
        **ctx,
    )


#: UI names of the words documents use (view types, operators, charts, aggregates, actions)
WORDS = {
    "list": "List",
    "kanban": "Board (kanban)",
    "calendar": "Calendar",
    "eq": "is",
    "ne": "is not",
    "lt": "less than",
    "lte": "at most",
    "gt": "greater than",
    "gte": "at least",
    "in": "is one of",
    "nin": "is none of",
    "contains": "contains",
    "startswith": "starts with",
    "isnull": "is empty (true or false)",
    "number": "Number",
    "bar": "Bar chart",
    "line": "Line chart",
    "pie": "Pie chart",
    "funnel": "Funnel",
    "gauge": "Gauge",
    "count": "Count of records",
    "sum": "Sum",
    "avg": "Average",
    "min": "Minimum",
    "max": "Maximum",
    "read": "Read",
    "create": "Create",
    "update": "Edit",
    "delete": "Delete",
    "import": "Import",
    "export": "Export",
    "field_hidden": "Hidden",
    "field_read": "Read only",
    "field_write": "Read and write",
}


#: one-letter column heads of the permission matrix (a legend spells them out)
SHORT = {"read": "R", "create": "C", "update": "U", "delete": "D"}


def word(request: Request, key: str) -> str:
    """A document word in the caller's language (unknown words as written)."""
    return tr(request, WORDS[key]) if key in WORDS else key


def page_context(request: Request, desk: Desk, section: str, **extra: Any) -> dict[str, Any]:
    """What every page of ours needs, with the core layout's sidebar and draft bar."""
    text = lambda key: word(request, key)  # noqa: E731
    ctx = layout_context(
        request,
        desk.ws,
        section,
        app=desk.app,
        schema=desk.schema,
        type_text=text,
        op_text=text,
        word=text,
        short=lambda key: tr(request, SHORT[key]) if key in SHORT else key,
        label_parts=label_parts,
        field_label=desk.schema.field_label,
        is_published=lambda kind, name: (kind, name) in desk.published,
        **{"errors": Messages(), **extra},
    )
    if request.method != "GET":
        # The draft bar's undo and redo come back to the page, not to the POST's address.
        page = request.headers.get("hx-current-url") or request.headers.get("referer") or ""
        path = urlsplit(page).path
        if path.startswith(f"/designer/{desk.app}"):
            ctx["designer"] = {**ctx["designer"], "next": path}
    return ctx


async def form_lists(request: Request) -> tuple[dict[str, str], dict[str, list[str]]]:
    """The posted form: single values, and every value of each name (for repeated inputs)."""
    form = await request.form()
    single = {k: str(v) for k, v in form.items() if k != "csrf_token"}
    many: dict[str, list[str]] = {}
    for key, value in form.multi_items():
        many.setdefault(key, []).append(str(value))
    return single, many
