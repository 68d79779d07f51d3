"""Titles of linked records, one query per target entity, under the viewer's read scope.

A record page shows many links: the record's own, its lines', its related rows' and the ones
in its history. Each names a record of some entity by id. `Titles` collects every id first
and then asks each target entity once (`id IN (...)` within the viewer's record rule), so a
page with 50 lines costs the same queries as one with 2. A record the viewer may not read
shows as `#id` without a link; its title is never read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from appblocks.engine.access import Scope
from appblocks.engine.catalog import Catalog
from appblocks.engine.record_read import chunks

ScopeOf = Callable[[str], Scope | None]


@dataclass(frozen=True)
class Ref:
    """A linked record as the page shows it: its title and, when readable, where it lives."""

    id: int
    text: str
    url: str | None = None


def record_url(app: str, entity: str, record_id: Any) -> str:
    """The record page of `app.entity` `record_id`."""
    return f"/{app}/{entity}/{record_id}"


@dataclass
class Titles:
    """Ids to resolve, by entity; then their titles and URLs."""

    catalog: Catalog
    scope_of: ScopeOf
    wanted: dict[str, set[int]] = field(default_factory=dict)
    found: dict[str, dict[int, Ref]] = field(default_factory=dict)

    def need(self, entity: str | None, ids: Iterable[Any]) -> None:
        """Remember ids of `entity` to resolve (anything that is not an id is skipped)."""
        if entity is None:
            return
        bucket = self.wanted.setdefault(entity, set())
        for value in ids:
            if isinstance(value, dict):
                value = value.get("id")
            if isinstance(value, int) and not isinstance(value, bool):
                bucket.add(value)

    def resolve(self, conn: sa.Connection) -> None:
        """One query per entity with wanted ids."""
        for entity, ids in self.wanted.items():
            if not ids:
                continue
            found = self.found.setdefault(entity, {})
            scope = self.scope_of(entity)
            if scope is None:
                continue  # not readable: every id stays a bare number
            spec = self.catalog.entity(entity)
            table = self.catalog.table(entity)
            title = spec.title if spec.title and spec.title not in scope.hidden else None
            columns = [table.c.id]
            if title is not None and title in table.c:
                columns.append(table.c[title])
            if spec.parent:
                columns.append(table.c._parent_id)
            for part in chunks(sorted(ids - set(found))):
                query = sa.select(*columns).where(table.c.id.in_(part))
                if scope.predicate is not None:
                    query = query.where(scope.predicate)
                for row in conn.execute(query):
                    found[row.id] = self._ref(spec.app, spec.name, spec.parent, row, title)
        self.wanted = {}

    def _ref(self, app: str, name: str, parent: str | None, row: Any, title: str | None) -> Ref:
        text = row._mapping.get(title) if title is not None else None
        shown = str(text) if text not in (None, "") else f"#{row.id}"
        if parent is not None:
            # A line item has no page of its own: it is shown on its parent's.
            parent_app, _, parent_name = parent.partition(".")
            return Ref(row.id, shown, record_url(parent_app, parent_name, row._parent_id))
        return Ref(row.id, shown, record_url(app, name, row.id))

    def ref(self, entity: str | None, value: Any) -> Ref | None:
        """The linked record `value` (an id) of `entity` as shown: title and URL, or `#id`."""
        if isinstance(value, dict):
            value = value.get("id")
        if value is None or entity is None:
            return None
        hit = self.found.get(entity, {}).get(value)
        return hit if hit is not None else Ref(int(value), f"#{value}")
