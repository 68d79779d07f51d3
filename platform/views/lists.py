"""List pages: which fields may be columns, the default columns, and a page of rows as cells.

Links show their target's title, fetched with one query per target entity for the whole page
(never one per row), and only for targets the caller may read: a record outside the caller's
rule, or a target whose title field is hidden from them, shows its bare number.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from appblocks.engine.access import Scope
from appblocks.engine.catalog import Catalog
from appblocks.engine.query import system_fields
from appblocks.engine.record_read import chunks
from appblocks.engine.spec import EntitySpec, FieldSpec
from appblocks.views import display

#: system columns a list may show, in this order after the entity's own fields
SYSTEM_COLUMNS = ("_state", "_created_at", "_created_by", "_updated_at", "_updated_by")
#: never a column: line items live on the record page
NOT_COLUMNS = frozenset({"lines"})
#: columns a person can choose, but not among the defaults (long, or unreadable in a cell)
NOT_DEFAULT = frozenset({"lines", "long_text", "json", "file", "links"})
DEFAULT_COUNT = 6  # fields after the title in the default columns
NUMERIC = frozenset({"integer", "decimal", "money", "percent"})
UNSORTABLE = frozenset({"link", "links", "lines", "multi_choice", "json"})

#: `visible(entity)`: the caller's read scope of an entity, None when it may not read it
Visibility = Callable[[str], Scope | None]


def value_field(field: FieldSpec) -> FieldSpec:
    """The field whose type a value has: a lookup's looked-up field, else the field itself."""
    if field.type == "lookup" and field.resolved_lookup is not None:
        return field.resolved_lookup
    return field


def link_target(field: FieldSpec) -> str | None:
    """The entity a link or links value points at (through a lookup too), or None."""
    inner = value_field(field)
    return inner.target if inner.type in ("link", "links") else None


def state_field(entity: EntitySpec, labels: Mapping[str, Any] | None) -> FieldSpec:
    """`_state` as a choice of the workflow's states (state -> label), for cells and filters."""
    options = [{"value": s, "label": label} for s, label in (labels or {}).items()]
    return FieldSpec("_state", "choice", {"options": options}, entity.qualified)


def column_fields(
    entity: EntitySpec, hidden: Iterable[str], states: Mapping[str, Any] | None = None
) -> dict[str, FieldSpec]:
    """Every field a caller who may not see `hidden` can show as a column (or filter by),
    in document order, then the system columns (`_state` as a choice of `states`)."""
    blocked = set(hidden)
    out = {
        f.name: f
        for f in entity.fields.values()
        if f.type not in NOT_COLUMNS and f.name not in blocked
    }
    system = system_fields(entity)
    for name in SYSTEM_COLUMNS:
        if name in system:
            out[name] = state_field(entity, states) if name == "_state" else system[name]
    return out


def default_columns(entity: EntitySpec, fields: Mapping[str, FieldSpec]) -> list[str]:
    """The title field first, then the first few other fields, then the workflow state."""
    out: list[str] = []
    if entity.title and entity.title in fields:
        out.append(entity.title)
    for name, field in fields.items():
        if len(out) >= DEFAULT_COUNT + 1 or name.startswith("_"):
            continue
        if name not in out and field.type not in NOT_DEFAULT:
            out.append(name)
    if "_state" in fields:
        out.append("_state")
    return out or list(fields)[:1]


def parse_columns(
    wanted: str | Sequence[str], fields: Mapping[str, FieldSpec]
) -> tuple[list[str], list[str]]:
    """(columns, refused): the names of `wanted` (a comma list or names) that may be shown,
    each once, and those that may not (unknown or hidden)."""
    names = wanted.split(",") if isinstance(wanted, str) else list(wanted)
    out: list[str] = []
    refused: list[str] = []
    for raw in names:
        name = raw.strip()
        if not name or name in out:
            continue
        (out if name in fields else refused).append(name)
    return out, refused


