"""Pages: configured views (list, kanban board, calendar) and dashboards.

`GET /{app}/views/{view}` shows a view document of the app by its type; `POST
/{app}/views/{view}/move` moves a board's card (a workflow transition on a board of states, an
update of the choice field otherwise, with the entity's rules); `GET /{app}/dashboards/{name}`
draws a dashboard's widgets from aggregate queries. Everything runs under the caller's read
scope: a view of an entity they may not read is a 404, as is a dashboard of none.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from appblocks.engine.access import Scope
from appblocks.engine.db import reading
from appblocks.engine.i18n import translate
from appblocks.engine.record_errors import NotFound, RecordError, RecordErrors, VersionConflict
from appblocks.engine.rules import user_context
from appblocks.engine.spec import label_text, qualify
from appblocks.server.auth import RuntimeDep
from appblocks.server.problems import Problem, field_errors, locale_of
from appblocks.server.runtime import Loaded, Runtime
from appblocks.server.web import PageUser, flash, render, tr, zone_of
from appblocks.views import boards, calendar, relative
from appblocks.views.aggregates import AggregateError, Aggregator, series_of
from appblocks.views.charts import chart_data, formatted
from appblocks.workflows.specs import WorkflowError
from appblocks.workflows.states import TransitionConflict

router = APIRouter(include_in_schema=False)


class Refused(Exception):
    """A card move that does not happen, with the reason in the caller's language."""

    def __init__(self, message: str, status: int = 409, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.extra = extra


def _document(loaded: Loaded, request: Request, app: str, section: str, name: str) -> Any:
    doc = (loaded.catalog.blueprints.get(app) or {}).get(section, {}).get(name)
    if not isinstance(doc, Mapping):
        raise Problem(404, tr(request, "There is no such view or dashboard."))
    return doc


def _read_scope(loaded: Loaded, identity: Any, request: Request, entity: str) -> Scope:
    scope = (
        loaded.scope(identity, entity, "read") if entity in loaded.catalog.specs.entities else None
    )
    if scope is None:
        raise Problem(404, tr(request, "There is no such view or dashboard."))
    return scope


def _title(doc: Mapping[str, Any], name: str, locale: str) -> str:
    return label_text(doc.get("label"), locale, name.replace("_", " ").capitalize())


# --- views ----------------------------------------------------------------------------------


@router.get("/{app}/views/{view}")
def view_page(
    app: str,
    view: str,
    request: Request,
    runtime: RuntimeDep,
    identity: PageUser,
    month: str | None = None,
) -> Response:
    """A configured view: a list, a kanban board or a month calendar."""
    loaded = runtime.current()
    doc = _document(loaded, request, app, "views", view)
    entity = qualify(app, str(doc["entity"]))
    scope = _read_scope(loaded, identity, request, entity)
    locale = locale_of(request)
    title = _title(doc, view, locale)
    try:
        filter = relative.resolve(doc.get("filter"), tz=zone_of(request))
    except relative.RelativeDateError as exc:
        raise Problem(422, str(exc)) from None
    kind = doc.get("type", "list")
    if kind == "kanban":
        return _board_page(request, runtime, loaded, identity, app, view, doc, scope, title, filter)
    if kind == "calendar":
        return _calendar_page(
            request, runtime, loaded, identity, app, doc, scope, title, filter, month
        )
    try:
        from appblocks.server.pages_lists import list_response  # noqa: PLC0415
    except ImportError:  # a build without the list pages: the entity's own list instead
        spec = loaded.catalog.entity(entity)
        return RedirectResponse(f"/{spec.app}/{spec.name}", status_code=303)
    preset = {**doc, "filter": filter}
    response: Response = list_response(
        request, runtime, identity, entity, preset=preset, title=title
    )
    return response


def _scope_of(loaded: Loaded, identity: Any) -> boards.ScopeOf:
    return lambda entity: loaded.scope(identity, entity, "read")


def _board(
    loaded: Loaded, request: Request, app: str, doc: Mapping[str, Any], scope: Scope, filter: Any
) -> boards.BoardSpec:
    try:
        return boards.board_spec(
            loaded.catalog, app, doc, locale_of(request), hidden=scope.hidden, filter=filter
        )
    except boards.BoardError as exc:
        raise Problem(403, tr(request, exc.text, **exc.params)) from None


def _board_page(
    request: Request,
    runtime: Runtime,
    loaded: Loaded,
    identity: Any,
    app: str,
    view: str,
    doc: Mapping[str, Any],
    scope: Scope,
    title: str,
    filter: Any,
) -> Response:
    board = _board(loaded, request, app, doc, scope, filter)
    locale = locale_of(request)
    with reading(runtime.engine) as conn:
        columns = boards.load_board(
            conn, loaded.store, board, scope, _scope_of(loaded, identity), locale
        )
    no_value = tr(request, "(no value)")
    for column in columns:
        column.label = column.label or no_value
    spec = loaded.catalog.entity(board.entity)
    return render(
        request,
        "view_kanban.html",
        movable=_movable(loaded, identity, board),
        title=title,
        app=app,
        view=view,
        board=board,
        columns=columns,
        entity_label=spec.label(locale),
        record_base=f"/{app}/{spec.name}" if spec.app == app else f"/{spec.app}/{spec.name}",
        move_url=f"/{app}/views/{view}/move",
        total=sum(c.count for c in columns),
    )


def _movable(loaded: Loaded, identity: Any, board: boards.BoardSpec) -> bool:
    """Whether the caller may move any card at all (else the board offers no moving)."""
    if board.by_state:
        wf = loaded.workflows.workflow_for(board.entity)
        return wf is not None and any(
            loaded.workflows.may_run(wf, t, identity) for t in wf.transitions.values()
        )
    scope = loaded.scope(identity, board.entity, "update")
    return scope is not None and board.group_by not in scope.read_only | scope.hidden


def _calendar_page(
    request: Request,
    runtime: Runtime,
    loaded: Loaded,
    identity: Any,
    app: str,
    doc: Mapping[str, Any],
    scope: Scope,
    title: str,
    filter: Any,
    month: str | None,
) -> Response:
    locale = locale_of(request)
    entity = qualify(app, str(doc["entity"]))
    spec = loaded.catalog.entity(entity)
    date_field = str(doc["date_field"])
    if date_field in scope.hidden:
        raise Problem(403, tr(request, "This calendar is laid out by a field you may not see."))
    tz = zone_of(request)
    today = dt.datetime.now(tz).date()  # the reader's today
    year, number = calendar.parse_month(month, today)
    with reading(runtime.engine) as conn:
        shown = calendar.load_month(
            conn,
            loaded.store,
            entity,
            date_field,
            scope,
            _scope_of(loaded, identity),
            year=year,
            month=number,
            today=today,
            locale=locale,
            filter=filter,
            tz=tz,
        )
    return render(
        request,
        "view_calendar.html",
        title=title,
        month=shown,
        weekdays=calendar.weekdays(locale),
        date_label=spec.fields[date_field].label(locale),
        record_base=f"/{spec.app}/{spec.name}",
        this_month=f"{today.year:04d}-{today.month:02d}",
        entity_label=spec.label(locale),
    )


# --- moving a card --------------------------------------------------------------------------


def _int(value: Any) -> int | None:
    text = str(value or "").strip()
    return int(text) if text.isdigit() and len(text) < 19 else None


@router.post("/{app}/views/{view}/move")
async def move_card(
    app: str, view: str, request: Request, runtime: RuntimeDep, identity: PageUser
) -> Response:
    """Move a card to another column; JSON for the board's script, else back to the board."""
    loaded = runtime.current()
    doc = _document(loaded, request, app, "views", view)
    if doc.get("type") != "kanban":
        raise Problem(404, tr(request, "There is no such view or dashboard."))
    entity = qualify(app, str(doc["entity"]))
    scope = _read_scope(loaded, identity, request, entity)
    form = await request.form()
    board = _board(
        loaded, request, app, doc, scope, relative.resolve(doc.get("filter"), tz=zone_of(request))
    )
    wants_json = "application/json" in request.headers.get("accept", "")
    back = f"/{app}/views/{view}"
    try:
        record_id, version = _int(form.get("id")), _int(form.get("version"))
        target = str(form.get("to") or "")
        if record_id is None or version is None:
            raise Refused(tr(request, "Reload the board and try again."), 422)
        comment = str(form.get("comment") or "").strip()[:4000] or None
        record = _move(
            request, runtime, loaded, identity, board, record_id, version, target, comment
        )
    except Refused as refused:
        if wants_json:
            body = {"ok": False, "message": refused.message, **refused.extra}
            return JSONResponse(body, status_code=refused.status)
        flash(request, refused.message, "error")
        return RedirectResponse(back, status_code=303)
    message = tr(request, "Moved to %(column)s.", column=_column_label(request, board, target))
    if not wants_json:
        flash(request, message, "success")
        return RedirectResponse(back, status_code=303)
    with reading(runtime.engine) as conn:
        numbers = boards.counts(conn, loaded.catalog, board, scope)
    return JSONResponse(
        {
            "ok": True,
            "message": message,
            "id": record["id"],
            "version": record["_version"],
            "group": target,
            "counts": {v: numbers.get(v, 0) for v, _label in board.options}
            | {boards.NO_VALUE: numbers.get(boards.NO_VALUE, 0)},
        }
    )


def _column_label(request: Request, board: boards.BoardSpec, value: str) -> str:
    if value == boards.NO_VALUE:
        return tr(request, "(no value)")
    return board.label_of(value)


def _move(
    request: Request,
    runtime: Runtime,
    loaded: Loaded,
    identity: Any,
    board: boards.BoardSpec,
    record_id: int,
    version: int,
    target: str,
    comment: str | None,
) -> dict[str, Any]:
    values = [v for v, _label in board.options]
    if target not in values and not (target == boards.NO_VALUE and not board.by_state):
        raise Refused(tr(request, "There is no such column on this board."), 422)
    read = loaded.scope(identity, board.entity, "read")
    assert read is not None
    locale = locale_of(request)
    try:
        with runtime.engine.begin() as conn:
            if board.by_state:
                return _transition(
                    request,
                    conn,
                    loaded,
                    identity,
                    board,
                    record_id,
                    version,
                    target,
                    comment,
                    read,
                )
            return _update(request, conn, loaded, identity, board, record_id, version, target, read)
    except VersionConflict:
        raise Refused(
            tr(request, "Someone else changed this record; reload the board and try again.")
        ) from None
    except NotFound:
        raise Refused(tr(request, "The record is gone, or you may not see it."), 404) from None
    except RecordErrors as exc:
        messages = [e["message"] for e in field_errors(exc.errors, locale) if e.get("message")]
        raise Refused("; ".join(messages) or translate(exc.code, exc.params, locale), 422) from None
    except RecordError as exc:
        raise Refused(translate(exc.code, exc.params, locale)) from None


def _transition(
    request: Request,
    conn: Any,
    loaded: Loaded,
    identity: Any,
    board: boards.BoardSpec,
    record_id: int,
    version: int,
    target: str,
    comment: str | None,
    read: Scope,
) -> dict[str, Any]:
    engine = loaded.workflows
    wf = engine.workflow_for(board.entity)
    assert wf is not None
    record = loaded.store.get(conn, board.entity, record_id, scope=read.predicate)
    if record["_version"] != version:
        raise VersionConflict(board.entity, record_id, record["_version"])
    current = engine.state_of(wf, record)
    if current == target:
        return record
    names = {"source": board.label_of(current), "target": board.label_of(target)}
    steps = [t for t in wf.transitions.values() if current in t.sources and t.to == target]
    if not steps:
        if current in wf.approvals:
            raise Refused(
                tr(
                    request,
                    "%(source)s is decided in the approval inbox, not on the board.",
                    **names,
                )
            )
        raise Refused(
            tr(request, "No step of the workflow leads from %(source)s to %(target)s.", **names)
        )
    allowed = [t for t in steps if engine.may_run(wf, t, identity)]
    if not allowed:
        raise Refused(
            tr(request, "Your roles may not move a record from %(source)s to %(target)s.", **names),
            403,
        )
    step = next(
        (t for t in allowed if t.when is None or t.when.why_not(record, identity) is None), None
    )
    if step is None:
        conditions = ", ".join(t.when.source for t in allowed if t.when is not None)
        raise Refused(
            tr(
                request,
                "“%(step)s” cannot run now: %(condition)s does not hold.",
                step=allowed[0].title(locale_of(request)),
                condition=conditions,
            )
        )
    if step.comment_required and not comment:
        raise Refused(
            tr(request, "“%(step)s” needs a comment.", step=step.title(locale_of(request))),
            422,
            comment_required=True,
            step=step.title(locale_of(request)),
        )
    try:
        moved: dict[str, Any] = engine.transition(
            conn,
            loaded.store,
            board.entity,
            record_id,
            step.name,
            identity,
            comment=comment,
            version=version,
            scope=read.predicate,
        )
    except TransitionConflict as exc:
        raise Refused(str(exc.params.get("reason") or exc.message)) from None
    except WorkflowError as exc:
        raise Refused(exc.message, exc.status) from None
    return moved


def _update(
    request: Request,
    conn: Any,
    loaded: Loaded,
    identity: Any,
    board: boards.BoardSpec,
    record_id: int,
    version: int,
    target: str,
    read: Scope,
) -> dict[str, Any]:
    spec = loaded.catalog.entity(board.entity)
    scope = loaded.scope(identity, board.entity, "update")
    if scope is None:
        raise Refused(
            tr(
                request,
                "Your roles may not change %(entity)s records.",
                entity=spec.label(locale_of(request)),
            ),
            403,
        )
    if board.group_by in scope.read_only or board.group_by in scope.hidden:
        field_label = spec.fields[board.group_by].label(locale_of(request))
        raise Refused(tr(request, "You may not change %(field)s.", field=field_label), 403)
    user = user_context(identity.name, identity.roles, identity.attributes)
    record: dict[str, Any] = loaded.store.update(
        conn,
        board.entity,
        record_id,
        {board.group_by: target or None},
        version=version,
        actor=identity.name,
        scope=scope.predicate,
        user=user,
    )
    if read.predicate is not None:
        try:
            loaded.store.check_exists(conn, board.entity, record_id, scope=read.predicate)
        except NotFound:
            # Rolls the change back: it would move the record out of the caller's own rule.
            raise Refused(
                tr(request, "The record would fall outside the records you may see."), 422
            ) from None
    return record


# --- dashboards -----------------------------------------------------------------------------


@router.get("/{app}/dashboards/{name}")
def dashboard_page(
    app: str, name: str, request: Request, runtime: RuntimeDep, identity: PageUser
) -> Response:
    """A dashboard: each widget the caller may read, fed by aggregate queries under their rules."""
    loaded = runtime.current()
    doc = _document(loaded, request, app, "dashboards", name)
    locale = locale_of(request)
    aggregator = Aggregator(loaded.catalog, _scope_of(loaded, identity), locale)
    widgets: list[dict[str, Any]] = []
    with reading(runtime.engine) as conn:
        for index, widget in enumerate(doc.get("widgets") or []):
            entity = qualify(app, str(widget.get("entity")))
            if entity not in loaded.catalog.specs.entities:
                continue
            if loaded.scope(identity, entity, "read") is None:
                continue
            widgets.append(_widget(request, conn, loaded, identity, aggregator, app, index, widget))
    if not widgets:
        raise Problem(404, tr(request, "There is no such view or dashboard."))
    return render(request, "dashboard.html", title=_title(doc, name, locale), widgets=widgets)


def _widget(
    request: Request,
    conn: Any,
    loaded: Loaded,
    identity: Any,
    aggregator: Aggregator,
    app: str,
    index: int,
    widget: Mapping[str, Any],
) -> dict[str, Any]:
    locale = locale_of(request)
    chart = str(widget.get("chart"))
    entity = loaded.catalog.entity(qualify(app, str(widget.get("entity"))))
    item: dict[str, Any] = {
        "id": f"widget-{index}",
        "chart": chart,
        "title": label_text(widget.get("title"), locale, entity.label(locale)),
        "width": max(1, min(int(widget.get("width") or (3 if chart == "number" else 6)), 12)),
        "error": None,
        "data": None,
        "text": "",
    }
    empty = tr(request, "(no value)")
    try:
        results = [
            aggregator.run(conn, series, empty)
            for series in series_of(app, widget)
            if loaded.scope(identity, series.entity, "read") is not None
        ]
    except AggregateError as exc:
        item["error"] = tr(request, exc.text, **exc.params)
        return item
    for result in results:
        result.name = result.name or _series_name(request, loaded, result.series, locale)
    first = results[0]
    if chart in ("number", "gauge"):
        item["text"] = formatted(first, first.value, locale)
        value = float(first.value) if first.value is not None else None
        top = widget.get("max") or (100 if first.kind == "percent" else None)
        item["data"] = {
            "chart": chart,
            "value": value,
            "max": top,
            "text": item["text"],
            "kind": first.kind,
            "name": first.name,
            "empty": value is None,
        }
        return item
    item["data"] = chart_data(chart, results, locale)
    item["rows"] = list(
        zip(item["data"]["labels"], *[s["texts"] for s in item["data"]["series"]], strict=True)
    )
    return item


def _series_name(request: Request, loaded: Loaded, series: Any, locale: str) -> str:
    if series.field is None:
        return tr(request, "Number of records")
    found = loaded.catalog.entity(series.entity).fields.get(series.field)
    label = found.label(locale) if found is not None else series.field
    if series.agg == "avg":
        return tr(request, "Average %(field)s", field=label)
    if series.agg == "min":
        return tr(request, "Lowest %(field)s", field=label)
    if series.agg == "max":
        return tr(request, "Highest %(field)s", field=label)
    return label
