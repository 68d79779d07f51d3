"""Applying a migration plan with Alembic's operations API, inside the caller's transaction.

On PostgreSQL every step is a plain ALTER. SQLite can only add and rename columns and create
and drop indexes in place; a table's other changes run as one Alembic batch that rebuilds the
table (move and copy). The batch gets the table's current definition as `copy_from`, rebuilt
with explicit names, because Alembic drops indexes made by `index=True` column flags and
constraints that name a renamed column when it copies a table.

Two SQLite hazards shape this module:

- Rebuilding drops the old table, and while foreign keys are enforced SQLite first deletes its
  rows through them: rows that cascade are deleted, set-null links are cleared. The pragma
  cannot change inside a transaction, so `begin_migration` turns enforcement off before BEGIN
  and checks every foreign key before COMMIT; `apply` refuses to rebuild a referenced table
  that holds rows while enforcement is on.
- Alembic casts a retyped column with CAST(x AS type), and CAST('2024-01-05' AS DATETIME) is
  2024 (numeric affinity). Retyped columns are declared with their new type in `copy_from`
  instead, so values are copied as they are and the column's affinity converts what it can;
  an UPDATE afterwards gives dates and booleans the form SQLAlchemy reads back.

`move_state` steps run last, once every table has its new shape: one UPDATE per table moves
the records of each renamed or removed workflow state (a CASE, so swapped names work).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import sqlalchemy as sa
from alembic.migration import MigrationContext
from alembic.operations import BatchOperations, Operations
from sqlalchemy.schema import conv, sort_tables_and_constraints

from appblocks.engine.catalog import Catalog
from appblocks.engine.migrations_backup import default_backup_dir, write_backups
from appblocks.engine.migrations_steps import (
    DataLossRefused,
    MigrationError,
    MigrationFailed,
    MigrationRefused,
    Plan,
    Step,
)
from appblocks.engine.migrations_types import sql_type
from appblocks.engine.models import Task, utcnow

TABLE_KINDS = frozenset({"create_table", "drop_table"})
MOVES = "move_state"  # records moved between workflow states: no table change
# Step kinds SQLite can do in place; any other makes the batch rebuild the table.
IN_PLACE = frozenset({"drop_index", "create_index", "rename_column", "add_column"})


@dataclass(frozen=True)
class ApplyReport:
    """What `apply` did: the steps run, the backup files written, the entities to recompute."""

    steps: tuple[Step, ...]
    backups: tuple[Path, ...] = ()
    recompute: frozenset[str] = frozenset()


def apply(
    plan: Plan,
    connection: sa.Connection,
    *,
    allow_data_loss: bool = False,
    backup_dir: Path | None = None,
) -> ApplyReport:
    """Run `plan` in the caller's transaction (open it with `begin_migration`); never commits."""
    if plan.refused:
        raise MigrationRefused(plan.refused)
    if plan.data_loss and not allow_data_loss:
        raise DataLossRefused(plan.data_loss)
    if plan.is_empty:
        return ApplyReport((), (), plan.recompute)
    runs = _runs([s for s in plan.steps if s.kind != MOVES])
    runner = _Runner(plan, connection)
    if runner.sqlite and runner.fk_enforced:
        _refuse_unsafe_rebuild(plan, connection, runs)
    backups: list[Path] = []
    if plan.data_loss:
        backups = write_backups(plan, connection, backup_dir or default_backup_dir())
    for table, steps in runs:
        try:
            runner.run(table, steps)
        except sa.exc.DBAPIError as exc:
            what = ", ".join(f"{s.kind} {s.detail}" for s in steps)
            raise MigrationFailed(f"{what}: {exc.orig}") from exc
    moves = [s for s in plan.steps if s.kind == MOVES]
    _move_states(connection, moves)
    _move_tasks(connection, plan, moves)
    return ApplyReport(plan.steps, tuple(backups), plan.recompute)


def _move_states(connection: sa.Connection, steps: Sequence[Step]) -> None:
    """UPDATE t SET _state = CASE _state WHEN old THEN new ... END WHERE _state IN (old...),
    one statement per table, every state a bound parameter."""
    by_table: dict[str, dict[str, str]] = {}
    for step in steps:
        assert step.state is not None and step.target is not None  # refused otherwise
        by_table.setdefault(step.table, {})[step.state] = step.target
    for name, moves in by_table.items():
        table = sa.table(name, sa.column("_state", sa.String()))
        state = table.c["_state"]
        query = (
            sa.update(table)
            .where(state.in_(list(moves)))
            .values({"_state": sa.case(moves, value=state)})
        )
        try:
            connection.execute(query)
        except sa.exc.DBAPIError as exc:
            raise MigrationFailed(f"move records of {name}: {exc.orig}") from exc


