"""Designer pages: workflows, drawn as a diagram and edited state by state.

`/designer/{app}/workflows` lists the draft's workflows and makes a new one; `/designer/{app}/
workflows/{name}` shows the SVG diagram (states in columns from the initial state, transitions
as labelled arrows) above the editors of its settings, states, transitions and approvals.
Every POST is one edit of the workflow document; htmx gets the editor back (diagram included),
and a refused edit comes back with the typed input and the engine's message beside it.

Renaming a state records in the draft that its records move with it (`drafts.edit`); for a
removed state that holds records, the publish page posts the chosen state to
`/designer/{app}/publish/move-records`, one undoable edit of the draft.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from appblocks.engine.drafts import DraftError, move_records
from appblocks.engine.names import name_problem
from appblocks.engine.users import Identity
from appblocks.server.auth import RuntimeDep
from appblocks.server.pages_designer_common import engine_message, workspace
from appblocks.server.pages_designer_more_base import (
    Desk,
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
from appblocks.server.runtime import Runtime
from appblocks.server.web import PageUser, flash, render, tr
from appblocks.views import designer_more_edits as edits
from appblocks.views.designer_more_docs import Issue, Verdict
from appblocks.views.designer_more_flow import (
    MODES,
    FlowProblem,
    approval_body,
    first,
    shown,
    state_body,
    transition_body,
    transition_values,
)
from appblocks.views.designer_more_layout import layout

router = APIRouter(include_in_schema=False)
INDEX = "designer/more_workflows.html"
EDITOR = "designer/more_workflow.html"
Lists = dict[str, list[str]]


def _index_context(request: Request, found: Desk, **extra: Any) -> dict[str, Any]:
    schema = found.schema
    flows = [
        {
            "name": name,
            "label": schema.label(body.get("label"), name),
            "entity": schema.entity_label(str(body.get("entity"))),
            "states": len(body.get("states") or []),
            "transitions": len(body.get("transitions") or {}),
        }
        for name, body in schema.documents("workflow").items()
    ]
    owned = {str(b.get("entity")) for b in schema.documents("workflow").values()}
    free = [(n, label) for n, label in schema.entities() if n not in owned]
    new = extra.pop("new", {})
    return page_context(request, found, "workflows", flows=flows, free=free, new=new, **extra)


@router.get("/designer/{app}/workflows")
def workflows_index(
    app: str, request: Request, runtime: RuntimeDep, identity: PageUser
) -> Response:
    """The draft's workflows, and a form for a new one."""
    found = desk(runtime, request, identity, app)
    return render(request, INDEX, **_index_context(request, found, verdict=Verdict()))


@router.post("/designer/{app}/workflows")
async def workflows_create(
    app: str, request: Request, runtime: RuntimeDep, identity: PageUser
) -> Response:
    """A new workflow: two states and the transition between them, ready to grow."""
    found = desk(runtime, request, identity, app)
    _, many = await form_lists(request)
    new = {k: first(many, k) for k in ("name", "entity", "label_en", "label_zh")}
    name = new["name"]
    problem = name_problem(name)
    if problem:
        verdict = Verdict(errors=[Issue("name", problem)])
    elif exists(found, "workflow", name):
        verdict = Verdict(
            errors=[Issue("", tr(request, "A workflow with this name exists already."))]
        )
    else:
        body: dict[str, Any] = {"entity": new["entity"]}
        label = edits.label_of(new["label_en"], new["label_zh"])
        if label:
            body["label"] = label
        body |= {
            "initial": "draft",
            "states": ["draft", "done"],
            "transitions": {"finish": {"from": "draft", "to": "done"}},
        }
        verdict = save(
            runtime, request, identity, app, "workflow", name, body, f"New workflow {name}"
        )
        if verdict.ok:
            return go(request, f"/designer/{app}/workflows/{name}")
    ctx = _index_context(request, found, new=new, errors=messages(verdict, f"workflows.{name}"))
    return answer(request, INDEX, verdict, block="new_workflow", redirect="", context=ctx)


