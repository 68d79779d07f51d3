"""Exports of a list page: `/{app}/{entity}/export.csv` and `.xlsx`.

They take the page's own query (q, filter, sort, columns), so the file holds exactly the
filtered rows, in the page's order, with its columns. The caller needs the `export`
permission; rows come through both its read and its export scope, hidden fields are never a
column, and a filter or sort naming one is refused before a byte is written.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from starlette.background import BackgroundTask

from appblocks.engine.db import reading
from appblocks.engine.query import compile_filter, compile_sort
from appblocks.server.auth import RuntimeDep
from appblocks.server.pages_lists_state import (
    Base,
    Setup,
    check,
    column_label,
    read_state,
    search_scope,
    setup,
    title_lookup,
)
from appblocks.server.problems import Problem, locale_of
from appblocks.server.web import PageUser, tr, zone_name, zone_of
from appblocks.views import list_export
from appblocks.views.list_filters import FilterRow

router = APIRouter(include_in_schema=False)

TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def _export_setup(request: Request, s: Setup) -> Any:
    """The export scope's predicate; 403 without the export permission."""
    scope = s.loaded.scope(s.identity, s.entity, "export")
    if scope is None:
        raise Problem(403, tr(request, "Your roles may not export these records."))
    return scope


def _refuse_bad_rows(request: Request, rows: list[FilterRow]) -> None:
    bad = next((r for r in rows if r.error), None)
    if bad is not None:
        raise Problem(422, tr(request, "The filter on “%(name)s” is not valid.", name=bad.field))


@router.get("/{app}/{entity}/export.{fmt}")
def export(
    app: str, entity: str, fmt: str, request: Request, runtime: RuntimeDep, identity: PageUser
) -> Response:
    """The filtered list as a CSV or XLSX file."""
    if fmt not in TYPES:
        raise Problem(404, tr(request, "Exports are CSV or XLSX files."))
    s = setup(request, runtime, identity, f"{app}.{entity}")
    export_scope = _export_setup(request, s)
    with reading(runtime.engine) as conn:
        state = read_state(request, s, Base(list(s.defaults)), None, title_lookup(conn, s))
    _refuse_bad_rows(request, state.rows)
    check(request, s, state)
    hidden = s.scope.hidden | export_scope.hidden
    columns = [s.fields[c] for c in state.columns if c not in hidden]
    if not columns:
        raise Problem(422, tr(request, "Choose at least one column you may export."))
    catalog = s.loaded.catalog
    # Refuse a bad filter or sort now, with a clear answer, not halfway through a download.
    compile_filter(catalog, s.entity, state.filter)
    compile_sort(catalog, s.entity, state.sort)
    predicate, q = search_scope(s, state.q)
    if export_scope.predicate is not None:
        predicate = (
            export_scope.predicate
            if predicate is None
            else sa.and_(predicate, export_scope.predicate)
        )
    locale = locale_of(request)
    zone, tz = zone_name(request), zone_of(request)
    header = [list_export.header_label(column_label(request, s, f.name), f, zone) for f in columns]
    stamp = dt.datetime.now(tz).strftime("%Y%m%d-%H%M")
    filename = f"{s.spec.name}-{stamp}.{fmt}"
    disposition = f"attachment; filename=\"{filename}\"; filename*=UTF-8''{quote(filename)}"
    engine = runtime.engine

    def body(conn: sa.Connection, typed: bool) -> Iterator[list[Any]]:
        return list_export.rows(
            conn,
            s.loaded.store,
            catalog,
            s.entity,
            columns,
            filter=state.filter,
            sort=state.sort,
            q=q,
            scope=predicate,
            visible=s.visible,
            locale=locale,
            typed=typed,
            tz=tz,
        )

    headers = {"Content-Disposition": disposition, "Cache-Control": "no-store"}
    if fmt == "xlsx":
        with reading(engine) as conn:
            handle = list_export.xlsx_file(s.spec.label(locale), header, body(conn, True))
        return StreamingResponse(
            iter(lambda: handle.read(64 * 1024), b""),
            media_type=TYPES[fmt],
            headers=headers,
            background=BackgroundTask(handle.close),
        )

    def csv_stream() -> Iterator[bytes]:
        # The connection lives as long as the download (one snapshot for the whole file).
        with reading(engine) as conn:
            yield from list_export.csv_chunks(header, body(conn, False))

    return StreamingResponse(csv_stream(), media_type=TYPES[fmt], headers=headers)
