"""Writing prepared records: batched inserts (with nested lines and links), diffed updates.

The writer takes `Prepared` trees from the validator and turns them into as few statements
as it can: one executemany per entity level for inserts, one UPDATE per changed record. It
knows nothing about audit or events; the store does those around it.
"""

from __future__ import annotations

import datetime as dt
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from appblocks.engine.autonumber import next_values
from appblocks.engine.record_bulk import insert_many
from appblocks.engine.record_errors import VersionConflict
from appblocks.engine.record_plan import EntityPlan, Plans
from appblocks.engine.record_read import Record, chunks
from appblocks.engine.record_validate import Prepared
from appblocks.engine.spec import EntitySpec

#: The compute hook: (connection, entity, the record's values after the change, the record
#: before it or None) -> values of computed columns (formula, rollup, lookup; `_state` on
#: create). Called children first, so a parent's rollup sees its lines' computed values.
#: A hook that also takes a keyword `user` is given the acting user (a sandbox UserContext).
Computer = Callable[
    [sa.Connection, EntitySpec, dict[str, Any], dict[str, Any] | None], Mapping[str, Any]
]


def values_after(item: Prepared) -> dict[str, Any]:
    """A prepared record's values after the change: the old record, then the input over it."""
    values = dict(item.old or {})
    values.update(item.columns)
    values.update(item.links)
    for name, children in item.lines.items():
        values[name] = [values_after(c) for c in children]
    return values


_view = values_after


def takes_user(hook: Callable[..., Any]) -> bool:
    """Whether a compute hook accepts the acting user (`user=`)."""
    try:
        params = inspect.signature(hook).parameters
    except (TypeError, ValueError):
        return False
    return "user" in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def _insert_ids(conn: sa.Connection, plan: EntityPlan, rows: list[Record]) -> Sequence[int]:
    """Insert rows with one executemany; their new ids, in order."""
    dialect = conn.dialect.name
    if len(rows) == 1 or dialect not in ("sqlite", "postgresql"):
        return conn.execute(plan.insert_returning, rows).scalars().all()
    if dialect == "postgresql":
        # A driver executemany (pipelined by psycopg) runs at about three times the speed of
        # INSERT ... RETURNING in batches, so the ids are drawn from the sequence first.
        sequence = sa.func.pg_get_serial_sequence(plan.table.name, "id")
        draw = sa.select(sa.func.nextval(sequence)).select_from(
            sa.func.generate_series(1, len(rows))
        )
        ids = [int(i) for i in conn.execute(draw).scalars()]
        for row, new_id in zip(rows, ids, strict=True):
            row["id"] = new_id
        insert_many(conn, plan.table, rows)
        return ids
    # SQLite runs RETURNING with a guaranteed order one row at a time, which costs half again
    # the insert. Its rowids need no RETURNING: our INSERT holds the database's write lock
    # until the caller's transaction ends, and each new rowid is one more than the largest,
    # so a batch gets the `len(rows)` ids ending at the largest id right after it.
    insert_many(conn, plan.table, rows)
    last = int(conn.execute(sa.select(sa.func.max(plan.table.c.id))).scalar_one())
    return range(last - len(rows) + 1, last + 1)


