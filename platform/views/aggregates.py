"""Dashboard widgets as aggregate queries: one `SELECT … GROUP BY` per series, always under
the viewer's record rule, never naming a field the viewer may not see.

A widget is `{chart, entity, group_by?, measure?, filter?, series?}`: `group_by` a field
(choice -> its options in order, `_state` -> the workflow's states, link -> the linked
record's title, date/datetime -> by month, anything else by value), `measure` one of
`{sum|avg|min|max: field}` or `{count: field|true}` (count of records by default). `series`
adds more series to a bar or line chart (another entity, say forecasts against orders).
Every value is bound; group keys by month are spelled per dialect by `MonthOf`.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from babel import dates as babel_dates
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import ColumnElement
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.visitors import InternalTraversal

from appblocks.engine.access import Scope
from appblocks.engine.catalog import Catalog
from appblocks.engine.i18n import translate
from appblocks.engine.query import compile_filter, find_field
from appblocks.engine.record_errors import QueryError
from appblocks.engine.spec import FieldSpec, label_text, qualify
from appblocks.engine.validate_documents import CHART_GROUPABLE
from appblocks.views import display, relative
from appblocks.views.boards import STATE, state_options, workflow_doc

AGGREGATES = ("sum", "avg", "min", "max", "count")
NUMBERS = frozenset({"integer", "decimal", "money", "percent"})
DATES = frozenset({"date", "datetime"})
GROUPABLE = CHART_GROUPABLE
DEFAULT_LIMIT = 20  # groups of a link or plain value (the largest first)
MAX_MONTHS = 120
MAX_FILTER_DEPTH = 16

ScopeOf = Callable[[str], Scope | None]


def _(text: str) -> str:
    """Mark a message for translation (pages translate it with the caller's catalog)."""
    return text


class AggregateError(ValueError):
    """A widget that cannot run for this viewer; `text` is the English msgid, `params` fill it."""

    def __init__(self, text: str, **params: Any) -> None:
        super().__init__(text % params if params else text)
        self.text = text
        self.params = params


class MonthOf(ColumnElement[str]):
    """`YYYY-MM` of a date or timestamp column (datetimes are stored in UTC)."""

    type = sa.String()
    inherit_cache = True
    _traverse_internals = [("column", InternalTraversal.dp_clauseelement)]

    def __init__(self, column: ColumnElement[Any]) -> None:
        self.column = column


@compiles(MonthOf, "postgresql")
def _month_pg(element: MonthOf, compiler: SQLCompiler, **kw: Any) -> str:
    return f"to_char({compiler.process(element.column, **kw)}, 'YYYY-MM')"


@compiles(MonthOf)
def _month_sqlite(element: MonthOf, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLite keeps dates as ISO text, so the first seven characters are the month.
    return f"substr({compiler.process(element.column, **kw)}, 1, 7)"


@dataclass(frozen=True)
class Series:
    """One aggregate to run: what to group, what to measure, over which records."""

    entity: str
    group_by: str | None
    agg: str
    field: str | None
    filter: Mapping[str, Any] | None
    label: Any = None
    limit: int = DEFAULT_LIMIT


def measure_of(doc: Mapping[str, Any]) -> tuple[str, str | None]:
    """(aggregate, field) of a widget's `measure`; count of records when there is none."""
    measure = doc.get("measure") or {"count": True}
    if not isinstance(measure, Mapping) or len(measure) != 1:
        raise AggregateError(_("A measure is one of sum, avg, min, max or count of a field"))
    agg, name = next(iter(measure.items()))
    if agg not in AGGREGATES:
        raise AggregateError(
            _("'%(agg)s' is not a measure: use sum, avg, min, max or count"), agg=agg
        )
    if agg == "count" and (name is True or name in ("*", "id")):
        return agg, None
    if not isinstance(name, str):
        raise AggregateError(_("%(agg)s needs a field name"), agg=agg)
    return str(agg), name


def series_of(app: str, widget: Mapping[str, Any]) -> list[Series]:
    """The widget's own series, then those of its `series` list (bar and line charts)."""
    out = []
    charted = widget.get("chart") not in ("number", "gauge")
    for doc in [widget, *(widget.get("series") or [])]:
        agg, name = measure_of(doc)
        out.append(
            Series(
                qualify(app, str(doc.get("entity") or widget["entity"])),
                str(doc["group_by"]) if charted and doc.get("group_by") else None,
                agg,
                name,
                doc.get("filter"),
                doc.get("label"),
                int(doc.get("limit") or widget.get("limit") or DEFAULT_LIMIT),
            )
        )
    return out


@dataclass
class Bucket:
    """One group: its key (`None` for records without a value), label and measured value."""

    key: str | None
    label: str
    value: Any


@dataclass
class Result:
    """A series computed: its buckets (or its one value without grouping) and value kind."""

    series: Series
    name: str
    kind: str  # money, percent, number, integer, date
    digits: int | None
    buckets: list[Bucket] = field(default_factory=list)
    value: Any = None
    grouping: str | None = None  # month, choice, state, link, value
    titled: bool = False  # link groups came with their titles


def _effective(spec: FieldSpec) -> FieldSpec:
    if spec.type == "lookup" and spec.resolved_lookup is not None:
        return _effective(spec.resolved_lookup)
    return spec


class Aggregator:
    """Runs series for one viewer: `scope_of(entity)` is their read scope of each entity."""

    def __init__(
        self, catalog: Catalog, scope_of: ScopeOf, locale: str, now: dt.datetime | None = None
    ) -> None:
        self.catalog = catalog
        self.scope_of = scope_of
        self.locale = locale
        self.now = now or dt.datetime.now(dt.UTC)

    # --- checks -----------------------------------------------------------------------------

    def _scope(self, entity: str) -> Scope:
        if entity not in self.catalog.specs.entities:
            raise AggregateError(_("There is no entity %(entity)s"), entity=entity)
        scope = self.scope_of(entity)
        if scope is None:
            label = self.catalog.entity(entity).label(self.locale)
            raise AggregateError(_("You may not read %(entity)s"), entity=label)
        return scope

    def _field(self, entity: str, name: str, hidden_text: str) -> FieldSpec:
        spec = self.catalog.entity(entity)
        found = find_field(spec, name)
        if found is None:
            raise AggregateError(
                _("'%(field)s' is not a field of %(entity)s"),
                field=name,
                entity=spec.label(self.locale),
            )
        scope = self.scope_of(entity)
        if scope is None or name in scope.hidden:
            raise AggregateError(hidden_text, field=name)
        return found

    def _check_filter(self, entity: str, doc: Any, depth: int = 0) -> None:
        if depth > MAX_FILTER_DEPTH or not isinstance(doc, Mapping):
            return  # the compiler reports the shape
        for key, value in doc.items():
            if key in ("and", "or") and isinstance(value, list):
                for part in value:
                    self._check_filter(entity, part, depth + 1)
            elif key == "not":
                self._check_filter(entity, value, depth + 1)
            else:
                self._check_path(entity, str(key))

    def _check_path(self, entity: str, path: str) -> None:
        current = entity
        for part in path.split("."):
            spec = self.catalog.entity(current)
            found = find_field(spec, part)
            if found is None:
                return  # unknown names: the compiler says which and where
            scope = self.scope_of(current)
            if scope is None or part in scope.hidden:
                raise AggregateError(
                    _("This chart filters on '%(field)s', a field you may not see"), field=path
                )
            if not found.target:
                return
            current = found.target

    # --- the query --------------------------------------------------------------------------

    def statement(self, series: Series) -> tuple[sa.Select[Any], str | None, Result]:
        """The SELECT of a series (parameters bound), its grouping kind and an empty result."""
        scope = self._scope(series.entity)
        table = self.catalog.table(series.entity)
        kind, digits, value = self._measure(series, table)
        name = label_text(series.label, self.locale, "")
        result = Result(series, name, kind, digits)
        try:
            resolved = relative.resolve(series.filter, self.now)
        except relative.RelativeDateError as exc:
            raise AggregateError(_("%(detail)s"), detail=str(exc)) from None
        self._check_filter(series.entity, resolved)
        try:
            where = compile_filter(self.catalog, series.entity, resolved)
        except QueryError as exc:
            raise AggregateError(
                _("%(detail)s"), detail=translate(exc.code, exc.params, self.locale)
            ) from None
        if scope.predicate is not None:
            where = sa.and_(scope.predicate, where)
        if series.group_by is None:
            return sa.select(value.label("value")).select_from(table).where(where), None, result
        group = self._field(
            series.entity,
            series.group_by,
            _("This chart is grouped by '%(field)s', a field you may not see"),
        )
        effective = _effective(group)
        ftype = "choice" if group.name == STATE else effective.type
        if ftype not in GROUPABLE and group.name != STATE:
            raise AggregateError(
                _("A chart cannot be grouped by '%(field)s' (a %(type)s field)"),
                field=group.name,
                type=ftype,
            )
        column: ColumnElement[Any] = table.c[group.name]
        grouping = "value"
        if group.name == STATE:
            grouping = "state"
            # A record with no state yet is in its workflow's initial one (as transitions see it).
            initial = (workflow_doc(self.catalog, series.entity) or {}).get("initial")
            if initial:
                column = sa.func.coalesce(column, sa.literal(str(initial)))
        elif ftype == "choice":
            grouping = "choice"
        elif ftype in DATES:
            grouping, column = "month", MonthOf(column)
        elif ftype == "link":
            grouping = "link"
        result.grouping = grouping
        keys: list[ColumnElement[Any]] = [column.label("key")]
        source: sa.FromClause = table
        grouped: list[ColumnElement[Any]] = [column]
        title = (
            self._title_join(series.entity, group.name, effective.target)
            if grouping == "link"
            else None
        )
        if title is not None:
            target, on, title_column = title
            source = table.outerjoin(target, on)
            keys.append(title_column.label("title"))
            grouped.append(title_column)
            result.titled = True
        query = (
            sa.select(*keys, value.label("value"))
            .select_from(source)
            .where(where)
            .group_by(*grouped)
        )
        if grouping == "month":
            query = query.order_by(column.desc()).limit(MAX_MONTHS)
        elif grouping in ("link", "value"):
            limit = max(1, min(series.limit, 100))
            empty_last = sa.case((value.is_(None), 1), else_=0)
            query = query.order_by(empty_last, value.desc(), column).limit(limit)
        return query, grouping, result

    def _title_join(
        self, entity: str, name: str, target: str | None
    ) -> tuple[sa.Table, ColumnElement[bool], ColumnElement[Any]] | None:
        """The linked table, the join condition under the viewer's rule on it, and its title
        column; None when the viewer may not read the titles (the chart shows `#id`)."""
        scope = self.scope_of(target) if target else None
        if target is None or scope is None or target == entity:
            return None
        title = self.catalog.entity(target).title
        title_spec = self.catalog.entity(target).fields.get(title or "")
        if title_spec is None or not title_spec.has_column or title_spec.name in scope.hidden:
            return None
        table = self.catalog.table(target)
        on: ColumnElement[bool] = self.catalog.table(entity).c[name] == table.c.id
        if scope.predicate is not None:
            on = sa.and_(on, scope.predicate)
        return table, on, table.c[title_spec.name]

    def _measure(self, series: Series, table: sa.Table) -> tuple[str, int | None, Any]:
        if series.field is None:
            return "integer", 0, sa.func.count()
        spec = self._field(
            series.entity,
            series.field,
            _("This chart measures '%(field)s', a field you may not see"),
        )
        ftype = _effective(spec).type
        if series.agg == "count" and spec.has_column:
            return "integer", 0, sa.func.count(table.c[spec.name])
        allowed = NUMBERS if series.agg in ("sum", "avg") else NUMBERS | DATES
        if ftype not in allowed or not spec.has_column:
            raise AggregateError(
                _("%(agg)s needs a number field; '%(field)s' is a %(type)s field"),
                agg=series.agg,
                field=spec.name,
                type=ftype,
            )
        column = table.c[spec.name]
        if ftype in DATES:
            return "date", None, getattr(sa.func, series.agg)(column)
        kind = ftype if ftype in ("money", "percent") else "number"
        if ftype == "integer":
            kind = "number" if series.agg == "avg" else "integer"
        scale = _effective(spec).get("scale")
        digits = 0 if ftype == "integer" else min(int(scale) if scale is not None else 2, 2)
        if series.agg == "avg":
            return kind, max(digits, 1), sa.func.avg(column, type_=sa.Float())
        return kind, digits, getattr(sa.func, series.agg)(column, type_=sa.Float())

    # --- running ----------------------------------------------------------------------------

    def run(self, conn: sa.Connection, series: Series, empty_label: str = "—") -> Result:
        """One query: the series' buckets in a reader's order, labels in the locale."""
        query, grouping, result = self.statement(series)
        if grouping is None:
            result.value = _number(conn.execute(query).scalar(), result)
            return result
        rows = list(conn.execute(query).all())
        if grouping == "month":
            rows.reverse()
        labels = self._labels(series, grouping, rows, empty_label)
        buckets = [
            Bucket(
                None if row.key is None else str(row.key),
                labels.get(_key(row.key), empty_label),
                _number(row.value, result),
            )
            for row in rows
        ]
        if grouping in ("choice", "state"):
            order = {key: index for index, key in enumerate(labels)}
            buckets.sort(key=lambda b: order.get(b.key or "", len(order)))
        result.buckets = buckets
        return result

    def _labels(
        self, series: Series, grouping: str, rows: list[sa.Row[Any]], empty: str
    ) -> dict[str, str]:
        spec = self.catalog.entity(series.entity)
        assert series.group_by is not None
        if grouping == "state":
            return dict(state_options(self.catalog, series.entity, self.locale) or [])
        field_spec = find_field(spec, series.group_by)
        assert field_spec is not None
        effective = _effective(field_spec)
        if grouping == "choice":
            return dict(display.options(effective, self.locale))
        keys = [row.key for row in rows if row.key is not None]
        if grouping == "month":
            return {str(k): month_label(str(k), self.locale) for k in keys}
        if grouping == "link":
            target = self.catalog.entity(effective.target or series.entity)
            title = target.fields.get(target.title or "")
            out = {}
            for row in rows:
                if row.key is None:
                    continue
                text = getattr(row, "title", None) if title is not None else None
                shown = (
                    display.value(title, text, self.locale) if title and text is not None else ""
                )
                out[str(row.key)] = shown or f"#{row.key}"
            return out
        return {_key(k): display.value(effective, k, self.locale) or empty for k in keys}


def _key(value: Any) -> str:
    return "" if value is None else str(value)


def _number(value: Any, result: Result) -> Any:
    """A measured value as Decimal (int for counts, a date for min/max of dates)."""
    if value is None:
        return None
    if result.kind == "date":
        return value
    if result.kind == "integer":
        return int(value)
    number = decimal.Decimal(str(value))
    if result.digits is not None:
        number = number.quantize(decimal.Decimal(1).scaleb(-result.digits))
    return number


def month_label(key: str, locale: str) -> str:
    """`2026-11` as a short month in `locale` (`Nov 2026`, `2026年11月`)."""
    try:
        day = dt.date.fromisoformat(key + "-01")
    except ValueError:
        return key
    return babel_dates.format_skeleton("yMMM", day, locale=display.babel_locale(locale))
