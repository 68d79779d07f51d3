"""Designer pages: dashboards and their widgets.

`/designer/{app}/dashboards` lists the draft's dashboards and makes a new one; `/designer/
{app}/dashboards/{name}` edits one: its label, and its widgets in order (drag them, or move
them with the buttons), each with its chart, title, entity, grouping, measure (count, or sum,
average, minimum, maximum of a number field), filter, width (1-12 of a row) and a gauge's end.
"""

from __future__ import annotations

import copy
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from appblocks.engine.names import name_problem
from appblocks.engine.users import Identity
from appblocks.server.auth import RuntimeDep
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
from appblocks.server.web import PageUser, render, tr
from appblocks.views.designer_more_docs import Issue, Verdict
from appblocks.views.designer_more_edits import label_of, label_parts
from appblocks.views.designer_more_filters import OPERATORS, FilterProblem
from appblocks.views.designer_more_flow import first
from appblocks.views.designer_more_forms import (
    AGGREGATES,
    CHARTS,
    WidgetProblem,
    posted_widget_form,
    widget_body,
    widget_form,
)

router = APIRouter(include_in_schema=False)
INDEX = "designer/more_dashboards.html"
EDITOR = "designer/more_dashboard.html"


def _index_context(request: Request, found: Desk, **extra: Any) -> dict[str, Any]:
    schema = found.schema
    boards = [
        {
            "name": name,
            "label": schema.label(body.get("label"), name),
            "widgets": len(body.get("widgets") or []),
        }
        for name, body in schema.documents("dashboard").items()
    ]
    return page_context(request, found, "dashboards", boards=boards, charts=CHARTS,
                        new=extra.pop("new", {}), **extra)  # fmt: skip


@router.get("/designer/{app}/dashboards")
def dashboards_index(
    app: str, request: Request, runtime: RuntimeDep, identity: PageUser
) -> Response:
    """The draft's dashboards, and a form for a new one."""
    found = desk(runtime, request, identity, app)
    return render(request, INDEX, **_index_context(request, found, verdict=Verdict()))


@router.post("/designer/{app}/dashboards")
async def dashboards_create(
    app: str, request: Request, runtime: RuntimeDep, identity: PageUser
) -> Response:
    """A new dashboard with its first widget (a count of records)."""
    found = desk(runtime, request, identity, app)
    _, many = await form_lists(request)
    new = {k: first(many, k) for k in ("name", "label_en", "label_zh", "chart", "entity")}
    name = new["name"]
    problem = name_problem(name)
    if problem:
        verdict = Verdict(errors=[Issue("name", problem)])
    elif exists(found, "dashboard", name):
        verdict = Verdict(
            errors=[Issue("", tr(request, "A dashboard with this name exists already."))]
        )
    else:
        body: dict[str, Any] = {}
        label = label_of(new["label_en"], new["label_zh"])
        if label:
            body["label"] = label
        body["widgets"] = [{"chart": new["chart"] or "number", "entity": new["entity"]}]
        verdict = save(
            runtime, request, identity, app, "dashboard", name, body, f"New dashboard {name}"
        )
        if verdict.ok:
            return go(request, f"/designer/{app}/dashboards/{name}")
    ctx = _index_context(request, found, new=new, errors=messages(verdict, f"dashboards.{name}"))
    return answer(request, INDEX, verdict, block="new_dashboard", redirect="", context=ctx)


def _editor_context(request: Request, found: Desk, name: str, **extra: Any) -> dict[str, Any]:
    schema = found.schema
    board = document(request, found, "dashboard", name)
    widgets = list(board.get("widgets") or [])
    forms = [widget_form(w) for w in widgets]
    override = extra.pop("override", None)
    if override is not None and 0 <= override[0] < len(forms):
        forms[override[0]] = override[1]
    entities = {f["entity"] for f in forms}
    picks = {
        e: {
            "groups": schema.group_fields(e),
            "numbers": schema.number_fields(e),
            "paths": schema.paths(e),
            "label": schema.entity_label(e),
        }
        for e in entities
    }
    en, zh = label_parts(board.get("label"))
    return page_context(
        request,
        found,
        "dashboards",
        name=name,
        board_label=schema.label(board.get("label"), name),
        label_en=en,
        label_zh=zh,
        forms=forms,
        picks=picks,
        charts=CHARTS,
        aggregates=AGGREGATES,
        operators=OPERATORS,
        entities=schema.entities(),
        open_index=extra.pop("open_index", None),
        preview=f"/{found.app}/dashboards/{name}",
        **extra,
    )


