"""Designer pages: roles as a permission matrix, with record rules and field rules.

`/designer/{app}/roles` shows the matrix: a row per entity of the app (and per entity of
another app a role has grants on), a column per role and action (read, create, update,
delete). Ticking a box is one edit of that role's document; a refused tick comes back
unticked with the engine's message. Each role and entity has a rules panel: all its actions
(import, export, workflow transitions too), the record rule (`where`, a filter that may name
`$user` and `$user.<attribute>`) and the fields the role may only read or not see.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from appblocks.engine.names import name_problem
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
    save,
)
from appblocks.server.web import PageUser, is_htmx, render, tr
from appblocks.views import designer_more_edits as edits
from appblocks.views.designer_more_docs import MATRIX_ACTIONS, OTHER_ACTIONS, Issue, Verdict
from appblocks.views.designer_more_filters import OPERATORS, FilterProblem, rows_from_form, rows_of
from appblocks.views.designer_more_forms import edit_rows, filter_body

router = APIRouter(include_in_schema=False)
PAGE = "designer/more_roles.html"
CELL = "designer/more_role_cell.html"
REFUSED_EVENT = "designer-more-refused"


def _rows(found: Desk) -> list[dict[str, Any]]:
    """The matrix rows: the app's entities, then other apps' entities some role has grants on."""
    schema = found.schema
    rows = [{"ref": n, "label": label, "own": True} for n, label in schema.entities()]
    own = {r["ref"] for r in rows}
    foreign: list[str] = []
    for body in schema.documents("role").values():
        for ref in body.get("permissions") or {}:
            if ref not in own and ref not in foreign:
                foreign.append(str(ref))
    rows += [{"ref": ref, "label": schema.entity_label(ref), "own": False} for ref in foreign]
    return rows


def _grants(found: Desk) -> dict[str, dict[str, Any]]:
    """role -> entity -> {actions, where, fields}."""
    out: dict[str, dict[str, Any]] = {}
    for role, body in found.schema.documents("role").items():
        out[role] = {}
        for ref, grant in (body.get("permissions") or {}).items():
            actions, where, fields = edits.grant_parts(grant)
            out[role][str(ref)] = {"actions": actions, "where": where, "fields": fields}
    return out


def _matrix_context(request: Request, found: Desk, **extra: Any) -> dict[str, Any]:
    schema = found.schema
    roles = [
        {
            "name": name,
            "label": schema.label(body.get("label"), name),
            "portal": bool(body.get("portal")),
        }
        for name, body in schema.documents("role").items()
    ]
    return page_context(
        request,
        found,
        "roles",
        roles=roles,
        role_labels={r["name"]: r["label"] for r in roles},
        rows=_rows(found),
        grants=_grants(found),
        actions=MATRIX_ACTIONS,
        new=extra.pop("new", {}),
        panel=extra.pop("panel", None),
        **extra,
    )


def _panel(
    request: Request, found: Desk, role: str, ref: str, posted: dict[str, list[str]] | None = None
) -> dict[str, Any]:
    """The rules panel of one role and entity, from the document or from what was posted."""
    schema = found.schema
    body = document(request, found, "role", role)
    actions, where, fields = edits.grant_parts((body.get("permissions") or {}).get(ref))
    if posted is not None:
        actions = [a for a in posted.get("actions") or [] if a]
        fields = {
            f.name: (posted.get(f"field_{f.name}") or ["write"])[0] for f in schema.fields(ref)
        }
        rows = rows_from_form(
            posted.get("f_path") or [], posted.get("f_op") or [], posted.get("f_value") or []
        )
        form = edit_rows(
            {"rows": rows, "rest": (posted.get("f_rest") or [""])[0]},
            (posted.get("op") or [""])[0],
        )
    else:
        rows, rest = rows_of(where)
        form = {"rows": rows, "rest": json.dumps(rest, ensure_ascii=False) if rest else ""}
    choices = list(MATRIX_ACTIONS + OTHER_ACTIONS) + schema.transitions(ref)
    return {
        "role": role,
        "role_label": schema.label(body.get("label"), role),
        "ref": ref,
        "entity_label": schema.entity_label(ref),
        "actions": actions,
        "choices": choices + [a for a in actions if a not in choices],
        "transitions": schema.transitions(ref),
        "form": form,
        "fields": [f for f in schema.fields(ref) if f.type != "_state"],
        "field_rules": fields,
        "paths": schema.paths(ref),
        "operators": OPERATORS,
    }


@router.get("/designer/{app}/roles")
def roles_page(
    app: str,
    request: Request,
    runtime: RuntimeDep,
    identity: PageUser,
    role: str | None = None,
    entity: str | None = None,
) -> Response:
    """The permission matrix (with a role's rules panel open when asked)."""
    found = desk(runtime, request, identity, app)
    panel = _panel(request, found, role, entity) if role and entity else None
    ctx = _matrix_context(request, found, panel=panel, verdict=Verdict())
    return render(request, PAGE, **ctx)


@router.post("/designer/{app}/roles")
async def role_create(
    app: str, request: Request, runtime: RuntimeDep, identity: PageUser
) -> Response:
    """A new role with no permissions yet: a new column of the matrix."""
    found = desk(runtime, request, identity, app)
    single, _ = await form_lists(request)
    new = {k: single.get(k, "").strip() for k in ("name", "label_en", "label_zh", "portal")}
    name = new["name"]
    problem = name_problem(name)
    if problem:
        verdict = Verdict(errors=[Issue("name", problem)])
    elif exists(found, "role", name) or name in ("admin", "designer"):
        verdict = Verdict(errors=[Issue("", tr(request, "A role with this name exists already."))])
    else:
        body = edits.new_role(edits.label_of(new["label_en"], new["label_zh"]), bool(new["portal"]))
        verdict = save(runtime, request, identity, app, "role", name, body, f"New role {name}")
        if verdict.ok:
            return go(request, f"/designer/{app}/roles")
    ctx = _matrix_context(request, found, new=new, errors=messages(verdict, f"roles.{name}"))
    return answer(request, PAGE, verdict, block="new_role", redirect="", context=ctx)


@router.post("/designer/{app}/roles/{role}/grant")
async def role_grant(
    app: str, role: str, request: Request, runtime: RuntimeDep, identity: PageUser
) -> Response:
    """Tick or untick one box of the matrix: one action of a role on an entity."""
    found = desk(runtime, request, identity, app)
    body = document(request, found, "role", role)
    single, _ = await form_lists(request)
    ref, action, on = single.get("entity", ""), single.get("action", ""), bool(single.get("on"))
    if action not in MATRIX_ACTIONS or not ref:
        verdict = Verdict(errors=[Issue("", tr(request, "There is no such permission."))])
    else:
        changed = edits.set_action(body, ref, action, on)
        word = "Grant" if on else "Take back"
        verdict = save(runtime, request, identity, app, "role", role, changed,
                       f"{word} {action} on {ref} to {role}")  # fmt: skip
    if verdict.ok:
        found = desk(runtime, request, identity, app)
    ctx = _matrix_context(request, found, verdict=verdict, draft_bar_oob=verdict.ok)
    grant = ctx["grants"].get(role, {}).get(ref, {"actions": [], "where": {}, "fields": {}})
    text = "; ".join(i.message for i in verdict.errors)
    headers = {"HX-Trigger": json.dumps({REFUSED_EVENT: text})} if text else {}
    if not is_htmx(request):
        return go(request, f"/designer/{app}/roles")
    return render(
        request,
        CELL,
        200 if verdict.ok else 422,
        headers=headers,
        role=role,
        row={"ref": ref},
        action=action,
        grant=grant,
        refused=not verdict.ok,
        **{k: v for k, v in ctx.items() if k not in ("role", "action")},
    )


@router.get("/designer/{app}/roles/{role}/rules/{ref}")
def rules_panel(
    app: str, role: str, ref: str, request: Request, runtime: RuntimeDep, identity: PageUser
) -> Response:
    """The rules panel of one role and entity."""
    found = desk(runtime, request, identity, app)
    ctx = _matrix_context(request, found, panel=_panel(request, found, role, ref))
    return render(request, PAGE, block="panel" if is_htmx(request) else None, **ctx)


@router.post("/designer/{app}/roles/{role}/rules/{ref}/form")
async def rules_redraw(
    app: str, role: str, ref: str, request: Request, runtime: RuntimeDep, identity: PageUser
) -> Response:
    """The rules panel again from what was typed (a condition more or less; nothing saved)."""
    found = desk(runtime, request, identity, app)
    _, many = await form_lists(request)
    ctx = _matrix_context(request, found, panel=_panel(request, found, role, ref, many))
    return render(request, PAGE, block="panel", **ctx)


@router.post("/designer/{app}/roles/{role}/rules/{ref}")
async def rules_save(
    app: str, role: str, ref: str, request: Request, runtime: RuntimeDep, identity: PageUser
) -> Response:
    """Save a role's actions, record rule and field rules on one entity."""
    found = desk(runtime, request, identity, app)
    body = document(request, found, "role", role)
    _, many = await form_lists(request)
    panel = _panel(request, found, role, ref, many)
    try:
        where = filter_body(panel["form"])
    except FilterProblem as exc:
        verdict = Verdict(errors=[Issue("where", tr(request, exc.text, **exc.params))])
    else:
        changed = edits.set_rules(body, ref, where, panel["field_rules"], panel["actions"])
        verdict = save(runtime, request, identity, app, "role", role, changed,
                       f"Rules of {role} on {ref}")  # fmt: skip
    if verdict.ok:
        found = desk(runtime, request, identity, app)
        panel = _panel(request, found, role, ref)
    errors: Messages = messages(verdict, f"roles.{role}.permissions.{ref}")
    ctx = _matrix_context(request, found, panel=panel, errors=errors, saved=verdict.ok)
    return answer(request, PAGE, verdict, block="panel",
                  redirect=f"/designer/{app}/roles?role={role}&entity={ref}", context=ctx)  # fmt: skip


@router.post("/designer/{app}/roles/{role}/settings")
async def role_settings(
    app: str, role: str, request: Request, runtime: RuntimeDep, identity: PageUser
) -> Response:
    """A role's label and portal flag."""
    found = desk(runtime, request, identity, app)
    body = dict(document(request, found, "role", role))
    single, _ = await form_lists(request)
    label = edits.label_of(single.get("label_en", ""), single.get("label_zh", ""))
    if label:
        body["label"] = label
    else:
        body.pop("label", None)
    if single.get("portal"):
        body["portal"] = True
    else:
        body.pop("portal", None)
    verdict = save(runtime, request, identity, app, "role", role, body, f"Role {role}")
    if verdict.ok:
        found = desk(runtime, request, identity, app)
    ctx = _matrix_context(request, found, errors=messages(verdict, f"roles.{role}"),
                          failed_role=None if verdict.ok else role)  # fmt: skip
    return answer(request, PAGE, verdict, block="role_list",
                  redirect=f"/designer/{app}/roles", context=ctx)  # fmt: skip


@router.post("/designer/{app}/roles/{role}/delete")
def role_delete(
    app: str, role: str, request: Request, runtime: RuntimeDep, identity: PageUser
) -> Response:
    """Remove a role from the draft (a shipped one through the custom layer, on publish)."""

    def refused(found: Desk, verdict: Verdict) -> Response:
        errors = messages(verdict, f"roles.{role}")
        ctx = _matrix_context(request, found, errors=errors, failed_role=role)
        return answer(request, PAGE, verdict, block="role_list", redirect="", context=ctx)

    return delete_document(runtime, request, identity, app, "role", role, refused)
