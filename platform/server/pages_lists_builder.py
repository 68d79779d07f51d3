"""The filter builder's parts of a list page: one row as the template needs it (operators and
value input fitting its field), the row fragment htmx asks for when a row's field or operator
changes, and the titles a link filter can autocomplete from.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from appblocks.engine.db import reading
from appblocks.server.auth import RuntimeDep
from appblocks.server.pages_lists_state import Setup, State, column_label, setup
from appblocks.server.problems import Problem, locale_of
from appblocks.server.web import PageUser, render, tr
from appblocks.views import display, list_filters
from appblocks.views.list_filters import FilterRow
from appblocks.views.lists import link_target, titles_for, value_field

router = APIRouter(include_in_schema=False)

ALL_OPS = (
    "contains", "eq", "ne", "lt", "lte", "gt", "gte", "between", "in", "startswith", "empty",
    "notempty",
)  # fmt: skip
INPUTS = {"date": "date", "datetime": "datetime-local"}


def row_error(request: Request, row: FilterRow) -> str | None:
    """Why a filter row was refused, in the caller's language."""
    if row.error is None:
        return None
    messages = {
        "needs_value": tr(request, "Enter a value."),
        "bad_value": tr(request, "“%(value)s” is not a valid value here.", **row.params),
        "no_title": tr(request, "Nothing is called “%(value)s”.", **row.params),
        "bad_operator": tr(request, "Choose an operator that fits this field."),
        "unknown_field": tr(request, "You cannot filter by “%(name)s”.", name=row.field),
    }
    return messages.get(row.error, row.error)


def filter_row(
    request: Request,
    s: Setup,
    row: FilterRow | None,
    index: int,
    names: Mapping[str, Mapping[int, str]],
) -> dict[str, Any]:
    """One builder row for the template: its operators and value input fit its field."""
    locale = locale_of(request)
    spec = s.fields.get(row.field) if row else None
    kind = list_filters.kind(spec) if spec else ""
    ops = list_filters.operators(spec) if spec else ALL_OPS
    op = row.op if row and row.op in ops else ops[0]
    values = list(row.values) if row else []
    options: list[tuple[str, str]] = []
    if spec is not None and kind in ("choice", "multi"):
        options = display.options(value_field(spec), locale)
    elif kind == "boolean":
        options = [("true", tr(request, "Yes")), ("false", tr(request, "No"))]
    target = link_target(spec) if spec else None
    if target and row and not row.error:
        # The filter holds ids; people read and type titles.
        values = [names.get(target, {}).get(int(v), v) if v.isdigit() else v for v in values]
    if kind == "datetime":
        values = [v[:16] for v in values]
    return {
        "index": index,
        "field": row.field if row else "",
        "op": op,
        "ops": ops,
        "kind": kind,
        "chosen": values,
        "value": values[0] if values else "",
        "value2": (row.value2 if row else "")[: 16 if kind == "datetime" else None],
        "options": options,
        "input": INPUTS.get(kind, "text"),
        "numeric": kind == "number",
        "error": row_error(request, row) if row else None,
        "options_url": f"{s.path}/link-options?field={row.field}" if target and row else None,
    }


def row_titles(conn: sa.Connection, s: Setup, state: State) -> dict[str, dict[int, str]]:
    wanted: dict[str, set[int]] = {}
    for row in state.rows:
        spec = s.fields.get(row.field)
        target = link_target(spec) if spec else None
        if target and not row.error:
            wanted.setdefault(target, set()).update(int(v) for v in row.values if v.isdigit())
    return titles_for(conn, s.loaded.catalog, wanted, s.visible) if wanted else {}


@router.get("/{app}/{entity}/filter-row")
def filter_row_page(
    app: str,
    entity: str,
    request: Request,
    runtime: RuntimeDep,
    identity: PageUser,
    i: Annotated[int, Query(ge=0, le=list_filters.MAX_ROWS)] = 0,
) -> HTMLResponse:
    """One row of the filter builder, with the operators and input its field needs."""
    s = setup(request, runtime, identity, f"{app}.{entity}")
    params = request.query_params
    row = FilterRow(
        str(params.get(f"f.{i}", "")),
        str(params.get(f"op.{i}", "")),
        tuple(params.getlist(f"v.{i}")),
        str(params.get(f"v2.{i}", "")),
    )
    return render(
        request,
        "_list_filter_row.html",
        row=filter_row(request, s, row, i, {}),
        filter_fields=[{"name": n, "label": column_label(request, s, n)} for n in s.fields],
        entity_path=s.path,
    )


@router.get("/{app}/{entity}/link-options")
def link_options(
    app: str,
    entity: str,
    request: Request,
    runtime: RuntimeDep,
    identity: PageUser,
    field: Annotated[str, Query(max_length=64)],
    q: Annotated[str, Query(max_length=100)] = "",
) -> HTMLResponse:
    """Titles of linkable records for a filter's autocomplete (at most 20, readable ones)."""
    s = setup(request, runtime, identity, f"{app}.{entity}")
    spec = s.fields.get(field)
    target = link_target(spec) if spec else None
    if target is None:
        raise Problem(404, tr(request, "There is no such link field."))
    scope = s.visible(target)
    target_spec = s.loaded.catalog.entity(target)
    titles: list[str] = []
    if scope is not None and target_spec.title and target_spec.title not in scope.hidden:
        table = s.loaded.catalog.table(target)
        column = table.c[target_spec.title]
        query = sa.select(column).where(column.is_not(None)).order_by(column).limit(20)
        text = q.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        if text:
            query = query.where(sa.cast(column, sa.String).ilike(f"%{text}%", escape="\\"))
        if scope.predicate is not None:
            query = query.where(scope.predicate)
        with reading(runtime.engine) as conn:
            titles = [str(t) for t in conn.execute(query).scalars()]
    return render(request, "_list_options.html", titles=titles)