def _editor_context(request: Request, found: Desk, name: str, **extra: Any) -> dict[str, Any]:
    schema = found.schema
    wf = document(request, found, "workflow", name)
    failed = extra.pop("failed", None)
    outcomes = {"approve": tr(request, "approve"), "reject": tr(request, "reject")}
    diagram = layout(wf, schema.locale, outcomes)
    states = edits.state_names(wf)
    labels = {b.name: b.label for b in diagram.boxes}
    entity = str(wf.get("entity") or "")
    transitions = {
        t: transition_values(t, body)
        for t, body in (wf.get("transitions") or {}).items()
        if isinstance(body, dict)
    }
    return page_context(
        request,
        found,
        "workflows",
        name=name,
        wf=wf,
        wf_label=schema.label(wf.get("label"), name),
        diagram=diagram,
        states=states,
        state_labels=labels,
        entity=entity,
        entity_label=schema.entity_label(entity),
        field_names=[f.name for f in schema.fields(entity)],
        transitions=transitions,
        routes={
            t: ", ".join(labels.get(s, s) for s in v["from"]) + " → " + labels.get(v["to"], v["to"])
            for t, v in transitions.items()
        },
        approvals=dict(wf.get("approvals") or {}),
        roles=schema.role_choices(),
        role_labels=dict(schema.role_choices()),
        modes=MODES,
        failed=failed,
        val=lambda form, key, default: shown(failed, form, key, default),
        **extra,
    )


@router.get("/designer/{app}/workflows/{name}")
def workflow_editor(
    app: str, name: str, request: Request, runtime: RuntimeDep, identity: PageUser
) -> Response:
    """The diagram and editors of one workflow."""
    found = desk(runtime, request, identity, app)
    return render(request, EDITOR, **_editor_context(request, found, name, verdict=Verdict()))


Change = Callable[[dict[str, Any], Lists], dict[str, Any]]


async def _edit(
    request: Request,
    runtime: Runtime,
    identity: Identity,
    app: str,
    name: str,
    form_key: str,
    change: Change,
    label: str,
) -> Response:
    """Apply one change to the workflow through the engine and answer with the editor."""
    found = desk(runtime, request, identity, app)
    wf = document(request, found, "workflow", name)
    _, many = await form_lists(request)
    try:
        body: dict[str, Any] | None = change(wf, many)
    except FlowProblem as exc:
        verdict = Verdict(errors=[Issue(exc.key, tr(request, exc.text, **exc.params))])
    else:
        verdict = save(runtime, request, identity, app, "workflow", name, body, label)
    failed = None
    if verdict.ok:
        found = desk(runtime, request, identity, app)
    else:
        failed = {"form": form_key, "lists": many}
    ctx = _editor_context(
        request,
        found,
        name,
        verdict=verdict,
        failed=failed,
        errors=messages(verdict, f"workflows.{name}"),
    )
    return answer(
        request,
        EDITOR,
        verdict,
        block="editor",
        redirect=f"/designer/{app}/workflows/{name}",
        context=ctx,
    )


def _settings(wf: dict[str, Any], many: Lists) -> dict[str, Any]:
    out = dict(wf)
    label = edits.label_of(first(many, "label_en"), first(many, "label_zh"))
    if label:
        out["label"] = label
    else:
        out.pop("label", None)
    out["initial"] = first(many, "initial") or str(wf.get("initial"))
    return out


def _new_state(wf: dict[str, Any], many: Lists) -> dict[str, Any]:
    name, label = state_body(many)
    if name in edits.state_names(wf):
        raise FlowProblem("state_name", "A state with this name exists already.")
    out = edits.add_state(wf, name, label)
    source = first(many, "reached_from")
    if source:
        via = first(many, "via") or f"to_{name}"
        if via in (wf.get("transitions") or {}):
            raise FlowProblem("via", "A transition with this name exists already.")
        out = edits.put_transition(out, None, via, {"from": source, "to": name})
    return out


