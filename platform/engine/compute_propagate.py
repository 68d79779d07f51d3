"""Propagation: a saved record makes other records' computed values stale; recompute them.

The store's events say which record changed (created, updated, deleted), before and after.
Through the catalog's `Watch`es that finds, in the same transaction:
- the parent of a line item saved on its own (a line saved with its parent is computed then,
  and what else watches the line entity is told of each line created, changed or removed);
- the record a reverse-link rollup points at, before and after the change of its link;
- the records that look up a field that changed (one UPDATE when nothing reads the copy).
Recomputing those may change values others depend on (a rollup of a rollup), so it cascades,
at most `MAX_DEPTH` steps deep: blueprints whose computed fields feed each other round in a
circle stop there (with a warning) instead of looping. On PostgreSQL the records recomputed
are locked first (FOR UPDATE), so concurrent saves adding to one parent both count.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from appblocks.engine.compute import Computer
from appblocks.engine.compute_plan import Lookup, Watch
from appblocks.engine.events import RECORD_CREATED, RECORD_DELETED, RECORD_UPDATED, Event, EventBus
from appblocks.engine.record_read import chunks
from appblocks.engine.records import RecordStore

log = logging.getLogger(__name__)
MAX_DEPTH = 10

Values = Mapping[str, Any] | None


def _linked(watch: Watch, before: Values, after: Values) -> set[int]:
    """Ids of the `dependent` records a change to one watched record makes stale."""
    old = before.get(watch.link) if before is not None else None
    new = after.get(watch.link) if after is not None else None
    if before is None or after is None or old != new:
        return {i for i in (old, new) if i is not None}
    if watch.fields is None or any(before.get(f) != after.get(f) for f in watch.fields):
        return {new} if new is not None else set()
    return set()


class Propagator:
    """Recomputes the records that depend on a changed record (an event subscriber)."""

    def __init__(self, store: RecordStore, computer: Computer) -> None:
        self.store = store
        self.computer = computer

    def subscribe(self, bus: EventBus) -> None:
        """Hear every record change on `bus`."""
        for name in (RECORD_CREATED, RECORD_UPDATED, RECORD_DELETED):
            bus.subscribe(name, self)

    def __call__(self, event: Event) -> None:
        self.changed(event.connection, event.entity, event.before, event.after)

    def changed(
        self,
        conn: sa.Connection,
        entity: str,
        before: Values,
        after: Values,
        depth: int = 0,
        *,
        nested: bool = False,
    ) -> None:
        """Recompute what depends on one record of `entity` going from `before` to `after`.

        `nested`: a line item saved or deleted with its parent (computed with it already)."""
        self._nested(conn, entity, before, after, depth)
        plan = self.computer.plan
        watches = plan.watches(entity)
        if nested:
            watches = [w for w in watches if w.kind != "lines"]
        stale: dict[str, set[int]] = {}
        if before is not None and after is not None and self._stale_lookups(entity, after):
            stale.setdefault(entity, set()).add(after["id"])
        if not watches and not stale:
            return
        if depth >= MAX_DEPTH:
            log.warning("computed values of %s feed each other round in a circle; stopped", entity)
            return
        for watch in watches:
            if watch.kind != "lookup":
                ids = _linked(watch, before, after)
                if ids:
                    stale.setdefault(watch.dependent, set()).update(ids)
            elif before is not None and after is not None:
                changed = [f for f in watch.copies if before.get(f) != after.get(f)]
                if changed:
                    self._lookup(conn, watch, changed, after, stale)
        for dependent, ids in stale.items():
            self.refresh(conn, dependent, ids, depth)

    def _nested(
        self, conn: sa.Connection, entity: str, before: Values, after: Values, depth: int
    ) -> None:
        """Line items saved or deleted with their parent raise no events of their own: what
        watches a line entity (a reverse-link rollup over it, a lookup from it) hears of the
        lines created, changed and removed here."""
        sides = [r for r in (before, after) if r is not None]
        for field in self.store.plans[entity].lines:
            if any(field.name not in side for side in sides):
                continue  # the lines were not loaded: nothing to compare
            olds = {r["id"]: r for r in (before or {}).get(field.name) or ()}
            news = {r["id"]: r for r in (after or {}).get(field.name) or ()}
            for line_id in sorted(olds.keys() | news.keys()):
                old, new = olds.get(line_id), news.get(line_id)
                if old is not new:
                    target = field.target or ""
                    self.changed(conn, target, old, new, depth, nested=True)

    def refresh(self, conn: sa.Connection, entity: str, ids: set[int], depth: int = 0) -> None:
        """Recompute records of `entity` (those that still exist), then what depends on them."""
        store = self.store
        plan = store.plans[entity]
        table = plan.table
        records = []
        for part in chunks(sorted(ids)):  # deleted ones are simply not found
            query = plan.select.where(table.c.id.in_(part)).order_by(table.c.id)
            if conn.dialect.name == "postgresql":
                # Two transactions adding to one parent must not each write a sum that misses
                # the other's record: the second waits here, then (READ COMMITTED) sees it.
                query = query.with_for_update()
            records += store.reader.records(plan, conn.execute(query))
        for record, diff in self.computer.refresh(conn, store, entity, records):
            self.changed(conn, entity, record, {**record, **diff}, depth + 1)

    def _lookup(
        self,
        conn: sa.Connection,
        watch: Watch,
        changed: list[str],
        after: Mapping[str, Any],
        stale: dict[str, set[int]],
    ) -> None:
        table = self.store.plans[watch.dependent].table
        link = table.c[watch.link]
        if watch.standalone:
            # Nothing else reads the copies: overwrite them in place, one statement.
            values = {copy: after.get(f) for f in changed for copy in watch.copies[f]}
            conn.execute(sa.update(table).where(link == after["id"]).values(values))
            return
        query = sa.select(table.c.id).where(link == after["id"])
        ids = list(conn.execute(query).scalars())
        for part in chunks(ids):
            stale.setdefault(watch.dependent, set()).update(part)

    def _stale_lookups(self, entity: str, after: Mapping[str, Any]) -> bool:
        """A link cleared behind the compute hook's back (a deleted target's `set_null`) leaves
        a copy of the old target's value: the record needs recomputing."""
        ec = self.computer.plan.entities.get(entity)
        if ec is None:
            return False
        return any(
            isinstance(s, Lookup)
            and after.get(s.via) is None
            and after.get(s.field.name) is not None
            for s in ec.steps
        )
