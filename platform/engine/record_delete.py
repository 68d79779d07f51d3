"""Deleting a record with its delete rules: `restrict` refuses, `cascade` and `set_null` follow.

The foreign keys enforce the same rules, but a database's own cascade writes no audit row and
bumps no `_version`, so the engine walks the rules itself first: it finds everything a delete
reaches (cascaded records, line items), refuses when a `restrict` link from outside that set
points in, clears `set_null` links and removes `links` entries (as audited updates of the
records that held them), then deletes dependants before what they depend on.
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from dataclasses import dataclass, field

import sqlalchemy as sa

from appblocks.engine.record_errors import Restricted, VersionConflict
from appblocks.engine.record_plan import EntityPlan, Plans
from appblocks.engine.record_read import Reader, Record, chunks


@dataclass
class Effects:
    """What a delete did besides removing the record: for the audit trail and events."""

    deleted: list[tuple[EntityPlan, Record]] = field(default_factory=list)
    updated: list[tuple[EntityPlan, Record, Record]] = field(default_factory=list)


def _outside(table: sa.Table, ids: set[int]) -> sa.ColumnElement[bool]:
    return sa.not_(table.c.id.in_(sorted(ids))) if ids else sa.true()


class Deleter:
    """Plans and performs deletes across delete rules."""

    def __init__(self, plans: Plans, reader: Reader) -> None:
        self.plans = plans
        self.reader = reader

    def _reach(
        self, conn: sa.Connection, plan: EntityPlan, root_id: int
    ) -> tuple[list[tuple[EntityPlan, list[int], str]], dict[str, set[int]]]:
        groups: list[tuple[EntityPlan, list[int], str]] = []
        deleting: dict[str, set[int]] = {}
        queue: deque[tuple[EntityPlan, list[int], str]] = deque([(plan, [root_id], "record")])
        while queue:
            current, ids, why = queue.popleft()
            seen = deleting.setdefault(current.name, set())
            new = [i for i in ids if i not in seen]
            if not new:
                continue
            seen.update(new)
            groups.append((current, new, why))
            for line in current.lines:
                child = self.plans[line.target or ""]
                found = self._ids(conn, child.table, child.table.c._parent_id, new)
                if found:
                    queue.append((child, found, "line"))
            for entity, link, rule in current.reverse:
                if rule == "cascade":
                    source = self.plans[entity]
                    found = self._ids(conn, source.table, source.table.c[link], new)
                    if found:
                        queue.append((source, found, "cascade"))
        return groups, deleting

    def _ids(
        self, conn: sa.Connection, table: sa.Table, column: sa.Column[int], ids: list[int]
    ) -> list[int]:
        out: list[int] = []
        for part in chunks(ids):
            out.extend(conn.execute(sa.select(table.c.id).where(column.in_(part))).scalars())
        return out

    def _restrict(
        self,
        conn: sa.Connection,
        root: Record,
        root_plan: EntityPlan,
        groups: list[tuple[EntityPlan, list[int], str]],
        deleting: dict[str, set[int]],
    ) -> None:
        for plan, ids, why in groups:
            for entity, link, rule in plan.reverse:
                if rule != "restrict":
                    continue
                source = self.plans[entity].table
                count = 0
                for part in chunks(ids):
                    query = sa.select(sa.func.count()).where(
                        source.c[link].in_(part), _outside(source, deleting.get(entity, set()))
                    )
                    count += int(conn.execute(query).scalar_one())
                if count:
                    raise Restricted(
                        root_plan.name, root["id"], entity, link, count, indirect=why != "record"
                    )

    def _touch(
        self,
        conn: sa.Connection,
        plan: EntityPlan,
        ids: list[int],
        now: dt.datetime,
        actor: str | None,
        values: dict[str, object],
    ) -> list[tuple[Record, Record]]:
        """Update `ids` of `plan` (bumping versions) and return (before, after) records."""
        befores = list(self.reader.fetch(conn, plan, ids).values())
        self.reader.attach(conn, plan, befores, lines=False)
        table = plan.table
        stamp = {"_updated_at": now, "_updated_by": actor}
        for part in chunks(ids):
            conn.execute(
                sa.update(table)
                .where(table.c.id.in_(part))
                .values(**values, **stamp, _version=table.c._version + 1)
            )
        pairs = []
        for before in befores:
            after = {**before, **stamp, "_version": before["_version"] + 1}
            pairs.append((before, after))
        return pairs

    def delete(
        self,
        conn: sa.Connection,
        plan: EntityPlan,
        root: Record,
        now: dt.datetime,
        actor: str | None,
        version: int | None,
    ) -> Effects:
        """Delete `root` (loaded with its links and lines) and whatever its rules reach."""
        groups, deleting = self._reach(conn, plan, root["id"])
        self._restrict(conn, root, plan, groups, deleting)
        effects = Effects()
        for target, ids, _why in groups:
            for entity, link, rule in target.reverse:
                if rule != "set_null":
                    continue
                source = self.plans[entity]
                table = source.table
                hit: list[int] = []
                for part in chunks(ids):
                    where = sa.and_(
                        table.c[link].in_(part), _outside(table, deleting.get(entity, set()))
                    )
                    hit.extend(conn.execute(sa.select(table.c.id).where(where)).scalars())
                for before, after in self._touch(conn, source, hit, now, actor, {link: None}):
                    after[link] = None
                    effects.updated.append((source, before, after))
            self._unlink(conn, target, ids, deleting, now, actor, effects)
        for target, ids, why in groups:
            if why == "line":
                continue  # line items are part of their parent's audit entry
            if why == "record":
                effects.deleted.append((target, root))
                continue
            records = list(self.reader.fetch(conn, target, ids).values())
            self.reader.attach(conn, target, records, lines=True)
            effects.deleted.extend((target, r) for r in records)
        for target, ids, why in reversed(groups):
            table = target.table
            if why == "record" and version is not None:
                gone = conn.execute(
                    sa.delete(table).where(table.c.id == root["id"], table.c._version == version)
                )
                if gone.rowcount != 1:
                    raise VersionConflict(plan.name, root["id"], root["_version"])
                continue
            for part in chunks(ids):
                conn.execute(sa.delete(table).where(table.c.id.in_(part)))
        return effects

    def _unlink(
        self,
        conn: sa.Connection,
        target: EntityPlan,
        ids: list[int],
        deleting: dict[str, set[int]],
        now: dt.datetime,
        actor: str | None,
        effects: Effects,
    ) -> None:
        """Remove deleted records from other records' `links` lists, as audited updates."""
        for entity, name in target.reverse_links:
            source = self.plans[entity]
            link_table = source.link_tables[name]
            skip = deleting.get(entity, set())
            hit: set[int] = set()
            for part in chunks(ids):
                query = sa.select(link_table.c.source_id).where(link_table.c.target_id.in_(part))
                hit.update(i for i in conn.execute(query).scalars() if i not in skip)
            if not hit:
                continue
            pairs = self._touch(conn, source, sorted(hit), now, actor, {})
            for part in chunks(ids):
                conn.execute(sa.delete(link_table).where(link_table.c.target_id.in_(part)))
            dropped = set(ids)
            for before, after in pairs:
                after[name] = [i for i in before[name] if i not in dropped]
                effects.updated.append((source, before, after))
