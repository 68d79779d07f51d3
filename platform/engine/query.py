"""Pure compilers from the REST filter, sort and search language to SQLAlchemy clauses.

A filter is JSON: `{"amount": {"gte": 100}, "supplier.name": {"contains": "Acme"},
"or": [...]}`. Every value is coerced with its field's type and bound, never spliced into SQL;
every name is checked against the entity's fields. A dotted path follows `link`, `links` and
`lines` fields through `IN (SELECT ...)` subqueries on aliased tables, so a filter on a
related record never multiplies the rows of the list.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql import ColumnElement

from appblocks.engine.catalog import Catalog
from appblocks.engine.fieldtypes import FieldValueError
from appblocks.engine.fieldtypes.base import storable_text
from appblocks.engine.record_errors import QueryError
from appblocks.engine.search import indexed_search
from appblocks.engine.spec import EntitySpec, FieldSpec
from appblocks.engine.sql_constructs import JsonArrayContains

OPERATORS = (
    "eq", "ne", "lt", "lte", "gt", "gte", "in", "nin", "contains", "startswith", "isnull",
)  # fmt: skip
MAX_DEPTH = 12  # and/or/not nesting
MAX_HOPS = 4  # links followed by one dotted path
MAX_LIST = 1000  # values of one `in` / `nin`
MAX_SEARCH = 200  # characters of `q`
MAX_SORT_KEYS = 8

_TEXT_TYPES = frozenset(
    {"text", "long_text", "email", "phone", "url", "user", "file", "choice", "autonumber"}
)
_UNORDERED = frozenset({"boolean", "multi_choice", "json"})
_RELATIONS = frozenset({"link", "links", "lines"})


# --- fields, including the system columns -------------------------------------------------------


@lru_cache(maxsize=1024)
def system_fields(entity: EntitySpec) -> dict[str, FieldSpec]:
    """The filterable system columns of `entity`, described as fields."""
    q = entity.qualified
    fields = {
        "id": FieldSpec("id", "integer", {}, q),
        "_version": FieldSpec("_version", "integer", {}, q),
        "_created_at": FieldSpec("_created_at", "datetime", {}, q),
        "_updated_at": FieldSpec("_updated_at", "datetime", {}, q),
        "_created_by": FieldSpec("_created_by", "user", {}, q),
        "_updated_by": FieldSpec("_updated_by", "user", {}, q),
    }
    if entity.has_state:
        fields["_state"] = FieldSpec("_state", "text", {"max_length": 64}, q)
    if entity.parent:
        fields["_parent_id"] = FieldSpec("_parent_id", "link", {}, q, entity.parent)
        fields["_position"] = FieldSpec("_position", "integer", {}, q)
    return fields


def find_field(entity: EntitySpec, name: str) -> FieldSpec | None:
    """A field or system column of `entity` by name, or None."""
    return entity.fields.get(name) or system_fields(entity).get(name)


@lru_cache(maxsize=4096)
def _unbounded(field: FieldSpec) -> FieldSpec:
    # A filter value may lie outside the field's bounds (`quantity < -1` is a fair question).
    if field.type == "lookup" and field.resolved_lookup is not None:
        field = field.resolved_lookup
    doc = {k: v for k, v in field.doc.items() if k not in ("min", "max", "max_length")}
    return replace(field, doc=doc)


def _coerce(field: FieldSpec, value: Any, path: str) -> Any:
    target = _unbounded(field)
    try:
        return target.ftype.from_json(value, target)
    except FieldValueError as exc:
        raise QueryError("query_bad_value", path=path, detail=str(exc)) from None


def _kind(field: FieldSpec) -> str:
    ftype = field.type
    if ftype == "lookup" and field.resolved_lookup is not None:
        ftype = field.resolved_lookup.type
    if ftype in _TEXT_TYPES:
        return "text"
    if ftype in _UNORDERED or ftype in _RELATIONS:
        return ftype
    return "ordered"


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _ilike(column: ColumnElement[Any], pattern: str) -> ColumnElement[bool]:
    return column.ilike(pattern, escape="\\")


# --- the filter compiler ------------------------------------------------------------------------


class _FilterCompiler:
    """Walks one filter document; holds the catalog so recursion stays small."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def node(
        self, entity: EntitySpec, table: sa.FromClause, spec: Any, depth: int
    ) -> ColumnElement[bool]:
        if depth > MAX_DEPTH:
            raise QueryError("query_too_deep", limit=MAX_DEPTH)
        if not isinstance(spec, Mapping):
            raise QueryError("query_bad_shape", detail="a filter must be a JSON object")
        clauses: list[ColumnElement[bool]] = []
        for key, value in spec.items():
            if not isinstance(key, str):
                raise QueryError("query_bad_shape", detail="filter keys must be strings")
            if key in ("and", "or"):
                if not isinstance(value, list):
                    raise QueryError("query_bad_shape", detail=f"'{key}' takes a list of filters")
                parts = [self.node(entity, table, item, depth + 1) for item in value]
                joined = sa.and_(sa.true(), *parts) if key == "and" else sa.or_(sa.false(), *parts)
                clauses.append(joined)
            elif key == "not":
                clauses.append(sa.not_(self.node(entity, table, value, depth + 1)))
            else:
                clauses.append(self.path(entity, table, key.split("."), key, value, 0))
        return sa.and_(sa.true(), *clauses)

    def path(
        self,
        entity: EntitySpec,
        table: sa.FromClause,
        parts: list[str],
        path: str,
        condition: Any,
        hops: int,
    ) -> ColumnElement[bool]:
        field = find_field(entity, parts[0])
        if field is None:
            raise QueryError("query_unknown_field", path=path, entity=entity.qualified)
        if len(parts) == 1:
            return self.condition(entity, table, field, path, condition)
        if field.type not in _RELATIONS:
            raise QueryError(
                "query_not_a_link", field=field.name, entity=entity.qualified, path=path
            )
        if hops + 1 > MAX_HOPS:
            raise QueryError("query_path_too_long", path=path, limit=MAX_HOPS)
        assert field.target is not None
        target = self.catalog.entity(field.target)
        inner = self.catalog.table(field.target).alias()
        where = self.path(target, inner, parts[1:], path, condition, hops + 1)
        if field.type == "link":
            return table.c[field.name].in_(sa.select(inner.c.id).where(where))
        if field.type == "lines":
            return table.c.id.in_(sa.select(inner.c._parent_id).where(where))
        links = self.catalog.link_table(entity.qualified, field.name).alias()
        targets = sa.select(inner.c.id).where(where)
        return table.c.id.in_(sa.select(links.c.source_id).where(links.c.target_id.in_(targets)))

    def condition(
        self, entity: EntitySpec, table: sa.FromClause, field: FieldSpec, path: str, cond: Any
    ) -> ColumnElement[bool]:
        if isinstance(cond, Mapping):
            if not cond:
                raise QueryError("query_bad_shape", detail=f"'{path}' has no operator")
            ops = list(cond.items())
        else:
            ops = [("eq", cond)]
        clauses = []
        for op, value in ops:
            if op not in OPERATORS:
                raise QueryError("query_unknown_operator", op=op, ops=", ".join(OPERATORS))
            if field.type in ("links", "lines"):
                clauses.append(self.relation(entity, table, field, path, op, value))
            else:
                clauses.append(self.column(table.c[field.name], field, path, op, value))
        return sa.and_(*clauses)

    def column(
        self, column: sa.ColumnElement[Any], field: FieldSpec, path: str, op: str, value: Any
    ) -> ColumnElement[bool]:
        kind = _kind(field)
        nullable = getattr(column, "nullable", True)

        def refuse() -> QueryError:
            return QueryError("query_bad_operator", op=op, path=path, ftype=field.type)

        if op == "isnull":
            if not isinstance(value, bool):
                raise QueryError("query_bad_value", path=path, detail="isnull takes true or false")
            empty: ColumnElement[bool] = column.is_(None)
            if kind in ("multi_choice", "json"):
                # SQLAlchemy's JSON stores None as JSON `null` (not SQL NULL); an emptied
                # multiple choice is `[]`: both mean "no value" to a person.
                empty = sa.or_(empty, sa.cast(column, sa.Text).in_(["null", "[]"]))
            return empty if value else sa.not_(empty)
        if kind == "multi_choice":
            if op != "contains":
                raise refuse()
            option = _coerce(field, [value], path)
            return JsonArrayContains(column, option[0]) if option else sa.false()
        if kind == "json":
            raise refuse()
        if op in ("contains", "startswith"):
            if kind != "text":
                raise refuse()
            if isinstance(value, bool) or not isinstance(value, str | int | float):
                raise QueryError("query_bad_value", path=path, detail=f"{op} takes text")
            text = _escape_like(str(value))
            return _ilike(column, f"%{text}%" if op == "contains" else f"{text}%")
        if op in ("in", "nin"):
            if not isinstance(value, list):
                raise QueryError("query_bad_value", path=path, detail=f"{op} takes a list")
            if len(value) > MAX_LIST:
                raise QueryError("query_bad_value", path=path, detail=f"at most {MAX_LIST} values")
            present = [_coerce(field, v, path) for v in value if v is not None]
            with_null = any(v is None for v in value)
            if op == "in":
                hit = column.in_(present)
                return sa.or_(hit, column.is_(None)) if with_null else hit
            miss = column.not_in(present)
            if with_null:
                return sa.and_(miss, column.is_not(None))
            # As with `ne`, records with no value are "not in" the list.
            return sa.or_(miss, column.is_(None)) if nullable else miss
        if op in ("lt", "lte", "gt", "gte") and kind == "boolean":
            raise refuse()
        coerced = _coerce(field, value, path) if value is not None else None
        if op == "eq":
            return column.is_(None) if coerced is None else column == coerced
        if op == "ne":
            if coerced is None:
                return column.is_not(None)
            # "not Acme" includes the records with no value, as a person would expect.
            return sa.or_(column != coerced, column.is_(None)) if nullable else column != coerced
        if coerced is None:
            raise QueryError("query_bad_value", path=path, detail=f"{op} needs a value")
        compare = {"lt": column < coerced, "lte": column <= coerced}
        compare |= {"gt": column > coerced, "gte": column >= coerced}
        return compare[op]

    def relation(
        self,
        entity: EntitySpec,
        table: sa.FromClause,
        field: FieldSpec,
        path: str,
        op: str,
        value: Any,
    ) -> ColumnElement[bool]:
        assert field.target is not None
        if field.type == "lines":
            child = self.catalog.table(field.target).alias()
            has = table.c.id.in_(sa.select(child.c._parent_id))
        else:
            links = self.catalog.link_table(entity.qualified, field.name).alias()
            has = table.c.id.in_(sa.select(links.c.source_id))
        if op == "isnull":
            if not isinstance(value, bool):
                raise QueryError("query_bad_value", path=path, detail="isnull takes true or false")
            return sa.not_(has) if value else has
        if field.type == "lines" or op not in ("eq", "ne", "contains", "in", "nin"):
            raise QueryError("query_bad_operator", op=op, path=path, ftype=field.type)
        if op in ("in", "nin") and not isinstance(value, list):
            raise QueryError("query_bad_value", path=path, detail=f"{op} takes a list")
        try:
            ids = field.ftype.from_json(value if isinstance(value, list) else [value], field)
        except FieldValueError as exc:
            raise QueryError("query_bad_value", path=path, detail=str(exc)) from None
        if len(ids) > MAX_LIST:
            raise QueryError("query_bad_value", path=path, detail=f"at most {MAX_LIST} values")
        links = self.catalog.link_table(entity.qualified, field.name).alias()
        hit = table.c.id.in_(sa.select(links.c.source_id).where(links.c.target_id.in_(ids)))
        return sa.not_(hit) if op in ("ne", "nin") else hit