@router.get("/designer/{app}/dashboards/{name}")
def dashboard_editor(
    app: str, name: str, request: Request, runtime: RuntimeDep, identity: PageUser
) -> Response:
    """The editor of one dashboard."""
    found = desk(runtime, request, identity, app)
    return render(request, EDITOR, **_editor_context(request, found, name, verdict=Verdict()))


async def _change(
    request: Request,
    runtime: Runtime,
    identity: Identity,
    app: str,
    name: str,
    index: int | None,
    change: Any,
    label: str,
) -> Response:
    """One edit of the dashboard document; the editor comes back (widget `index` open)."""
    found = desk(runtime, request, identity, app)
    board = document(request, found, "dashboard", name)
    _, many = await form_lists(request)
    override = None
    try:
        body = change(copy.deepcopy(board), many)
    except (FilterProblem, WidgetProblem) as exc:
        key = (
            f"widgets.{index}.filter"
            if isinstance(exc, FilterProblem)
            else f"widgets.{index}.{exc.key}"
        )
        params = exc.params if isinstance(exc, FilterProblem) else {}
        verdict = Verdict(
            errors=[Issue(f"dashboards.{name}.{key}", tr(request, exc.text, **params))]
        )
    else:
        verdict = save(runtime, request, identity, app, "dashboard", name, body, label)
    if verdict.ok:
        found = desk(runtime, request, identity, app)
        if index == -1:
            index = len((document(request, found, "dashboard", name)).get("widgets") or []) - 1
    elif index is not None and index >= 0:
        override = (index, posted_widget_form(many))
    ctx = _editor_context(request, found, name, verdict=verdict, override=override,
                          open_index=index, errors=messages(verdict, f"dashboards.{name}"))  # fmt: skip
    return answer(request, EDITOR, verdict, block="editor",
                  redirect=f"/designer/{app}/dashboards/{name}", context=ctx)  # fmt: skip


def _widget(board: dict[str, Any], index: int) -> dict[str, Any]:
    widgets = board.get("widgets") or []
    if not 0 <= index < len(widgets):
        raise WidgetProblem("", "There is no such widget.")
    return dict(widgets[index])


@router.post("/designer/{app}/dashboards/{name}/label")
async def dashboard_label(
    app: str, name: str, request: Request, runtime: RuntimeDep, identity: PageUser
) -> Response:
    """The dashboard's label."""

    def change(board: dict[str, Any], many: Any) -> dict[str, Any]:
        label = label_of(first(many, "label_en"), first(many, "label_zh"))
        if label:
            return {"label": label, **{k: v for k, v in board.items() if k != "label"}}
        return {k: v for k, v in board.items() if k != "label"}

    return await _change(request, runtime, identity, app, name, None, change,
                         f"Dashboard {name}: label")  # fmt: skip


@router.post("/designer/{app}/dashboards/{name}/widgets")
async def widget_add(
    app: str, name: str, request: Request, runtime: RuntimeDep, identity: PageUser
) -> Response:
    """A new widget at the end (opened for editing)."""

    def change(board: dict[str, Any], many: Any) -> dict[str, Any]:
        widget: dict[str, Any] = {"chart": first(many, "chart") or "number"}
        title = label_of(first(many, "title_en"), first(many, "title_zh"))
        if title:
            widget["title"] = title
        widget["entity"] = first(many, "entity")
        board["widgets"] = [*(board.get("widgets") or []), widget]
        return board

    return await _change(request, runtime, identity, app, name, -1, change,
                         f"Dashboard {name}: add a widget")  # fmt: skip


