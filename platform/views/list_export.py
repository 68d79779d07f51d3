"""Exports of a list exactly as filtered: the same filter, search, sort, scope and columns.

Rows are read page by page (keyset, never OFFSET) and written as they come: CSV streams
straight out, XLSX goes through openpyxl's write-only workbook into a spooled file. Links
are written as their target's title (one query per target entity and page), choices as
their label in the reader's language, numbers and dates as values a spreadsheet can
compute with. Datetimes are written in the reader's time zone, and the header of a datetime
column names that zone (`Due (Asia/Shanghai)`): XLSX cells hold the local clock time (a
spreadsheet knows no zones), CSV cells the local time with its offset.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import io
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import IO, Any

import sqlalchemy as sa
from sqlalchemy.sql import ColumnElement

from appblocks.engine.catalog import Catalog
from appblocks.engine.records import RecordStore
from appblocks.engine.spec import FieldSpec
from appblocks.views import display
from appblocks.views.lists import Visibility, link_target, titles_for, value_field, wanted_links

BATCH = 500
SPOOL_BYTES = 8 * 1024 * 1024  # an XLSX up to this size stays in memory


def is_datetime(field: FieldSpec) -> bool:
    """Whether a column holds datetimes (its header names the zone they are written in)."""
    return link_target(field) is None and value_field(field).type == "datetime"


def header_label(label: str, field: FieldSpec, zone_name: str) -> str:
    """A column's header: its label, and for datetimes the zone (`Due (Asia/Shanghai)`)."""
    return f"{label} ({zone_name})" if is_datetime(field) else label


def _value(
    field: FieldSpec,
    raw: Any,
    titles: Mapping[str, Mapping[int, str]],
    locale: str,
    typed: bool,
    tz: dt.tzinfo = dt.UTC,
) -> Any:
    if raw is None or raw == []:
        return None
    target = link_target(field)
    if target is not None:
        names = titles.get(target, {})
        if isinstance(raw, list):
            return "; ".join(names.get(i, str(i)) for i in raw)
        return names.get(raw, raw if typed else str(raw))
    inner = value_field(field)
    if inner.type == "choice":
        return display.choice_label(inner, raw, locale)
    if inner.type == "multi_choice" and isinstance(raw, list):
        return "; ".join(display.choice_label(inner, v, locale) for v in raw)
    if isinstance(raw, dt.datetime):
        moment = display.local(raw, tz)
        # Spreadsheets know no time zones: the reader's clock time (the header names the zone).
        return moment.replace(tzinfo=None) if typed else moment.isoformat(" ")
    if not typed:
        return inner.ftype.to_text(raw)
    if isinstance(raw, bool | int | float | decimal.Decimal | dt.date):
        return raw
    if isinstance(raw, list | dict):
        return inner.ftype.to_text(raw)
    return str(raw)


def rows(
    conn: sa.Connection,
    store: RecordStore,
    catalog: Catalog,
    entity: str,
    columns: Sequence[FieldSpec],
    *,
    filter: Mapping[str, Any] | None,
    sort: str | None,
    q: str | None,
    scope: ColumnElement[bool] | None,
    visible: Visibility,
    locale: str,
    typed: bool,
    batch: int = BATCH,
    tz: dt.tzinfo = dt.UTC,
) -> Iterator[list[Any]]:
    """One row of values per record that the list would show, in its order, page by page
    (datetimes in `tz`, the reader's zone)."""
    cursor: str | None = None
    while True:
        page = store.list(
            conn, entity, filter=filter, sort=sort, limit=batch, cursor=cursor, q=q, scope=scope
        )
        titles = titles_for(conn, catalog, wanted_links(page.items, columns), visible)
        for record in page.items:
            yield [_value(f, record.get(f.name), titles, locale, typed, tz) for f in columns]
        if not page.next_cursor:
            return
        cursor = page.next_cursor


def csv_chunks(header: Sequence[str], body: Iterable[Sequence[Any]]) -> Iterator[bytes]:
    """CSV bytes (UTF-8 with a BOM, so that Excel reads Chinese right), a chunk per 200 rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write("\ufeff")
    writer.writerow(header)
    for count, row in enumerate(body, start=1):
        writer.writerow(["" if v is None else v for v in row])
        if count % 200 == 0:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8")


def xlsx_file(sheet_name: str, header: Sequence[str], body: Iterable[Sequence[Any]]) -> IO[bytes]:
    """An XLSX workbook of the rows (openpyxl write-only), rewound, ready to send."""
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(sheet_name[:31] or "Sheet1")
    sheet.append(list(header))
    for row in body:
        sheet.append(list(row))
    out = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 - the caller closes it
    workbook.save(out)
    out.seek(0)
    return out