class Writer:
    """Executes the writes of prepared records on a connection (never commits)."""

    def __init__(self, plans: Plans, computer: Computer | None = None) -> None:
        self.plans = plans
        self.computer = computer

    @property
    def computer(self) -> Computer | None:
        return self._computer

    @computer.setter
    def computer(self, computer: Computer | None) -> None:
        self._computer = computer
        self._with_user = computer is not None and takes_user(computer)

    # --- computed values -----------------------------------------------------------------------

    def compute(self, conn: sa.Connection, item: Prepared, user: Any = None) -> None:
        """Run the compute hook over a prepared tree (children first), filling computed columns."""
        if self.computer is None:
            return
        for children in item.lines.values():
            for child in children:
                self.compute(conn, child, user)
        plan = item.plan
        if self._with_user:
            hook: Any = self.computer
            result = hook(conn, plan.spec, _view(item), item.old, user=user)
        else:
            result = self.computer(conn, plan.spec, _view(item), item.old)
        for key, value in result.items():
            allowed = key in plan.computed_columns or (
                key == "_state" and plan.spec.has_state and item.old is None
            )
            if not allowed:
                raise ValueError(f"the compute hook set {key!r} of {plan.name}: not computed")
            item.columns[key] = value

    # --- inserts --------------------------------------------------------------------------------

    def insert(
        self,
        conn: sa.Connection,
        plan: EntityPlan,
        items: Sequence[Prepared],
        now: dt.datetime,
        actor: str | None,
        extras: Sequence[Mapping[str, Any]] | None = None,
    ) -> list[Record]:
        """Insert records (one executemany), then their links and lines; the new rows."""
        if not items:
            return []
        rows: list[Record] = []
        stamp = {
            "_version": 1,
            "_created_at": now,
            "_updated_at": now,
            "_created_by": actor,
            "_updated_by": actor,
        }
        blank = dict.fromkeys(plan.write_keys)
        for n, item in enumerate(items):
            row = blank.copy()
            row.update(item.columns)
            row.update(stamp)
            if extras is not None:
                row.update(extras[n])
            if plan.spec.parent and row["_position"] is None:
                row["_position"] = 0
            rows.append(row)
        for field in plan.autonumbers:
            for row, number in zip(
                rows, next_values(conn, plan.name, field, now, len(rows)), strict=True
            ):
                row[field.name] = number
        ids = _insert_ids(conn, plan, rows)
        records: list[Record] = []
        for row, new_id in zip(rows, ids, strict=True):
            records.append({"id": new_id, **row})
        for field in plan.links:
            link_rows = [
                {"source_id": rec["id"], "target_id": target, "_position": pos}
                for item, rec in zip(items, records, strict=True)
                for pos, target in enumerate(item.links.get(field.name, ()))
            ]
            insert_many(conn, plan.link_tables[field.name], link_rows)
            for item, rec in zip(items, records, strict=True):
                rec[field.name] = list(item.links.get(field.name, ()))
        for field in plan.lines:
            self._insert_lines(conn, plan, field.name, items, records, now, actor)
        return records

    def _insert_lines(
        self,
        conn: sa.Connection,
        plan: EntityPlan,
        name: str,
        items: Sequence[Prepared],
        records: Sequence[Record],
        now: dt.datetime,
        actor: str | None,
    ) -> None:
        children: list[Prepared] = []
        extras: list[dict[str, Any]] = []
        for item, rec in zip(items, records, strict=True):
            rec[name] = []
            for pos, child in enumerate(item.lines.get(name, ())):
                children.append(child)
                extras.append({"_parent_id": rec["id"], "_position": pos})
        if not children:
            return
        child_plan = children[0].plan
        inserted = self.insert(conn, child_plan, children, now, actor, extras)
        by_parent = {rec["id"]: rec for rec in records}
        for child_rec in inserted:
            by_parent[child_rec["_parent_id"]][name].append(child_rec)

    # --- updates --------------------------------------------------------------------------------

    def update(
        self,
        conn: sa.Connection,
        item: Prepared,
        old: Record,
        now: dt.datetime,
        actor: str | None,
        *,
        version: int | None = None,
        position: int | None = None,
    ) -> Record | None:
        """Apply the given changes to one record and its lines; the new record, or None when
        nothing changed. `version` guards the UPDATE (optimistic locking)."""
        plan = item.plan
        table = plan.table
        changes = {k: v for k, v in item.columns.items() if old.get(k) != v}
        if position is not None and old.get("_position") != position:
            changes["_position"] = position
        links = {k: ids for k, ids in item.links.items() if ids != old.get(k)}
        line_ops = [
            (name, children)
            for name, children in item.lines.items()
            if self._lines_differ(children, old.get(name) or [])
        ]
        if not changes and not links and not line_ops:
            return None
        stamp = {"_updated_at": now, "_updated_by": actor}
        where = [table.c.id == old["id"]]
        if version is not None:
            where.append(table.c._version == version)
        stmt = (
            sa.update(table).where(*where).values(**changes, **stamp, _version=table.c._version + 1)
        )
        if conn.execute(stmt).rowcount != 1:
            current = conn.execute(sa.select(table.c._version).where(table.c.id == old["id"]))
            raise VersionConflict(plan.name, old["id"], int(current.scalar() or 0))
        new = dict(old)
        new.update(changes)
        new.update(stamp)
        new["_version"] = old["_version"] + 1
        for name, ids in links.items():
            link_table = plan.link_tables[name]
            conn.execute(sa.delete(link_table).where(link_table.c.source_id == old["id"]))
            if ids:
                rows = [{"source_id": old["id"], "target_id": t, "_position": p} for p, t in
                        enumerate(ids)]  # fmt: skip
                conn.execute(link_table.insert(), rows)
            new[name] = list(ids)
        for name, children in line_ops:
            new[name] = self._replace_lines(conn, plan, name, old, children, now, actor)
        return new

    def _lines_differ(self, children: Sequence[Prepared], old: Sequence[Record]) -> bool:
        if [c.id for c in children] != [o["id"] for o in old]:
            return True
        for child, before in zip(children, old, strict=True):
            if any(before.get(k) != v for k, v in child.columns.items()):
                return True
            if any(before.get(k) != v for k, v in child.links.items()):
                return True
            for name, grandchildren in child.lines.items():
                if self._lines_differ(grandchildren, before.get(name) or []):
                    return True
        return False

    def _replace_lines(
        self,
        conn: sa.Connection,
        plan: EntityPlan,
        name: str,
        old: Record,
        children: Sequence[Prepared],
        now: dt.datetime,
        actor: str | None,
    ) -> list[Record]:
        """The `lines` list replaces the old one: keep-and-update, create, delete the rest."""
        olds = {o["id"]: o for o in old.get(name) or []}
        kept = {c.id for c in children if c.id is not None}
        gone = [i for i in olds if i not in kept]
        if gone:
            child_table = self.plans[plan.field(name).target or ""].table
            for part in chunks(gone):
                conn.execute(sa.delete(child_table).where(child_table.c.id.in_(part)))
        out: list[Record | None] = [None] * len(children)
        fresh: list[tuple[int, Prepared]] = []
        for pos, child in enumerate(children):
            if child.id is None:
                fresh.append((pos, child))
                continue
            before = olds[child.id]
            after = self.update(conn, child, before, now, actor, position=pos)
            out[pos] = after if after is not None else before
        if fresh:
            extras = [{"_parent_id": old["id"], "_position": pos} for pos, _ in fresh]
            inserted = self.insert(
                conn, fresh[0][1].plan, [c for _, c in fresh], now, actor, extras
            )
            for (pos, _), rec in zip(fresh, inserted, strict=True):
                out[pos] = rec
        return [r for r in out if r is not None]