@router.post("/designer/{app}/dashboards/{name}/widgets/{index:int}")
async def widget_save(
    app: str, name: str, index: int, request: Request, runtime: RuntimeDep, identity: PageUser
) -> Response:
    """Save one widget."""

    def change(board: dict[str, Any], many: Any) -> dict[str, Any]:
        old = _widget(board, index)
        board["widgets"][index] = widget_body(posted_widget_form(many), old)
        return board

    return await _change(request, runtime, identity, app, name, index, change,
                         f"Dashboard {name}: widget {index + 1}")  # fmt: skip


@router.post("/designer/{app}/dashboards/{name}/widgets/{index:int}/form")
async def widget_redraw(
    app: str, name: str, index: int, request: Request, runtime: RuntimeDep, identity: PageUser
) -> Response:
    """The widget's form again from what was typed (nothing is saved)."""
    found = desk(runtime, request, identity, app)
    _, many = await form_lists(request)
    ctx = _editor_context(request, found, name, verdict=Verdict(),
                          override=(index, posted_widget_form(many)), open_index=index)  # fmt: skip
    return render(request, EDITOR, block="editor", **ctx)


@router.post("/designer/{app}/dashboards/{name}/widgets/{index:int}/delete")
async def widget_delete(
    app: str, name: str, index: int, request: Request, runtime: RuntimeDep, identity: PageUser
) -> Response:
    """Remove one widget (a dashboard keeps at least one)."""

    def change(board: dict[str, Any], many: Any) -> dict[str, Any]:
        _widget(board, index)
        if len(board["widgets"]) == 1:
            raise WidgetProblem("", "A dashboard needs at least one widget.")
        board["widgets"].pop(index)
        return board

    return await _change(request, runtime, identity, app, name, None, change,
                         f"Dashboard {name}: remove widget {index + 1}")  # fmt: skip


@router.post("/designer/{app}/dashboards/{name}/widgets/{index:int}/move")
async def widget_move(
    app: str, name: str, index: int, request: Request, runtime: RuntimeDep, identity: PageUser
) -> Response:
    """Move one widget up or down (the keyboard's way to reorder)."""
    target: dict[str, int] = {}

    def change(board: dict[str, Any], many: Any) -> dict[str, Any]:
        widgets = board["widgets"]
        _widget(board, index)
        to = max(0, min(len(widgets) - 1, index + (-1 if first(many, "delta") == "-1" else 1)))
        widgets.insert(to, widgets.pop(index))
        target["to"] = to
        return board

    return await _change(request, runtime, identity, app, name, None, change,
                         f"Dashboard {name}: move widget {index + 1}")  # fmt: skip


@router.post("/designer/{app}/dashboards/{name}/order")
async def widget_order(
    app: str, name: str, request: Request, runtime: RuntimeDep, identity: PageUser
) -> Response:
    """Put the widgets in a new order (after a drag): `order` lists the old positions."""

    def change(board: dict[str, Any], many: Any) -> dict[str, Any]:
        widgets = board.get("widgets") or []
        try:
            order = [int(i) for i in first(many, "order").split(",")]
        except ValueError:
            raise WidgetProblem("", "The new order is not a list of widgets.") from None
        if sorted(order) != list(range(len(widgets))):
            raise WidgetProblem("", "The new order is not a list of widgets.")
        board["widgets"] = [widgets[i] for i in order]
        return board

    return await _change(request, runtime, identity, app, name, None, change,
                         f"Dashboard {name}: reorder widgets")  # fmt: skip


@router.post("/designer/{app}/dashboards/{name}/delete")
def dashboard_delete(
    app: str, name: str, request: Request, runtime: RuntimeDep, identity: PageUser
) -> Response:
    """Remove the dashboard from the draft."""

    def refused(found: Desk, verdict: Verdict) -> Response:
        errors = messages(verdict, f"dashboards.{name}")
        ctx = _editor_context(request, found, name, verdict=verdict, errors=errors)
        return answer(request, EDITOR, verdict, block="editor", redirect="", context=ctx)

    return delete_document(runtime, request, identity, app, "dashboard", name, refused)
