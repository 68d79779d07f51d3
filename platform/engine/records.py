"""The record store: create, get, update, delete and list records of any entity.

`RecordStore` coordinates small parts, each in its own module: the validator coerces input
(`record_validate`), the writer issues inserts and updates (`record_write`), the deleter
follows delete rules (`record_delete`), the reader loads related records in batches
(`record_read`), `query`/`paging` compile filters, sorts and cursors. Around each write it adds
the version check, the audit row and the event. Every method takes the caller's connection
(the caller owns the transaction; nothing here commits) and the acting user's name.
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql import ColumnElement

from appblocks.engine.audit import (
    CREATE,
    DELETE,
    UPDATE,
    AuditEntry,
    changes,
    history,
    write_audit_many,
)
from appblocks.engine.catalog import Catalog
from appblocks.engine.events import (
    RECORD_CREATED,
    RECORD_DELETED,
    RECORD_UPDATED,
    Event,
    EventBus,
)
from appblocks.engine.models import utcnow
from appblocks.engine.paging import count_rows, decode_cursor, encode_cursor
from appblocks.engine.query import Sort, compile_filter, compile_search, compile_sort
from appblocks.engine.record_delete import Deleter
from appblocks.engine.record_errors import (
    FieldError,
    MissingVersion,
    NotFound,
    QueryError,
    RecordError,
    RecordErrors,
    Restricted,
    VersionConflict,
)
from appblocks.engine.record_plan import RECORD_ID, EntityPlan, Plans
from appblocks.engine.record_read import Reader, Record
from appblocks.engine.record_unique import guarded_write
from appblocks.engine.record_validate import Collected, Prepared, Validator
from appblocks.engine.record_write import Computer, Writer, values_after
from appblocks.engine.rules import check_rules
from appblocks.engine.sandbox_values import UserContext

__all__ = [
    "Computer",
    "FieldError",
    "MissingVersion",
    "NotFound",
    "Page",
    "QueryError",
    "RecordError",
    "RecordErrors",
    "RecordStore",
    "Restricted",
    "VersionConflict",
]

#: A record rule: a predicate on the entity's table; records outside it are not found.
Scope = ColumnElement[bool] | None

MAX_LIMIT = 10_000  # the REST layer caps its pages lower; exports read big pages
SCOPED_STATEMENTS = 512  # statements with a record rule's predicate kept for reuse
LIST_QUERIES = 512  # compiled list queries kept for reuse (by filter, search, sort, rule)


@dataclass(frozen=True)
class Page:
    """One page of a list; `next_cursor` is None on the last page."""

    items: list[Record]
    next_cursor: str | None
    total: int | None = None
    total_is_estimate: bool = False


def _user(user: UserContext | None, actor: str | None) -> UserContext | None:
    if user is not None or actor is None:
        return user
    return UserContext(actor)


MAX_ID = 2**63 - 1  # BIGINT: a larger id cannot exist, and the driver would refuse to bind it


def _order_by(order: Sort, dialect: str) -> builtins.list[ColumnElement[Any]]:
    """`order.order_by()` (NULLs last both ways), written so that an index can serve it.

    SQLite sorts NULL first ascending and last descending, PostgreSQL the other way round, so
    only one direction needs the CASE that puts NULLs last; elsewhere it only kept an index
    from serving the ORDER BY (a sort of every matching row per page instead of a walk)."""
    if dialect not in ("sqlite", "postgresql"):
        return order.order_by()
    nulls_first_ascending = dialect == "sqlite"
    out: builtins.list[ColumnElement[Any]] = []
    for key in order.keys:
        column = key.column
        if not key.nullable or key.descending == nulls_first_ascending:
            out.append(column.desc() if key.descending else column.asc())
        elif key.descending:  # PostgreSQL
            out.append(column.desc().nulls_last())
        else:  # SQLite: as Sort.order_by() has it
            out.append(sa.case((column.is_(None), 1), else_=0).asc())
            out.append(column.asc())
    return out


def _record_id(entity: str, value: Any) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_ID:
        return value
    raise NotFound(entity, value)


class RecordStore:
    """Records of the entities in a catalog: validated, versioned, audited, announced."""

    def __init__(
        self,
        catalog: Catalog,
        events: EventBus | None = None,
        *,
        computer: Computer | None = None,
    ) -> None:
        self.plans = Plans(catalog)
        self.events = events if events is not None else EventBus()
        self.reader = Reader(self.plans)
        self.validator = Validator(self.plans)
        self.writer = Writer(self.plans, computer)
        self.deleter = Deleter(self.plans, self.reader)
        self._scoped_statements: dict[
            tuple[int, int], tuple[sa.Select[Any], ColumnElement[bool], sa.Select[Any]]
        ] = {}
        self._list_queries: dict[
            tuple[Any, ...],
            tuple[Scope, tuple[ColumnElement[bool], Sort, sa.Select[Any]]],
        ] = {}

    @property
    def catalog(self) -> Catalog:
        return self.plans.catalog

    @catalog.setter
    def catalog(self, catalog: Catalog) -> None:
        self.plans.catalog = catalog  # plans rebuild on the new version when next used

    # --- reading ------------------------------------------------------------------------------

    def _load(
        self, conn: sa.Connection, plan: EntityPlan, id: Any, *, lock: bool, scope: Scope
    ) -> Record:
        record_id = _record_id(plan.name, id)
        query = plan.by_id if scope is None else self._scoped(plan.by_id, scope)
        if lock:  # PostgreSQL: hold the row until commit (SQLite locks the whole database)
            query = query.with_for_update()
        row = conn.execute(query, {RECORD_ID: record_id}).first()
        if row is None:
            raise NotFound(plan.name, record_id)
        return dict(zip(plan.out_keys, row, strict=True))

    def _scoped(self, base: sa.Select[Any], scope: ColumnElement[bool]) -> sa.Select[Any]:
        """`base.where(scope)`, built once per statement and rule predicate: the server keeps
        a caller's predicate for a while, and a statement reused skips SQLAlchemy's walk."""
        key = (id(base), id(scope))
        hit = self._scoped_statements.get(key)
        # The entry holds base and scope, so neither id can be reused while it is cached.
        if hit is not None and hit[0] is base and hit[1] is scope:
            return hit[2]
        query = base.where(scope)
        if len(self._scoped_statements) >= SCOPED_STATEMENTS:
            self._scoped_statements.clear()
        self._scoped_statements[key] = (base, scope, query)
        return query

    def check_exists(
        self, conn: sa.Connection, entity: str, id: int, *, scope: Scope = None
    ) -> None:
        """NotFound unless the record exists (within `scope`); reads nothing else."""
        plan = self.plans[entity]
        record_id = _record_id(plan.name, id)
        query = plan.id_by_id if scope is None else self._scoped(plan.id_by_id, scope)
        if conn.execute(query, {RECORD_ID: record_id}).first() is None:
            raise NotFound(plan.name, record_id)

    def get(
        self,
        conn: sa.Connection,
        entity: str,
        id: int,
        *,
        expand: Sequence[str] = (),
        scope: Scope = None,
    ) -> Record:
        """One record with its links (ids) and lines; `expand` inlines linked records."""
        plan = self.plans[entity]
        self.reader.check_expand(plan, expand)
        record = self._load(conn, plan, id, lock=False, scope=scope)
        self.reader.attach(conn, plan, [record], lines=True, expand=expand)
        return record

    def list(
        self,
        conn: sa.Connection,
        entity: str,
        *,
        filter: Mapping[str, Any] | None = None,
        sort: str | None = None,
        limit: int = 25,
        cursor: str | None = None,
        q: str | None = None,
        count: bool = False,
        expand: Sequence[str] = (),
        scope: Scope = None,
    ) -> Page:
        """A page of records: filtered, searched, sorted, after `cursor` (keyset); `scope`
        (a record rule) limits the records there are, before the filter and the count."""
        plan = self.plans[entity]
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
            raise QueryError("query_bad_limit", max=MAX_LIMIT)
        self.reader.check_expand(plan, expand)
        where, order, query = self._list_query(conn, plan, filter, q, sort, limit, scope)
        if cursor:
            query = query.where(order.after(decode_cursor(order, cursor)))
        rows = conn.execute(query).all()
        items = self.reader.records(plan, rows[:limit])
        next_cursor = None
        if len(rows) > limit:
            next_cursor = encode_cursor(order, order.values(items[-1]))
        total, estimate = count_rows(conn, plan.table, where) if count else (None, False)
        self.reader.attach(conn, plan, items, lines=False, expand=expand)
        return Page(items, next_cursor, total, estimate)

    def _list_query(
        self,
        conn: sa.Connection,
        plan: EntityPlan,
        filter: Mapping[str, Any] | None,
        q: str | None,
        sort: str | None,
        limit: int,
        scope: Scope,
    ) -> tuple[ColumnElement[bool], Sort, sa.Select[Any]]:
        """The WHERE, the sort and the page query (limit + 1 rows) of a list, kept for reuse
        when the filter is plain JSON (as from the API): the same list asked again (a view
        polled, the next page) then skips compiling and SQLAlchemy's statement walk."""
        try:
            text = json.dumps(filter, allow_nan=False) if filter is not None else None
        except (TypeError, ValueError):
            text = None  # Python values (a date object...): compile, do not keep
        key = None
        if text is not None or filter is None:
            # The plan (hashed by identity) changes with the catalog version.
            key = (plan, text, q, sort, limit, conn.dialect.name, id(scope))
            hit = self._list_queries.get(key)
            # The entry holds the rule predicate, so its id cannot be reused while cached.
            if hit is not None and hit[0] is scope:
                return hit[1]
        where = compile_filter(self.catalog, plan.name, filter)
        search = compile_search(self.catalog, plan.name, q)
        if search is not None:
            where = sa.and_(where, search)
        if scope is not None:
            where = sa.and_(scope, where)
        order = compile_sort(self.catalog, plan.name, sort)
        ordered = plan.select.where(where).order_by(*_order_by(order, conn.dialect.name))
        built = (where, order, ordered.limit(limit + 1))
        if key is not None:
            if len(self._list_queries) >= LIST_QUERIES:
                self._list_queries.clear()
            self._list_queries[key] = (scope, built)
        return built

    def history(
        self, conn: sa.Connection, entity: str, id: int, limit: int = 100
    ) -> builtins.list[dict[str, Any]]:
        """The audit entries of one record, newest first."""
        return history(conn, self.plans[entity].name, _record_id(entity, id), limit)

    def to_json(self, entity: str, record: Mapping[str, Any]) -> dict[str, Any]:
        """A record as JSON-able values (each field's type decides), for the API."""
        return self.reader.to_json(self.plans[entity], record)

    # --- writing ------------------------------------------------------------------------------

    def _finish(
        self,
        conn: sa.Connection,
        items: Sequence[Prepared],
        out: Collected,
        user: UserContext | None,
    ) -> None:
        """Check the links, compute the fields, check the entity rules (which may read computed
        values); raise every error of the record or batch together."""
        if out.refs:
            self.validator.check_refs(conn, out)
        for item in items:
            self.writer.compute(conn, item, user)
            self._rules(item, user, out.errors)
        if out.errors:
            order = sorted(out.errors, key=lambda e: -1 if e.index is None else e.index)
            raise RecordErrors(order)

    def _rules(
        self, item: Prepared, user: UserContext | None, errors: builtins.list[FieldError]
    ) -> None:
        for children in item.lines.values():
            for child in children:
                self._rules(child, user, errors)
        rules = item.plan.rules
        if rules:
            values = values_after(item)
            errors += check_rules(rules, values, user=user, prefix=item.path, index=item.index)

    def _emit(
        self,
        name: str,
        plan: EntityPlan,
        before: Record | None,
        after: Record | None,
        actor: str | None,
        conn: sa.Connection,
    ) -> None:
        if self.events.wants(name):
            record_id = (after or before or {})["id"]
            self.events.emit(Event(name, plan.name, record_id, before, after, actor, conn))

    def _audit_json(
        self, plan: EntityPlan, record: Record, *, sparse: bool = False
    ) -> dict[str, Any]:
        # The audit row records who, when and which record; its JSON holds the values (for a
        # whole record, `sparse`: only those that are set; an update's diff keeps its nulls).
        out = self.reader.to_json(plan, record, audit=True, sparse=sparse)
        out.pop("id", None)
        return out

    def _diff(
        self, plan: EntityPlan, before: Record, after: Record
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        return changes(self._audit_json(plan, before), self._audit_json(plan, after))

    def create(
        self,
        conn: sa.Connection,
        entity: str,
        values: Mapping[str, Any],
        *,
        actor: str | None = None,
        user: UserContext | None = None,
    ) -> Record:
        """Create one record (with nested lines and links); the record as stored. `user` is
        who rules and formulas see as `user` (by default one named `actor`, without roles)."""
        plan = self.plans[entity]
        out = Collected()
        item = self.validator.prepare(plan, values, out, creating=True)
        self._finish(conn, [item], out, _user(user, actor))
        now = utcnow()
        record = guarded_write(
            conn, [item], lambda: self.writer.insert(conn, plan, [item], now, actor)[0]
        )
        after = self._audit_json(plan, record, sparse=True)
        write_audit_many(
            conn, [AuditEntry(plan.name, record["id"], CREATE, actor, None, after, at=now)]
        )
        self._emit(RECORD_CREATED, plan, None, record, actor, conn)
        return record

    def create_many(
        self,
        conn: sa.Connection,
        entity: str,
        rows: Sequence[Mapping[str, Any]],
        *,
        actor: str | None = None,
        user: UserContext | None = None,
    ) -> builtins.list[int]:
        """Create many records at once, all or none; errors name their row `index`."""
        plan = self.plans[entity]
        out = Collected()
        prepare = self.validator.prepare
        items = [prepare(plan, row, out, creating=True, index=i) for i, row in enumerate(rows)]
        self._finish(conn, items, out, _user(user, actor))
        now = utcnow()
        records = guarded_write(
            conn, items, lambda: self.writer.insert(conn, plan, items, now, actor)
        )
        audit_json = self._audit_json
        entries = [
            AuditEntry(
                plan.name, r["id"], CREATE, actor, None, audit_json(plan, r, sparse=True), at=now
            )
            for r in records
        ]
        write_audit_many(conn, entries)
        if self.events.wants(RECORD_CREATED):
            for record in records:
                self._emit(RECORD_CREATED, plan, None, record, actor, conn)
        return [r["id"] for r in records]

    def update(
        self,
        conn: sa.Connection,
        entity: str,
        id: int,
        values: Mapping[str, Any],
        *,
        version: int | None,
        actor: str | None = None,
        scope: Scope = None,
        user: UserContext | None = None,
    ) -> Record:
        """Change the given fields (PATCH); `version` is the `_version` the caller read (or
        `_version` in `values`); outside `scope` the record is not found."""
        plan = self.plans[entity]
        if version is None and isinstance(values, Mapping):
            version = values.get("_version")
        if isinstance(version, str) and version.strip().isdigit():
            version = int(version)
        if isinstance(version, bool) or not isinstance(version, int):
            raise MissingVersion(plan.name, id)
        old = self._load(conn, plan, id, lock=True, scope=scope)
        if old["_version"] != version:
            raise VersionConflict(plan.name, old["id"], old["_version"])
        self.reader.attach(conn, plan, [old], lines=True)
        out = Collected()
        item = self.validator.prepare(plan, values, out, creating=False, old=old)
        self._finish(conn, [item], out, _user(user, actor))
        now = utcnow()
        new = guarded_write(
            conn, [item], lambda: self.writer.update(conn, item, old, now, actor, version=version)
        )
        if new is None:
            return old
        before, after = self._diff(plan, old, new)
        write_audit_many(
            conn, [AuditEntry(plan.name, old["id"], UPDATE, actor, before, after, at=now)]
        )
        self._emit(RECORD_UPDATED, plan, old, new, actor, conn)
        return new

    def delete(
        self,
        conn: sa.Connection,
        entity: str,
        id: int,
        *,
        version: int | None = None,
        actor: str | None = None,
        scope: Scope = None,
    ) -> None:
        """Delete a record, following its delete rules; `Restricted` when a link forbids it.

        The engine applies `restrict`, `cascade` and `set_null` itself (the foreign keys
        agree), so every record it changes or deletes gets its audit row and event."""
        plan = self.plans[entity]
        old = self._load(conn, plan, id, lock=True, scope=scope)
        if version is not None and old["_version"] != version:
            raise VersionConflict(plan.name, old["id"], old["_version"])
        self.reader.attach(conn, plan, [old], lines=True)
        now = utcnow()
        effects = self.deleter.delete(conn, plan, old, now, actor, version)
        entries = []
        for target, before, after in effects.updated:
            b, a = self._diff(target, before, after)
            entries.append(AuditEntry(target.name, before["id"], UPDATE, actor, b, a, at=now))
        for target, record in effects.deleted:
            before_json = self._audit_json(target, record, sparse=True)
            entries.append(
                AuditEntry(target.name, record["id"], DELETE, actor, before_json, None, at=now)
            )
        write_audit_many(conn, entries)
        for target, before, after in effects.updated:
            self._emit(RECORD_UPDATED, target, before, after, actor, conn)
        for target, record in effects.deleted:
            self._emit(RECORD_DELETED, target, record, None, actor, conn)

    def set_state(
        self,
        conn: sa.Connection,
        entity: str,
        id: int,
        state: str,
        *,
        version: int | None = None,
        actor: str | None = None,
        comment: str | None = None,
        scope: Scope = None,
    ) -> Record:
        """Move a workflow-owned record to `state` (for the workflow engine: `_state` is
        read-only everywhere else); audited with `comment`, announced as an update."""
        plan = self.plans[entity]
        if not plan.spec.has_state:
            raise RecordErrors(
                [FieldError.of("unknown_field", "_state", name="_state", entity=plan.name)]
            )
        old = self._load(conn, plan, id, lock=True, scope=scope)
        if version is not None and old["_version"] != version:
            raise VersionConflict(plan.name, old["id"], old["_version"])
        self.reader.attach(conn, plan, [old], lines=True)
        now = utcnow()
        table = plan.table
        stamp = {"_state": state, "_updated_at": now, "_updated_by": actor}
        conn.execute(
            sa.update(table)
            .where(table.c.id == old["id"])
            .values(**stamp, _version=table.c._version + 1)
        )
        new = {**old, **stamp, "_version": old["_version"] + 1}
        entry = AuditEntry(
            plan.name,
            old["id"],
            UPDATE,
            actor,
            {"_state": old["_state"]},
            {"_state": state},
            comment,
            now,
        )
        write_audit_many(conn, [entry])
        self._emit(RECORD_UPDATED, plan, old, new, actor, conn)
        return new
