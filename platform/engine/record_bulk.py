"""Bulk INSERTs: one executemany, compiled once, with SQLAlchemy's own bind processing.

SQLAlchemy's executemany builds a parameter dict per row through its general machinery,
which costs more than the insert itself on SQLite (about 10 us a row). Here the INSERT is
compiled by SQLAlchemy once per table, column set and dialect, each column's bind processor
(the same one SQLAlchemy would apply: dates, decimals, JSON) runs over the column, repeated
objects (the batch's one timestamp) are processed once, and the driver's executemany runs
the rows. Values stay bound; nothing is formatted into SQL.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from typing import Any

import sqlalchemy as sa

Processor = Callable[[Any], Any] | None
_MIN_ROWS = 20  # below this the general path is as fast and simpler to trace


@lru_cache(maxsize=512)
def _compiled(
    table: sa.Table, keys: tuple[str, ...], dialect: sa.Dialect
) -> tuple[str, tuple[str, ...], tuple[Processor, ...]]:
    stmt = table.insert().values({k: sa.bindparam(k, type_=table.c[k].type) for k in keys})
    compiled = stmt.compile(dialect=dialect)
    order = tuple(compiled.positiontup or ())
    if not compiled.positional or sorted(order) != sorted(keys):
        raise ValueError("bulk insert needs a positional paramstyle")
    procs = tuple(table.c[k].type.dialect_impl(dialect).bind_processor(dialect) for k in order)
    return compiled.string, order, procs


def _column(values: list[Any], process: Processor) -> list[Any]:
    if process is None:
        return values
    out: list[Any] = []
    last_in: Any = object()
    last_out: Any = None
    for value in values:
        if value is not last_in:  # same object as the row before: same bound value
            last_in, last_out = value, process(value)
        out.append(last_out)
    return out


def insert_many(conn: sa.Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """INSERT `rows` (all with the same keys) into `table` with one executemany."""
    if not rows:
        return
    if conn.dialect.name != "sqlite" or len(rows) < _MIN_ROWS:
        # PostgreSQL: SQLAlchemy's insertmanyvalues already sends multi-row VALUES batches.
        conn.execute(table.insert(), list(rows))
        return
    sql, order, procs = _compiled(table, tuple(rows[0]), conn.dialect)
    columns = [_column([r[k] for r in rows], p) for k, p in zip(order, procs, strict=True)]
    conn.exec_driver_sql(sql, list(zip(*columns, strict=True)))
