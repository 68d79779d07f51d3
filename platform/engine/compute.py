"""Computed fields: formulas, rollups and lookups, on every save and when what they read changes.

`Computer` is the record store's compute hook. For one record it runs the entity's computed
fields in dependency order (a formula may read other formulas, rollups and lookups) and
returns their values, coerced to each field's type. `build_store` wires it into a store with
the `Propagator` (see `compute_propagate`), which recomputes other records when a change makes
their values stale. `recompute_all` recomputes every stored record of an entity (a blueprint
upgrade that changed a formula calls it through `recompute_entities`).

Decisions:
- Values take their field's type: numbers round to the field's scale (an integer field's to
  a whole number, half to even, as decimal fields do); `min`/`max` bounds do not apply.
- A formula that fails while running (division by zero, an empty value in arithmetic) stores
  an empty value and does not fail the save; so does a result its field's type cannot hold. A
  formula that does not compile, or names unknown fields, is the validator's to refuse.
- On a record's own update, a reverse-link rollup keeps its stored value and a lookup whose
  link did not change keeps its copy: both are kept current by propagation, so an update
  costs no query for them. `full=True` (recomputation) computes everything.
- Recomputation writes only computed columns: no `_version` bump, no audit row, no event (it
  is the platform catching up, not someone changing the record); rules are not re-checked.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from appblocks.engine.catalog import Catalog
from appblocks.engine.compute_fetch import aggregate, lookup_values, rollup_lines, rollup_reverse
from appblocks.engine.compute_plan import ComputePlan, Formula, Lookup, Rollup, dependency_cycle
from appblocks.engine.events import EventBus
from appblocks.engine.fieldtypes import FieldValueError
from appblocks.engine.record_read import Record
from appblocks.engine.record_write import Computer as ComputeHook
from appblocks.engine.record_write import takes_user
from appblocks.engine.records import RecordStore
from appblocks.engine.sandbox import ExpressionError
from appblocks.engine.sandbox_values import UserContext
from appblocks.engine.spec import EntitySpec

__all__ = [
    "ComputeHook",
    "Computer",
    "build_store",
    "dependency_cycle",
    "recompute_all",
    "recompute_entities",
]

log = logging.getLogger(__name__)
BATCH = 1_000  # records recomputed per page (one UPDATE executemany each)
#: per step name: record id (rollups) or linked id (lookups) -> value, fetched for a page
Fetched = Mapping[str, Mapping[int, Any]]
_COERCE_ERRORS = (FieldValueError, ValueError, TypeError, ArithmeticError)


class Computer:
    """The compute hook: the computed values of one record (see the module doc)."""

    def __init__(self, catalog: Catalog | Callable[[], Catalog]) -> None:
        self._catalog = catalog if callable(catalog) else (lambda: catalog)
        self._plan: ComputePlan | None = None

    @property
    def catalog(self) -> Catalog:
        return self._catalog()

    @property
    def plan(self) -> ComputePlan:
        """The analysis of the current catalog version (rebuilt when the catalog changes)."""
        catalog = self._catalog()
        if self._plan is None or self._plan.version != catalog.version:
            self._plan = ComputePlan(catalog)
        return self._plan

    def __call__(
        self,
        conn: sa.Connection,
        entity: EntitySpec,
        values: dict[str, Any],
        old: dict[str, Any] | None,
        user: UserContext | None = None,
    ) -> dict[str, Any]:
        return self.compute(conn, entity.qualified, values, old, user=user)

    def compute(
        self,
        conn: sa.Connection,
        entity: str,
        values: Mapping[str, Any],
        old: Mapping[str, Any] | None = None,
        *,
        user: UserContext | None = None,
        full: bool = False,
        fetched: Fetched | None = None,
    ) -> dict[str, Any]:
        """Computed field -> value for a record's values (`old`: the record before an update)."""
        plan = self.plan
        ec = plan.entities.get(entity)
        if ec is None or not ec.steps:
            return {}
        keep = old is not None and not full
        work = dict(values)
        out: dict[str, Any] = {}
        for step in ec.steps:
            name = step.field.name
            if isinstance(step, Formula):
                value = _formula(step, work, user)
            elif isinstance(step, Rollup) and step.lines is not None:
                value = rollup_lines(step, work.get(step.lines) or [], user)
            elif isinstance(step, Rollup):
                record_id: int | None = work.get("id")
                if fetched is not None and name in fetched and record_id is not None:
                    value = fetched[name].get(record_id, aggregate(step.agg, ()))
                elif keep:
                    continue
                elif record_id is None:
                    value = aggregate(step.agg, ())  # a new record: nothing links to it yet
                else:
                    value = rollup_reverse(conn, plan.catalog, step, [record_id], user)[record_id]
            else:
                assert isinstance(step, Lookup)
                linked = work.get(step.via)
                if linked is None:
                    value = None
                elif fetched is not None and name in fetched:
                    value = fetched[name].get(linked)
                elif keep and old is not None and old.get(step.via) == linked:
                    continue
                else:
                    value = lookup_values(conn, plan.catalog, step, [linked]).get(linked)
            value = _coerce(ec.coercers[name], value, entity, name)
            work[name] = out[name] = value
        return out

    def prefetch(
        self,
        conn: sa.Connection,
        entity: str,
        records: Sequence[Mapping[str, Any]],
        user: UserContext | None = None,
    ) -> dict[str, dict[int, Any]]:
        """The reverse rollups and lookups of a page of records, one query per field."""
        plan = self.plan
        out: dict[str, dict[int, Any]] = {}
        for step in plan.entities[entity].steps:
            if isinstance(step, Rollup) and step.link is not None:
                ids = [r["id"] for r in records]
                out[step.field.name] = rollup_reverse(conn, plan.catalog, step, ids, user)
            elif isinstance(step, Lookup):
                linked = [r[step.via] for r in records if r.get(step.via) is not None]
                out[step.field.name] = lookup_values(conn, plan.catalog, step, linked)
        return out

    def refresh(
        self, conn: sa.Connection, store: RecordStore, entity: str, records: list[Record]
    ) -> list[tuple[Record, dict[str, Any]]]:
        """Recompute stored records and write what changed: (record before, changed values)."""
        ec = self.plan.entities.get(entity)
        if ec is None or not ec.steps or not records:
            return []
        plan = store.plans[entity]
        if plan.lines or plan.links:
            store.reader.attach(conn, plan, records, lines=True)
        fetched = self.prefetch(conn, entity, records)
        changed: list[tuple[Record, dict[str, Any]]] = []
        rows: list[dict[str, Any]] = []
        for record in records:
            new = self.compute(conn, entity, record, record, full=True, fetched=fetched)
            diff = {k: v for k, v in new.items() if record.get(k) != v}
            if diff:
                changed.append((record, diff))
                rows.append({"_rid": record["id"], **{f"_v_{k}": v for k, v in new.items()}})
        if rows:
            table = plan.table
            names = [s.field.name for s in ec.steps]
            stmt = (
                sa.update(table)
                .where(table.c.id == sa.bindparam("_rid"))
                .values({n: sa.bindparam(f"_v_{n}") for n in names})
            )
            conn.execute(stmt, rows)
        return changed