def compile_filter(
    catalog: Catalog, entity: str, spec: Mapping[str, Any] | None
) -> ColumnElement[bool]:
    """The WHERE clause of a filter document on `entity`; raises QueryError when invalid."""
    if spec is None:
        return sa.true()
    return _FilterCompiler(catalog).node(catalog.entity(entity), catalog.table(entity), spec, 0)


def compile_search(
    catalog: Catalog, entity: str, q: str | None, fields: Iterable[str] | None = None
) -> ColumnElement[bool] | None:
    """Case-insensitive substring search over the entity's searchable text fields (or only
    `fields` of them: a caller must not find records by text it may not see), or None.
    Indexed where the database has the index (`appblocks.engine.search`)."""
    if q is None:
        return None
    if not isinstance(q, str):
        raise QueryError("query_bad_search", max=MAX_SEARCH)
    text = q.strip()
    if not text:
        return None
    if len(text) > MAX_SEARCH:
        raise QueryError("query_bad_search", max=MAX_SEARCH)
    if not storable_text(text):
        raise QueryError("query_bad_search_text")
    table = catalog.table(entity)
    pattern = f"%{_escape_like(text)}%"
    allowed = None if fields is None else set(fields)
    columns = [
        table.c[f.name]
        for f in catalog.entity(entity).columns()
        if f.ftype.searchable and (allowed is None or f.name in allowed)
    ]
    if not columns:
        return sa.false()
    scan = sa.or_(*(_ilike(c, pattern) for c in columns))
    # Where the database has a trigram index (SQLite FTS5) and the term is long enough, the
    # index narrows the rows and `scan` still decides each one: the same results, found fast.
    # PostgreSQL's pg_trgm indexes serve the ILIKE itself.
    return indexed_search(table, [c.name for c in columns], text, scan)


