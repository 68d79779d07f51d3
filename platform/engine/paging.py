"""Keyset cursors and capped counts for record lists (never OFFSET, never an unbounded count).

A cursor is base64 (URL-safe) JSON of the sort it belongs to and the last row's sort values,
which are typed back by their column when decoded and always bound, so a forged cursor can
only ever select a different page.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import decimal
import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql import ColumnElement
from sqlalchemy.types import TypeDecorator

from appblocks.engine.query import Sort
from appblocks.engine.record_errors import QueryError
from appblocks.engine.sql_constructs import Explain

COUNT_CAP = 10_000
MAX_CURSOR = 4096


def _encode_value(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return str(value)  # exact: a float would move the page boundary
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return value


def encode_cursor(sort: Sort, values: Sequence[Any]) -> str:
    """The opaque cursor that continues after a row with these sort values."""
    body = {"s": sort.text, "v": [_encode_value(v) for v in values]}
    raw = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _decode_value(column: sa.Column[Any], raw: Any) -> Any:
    if raw is None:
        return None
    kind = column.type
    if isinstance(kind, TypeDecorator):
        kind = kind.impl_instance  # e.g. UTCDateTime: typed as the DateTime it wraps
    if isinstance(kind, sa.Numeric):
        if not isinstance(raw, str):
            raise ValueError("decimal")
        return decimal.Decimal(raw)
    if isinstance(kind, sa.DateTime):
        return dt.datetime.fromisoformat(raw)
    if isinstance(kind, sa.Date):
        return dt.date.fromisoformat(raw)
    if isinstance(kind, sa.Boolean):
        if not isinstance(raw, bool):
            raise ValueError("boolean")
        return raw
    if isinstance(kind, sa.Integer):
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise ValueError("integer")
        return raw
    if not isinstance(raw, str):
        raise ValueError("text")
    return raw


def decode_cursor(sort: Sort, cursor: str) -> list[Any]:
    """The sort values inside `cursor`; QueryError when it is malformed or for another sort."""
    try:
        if not isinstance(cursor, str) or len(cursor) > MAX_CURSOR:
            raise ValueError("size")
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        body = json.loads(raw)
        if body.get("s") != sort.text or len(body.get("v", ())) != len(sort.keys):
            raise ValueError("sort")
        return [_decode_value(k.column, v) for k, v in zip(sort.keys, body["v"], strict=True)]
    except (ValueError, TypeError, AttributeError, binascii.Error, decimal.InvalidOperation):
        raise QueryError("query_bad_cursor") from None


# --- counting -----------------------------------------------------------------------------------


def _pg_estimate(
    conn: sa.Connection, table: sa.Table, where: ColumnElement[bool] | None
) -> int | None:
    if where is None:
        tuples = conn.execute(
            sa.text("SELECT reltuples FROM pg_class WHERE oid = to_regclass(:name)"),
            {"name": table.name},
        ).scalar()
        if tuples is not None and tuples >= 0:  # -1: never analysed
            return int(tuples)
    select = sa.select(sa.literal(1)).select_from(table)
    if where is not None:
        select = select.where(where)
    plan: Any = conn.execute(Explain(select)).scalar()
    if isinstance(plan, str):
        plan = json.loads(plan)
    try:
        return int(plan[0]["Plan"]["Plan Rows"])
    except (TypeError, KeyError, IndexError, ValueError):
        return None


def count_rows(
    conn: sa.Connection,
    table: sa.Table,
    where: ColumnElement[bool] | None,
    cap: int = COUNT_CAP,
) -> tuple[int, bool]:
    """(total, is_estimate): exact up to `cap` rows, an estimate past it."""
    inner = sa.select(sa.literal(1)).select_from(table)
    if where is not None:
        inner = inner.where(where)
    capped = sa.select(sa.func.count()).select_from(inner.limit(cap + 1).subquery())
    total = int(conn.execute(capped).scalar_one())
    if total <= cap:
        return total, False
    if conn.dialect.name == "postgresql":
        estimate = _pg_estimate(conn, table, where)
        # The planner may guess low; we know at least cap + 1 rows match.
        return max(estimate or 0, total), True
    return total, True  # SQLite has no cheap estimate: "more than cap"
