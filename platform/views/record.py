"""The record page's data (the 360 view): the record, its lines, every related list, its history,
the approvals waiting on it and its files, in a number of queries that does not grow with them.

Queries: the record, its lines (one per lines field), one per related list (and a bounded
count when it has more rows than it shows), the history, the open tasks, the files, and one
per entity whose titles the page shows (`record_titles.Titles`). Each related list runs under
the viewer's read scope of its own entity; lists of entities the viewer may not read, or
whose link field is hidden from them, are left out. Hidden fields are stripped everywhere.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, cast
from urllib.parse import quote

import sqlalchemy as sa

from appblocks.engine.access import Scope
from appblocks.engine.audit import history
from appblocks.engine.catalog import Catalog
from appblocks.engine.models import StoredFile, Task
from appblocks.engine.record_errors import NotFound
from appblocks.engine.record_read import Record
from appblocks.engine.records import RecordStore
from appblocks.engine.spec import EntitySpec, FieldSpec
from appblocks.views.record_titles import Titles, record_url

RELATED_ROWS = 10
COUNT_CAP = 1000
HISTORY_LIMIT = 50
SUMMARY_SKIP = frozenset({"lines", "links", "long_text", "json", "file", "boolean", "lookup"})
TASKS = cast(sa.Table, Task.__table__)
FILES = cast(sa.Table, StoredFile.__table__)
FILE_COLUMNS = (
    FILES.c.id, FILES.c.key, FILES.c.name, FILES.c.content_type, FILES.c.size,
    FILES.c.entity, FILES.c.record_id, FILES.c.created_by, FILES.c.created_at,
)  # fmt: skip


class Visibility(Protocol):
    """What the viewer may see (`server.visibility.Viewer` is one)."""

    def scope(self, entity: str) -> Scope | None:
        """The read scope of `entity` (None: may not read it)."""
        ...

    def strip_history(self, entity: str, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Audit entries without hidden values."""
        ...


@dataclass
class Related:
    """The records of one entity whose link field points at the record."""

    entity: EntitySpec
    field: FieldSpec
    columns: list[FieldSpec]
    rows: list[Record]
    count: int
    capped: bool
    url: str | None  # the list filtered by the link ("see all"); None for line items

    def row_url(self, row: Mapping[str, Any]) -> str:
        """Where one related row is shown (a line item on its parent's page)."""
        if self.entity.parent:
            app, _, name = self.entity.parent.partition(".")
            return record_url(app, name, row.get("_parent_id"))
        return record_url(self.entity.app, self.entity.name, row["id"])


@dataclass
class RecordData:
    """Everything the record page shows, with hidden fields removed."""

    entity: EntitySpec
    record: Record
    titles: Titles
    raw: Record = field(default_factory=dict)  # unstripped: for workflow conditions only
    related: list[Related] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    tasks: list[dict[str, Any]] = field(default_factory=list)
    attachments: list[dict[str, Any]] = field(default_factory=list)
    field_files: dict[str, dict[str, Any]] = field(default_factory=dict)  # key -> file row


def strip(record: Mapping[str, Any], hidden: Iterable[str]) -> Record:
    """A record without the `hidden` keys."""
    gone = set(hidden)
    return {k: v for k, v in record.items() if k not in gone}


def link_target(spec: FieldSpec) -> str | None:
    """The entity a field's value points at (a link, links, or a lookup copying a link)."""
    if spec.type in ("link", "links"):
        return spec.target
    resolved = spec.resolved_lookup
    if spec.type == "lookup" and resolved is not None and resolved.type == "link":
        return resolved.target
    return None


def need_links(titles: Titles, entity: EntitySpec, records: Iterable[Mapping[str, Any]]) -> None:
    """Remember every linked id in `records` (of `entity`) for `titles`."""
    targets = [(f.name, t) for f in entity.fields.values() if (t := link_target(f))]
    if not targets:
        return
    for record in records:
        for name, target in targets:
            value = record.get(name)
            titles.need(target, value if isinstance(value, list) else [value])


def summary_columns(entity: EntitySpec, link: str, hidden: frozenset[str]) -> list[FieldSpec]:
    """A few columns that tell related records apart: the title, then a date, an amount, a
    choice, then whatever comes first."""
    fields = entity.fields
    out: list[FieldSpec] = []
    title = entity.title
    if title and title in fields and title not in hidden:
        out.append(fields[title])
    candidates = [
        f
        for f in fields.values()
        if f.name not in (title, link) and f.name not in hidden and f.has_column
        and f.type not in SUMMARY_SKIP
    ]  # fmt: skip
    for kind in (("date", "datetime"), ("money",), ("choice",)):
        pick = next((f for f in candidates if f.type in kind and f not in out), None)
        if pick is not None:
            out.append(pick)
    for f in candidates:
        if len(out) >= 4:
            break
        if f not in out:
            out.append(f)
    order = {f.name: i for i, f in enumerate(fields.values())}
    head, rest = out[:1], sorted(out[1:4], key=lambda f: order[f.name])
    return head + rest


def filter_url(entity: EntitySpec, link: str, record_id: int) -> str:
    """The list of `entity` filtered to the records whose `link` is `record_id`."""
    text = json.dumps({link: record_id}, separators=(",", ":"))
    return f"/{entity.app}/{entity.name}?filter={quote(text, safe='')}"


