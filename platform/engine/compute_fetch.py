"""Rollup and lookup values: aggregates over lines in memory, over reverse links in SQL.

Aggregates skip empty values as SQL does; `sum` and `count` of nothing are 0, `min`, `max`
and `avg` of nothing are empty. A child that a rollup's `where` cannot judge (the expression
fails on it) is left out. Every function here takes many ids at once, so recomputing a page of
records costs one query per rollup or lookup, not one per record.
"""

from __future__ import annotations

import decimal
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from appblocks.engine.catalog import Catalog
from appblocks.engine.compute_plan import Lookup, Rollup
from appblocks.engine.record_read import chunks
from appblocks.engine.sandbox import DECIMAL_CONTEXT, CompiledExpression, ExpressionError
from appblocks.engine.sandbox_values import UserContext


def _number(value: Any) -> Any:
    return decimal.Decimal(repr(value)) if isinstance(value, float) else value


def aggregate(agg: str, values: Iterable[Any]) -> Any:
    """`agg` (sum, count, min, max, avg) of `values`, skipping empty ones."""
    present = [v for v in values if v is not None]
    if agg == "count":
        return len(present)
    if agg == "sum":
        with decimal.localcontext(DECIMAL_CONTEXT):
            return sum((_number(v) for v in present), start=0)
    if not present:
        return None
    if agg == "min":
        return min(present)
    if agg == "max":
        return max(present)
    if agg == "avg":
        with decimal.localcontext(DECIMAL_CONTEXT):
            total = sum((decimal.Decimal(_number(v)) for v in present), start=decimal.Decimal(0))
            return total / len(present)
    raise ValueError(f"unknown aggregate {agg!r}")


def matches(where: CompiledExpression, child: Mapping[str, Any], user: UserContext | None) -> bool:
    """Whether a child counts for a rollup's `where` (one it cannot judge does not)."""
    try:
        return bool(where.evaluate({n: child.get(n) for n in where.names}, user=user))
    except ExpressionError:
        return False


def rollup_lines(
    step: Rollup, children: Sequence[Mapping[str, Any]], user: UserContext | None = None
) -> Any:
    """A rollup over the record's lines, from the children's values (computed first)."""
    field, where = step.child_field, step.where
    picked = (c for c in children if where is None or matches(where, c, user))
    return aggregate(step.agg, (c.get(field) if field else 1 for c in picked))


def rollup_reverse(
    conn: sa.Connection,
    catalog: Catalog,
    step: Rollup,
    ids: Sequence[int],
    user: UserContext | None = None,
) -> dict[int, Any]:
    """A reverse-link rollup for each of `ids`: one GROUP BY query, or, with `where`, the
    children's needed columns aggregated here (the sandbox, not SQL, judges `where`)."""
    table = catalog.table(step.child)
    link = table.c[step.link or ""]
    out: dict[int, Any] = {}
    if step.where is None:
        column = table.c[step.child_field] if step.child_field else None
        if step.agg == "count":
            measure: Any = sa.func.count(column) if column is not None else sa.func.count()
        else:
            measure = getattr(sa.func, step.agg)(column)
        for part in chunks(list(ids)):
            query = sa.select(link, measure).where(link.in_(part)).group_by(link)
            for key, value in conn.execute(query):
                out[key] = 0 if value is None and step.agg == "sum" else value
    else:
        wanted = set(step.where.names) | ({step.child_field} if step.child_field else set())
        columns = [table.c[n] for n in sorted(wanted) if n in table.c and n != link.key]
        groups: dict[int, list[dict[str, Any]]] = {}
        for part in chunks(list(ids)):
            query = sa.select(link, *columns).where(link.in_(part))
            for row in conn.execute(query):
                groups.setdefault(row[0], []).append(dict(row._mapping))
        for key, children in groups.items():
            out[key] = rollup_lines(step, children, user)
    empty = aggregate(step.agg, ())
    return {i: out.get(i, empty) for i in ids}


def lookup_values(
    conn: sa.Connection, catalog: Catalog, step: Lookup, ids: Iterable[int]
) -> dict[int, Any]:
    """The looked-up field of each linked record, by the linked record's id."""
    table = catalog.table(step.target)
    out: dict[int, Any] = {}
    for part in chunks(sorted(set(ids))):
        query = sa.select(table.c.id, table.c[step.source]).where(table.c.id.in_(part))
        out.update((key, value) for key, value in conn.execute(query))
    return out