# --- sorting and the keyset predicate -----------------------------------------------------------


@dataclass(frozen=True)
class SortKey:
    """One sort key: a column, its direction, and whether it can hold NULL."""

    name: str
    column: sa.Column[Any]
    descending: bool
    nullable: bool


@dataclass(frozen=True)
class Sort:
    """A compiled sort; always ends with `id`, so the order is total (keyset needs that)."""

    keys: tuple[SortKey, ...]

    @property
    def text(self) -> str:
        """The normalized sort, e.g. `-amount,name,id`."""
        return ",".join(("-" if k.descending else "") + k.name for k in self.keys)

    def order_by(self) -> list[ColumnElement[Any]]:
        """ORDER BY clauses; NULLs last in both directions, the same on every database."""
        out: list[ColumnElement[Any]] = []
        for key in self.keys:
            if key.nullable:
                out.append(sa.case((key.column.is_(None), 1), else_=0).asc())
            out.append(key.column.desc() if key.descending else key.column.asc())
        return out

    def values(self, row: Mapping[str, Any]) -> list[Any]:
        """The sort values of a row (a cursor's content)."""
        return [row[k.name] for k in self.keys]

    def after(self, values: Sequence[Any]) -> ColumnElement[bool]:
        """Rows strictly after the row with these sort values, in this order."""
        rest: ColumnElement[bool] | None = None
        for key, value in reversed(list(zip(self.keys, values, strict=True))):
            col = key.column
            if value is None:
                # NULLs sort last: after a NULL come only other NULLs, ordered by later keys.
                rest = sa.and_(col.is_(None), rest) if rest is not None else sa.false()
                continue
            terms = [col < value if key.descending else col > value]
            if rest is not None:
                terms.append(sa.and_(col == value, rest))
            if key.nullable:
                terms.append(col.is_(None))
            rest = sa.or_(*terms)
        assert rest is not None
        return rest