@router.post("/designer/{app}/workflows/{name}/settings")
async def workflow_settings(
    app: str, name: str, request: Request, runtime: RuntimeDep, identity: PageUser
) -> Response:
    """The workflow's label and initial state."""
    return await _edit(request, runtime, identity, app, name, "settings", _settings,
                       f"Workflow {name}: settings")  # fmt: skip


@router.post("/designer/{app}/workflows/{name}/states")
async def state_add(
    app: str, name: str, request: Request, runtime: RuntimeDep, identity: PageUser
) -> Response:
    """A new state (and, when asked, the transition that leads to it)."""
    return await _edit(request, runtime, identity, app, name, "s:+", _new_state,
                       f"Workflow {name}: add a state")  # fmt: skip


@router.post("/designer/{app}/workflows/{name}/states/{state}")
async def state_save(
    app: str, name: str, state: str, request: Request, runtime: RuntimeDep, identity: PageUser
) -> Response:
    """Rename a state (everywhere it is named) and set its label."""

    def change(wf: dict[str, Any], many: Lists) -> dict[str, Any]:
        new_name, label = state_body(many)
        if new_name != state and new_name in edits.state_names(wf):
            raise FlowProblem("state_name", "A state with this name exists already.")
        return edits.set_state(wf, state, new_name, label)

    return await _edit(request, runtime, identity, app, name, f"s:{state}", change,
                       f"Workflow {name}: state {state}")  # fmt: skip


@router.post("/designer/{app}/workflows/{name}/states/{state}/move")
async def state_move(
    app: str, name: str, state: str, request: Request, runtime: RuntimeDep, identity: PageUser
) -> Response:
    """Move a state up or down the list."""

    def change(wf: dict[str, Any], many: Lists) -> dict[str, Any]:
        return edits.move_state(wf, state, -1 if first(many, "delta") == "-1" else 1)

    return await _edit(request, runtime, identity, app, name, f"s:{state}", change,
                       f"Workflow {name}: move {state}")  # fmt: skip


@router.post("/designer/{app}/workflows/{name}/states/{state}/delete")
async def state_delete(
    app: str, name: str, state: str, request: Request, runtime: RuntimeDep, identity: PageUser
) -> Response:
    """Remove a state with the transitions into it."""

    def change(wf: dict[str, Any], many: Lists) -> dict[str, Any]:
        if wf.get("initial") == state:
            raise FlowProblem("", "The initial state cannot be removed; choose another first.")
        return edits.remove_state(wf, state)

    return await _edit(request, runtime, identity, app, name, f"s:{state}", change,
                       f"Workflow {name}: remove {state}")  # fmt: skip


def _transition_change(old: str | None) -> Change:
    def change(wf: dict[str, Any], many: Lists) -> dict[str, Any]:
        tname, body = transition_body(many)
        if tname != old and tname in (wf.get("transitions") or {}):
            raise FlowProblem("t_name", "A transition with this name exists already.")
        return edits.put_transition(wf, old, tname, body)

    return change


@router.post("/designer/{app}/workflows/{name}/transitions")
async def transition_add(
    app: str, name: str, request: Request, runtime: RuntimeDep, identity: PageUser
) -> Response:
    """A new transition."""
    return await _edit(request, runtime, identity, app, name, "t:+", _transition_change(None),
                       f"Workflow {name}: add a transition")  # fmt: skip


@router.post("/designer/{app}/workflows/{name}/transitions/{transition}")
async def transition_save(
    app: str, name: str, transition: str, request: Request, runtime: RuntimeDep,
    identity: PageUser,
) -> Response:  # fmt: skip
    """Change a transition (its name too)."""
    return await _edit(request, runtime, identity, app, name, f"t:{transition}",
                       _transition_change(transition), f"Workflow {name}: {transition}")  # fmt: skip


