"""SQL constructs that each database spells its own way, compiled per dialect.

Each construct renders only compiler-processed pieces: column references quoted by
SQLAlchemy and bound parameters. No value is ever formatted into the SQL text.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import ColumnElement
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement, Executable
from sqlalchemy.sql.visitors import InternalTraversal


class JsonArrayContains(ColumnElement[bool]):
    """`value` is an element of the JSON array in `column` (multi_choice `contains`)."""

    type = sa.Boolean()
    inherit_cache = True
    _traverse_internals = [
        ("column", InternalTraversal.dp_clauseelement),
        ("value", InternalTraversal.dp_clauseelement),
    ]

    def __init__(self, column: ColumnElement[Any], value: str) -> None:
        self.column = column
        self.value = sa.bindparam(None, value, type_=sa.String())


@compiles(JsonArrayContains, "postgresql")
def _json_contains_pg(element: JsonArrayContains, compiler: SQLCompiler, **kw: Any) -> str:
    column = compiler.process(element.column, **kw)
    value = compiler.process(element.value, **kw)
    return f"(CAST({column} AS JSONB) @> jsonb_build_array(CAST({value} AS TEXT)))"


@compiles(JsonArrayContains, "sqlite")
def _json_contains_sqlite(element: JsonArrayContains, compiler: SQLCompiler, **kw: Any) -> str:
    column = compiler.process(element.column, **kw)
    value = compiler.process(element.value, **kw)
    # `column` and `value` are compiled SQL (a quoted column, a bind marker), not data.
    return f"EXISTS (SELECT 1 FROM json_each({column}) WHERE json_each.value = {value})"  # noqa: S608


class Explain(Executable, ClauseElement):
    """`EXPLAIN (FORMAT JSON) <select>` with the select's parameters bound as usual."""

    inherit_cache = False

    def __init__(self, statement: sa.Select[Any]) -> None:
        self.statement = statement


@compiles(Explain, "postgresql")
def _explain_pg(element: Explain, compiler: SQLCompiler, **kw: Any) -> str:
    return "EXPLAIN (FORMAT JSON) " + compiler.process(element.statement, **kw)