def _approval_states(catalog: Catalog, qualified: str) -> set[str]:
    """The states of the entity's workflow that wait for an approval."""
    app, _, entity = qualified.partition(".")
    workflows = catalog.blueprints.get(app, {}).get("workflows") or {}
    return {
        str(state)
        for doc in workflows.values()
        if doc.get("entity") == entity
        for state in (doc.get("approvals") or {})
    }


def _move_tasks(connection: sa.Connection, plan: Plan, steps: Sequence[Step]) -> None:
    """Open approval tasks follow their records: to the new name when the new state waits for
    the same approval, cancelled otherwise (nobody could decide them any more)."""
    tasks = cast(sa.Table, Task.__table__)
    for step in steps:
        assert step.entity is not None and step.state is not None and step.target is not None
        waiting = [
            tasks.c.entity == step.entity, tasks.c.step == step.state, tasks.c.status == "open"
        ]  # fmt: skip
        if step.target in _approval_states(plan.new, step.entity):
            connection.execute(sa.update(tasks).where(*waiting).values(step=step.target))
        else:
            stmt = sa.update(tasks).where(*waiting)
            connection.execute(stmt.values(status="cancelled", decided_at=utcnow()))


@contextmanager
def begin_migration(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A transaction to `apply` plans in, used like `engine.begin()`.

    On SQLite foreign keys are not enforced until the end of the transaction, where all are
    checked: a row that links to nothing raises MigrationFailed and everything rolls back.
    """
    if engine.dialect.name != "sqlite":
        with engine.begin() as connection:
            yield connection
        return
    with engine.connect() as connection:
        # Outside any transaction (our engine issues BEGIN itself), so the pragma takes effect.
        raw = connection.connection.driver_connection
        assert raw is not None
        raw.execute("PRAGMA foreign_keys=OFF")
        try:
            with connection.begin():
                yield connection
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                if broken:
                    table, rowid, parent, _ = broken[0]
                    raise MigrationFailed(
                        f"{len(broken)} rows link to records that do not exist "
                        f"(first: {table} row {rowid} -> {parent})"
                    )
        finally:
            raw.execute("PRAGMA foreign_keys=ON")


def _runs(steps: Sequence[Step]) -> list[tuple[str, list[Step]]]:
    """Consecutive steps on the same table, each table-level step on its own."""
    runs: list[tuple[str, list[Step]]] = []
    for step in steps:
        last = runs[-1][1] if runs else None
        if (
            last
            and runs[-1][0] == step.table
            and step.kind not in TABLE_KINDS
            and last[-1].kind not in TABLE_KINDS
        ):
            last.append(step)
        else:
            runs.append((step.table, [step]))
    return runs


def _needs_rebuild(steps: Sequence[Step], new: sa.Table) -> bool:
    """Whether SQLite must rebuild the table for these steps."""
    for step in steps:
        if step.kind not in IN_PLACE:
            return True
        if step.kind == "add_column" and step.column is not None:
            column = new.c[step.column]
            # SQLite cannot add a NOT NULL column without a default in place, even to no rows.
            if not column.nullable and column.server_default is None:
                return True
    return False


def _refuse_unsafe_rebuild(
    plan: Plan, connection: sa.Connection, runs: list[tuple[str, list[Step]]]
) -> None:
    referenced = {
        fk.target_fullname.rsplit(".", 1)[0]
        for metadata in (plan.old.metadata, plan.new.metadata)
        for table in metadata.tables.values()
        for fk in table.foreign_keys
    }
    for name, steps in runs:
        if steps[0].kind in TABLE_KINDS or name not in plan.old.metadata.tables:
            continue
        old = plan.old.metadata.tables[name]
        if name in referenced and _needs_rebuild(steps, plan.new.metadata.tables[name]):
            if connection.execute(sa.select(sa.func.count()).select_from(old)).scalar():
                raise MigrationError(
                    f"SQLite rebuilds {name} for this change, and with foreign keys enforced "
                    "that would delete or unlink the rows that link to it: run the migration "
                    "in begin_migration(engine)"
                )


class _Runner:
    """Runs the steps of one plan, a table at a time."""

    def __init__(self, plan: Plan, connection: sa.Connection) -> None:
        self.plan = plan
        self.connection = connection
        self.sqlite = connection.dialect.name == "sqlite"
        self.fk_enforced = bool(
            self.sqlite and connection.exec_driver_sql("PRAGMA foreign_keys").scalar()
        )
        self.op = Operations(
            MigrationContext.configure(connection, opts={"target_metadata": plan.new.metadata})
        )
        self.created = {s.table for s in plan.steps if s.kind == "create_table"}
        self.links_cut = False

    def run(self, table: str, steps: list[Step]) -> None:
        if steps[0].kind == "create_table":
            self.create(table)
        elif steps[0].kind == "drop_table":
            self.drop(table)
        else:
            self.alter(table, steps)

    def create(self, name: str) -> None:
        table = self.plan.new.metadata.tables[name]
        # SQLite accepts a link to a table that does not exist yet: tables that link to each
        # other get their links at once. PostgreSQL adds those by the later create_fk steps.
        later = {
            str(s.name)
            for s in self.plan.steps
            if s.kind == "create_fk" and s.table == name and not self.sqlite
        }
        self.op.create_table(name, *_items(table, skip_fks=later))

    def drop(self, name: str) -> None:
        if not self.sqlite and not self.links_cut:
            # Dropped tables that link to each other: no order works until the links go.
            self.links_cut = True
            dropped = [
                self.plan.old.metadata.tables[s.table]
                for s in self.plan.steps
                if s.kind == "drop_table"
            ]
            for fk in sort_tables_and_constraints(dropped)[-1][1]:
                self.op.drop_constraint(conv(str(fk.name)), fk.table.name, type_="foreignkey")
        self.op.drop_table(name)

    def alter(self, name: str, steps: list[Step]) -> None:
        if self.sqlite and name in self.created:
            steps = [s for s in steps if s.kind != "create_fk"]  # made with the table
        old = self.plan.old.metadata.tables.get(name, self.plan.new.metadata.tables[name])
        new = self.plan.new.metadata.tables[name]
        of_kind = {kind: [s for s in steps if s.kind == kind] for kind in IN_PLACE}
        for step in of_kind["drop_index"]:
            self.op.drop_index(conv(str(step.name)), table_name=name)
        renamed = {str(s.old_column): str(s.column) for s in of_kind["rename_column"]}
        for source, target in renamed.items():
            self.op.alter_column(
                name,
                source,
                new_column_name=target,
                existing_type=old.c[source].type,
                existing_nullable=old.c[source].nullable,
            )
        batch = [s for s in steps if s.kind not in ("drop_index", "rename_column", "create_index")]
        if batch:
            rebuild = self.sqlite and _needs_rebuild(batch, new)
            retyped = {
                str(s.column): new.c[str(s.column)].type for s in batch if s.kind == "alter_type"
            }
            current = sa.Table(
                name,
                sa.MetaData(),
                *_items(
                    old,
                    renamed=renamed,
                    types=retyped if self.sqlite else None,
                    skip_indexes={str(s.name) for s in of_kind["drop_index"]},
                ),
            )
            with self.op.batch_alter_table(
                name, copy_from=current, recreate="always" if rebuild else "auto"
            ) as ops:
                for step in batch:
                    self._batch_step(ops, step, old, new)
        for step in of_kind["create_index"]:
            index = next(ix for ix in new.indexes if ix.name == step.name)
            self.op.create_index(
                conv(str(step.name)), name, list(index.columns.keys()), unique=bool(index.unique)
            )
        for step in steps:
            self._fix_values(name, step, old, new)
        if self.sqlite and not self.fk_enforced and any(s.kind == "create_fk" for s in steps):
            self._check_links(name)

    def _batch_step(self, ops: BatchOperations, step: Step, old: sa.Table, new: sa.Table) -> None:
        column = str(step.column)
        if step.kind == "drop_fk":
            ops.drop_constraint(conv(str(step.name)), type_="foreignkey")
        elif step.kind == "drop_unique":
            ops.drop_constraint(conv(str(step.name)), type_="unique")
        elif step.kind == "drop_column":
            ops.drop_column(column)
        elif step.kind == "alter_type" and not self.sqlite:  # on SQLite: typed in copy_from
            source = old.c[str(step.old_column)]
            ops.alter_column(
                column,
                type_=new.c[column].type,
                existing_type=source.type,
                existing_nullable=source.nullable,
            )
        elif step.kind == "alter_nullable":
            ops.alter_column(
                column, nullable=new.c[column].nullable, existing_type=new.c[column].type
            )
        elif step.kind == "add_column":
            ops.add_column(_plain(new.c[column]))
        elif step.kind == "create_unique":
            unique = next(c for c in new.constraints if c.name == step.name)
            assert isinstance(unique, sa.UniqueConstraint)
            ops.create_unique_constraint(conv(str(step.name)), list(unique.columns.keys()))
        elif step.kind == "create_fk":
            fk = next(c for c in new.foreign_key_constraints if c.name == step.name)
            targets = [e.target_fullname.rsplit(".", 1) for e in fk.elements]
            ops.create_foreign_key(
                conv(str(step.name)),
                targets[0][0],
                list(fk.column_keys),
                [t[1] for t in targets],
                ondelete=fk.ondelete,
            )

    def _fix_values(self, name: str, step: Step, old: sa.Table, new: sa.Table) -> None:
        column = str(step.column)
        target = sa.table(name, sa.column(column, sa.String()))
        value: Any = None
        if step.kind == "add_column" and step.fill is not None:
            self.connection.execute(
                sa.update(target).where(target.c[column].is_(None)).values({column: step.fill})
            )
        elif step.kind == "alter_type" and self.sqlite:
            before = sql_type(old.c[str(step.old_column)].type).kind
            after = sql_type(new.c[column].type).kind
            if (before, after) == ("date", "datetime"):
                # SQLAlchemy stores timestamps as 'YYYY-MM-DD HH:MM:SS.ffffff' on SQLite
                value = target.c[column] + " 00:00:00.000000"
                where = sa.func.length(target.c[column]) == 10
            elif (before, after) == ("boolean", "text"):
                value = sa.case({"1": "true", "0": "false"}, value=target.c[column])
                where = target.c[column].in_(["0", "1"])
            if value is not None:
                self.connection.execute(sa.update(target).where(where).values({column: value}))

    def _check_links(self, name: str) -> None:
        quoted = self.connection.dialect.identifier_preparer.quote_identifier(name)
        broken = self.connection.exec_driver_sql(f"PRAGMA foreign_key_check({quoted})").all()
        if broken:
            raise MigrationFailed(
                f"{name}: {len(broken)} rows link to {broken[0][2]} records that do not exist"
            )


def _plain(column: sa.Column[Any], name: str | None = None, type_: Any = None) -> sa.Column[Any]:
    """A copy of `column` without index, unique or foreign key (those are separate steps)."""
    default = column.server_default
    # a DefaultClause's text ("0") or expression; anything else (sequences) is not ours
    server_default: Any = default.arg if isinstance(default, sa.DefaultClause) else None
    return sa.Column(
        name or column.name,
        type_ if type_ is not None else column.type,
        nullable=column.nullable,
        primary_key=column.primary_key,
        autoincrement=column.autoincrement,
        server_default=server_default,
    )


def _items(
    table: sa.Table,
    *,
    renamed: Mapping[str, str] | None = None,
    types: Mapping[str, Any] | None = None,
    skip_fks: set[str] | frozenset[str] = frozenset(),
    skip_indexes: set[str] | frozenset[str] = frozenset(),
) -> list[Any]:
    """Columns, constraints and indexes of `table`, standalone and each with its own name."""
    renamed, types = renamed or {}, types or {}

    def names(columns: Sequence[str]) -> list[str]:
        return [renamed.get(c, c) for c in columns]

    items: list[Any] = []
    for column in table.columns:
        name = renamed.get(column.name, column.name)
        items.append(_plain(column, name, types.get(name)))
    for constraint in sorted(table.constraints, key=lambda c: str(c.name)):
        name = conv(str(constraint.name))
        if isinstance(constraint, sa.PrimaryKeyConstraint):
            items.append(sa.PrimaryKeyConstraint(*names(constraint.columns.keys()), name=name))
        elif isinstance(constraint, sa.UniqueConstraint):
            items.append(sa.UniqueConstraint(*names(constraint.columns.keys()), name=name))
        elif isinstance(constraint, sa.ForeignKeyConstraint) and name not in skip_fks:
            items.append(
                sa.ForeignKeyConstraint(
                    names(constraint.column_keys),
                    [e.target_fullname for e in constraint.elements],
                    name=name,
                    ondelete=constraint.ondelete,
                )
            )
    for index in sorted(table.indexes, key=lambda i: str(i.name)):
        if str(index.name) not in skip_indexes:
            columns = names(list(index.columns.keys()))
            items.append(sa.Index(conv(str(index.name)), *columns, unique=bool(index.unique)))
    return items