def _formula(step: Formula, work: Mapping[str, Any], user: UserContext | None) -> Any:
    expression = step.expression
    if expression is None:
        return None
    try:
        return expression.evaluate({n: work.get(n) for n in expression.names}, user=user)
    except ExpressionError as exc:
        log.debug("formula %s.%s stores nothing: %s", step.field.entity, step.field.name, exc)
        return None


def _coerce(coerce: Callable[[Any], Any], value: Any, entity: str, name: str) -> Any:
    try:
        return coerce(value)
    except _COERCE_ERRORS as exc:
        log.debug("computed %s.%s cannot hold %r: %s", entity, name, value, exc)
        return None


class ComputerChain:
    """The Computer, then further hooks (the workflow layer's `_state`), each seeing the last."""

    def __init__(self, first: Computer, rest: Sequence[ComputeHook]) -> None:
        self.first = first
        self.rest = [(hook, takes_user(hook)) for hook in rest]

    def __call__(
        self,
        conn: sa.Connection,
        entity: EntitySpec,
        values: dict[str, Any],
        old: dict[str, Any] | None,
        user: UserContext | None = None,
    ) -> dict[str, Any]:
        out = self.first(conn, entity, values, old, user)
        for hook, with_user in self.rest:
            seen = {**values, **out}
            call: Any = hook  # the hook's declared type does not name the optional `user`
            extra = (
                call(conn, entity, seen, old, user=user)
                if with_user
                else hook(conn, entity, seen, old)
            )
            out.update(extra)
        return out


def build_store(
    catalog: Catalog,
    events: EventBus | None = None,
    *,
    extra_computers: Sequence[ComputeHook] = (),
) -> RecordStore:
    """A record store that computes fields on every save and propagates changes (see above)."""
    from appblocks.engine.compute_propagate import Propagator

    store: RecordStore
    computer = Computer(lambda: store.catalog)  # follows the store when its catalog changes
    hook = ComputerChain(computer, extra_computers) if extra_computers else computer
    store = RecordStore(catalog, events, computer=hook)
    Propagator(store, computer).subscribe(store.events)
    return store


def computer_of(store: RecordStore) -> Computer:
    """The Computer wired into `store` (a fresh one for a store built without it)."""
    hook = store.writer.computer
    if isinstance(hook, Computer):
        return hook
    if isinstance(hook, ComputerChain):
        return hook.first
    return Computer(lambda: store.catalog)


def recompute_all(conn: sa.Connection, store_or_catalog: RecordStore | Catalog, entity: str) -> int:
    """Recompute every stored record of `entity`, a page at a time; how many changed.

    Records of other entities that depend on these are not touched: `recompute_entities`
    recomputes those too, in dependency order."""
    store = (
        store_or_catalog
        if isinstance(store_or_catalog, RecordStore)
        else build_store(store_or_catalog)
    )
    computer = computer_of(store)
    plan = store.plans[entity]
    table = plan.table
    changed, last = 0, 0
    while True:
        query = plan.select.where(table.c.id > last).order_by(table.c.id).limit(BATCH)
        records = store.reader.records(plan, conn.execute(query))
        if not records:
            return changed
        changed += len(computer.refresh(conn, store, entity, records))
        last = records[-1]["id"]


def recompute_entities(
    conn: sa.Connection, store_or_catalog: RecordStore | Catalog, entities: Iterable[str]
) -> dict[str, int]:
    """Recompute `entities` and every entity depending on them, each after what it reads;
    records changed by entity."""
    store = (
        store_or_catalog
        if isinstance(store_or_catalog, RecordStore)
        else build_store(store_or_catalog)
    )
    order = computer_of(store).plan.recompute_order(entities)
    return {entity: recompute_all(conn, store, entity) for entity in order}