def sortable(field: FieldSpec) -> bool:
    """Whether a column header sorts (a link would sort by number, which reads as random)."""
    return field.has_column and value_field(field).type not in UNSORTABLE


def is_numeric(field: FieldSpec) -> bool:
    """Right-aligned in a table."""
    return value_field(field).type in NUMERIC


# --- link titles ------------------------------------------------------------------------------


def wanted_links(
    records: Iterable[Mapping[str, Any]], fields: Iterable[FieldSpec]
) -> dict[str, set[int]]:
    """The ids each target entity must name for these records' link columns."""
    wanted: dict[str, set[int]] = {}
    links = [(f.name, t) for f in fields if (t := link_target(f)) is not None]
    for record in records:
        for name, target in links:
            value = record.get(name)
            ids = wanted.setdefault(target, set())
            if isinstance(value, list):
                ids.update(v for v in value if isinstance(v, int))
            elif isinstance(value, int):
                ids.add(value)
    return wanted


def titles_for(
    conn: sa.Connection, catalog: Catalog, wanted: Mapping[str, set[int]], visible: Visibility
) -> dict[str, dict[int, str]]:
    """Titles by target entity and id: one query per target entity, under the caller's read
    scope of that entity (records it may not read get no title)."""
    out: dict[str, dict[int, str]] = {}
    for target, ids in wanted.items():
        found: dict[int, str] = {}
        out[target] = found
        spec = catalog.entity(target)
        scope = visible(target)
        if not ids or scope is None or not spec.title or spec.title in scope.hidden:
            continue
        table = catalog.table(target)
        for part in chunks(sorted(ids)):
            query = sa.select(table.c.id, table.c[spec.title]).where(table.c.id.in_(part))
            if scope.predicate is not None:
                query = query.where(scope.predicate)
            for record_id, title in conn.execute(query):
                if title is not None:
                    found[record_id] = str(title)
    return out


# --- cells ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    """One table cell: its text, where it links to (a linked record), right-aligned or not,
    and for the workflow state its raw value (shown as a badge)."""

    text: str
    href: str | None = None
    numeric: bool = False
    state: str | None = None


def record_path(catalog: Catalog, entity: str, record_id: int) -> str:
    """The record page of a record: `/{app}/{entity}/{id}`."""
    spec = catalog.entity(entity)
    return f"/{spec.app}/{spec.name}/{record_id}"


def cell(
    catalog: Catalog,
    field: FieldSpec,
    raw: Any,
    titles: Mapping[str, Mapping[int, str]],
    locale: str,
) -> Cell:
    """A value as a cell: links by title (to the linked record's page), the rest as text."""
    target = link_target(field)
    if target is not None:
        names = titles.get(target, {})
        ids = raw if isinstance(raw, list) else ([] if raw is None else [raw])
        if not isinstance(raw, list) and len(ids) == 1 and ids[0] in names:
            return Cell(names[ids[0]], record_path(catalog, target, ids[0]))
        return Cell(", ".join(names.get(i, f"#{i}") for i in ids))
    if field.name == "_state" and raw is not None:
        return Cell(display.value(field, raw, locale), state=str(raw))
    return Cell(display.value(field, raw, locale), numeric=is_numeric(field))


def rows(
    catalog: Catalog,
    entity: EntitySpec,
    records: Sequence[Mapping[str, Any]],
    columns: Sequence[FieldSpec],
    titles: Mapping[str, Mapping[int, str]],
    locale: str,
) -> list[dict[str, Any]]:
    """A page of records as rows: id, title, the record page's path and the cells."""
    out = []
    for record in records:
        title = record.get(entity.title) if entity.title else None
        out.append(
            {
                "id": record["id"],
                "title": "" if title is None else str(title),
                "href": f"/{entity.app}/{entity.name}/{record['id']}",
                "cells": [cell(catalog, f, record.get(f.name), titles, locale) for f in columns],
            }
        )
    return out
