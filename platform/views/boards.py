"""Kanban boards: one column per option of a choice field or per state of the entity's
workflow, the cards of each column (at most `COLUMN_LIMIT`) and every column's count.

Everything runs under the caller's read scope: the counts, the cards and the titles of linked
records. Pure helpers over the catalog (columns, card fields) and two queries per board (one
GROUP BY for the counts, one page per column); moving a card is the server's business.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from appblocks.engine.access import Scope
from appblocks.engine.catalog import Catalog
from appblocks.engine.query import compile_filter
from appblocks.engine.records import RecordStore
from appblocks.engine.spec import FieldSpec, label_text, qualify
from appblocks.views import display

COLUMN_LIMIT = 50  # cards shown per column; the count says how many there are
CARD_FIELDS = 3  # fields under a card's title
STATE = "_state"
NO_VALUE = ""  # the column of records whose choice field is empty

ScopeOf = Callable[[str], Scope | None]


class BoardError(ValueError):
    """A view that cannot be shown as a board; `text` is English (a msgid), `params` fill it."""

    def __init__(self, text: str, **params: Any) -> None:
        super().__init__(text % params if params else text)
        self.text = text
        self.params = params


def _(text: str) -> str:
    """Mark a message for translation (the page translates it with the caller's catalog)."""
    return text


# --- workflows, read from the documents (the views layer does not run them) -----------------


def workflow_doc(catalog: Catalog, entity: str) -> Mapping[str, Any] | None:
    """The workflow document that owns `entity` (qualified), or None."""
    for app, blueprint in catalog.blueprints.items():
        for doc in (blueprint.get("workflows") or {}).values():
            if isinstance(doc, Mapping) and qualify(app, str(doc.get("entity"))) == entity:
                return doc
    return None


def state_options(catalog: Catalog, entity: str, locale: str) -> list[tuple[str, str]] | None:
    """(state, label) of the entity's workflow in document order, or None without one."""
    doc = workflow_doc(catalog, entity)
    if doc is None:
        return None
    out = []
    for state in doc.get("states") or []:
        if isinstance(state, Mapping):
            name = str(state.get("name"))
            out.append((name, label_text(state.get("label"), locale, _humane(name))))
        else:
            out.append((str(state), _humane(str(state))))
    return out


def _humane(name: str) -> str:
    return name.replace("_", " ").capitalize()


# --- the board ------------------------------------------------------------------------------


@dataclass(frozen=True)
class BoardSpec:
    """A kanban view made ready: its entity, what groups it, its columns and card fields."""

    entity: str
    group_by: str
    options: tuple[tuple[str, str], ...]
    fields: tuple[str, ...]
    sort: str | None
    filter: Mapping[str, Any] | None
    initial: str | None = None  # a record with no state yet is in the workflow's initial one

    @property
    def by_state(self) -> bool:
        """Whether columns are workflow states (a move runs a transition)."""
        return self.group_by == STATE

    def label_of(self, value: str) -> str:
        """A column's label by its value."""
        return next((label for v, label in self.options if v == value), value)


def board_spec(
    catalog: Catalog,
    app: str,
    view: Mapping[str, Any],
    locale: str,
    *,
    hidden: Iterable[str] = (),
    filter: Mapping[str, Any] | None = None,
) -> BoardSpec:
    """The board of a kanban view document, for a caller who may not see `hidden` fields."""
    entity = qualify(app, str(view["entity"]))
    spec = catalog.entity(entity)
    group = str(view.get("group_by") or "")
    hidden = frozenset(hidden)
    if group == STATE:
        options = state_options(catalog, entity, locale)
        if options is None:
            raise BoardError(
                _("%(entity)s has no workflow, so it has no states to group by"),
                entity=spec.label(locale),
            )
    else:
        field_spec = spec.fields.get(group)
        if field_spec is None or field_spec.type != "choice":
            raise BoardError(
                _("A board groups by a choice field or the workflow state; '%(field)s' is neither"),
                field=group,
            )
        if group in hidden:
            raise BoardError(_("This board is grouped by a field you may not see"))
        options = display.options(field_spec, locale)
    title = spec.title
    wanted = [str(c) for c in view.get("columns") or []] or [
        f.name for f in spec.columns() if f.name != title and not f.name.startswith("_")
    ]
    fields = tuple(
        name
        for name in wanted
        if name in spec.fields
        and name not in (title, group)
        and name not in hidden
        and spec.fields[name].has_column
    )[:CARD_FIELDS]
    sort = view.get("sort")
    if isinstance(sort, list):
        sort = ",".join(str(s) for s in sort)
    initial = None
    if group == STATE:
        initial = str((workflow_doc(catalog, entity) or {}).get("initial") or options[0][0])
    return BoardSpec(entity, group, tuple(options), fields, sort or "-_updated_at", filter, initial)


def group_column(catalog: Catalog, board: BoardSpec) -> sa.ColumnElement[Any]:
    """The column a board groups by; records with no state count in the initial state."""
    column: sa.ColumnElement[Any] = catalog.table(board.entity).c[board.group_by]
    if board.initial is not None:
        column = sa.func.coalesce(column, sa.literal(board.initial))
    return column


@dataclass
class Card:
    """One record on the board."""

    id: int
    version: int
    title: str
    group: str
    fields: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Column:
    """One column: its value, label, how many records it holds and the first of them."""

    value: str
    label: str
    count: int
    cards: list[Card] = field(default_factory=list)

    @property
    def more(self) -> int:
        """Records in the column that are not shown."""
        return max(self.count - len(self.cards), 0)


def _and(*parts: Mapping[str, Any] | None) -> dict[str, Any] | None:
    given = [dict(p) for p in parts if p]
    if not given:
        return None
    return given[0] if len(given) == 1 else {"and": given}


def counts(conn: sa.Connection, catalog: Catalog, board: BoardSpec, scope: Scope) -> dict[str, int]:
    """Records per group value (empty values under `NO_VALUE`), in one GROUP BY query."""
    column = group_column(catalog, board)
    query = sa.select(column, sa.func.count()).where(
        compile_filter(catalog, board.entity, board.filter)
    )
    if scope.predicate is not None:
        query = query.where(scope.predicate)
    out: dict[str, int] = {}
    for value, number in conn.execute(query.group_by(column)):
        key = NO_VALUE if value is None else str(value)
        out[key] = out.get(key, 0) + int(number)
    return out


def load_board(
    conn: sa.Connection,
    store: RecordStore,
    board: BoardSpec,
    scope: Scope,
    scope_of: ScopeOf,
    locale: str,
    *,
    limit: int = COLUMN_LIMIT,
) -> list[Column]:
    """Every column with its count and first cards, in option (or state) order; a column of
    records without a value comes last when there are any."""
    catalog = store.catalog
    numbers = counts(conn, catalog, board, scope)
    values = [v for v, _label in board.options]
    columns = [Column(v, label, numbers.get(v, 0)) for v, label in board.options]
    if not board.by_state and numbers.get(NO_VALUE):
        columns.append(Column(NO_VALUE, "", numbers[NO_VALUE]))
    unknown = [v for v in numbers if v not in values and v != NO_VALUE]
    columns += [Column(v, v, numbers[v]) for v in unknown]  # an option removed since
    records: list[dict[str, Any]] = []
    for column in columns:
        if not column.count:
            continue
        condition: dict[str, Any] = {
            board.group_by: {"isnull": True} if column.value == NO_VALUE else column.value
        }
        if board.initial is not None and column.value == board.initial:
            condition = {"or": [condition, {board.group_by: {"isnull": True}}]}
        page = store.list(
            conn,
            board.entity,
            filter=_and(board.filter, condition),
            sort=board.sort,
            limit=limit,
            scope=scope.predicate,
        )
        for record in page.items:
            record["__column"] = column
            records.append(record)
    spec = catalog.entity(board.entity)
    shown = [spec.title] if spec.title and spec.title not in scope.hidden else []
    texts = card_texts(
        conn, catalog, board.entity, records, [*shown, *board.fields], scope_of, locale
    )
    for record, text in zip(records, texts, strict=True):
        column = record.pop("__column")
        title = text.get(spec.title or "", "") if shown else ""
        column.cards.append(
            Card(
                int(record["id"]),
                int(record["_version"]),
                title or f"#{record['id']}",
                column.value,
                [
                    (spec.fields[name].label(locale), text[name])
                    for name in board.fields
                    if text.get(name)
                ],
            )
        )
    return columns


# --- values as text, links by their title (under the reader's rule on the linked entity) -----


def _link_target(spec: FieldSpec) -> str | None:
    if spec.type == "link":
        return spec.target
    if spec.type == "lookup" and spec.resolved_lookup is not None:
        return _link_target(spec.resolved_lookup)
    return None


def link_titles(
    conn: sa.Connection, catalog: Catalog, target: str, ids: Iterable[Any], scope_of: ScopeOf
) -> dict[int, str]:
    """id -> title of the `target` records among `ids` the caller may read (others absent)."""
    wanted = sorted({int(i) for i in ids if isinstance(i, int) and not isinstance(i, bool)})
    scope = scope_of(target)
    title = catalog.entity(target).title
    if not wanted or scope is None or not title or title in scope.hidden:
        return {}
    title_spec = catalog.entity(target).fields.get(title)
    if title_spec is None or not title_spec.has_column:
        return {}
    table = catalog.table(target)
    out: dict[int, str] = {}
    for start in range(0, len(wanted), 500):
        query = sa.select(table.c.id, table.c[title]).where(
            table.c.id.in_(wanted[start : start + 500])
        )
        if scope.predicate is not None:
            query = query.where(scope.predicate)
        for record_id, value in conn.execute(query):
            out[int(record_id)] = display.value(title_spec, value, "en") or f"#{record_id}"
    return out


def card_texts(
    conn: sa.Connection,
    catalog: Catalog,
    entity: str,
    records: Sequence[Mapping[str, Any]],
    names: Sequence[str],
    scope_of: ScopeOf,
    locale: str,
) -> list[dict[str, str]]:
    """Each record's `names` as text in `locale`; links show the title of what they point at
    when the caller may read it (one query per linked entity), else `#id`."""
    spec = catalog.entity(entity)
    titles: dict[str, dict[int, str]] = {}
    for name in names:
        target = _link_target(spec.fields[name]) if name in spec.fields else None
        if target is not None and target not in titles:
            ids = [
                r.get(n)
                for r in records
                for n in names
                if n in spec.fields and _link_target(spec.fields[n]) == target
            ]
            titles[target] = link_titles(conn, catalog, target, ids, scope_of)
    out = []
    for record in records:
        text: dict[str, str] = {}
        for name in names:
            field_spec = spec.fields.get(name)
            raw = record.get(name)
            if field_spec is None or raw is None:
                text[name] = "" if raw is None else str(raw)
                continue
            target = _link_target(field_spec)
            if target is not None:
                text[name] = titles.get(target, {}).get(int(raw), f"#{raw}")
            else:
                text[name] = display.value(field_spec, raw, locale)
        out.append(text)
    return out