def _related(
    conn: sa.Connection,
    catalog: Catalog,
    store: RecordStore,
    entity: EntitySpec,
    link: FieldSpec,
    scope: Scope,
    record_id: int,
) -> Related:
    plan = store.plans[entity.qualified]
    table = plan.table
    where: sa.ColumnElement[bool] = table.c[link.name] == record_id
    if scope.predicate is not None:
        where = sa.and_(where, scope.predicate)
    # One statement: the first rows and how many there are, counted only up to COUNT_CAP (a
    # supplier with a million orders must not cost a million-row count).
    capped_ids = sa.select(table.c.id).where(where).limit(COUNT_CAP + 1).subquery()
    total = sa.select(sa.func.count()).select_from(capped_ids).scalar_subquery()
    query = (
        sa.select(*plan.select.selected_columns, total.label("_total"))
        .where(where)
        .order_by(table.c.id.desc())
        .limit(RELATED_ROWS)
    )
    found = conn.execute(query).all()
    count = int(found[0][-1]) if found else 0
    capped = count > COUNT_CAP
    count = min(count, COUNT_CAP)
    rows = store.reader.records(plan, [row[:-1] for row in found])
    shown = [strip(r, scope.hidden) for r in rows[:RELATED_ROWS]]
    url = None if entity.parent else filter_url(entity, link.name, record_id)
    return Related(
        entity, link, summary_columns(entity, link.name, scope.hidden), shown, count, capped, url
    )


def _tasks(
    conn: sa.Connection, entity: str, record_id: int, user: str, roles: Iterable[str]
) -> list[dict[str, Any]]:
    mine = TASKS.c.assignee_user == user
    roles = sorted(roles)
    if roles:
        mine = sa.or_(
            mine, sa.and_(TASKS.c.assignee_user.is_(None), TASKS.c.assignee_role.in_(roles))
        )
    query = (
        sa.select(TASKS)
        .where(TASKS.c.entity == entity, TASKS.c.record_id == record_id, TASKS.c.status == "open", mine)
        .order_by(TASKS.c.id)
    )  # fmt: skip
    return [dict(row._mapping) for row in conn.execute(query)]


def file_keys(entity: EntitySpec, record: Mapping[str, Any], catalog: Catalog) -> list[str]:
    """The keys held by the record's file fields (and its lines')."""
    keys = [
        record[f.name] for f in entity.fields.values() if f.type == "file" and record.get(f.name)
    ]
    for f in entity.fields.values():
        if f.type == "lines" and f.target and isinstance(record.get(f.name), list):
            child = catalog.entity(f.target)
            names = [c.name for c in child.fields.values() if c.type == "file"]
            keys += [line[n] for line in record[f.name] for n in names if line.get(n)]
    return [str(k) for k in keys]


def load(
    conn: sa.Connection,
    catalog: Catalog,
    store: RecordStore,
    entity: str,
    record_id: int,
    visibility: Visibility,
    *,
    user: str,
    roles: Iterable[str] = (),
) -> RecordData:
    """The record page's data for a viewer (NotFound outside their record rule)."""
    spec = catalog.entity(entity)
    scope = visibility.scope(entity)
    if scope is None:
        raise NotFound(entity, record_id)
    raw = store.get(conn, entity, record_id, scope=scope.predicate)
    record = strip(raw, scope.hidden)
    titles = Titles(catalog, visibility.scope)
    need_links(titles, spec, [record])
    for f in spec.fields.values():
        if f.type == "lines" and f.target and f.name in record:
            child = catalog.entity(f.target)
            child_scope = visibility.scope(f.target)
            child_hidden = child_scope.hidden if child_scope is not None else frozenset()
            record[f.name] = [strip(line, child_hidden) for line in record[f.name]]
            need_links(titles, child, record[f.name])
    data = RecordData(spec, record, titles, raw)
    for other, link in catalog.specs.reverse_links(entity):
        other_scope = visibility.scope(other.qualified)
        if other_scope is None or link.name in other_scope.hidden:
            continue
        related = _related(conn, catalog, store, other, link, other_scope, record["id"])
        need_links(titles, other, related.rows)
        data.related.append(related)
    items = history(conn, entity, record["id"], HISTORY_LIMIT)
    data.history = visibility.strip_history(entity, items)
    for item in data.history:
        need_links(
            titles,
            spec,
            [v for v in (item.get("before"), item.get("after")) if isinstance(v, dict)],
        )
    data.tasks = _tasks(conn, entity, record["id"], user, roles)
    # Files held by fields are shown at their field; a hidden field's file nowhere.
    held = set(file_keys(spec, raw, catalog))
    keys = file_keys(spec, record, catalog)
    mine = sa.and_(FILES.c.entity == entity, FILES.c.record_id == record["id"])
    where = sa.or_(mine, FILES.c.key.in_(keys)) if keys else mine
    for row in conn.execute(sa.select(*FILE_COLUMNS).where(where).order_by(FILES.c.id)):
        item = dict(row._mapping)
        if item["key"] in keys:
            data.field_files[item["key"]] = item
        elif item["key"] not in held:
            data.attachments.append(item)
    titles.resolve(conn)
    return data
