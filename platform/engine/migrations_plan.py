"""Migration plans: the steps that turn the tables of one catalog into those of another.

The plan compares the tables each catalog builds (every entity's table and its link tables),
which is more exact than comparing documents: what is compared is what the database holds.
Indexes and constraints are compared by name; the naming convention makes a name follow its
columns, so a renamed column's index is dropped and created again under its new name.

Workflow states live in documents, not in the tables, but records hold them in `_state`: for
each entity whose workflow renames or removes a state, the plan counts the records in it and
adds a `move_state` step. `state_moves` (qualified entity -> old state -> new state) says
where they go; the designer records a renamed state's move in the draft (`drafts`). A removed
state that holds records and has no target is refused, naming the state, entity and count.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.schema import sort_tables_and_constraints

from appblocks.engine.catalog import Catalog
from appblocks.engine.migrations_steps import ALTER_ORDER, Plan, Step, ValueCounter, n_records
from appblocks.engine.migrations_types import conversion_problem, sql_type
from appblocks.engine.spec import EntitySpec, qualify

StateMoves = Mapping[str, Mapping[str, str]]  # qualified entity -> old state -> new state


def plan(
    old: Catalog,
    new: Catalog,
    connection: sa.Connection | None = None,
    *,
    state_moves: StateMoves | None = None,
) -> Plan:
    """The steps that change the tables of `old` into those of `new`.

    With a `connection` (to a database holding `old`), values at stake are counted, and
    steps refused only because rows might exist are allowed where the table is empty.
    `state_moves` gives the new state of records whose workflow state is renamed or removed.
    """
    counter = ValueCounter(connection)
    before, after = _owned_tables(old), _owned_tables(new)
    steps: list[Step] = []
    cycle_fks: list[Step] = []
    created = [after[name].table for name in after if name not in before]
    for table, fks in sort_tables_and_constraints(created):
        if table is None:
            # Tables that link to each other: the links are added once both exist.
            cycle_fks += [_create_fk(fk.table.name, str(fk.name), _fk(fk)) for fk in fks]
        else:
            steps.append(Step("create_table", table.name, f"{table.name} ({len(table.c)} columns)"))
    for name, owned in after.items():
        if name in before:
            steps += _alter_steps(before[name], owned, new, counter)
    steps += _state_steps(old, new, state_moves or {}, counter)
    dropped = [before[name].table for name in before if name not in after]
    for table, _fks in reversed(sort_tables_and_constraints(dropped)):
        if table is not None:
            count = counter.rows(table)
            steps.append(Step("drop_table", table.name, table.name, True, count=count))
    return Plan(tuple(steps + cycle_fks), old, new, _recompute(old, new))


# --- comparing one table ------------------------------------------------------------------------


class _Owned(NamedTuple):
    table: sa.Table
    entity: EntitySpec
    link_field: str | None  # the `links` field behind a link table


class _Fk(NamedTuple):
    columns: tuple[str, ...]
    target: str
    target_columns: tuple[str, ...]
    ondelete: str | None


def _owned_tables(catalog: Catalog) -> dict[str, _Owned]:
    out: dict[str, _Owned] = {}
    for qualified, tables in catalog.tables.items():
        entity = catalog.specs.entities[qualified]
        out[tables.table.name] = _Owned(tables.table, entity, None)
        for field, link_table in tables.link_tables.items():
            out[link_table.name] = _Owned(link_table, entity, field)
    return out


def _fk(fk: sa.ForeignKeyConstraint) -> _Fk:
    targets = [e.target_fullname.rsplit(".", 1) for e in fk.elements]
    return _Fk(tuple(fk.column_keys), targets[0][0], tuple(t[1] for t in targets), fk.ondelete)


def _indexes(table: sa.Table) -> dict[str, tuple[tuple[str, ...], bool]]:
    # Sorted by name: a Table keeps its indexes and constraints in sets, and a plan should
    # list the same steps in the same order every time.
    found = {str(ix.name): (tuple(ix.columns.keys()), bool(ix.unique)) for ix in table.indexes}
    return dict(sorted(found.items()))


def _uniques(table: sa.Table) -> dict[str, tuple[str, ...]]:
    found = {
        str(c.name): tuple(c.columns.keys())
        for c in table.constraints
        if isinstance(c, sa.UniqueConstraint)
    }
    return dict(sorted(found.items()))


def _fks(table: sa.Table) -> dict[str, _Fk]:
    return dict(sorted((str(fk.name), _fk(fk)) for fk in table.foreign_key_constraints))


def _renames(old: _Owned, new: _Owned) -> dict[str, str]:
    """New column name -> old name, for fields that say `renamed_from` where that applies."""
    if new.link_field is not None:
        return {}
    out = {}
    for field in new.entity.columns():
        source = field.get("renamed_from")
        if (
            source
            and source in old.table.c
            and source not in new.table.c
            and field.name not in old.table.c
        ):
            out[field.name] = str(source)
    return out


def _alter_steps(old: _Owned, new: _Owned, catalog: Catalog, counter: ValueCounter) -> list[Step]:
    ot, nt, t = old.table, new.table, new.table.name
    renamed = _renames(old, new)
    old_of = {c: c for c in nt.c.keys() if c in ot.c} | renamed  # new column -> old column
    new_of = {o: n for n, o in old_of.items()}
    steps: list[Step] = []

    def mapped(columns: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(new_of.get(c, c) for c in columns)

    # Constraints and indexes, by name (the naming convention makes names follow columns).
    o_ix, n_ix = _indexes(ot), _indexes(nt)
    for name, (cols, unique) in o_ix.items():
        if name not in n_ix or n_ix[name] != (mapped(cols), unique):
            steps.append(Step("drop_index", t, f"{name} on {t}", name=name))
    for name, (cols, unique) in n_ix.items():
        if name not in o_ix or (mapped(o_ix[name][0]), o_ix[name][1]) != (cols, unique):
            what = f"{name} on {t} ({', '.join(cols)})" + (", unique" if unique else "")
            steps.append(Step("create_index", t, what, name=name))
    o_uq, n_uq = _uniques(ot), _uniques(nt)
    for name, cols in o_uq.items():
        if n_uq.get(name) != mapped(cols):
            steps.append(Step("drop_unique", t, f"{name} on {t}", name=name))
    for name, cols in n_uq.items():
        if name not in o_uq or mapped(o_uq[name]) != cols:
            steps.append(Step("create_unique", t, f"{name} on {t} ({', '.join(cols)})", name=name))
    o_fk, n_fk = _fks(ot), _fks(nt)
    o_fk_mapped = {n: fk._replace(columns=mapped(fk.columns)) for n, fk in o_fk.items()}
    for name in o_fk:
        if n_fk.get(name) != o_fk_mapped[name]:
            steps.append(Step("drop_fk", t, f"{name} on {t}", name=name))
    for name, fk in n_fk.items():
        if o_fk_mapped.get(name) != fk:
            refused = _fk_problem(fk, ot, old_of, o_fk_mapped.values(), counter)
            steps.append(_create_fk(t, name, fk, refused))

    # Columns.
    for column in ot.c.keys():
        if column not in new_of:
            count = counter.values(ot, column)
            steps.append(Step("drop_column", t, f"{t}.{column}", True, column=column, count=count))
    for new_name, old_name in old_of.items():
        oc, nc = ot.c[old_name], nt.c[new_name]
        if new_name != old_name:
            what = f"{t}.{old_name} -> {new_name}"
            steps.append(Step("rename_column", t, what, column=new_name, old_column=old_name))
        o_type, n_type = sql_type(oc.type), sql_type(nc.type)
        if o_type != n_type:
            steps.append(
                Step(
                    "alter_type",
                    t,
                    f"{t}.{new_name}: {o_type} -> {n_type}",
                    refused=conversion_problem(o_type, n_type),
                    column=new_name,
                    old_column=old_name,
                )
            )
        if oc.nullable != nc.nullable:
            refused = None
            if not nc.nullable and counter.nulls(ot, old_name) != 0:
                refused = f"existing rows have no value for {new_name}"
            what = f"{t}.{new_name}: " + ("may be empty" if nc.nullable else "requires a value")
            steps.append(Step("alter_nullable", t, what, refused=refused, column=new_name))
    for added in nt.c:
        if added.name not in old_of:
            steps.append(_add_column(t, added, ot, new, catalog, counter))
    steps.sort(key=lambda s: ALTER_ORDER.index(s.kind))
    return steps


def _create_fk(table: str, name: str, fk: _Fk, refused: str | None = None) -> Step:
    target = ", ".join(f"{fk.target}.{c}" for c in fk.target_columns)
    rule = f" on delete {fk.ondelete.lower()}" if fk.ondelete else ""
    what = f"{name} on {table} ({', '.join(fk.columns)}) -> {target}{rule}"
    return Step("create_fk", table, what, refused=refused, name=name)


def _fk_problem(
    fk: _Fk, old: sa.Table, old_of: Mapping[str, str], before: Iterable[_Fk], counter: ValueCounter
) -> str | None:
    """Why a new foreign key cannot go on existing values (only a changed rule is free)."""
    if not all(c in old_of for c in fk.columns):
        return None  # a new column holds no values yet
    previous = next((b for b in before if b.columns == fk.columns), None)
    if previous is not None and previous.target == fk.target:
        return None
    if counter.values(old, old_of[fk.columns[0]]) == 0:
        return None
    if previous is not None:
        return f"existing values link to {previous.target}, not {fk.target}"
    return f"existing values are not links to {fk.target}"


def _add_column(
    t: str,
    column: sa.Column[Any],
    old: sa.Table,
    owned: _Owned,
    catalog: Catalog,
    counter: ValueCounter,
) -> Step:
    refused = None
    if not column.nullable and column.server_default is None and counter.rows(old) != 0:
        if column.name == "_parent_id":
            refused = "existing rows have no parent"
        else:
            refused = f"existing rows have no value for {column.name}"
    fill = _initial_state(owned.entity, catalog) if column.name == "_state" else None
    what = f"{t}.{column.name}: {sql_type(column.type)}"
    if fill is not None:
        what += f" (existing rows start in {fill!r})"
    return Step("add_column", t, what, refused=refused, column=column.name, fill=fill)


def _initial_state(entity: EntitySpec, catalog: Catalog) -> str | None:
    """The initial state of the workflow that owns `entity`, for rows that predate it."""
    for app, blueprint in catalog.blueprints.items():
        for workflow in (blueprint.get("workflows") or {}).values():
            if qualify(app, str(workflow.get("entity"))) == entity.qualified:
                initial = workflow.get("initial")
                return str(initial) if initial is not None else None
    return None


# --- workflow states ------------------------------------------------------------------------


def state_names(workflow: Mapping[str, Any]) -> list[str]:
    """The state names of a workflow document, in order (a state is a name or {name, label})."""
    states = workflow.get("states")
    return [
        str(s.get("name")) if isinstance(s, Mapping) else str(s)
        for s in (states if isinstance(states, list) else [])
    ]


def workflows(blueprints: Mapping[str, Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """Qualified entity -> the workflow document that owns its records (app -> blueprint)."""
    out: dict[str, Mapping[str, Any]] = {}
    for app, blueprint in blueprints.items():
        for workflow in (blueprint.get("workflows") or {}).values():
            if isinstance(workflow, Mapping) and workflow.get("entity"):
                out.setdefault(qualify(app, str(workflow["entity"])), workflow)
    return out


def renamed_states(old: Any, new: Any) -> list[tuple[str, str]]:
    """(old, new) when `new` renames a state of workflow `old` in place: the states keep their
    number and order, and exactly one name differs (what the designer's rename does)."""
    if not isinstance(old, Mapping) or not isinstance(new, Mapping):
        return []
    before, after = state_names(old), state_names(new)
    changed = [(a, b) for a, b in zip(before, after, strict=False) if a != b]
    if len(before) != len(after) or len(changed) != 1:
        return []
    source, target = changed[0]
    return [] if target in before or source in after else [changed[0]]


def chain_moves(moves: Iterable[tuple[str, str, str]]) -> dict[str, dict[str, str]]:
    """Moves (entity, from, to) made one after another, as entity -> first state -> last:
    a -> b then b -> c is a -> c, and a -> b then b -> a moves nothing."""
    out: dict[str, dict[str, str]] = {}
    for entity, source, target in moves:
        where = out.setdefault(entity, {})
        hits = [origin for origin, now in where.items() if now == source]
        for origin in hits:
            where[origin] = target
        if not hits and source not in where:
            where[source] = target
    return {e: {a: b for a, b in m.items() if a != b} for e, m in out.items()}


def _state_steps(
    old: Catalog, new: Catalog, moves: StateMoves, counter: ValueCounter
) -> Iterator[Step]:
    """A move_state step for each state of an entity's old workflow whose records must move:
    the new workflow has no such state, or `moves` moves it."""
    before, after = workflows(old.blueprints), workflows(new.blueprints)
    for entity, workflow in before.items():
        if entity not in after or entity not in old.tables or entity not in new.tables:
            continue
        table = old.tables[entity].table
        if "_state" not in table.c or "_state" not in new.tables[entity].table.c:
            continue
        states = state_names(after[entity])
        wanted = dict(moves.get(entity) or {})
        # States of the old workflow, then states named only by `moves` (records left behind
        # in a state that was removed before moves existed).
        sources = list(dict.fromkeys([*state_names(workflow), *wanted]))
        for state in sources:
            target = wanted.get(state)
            if target == state or (target is None and state in states):
                continue
            count = counter.matching(table, "_state", state)
            if count == 0:
                continue
            t, records = table.name, n_records(count)
            if target is None:
                held = f"{records} of {entity} are" if count else f"{records} of {entity} may be"
                refused = (
                    f"{held} in the state '{state}', which the new workflow does not have: "
                    "choose a state to move them to"
                )
                detail = f"{t}._state '{state}' (removed, {records})"
            else:
                refused = None
                if target not in states:
                    refused = f"'{target}' is not a state of the workflow of {entity}"
                detail = f"{t}._state '{state}' -> '{target}' ({records})"
            yield Step(
                "move_state", t, detail, refused=refused, column="_state", count=count,
                entity=entity, state=state, target=target,
            )  # fmt: skip


def _recompute(old: Catalog, new: Catalog) -> frozenset[str]:
    """Entities that keep their table but whose stored computed fields changed or appeared."""
    out = set()
    for qualified, entity in new.specs.entities.items():
        if qualified not in old.specs.entities:
            continue  # a new table has no rows to recompute
        before = _computed(old.specs.entities[qualified])
        if any(before.get(name) != doc for name, doc in _computed(entity).items()):
            out.add(qualified)
    return frozenset(out)


def _computed(entity: EntitySpec) -> dict[str, dict[str, Any]]:
    keys = ("type", "formula", "rollup", "via", "field")
    return {
        f.name: {k: f.get(k) for k in keys}
        for f in entity.columns()
        if "formula" in f.doc or "rollup" in f.doc or f.type == "lookup"
    }