@router.post("/designer/{app}/workflows/{name}/transitions/{transition}/delete")
async def transition_delete(
    app: str, name: str, transition: str, request: Request, runtime: RuntimeDep,
    identity: PageUser,
) -> Response:  # fmt: skip
    """Remove a transition."""
    return await _edit(request, runtime, identity, app, name, f"t:{transition}",
                       lambda wf, _: edits.remove_transition(wf, transition),
                       f"Workflow {name}: remove {transition}")  # fmt: skip


@router.post("/designer/{app}/workflows/{name}/approvals")
async def approval_add(
    app: str, name: str, request: Request, runtime: RuntimeDep, identity: PageUser
) -> Response:
    """An approval in a state that has none yet (the state is chosen in the form)."""

    def change(wf: dict[str, Any], many: Lists) -> dict[str, Any]:
        state = first(many, "state")
        if state not in edits.state_names(wf):
            raise FlowProblem("state", "Choose the state the approval happens in.")
        return edits.put_approval(wf, state, approval_body(many, None))

    return await _edit(request, runtime, identity, app, name, "a:+", change,
                       f"Workflow {name}: add an approval")  # fmt: skip


@router.post("/designer/{app}/workflows/{name}/approvals/{state}")
async def approval_save(
    app: str, name: str, state: str, request: Request, runtime: RuntimeDep, identity: PageUser
) -> Response:
    """Set the approval that happens in a state (`add_level` adds an empty level row)."""

    def change(wf: dict[str, Any], many: Lists) -> dict[str, Any]:
        old = (wf.get("approvals") or {}).get(state)
        return edits.put_approval(wf, state, approval_body(many, old))

    return await _edit(request, runtime, identity, app, name, f"a:{state}", change,
                       f"Workflow {name}: approval in {state}")  # fmt: skip


@router.post("/designer/{app}/workflows/{name}/approvals/{state}/delete")
async def approval_delete(
    app: str, name: str, state: str, request: Request, runtime: RuntimeDep, identity: PageUser
) -> Response:
    """Remove the approval of a state."""
    return await _edit(request, runtime, identity, app, name, f"a:{state}",
                       lambda wf, _: edits.put_approval(wf, state, None),
                       f"Workflow {name}: no approval in {state}")  # fmt: skip


@router.post("/designer/{app}/workflows/{name}/delete")
def workflow_delete(
    app: str, name: str, request: Request, runtime: RuntimeDep, identity: PageUser
) -> Response:
    """Remove the workflow from the draft."""

    def refused(found: Desk, verdict: Verdict) -> Response:
        errors = messages(verdict, f"workflows.{name}")
        ctx = _editor_context(request, found, name, verdict=verdict, errors=errors)
        return answer(request, EDITOR, verdict, block="editor", redirect="", context=ctx)

    return delete_document(runtime, request, identity, app, "workflow", name, refused)


@router.post("/designer/{app}/publish/move-records")
async def state_records_move(
    app: str, request: Request, runtime: RuntimeDep, identity: PageUser
) -> Response:
    """Where the records of a state the draft removes go when it is published (from the
    publish page); back to the plan, which shows the move."""
    _, many = await form_lists(request)
    chosen = first(many, "draft")
    with runtime.engine.begin() as conn:
        ws = workspace(conn, app, identity, int(chosen) if chosen.isdigit() else None)
        target = f"/designer/{app}/publish"
        if ws.draft is None:
            return RedirectResponse(target, status_code=303)
        entity, state, to = (first(many, k) for k in ("entity", "state", "target"))
        try:
            move_records(conn, ws.draft.id, entity, state, to)
        except DraftError as exc:
            flash(request, engine_message(request, exc), "error")
        else:
            flash(request, tr(request, "The records of “%(state)s” will move to “%(target)s” "
                              "when you publish", state=state, target=to), "success")  # fmt: skip
    return RedirectResponse(f"{target}?draft={ws.draft.id}", status_code=303)