def compile_sort(catalog: Catalog, entity: str, sort: str | None) -> Sort:
    """Compile `-amount,name` into a Sort ending with `id`; raises QueryError when invalid."""
    spec = catalog.entity(entity)
    table = catalog.table(entity)
    keys: list[SortKey] = []
    seen: set[str] = set()
    if sort is not None and not isinstance(sort, str):
        raise QueryError("query_bad_sort", key=str(sort), detail="sort must be text")
    for raw in (sort or "").split(","):
        token = raw.strip()
        if not token:
            continue
        descending = token.startswith("-")
        name = token.lstrip("+-")
        field = find_field(spec, name)
        if field is None:
            raise QueryError("query_bad_sort", key=token, detail=f"not a field of {entity}")
        if not field.has_column or field.type in ("multi_choice", "json"):
            raise QueryError("query_bad_sort", key=token, detail="only plain fields sort")
        if name in seen:
            continue
        seen.add(name)
        column = table.c[name]
        keys.append(SortKey(name, column, descending, bool(column.nullable)))
        if len(keys) > MAX_SORT_KEYS:
            raise QueryError("query_bad_sort", key=token, detail=f"at most {MAX_SORT_KEYS} keys")
    if "id" not in seen:
        keys.append(SortKey("id", table.c.id, False, False))
    return Sort(tuple(keys))
