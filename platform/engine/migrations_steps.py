"""Migration steps and plans: what a migration does, as values, and how a plan reads.

`migrations_plan.plan` computes a `Plan`; `migrations_apply.apply` runs it. A step is refused
when it can never run without losing or corrupting values; a step that drops stored values
runs only when the caller allows data loss.

A `move_state` step changes no table: it moves the records of a workflow state that the new
workflow renames or removes (`UPDATE ... SET _state = new WHERE _state = old`). A removed state
that holds records and has no state to move them to is refused: records are never left in a
state that no longer exists.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa

from appblocks.engine.catalog import Catalog

# Every kind of step -> (symbol, verb, category): how it prints and what the summary counts.
KINDS: dict[str, tuple[str, str, str]] = {
    "create_table": ("+", "create table", "create"),
    "drop_table": ("-", "drop table", "drop"),
    "add_column": ("+", "add column", "create"),
    "drop_column": ("-", "drop column", "drop"),
    "rename_column": ("~", "rename column", "change"),
    "alter_type": ("~", "retype", "change"),
    "alter_nullable": ("~", "change", "change"),
    "create_index": ("+", "create index", "create"),
    "drop_index": ("-", "drop index", "drop"),
    "create_unique": ("+", "create unique", "create"),
    "drop_unique": ("-", "drop unique", "drop"),
    "create_fk": ("+", "create foreign key", "create"),
    "drop_fk": ("-", "drop foreign key", "drop"),
    "move_state": ("~", "move records", "change"),
}
# Within one table: constraints go before the columns they use, come back after them.
ALTER_ORDER = (
    "drop_fk",
    "drop_index",
    "drop_unique",
    "drop_column",
    "rename_column",
    "alter_type",
    "alter_nullable",
    "add_column",
    "create_unique",
    "create_index",
    "create_fk",
)
NO_CHANGES = "No changes. The database matches the blueprint."


class MigrationError(Exception):
    """A plan that cannot be applied, or failed while applying."""


class MigrationRefused(MigrationError):
    """The plan holds steps that can never run; nothing was changed."""

    def __init__(self, steps: Iterable[Step]) -> None:
        self.steps = tuple(steps)
        reasons = "; ".join(f"{s.kind} {s.detail}: {s.refused}" for s in self.steps)
        super().__init__(f"the migration is refused: {reasons}")


class DataLossRefused(MigrationError):
    """The plan would drop stored values and data loss was not allowed; nothing was changed."""

    def __init__(self, steps: Iterable[Step]) -> None:
        self.steps = tuple(steps)
        what = ", ".join(f"{s.kind} {s.detail}" for s in self.steps)
        super().__init__(f"the migration would lose data ({what}); allow data loss to run it")


class MigrationFailed(MigrationError):
    """The database refused a step; the caller's transaction rolls the whole plan back."""


@dataclass(frozen=True)
class Step:
    """One change to one table."""

    kind: str
    table: str
    detail: str  # what the step does, as printed after its verb
    data_loss: bool = False
    refused: str | None = None  # why the step can never run
    column: str | None = None  # the column, named as after this step
    old_column: str | None = None  # the column as named in the old table (rename, retype)
    name: str | None = None  # the index or constraint
    count: int | None = None  # rows or values lost, when counted on a connection
    fill: str | None = None  # value given to existing rows of an added column
    entity: str | None = None  # move_state: the qualified entity whose records move
    state: str | None = None  # move_state: the state the records are in (old workflow)
    target: str | None = None  # move_state: the state they move to (None: none given)

    def line(self, count: int | None = None) -> str:
        """The step as one line of a plan."""
        symbol, verb, _ = KINDS[self.kind]
        if self.refused is not None:
            return f"! refused: {verb} {self.detail}: {self.refused}"
        text = f"{symbol} {verb} {self.detail}"
        if self.data_loss:
            count = self.count if count is None else count
            unit = "row" if self.kind == "drop_table" else "value"
            text += "  (data loss)" if count is None else f"  (data loss: {_n(count, unit)})"
        return text


@dataclass(frozen=True, eq=False)
class Plan:
    """The steps from `old` to `new`, in the order they run."""

    steps: tuple[Step, ...]
    old: Catalog
    new: Catalog
    # Entities whose stored formula, rollup or lookup values may be stale after the plan.
    # Recomputing them belongs to the records engine; the plan only names them.
    recompute: frozenset[str] = frozenset()

    @property
    def is_empty(self) -> bool:
        return not self.steps

    @property
    def refused(self) -> tuple[Step, ...]:
        """Steps that can never run."""
        return tuple(s for s in self.steps if s.refused is not None)

    @property
    def data_loss(self) -> tuple[Step, ...]:
        """Steps that drop stored values (they need `allow_data_loss`)."""
        return tuple(s for s in self.steps if s.data_loss and s.refused is None)

    def render(self, connection: sa.Connection | None = None) -> str:
        """The plan as text, like a terraform plan; `connection` counts the values lost."""
        counter = ValueCounter(connection)
        lines = []
        for step in self.steps:
            count = None
            if step.data_loss and step.count is None and step.table in self.old.metadata.tables:
                table = self.old.metadata.tables[step.table]
                count = counter.values(table, step.column) if step.column else counter.rows(table)
            lines.append(step.line(count))
        if not self.steps:
            lines.append(NO_CHANGES)
        else:
            tally = Counter(KINDS[s.kind][2] for s in self.steps if s.refused is None)
            lines += [
                "",
                f"Plan: {tally['create']} to create, {tally['change']} to change, "
                f"{tally['drop']} to drop.",
            ]
            if self.refused:
                lines.append(
                    f"Refused: {_n(len(self.refused), 'step')} can never run (marked !); "
                    "change the blueprint and plan again."
                )
            if self.data_loss:
                lost = len(self.data_loss)
                verb = (
                    "drops stored values; it runs" if lost == 1 else "drop stored values; they run"
                )
                lines.append(
                    f"Data loss: {_n(lost, 'step')} {verb} only with --allow-data-loss, "
                    "which first saves the values to a backup file."
                )
        if self.recompute:
            lines.append(
                f"Formulas changed in {', '.join(sorted(self.recompute))}: "
                "stored values are recomputed when the plan is applied."
            )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.render()


class ValueCounter:
    """Counts rows and values on an optional connection (None without one)."""

    def __init__(self, connection: sa.Connection | None) -> None:
        self.connection = connection
        self._exists: dict[str, bool] = {}

    def _ready(self, table: sa.Table) -> sa.Connection | None:
        if self.connection is None:
            return None
        if table.name not in self._exists:
            # A failed query would abort the caller's transaction on PostgreSQL: look first.
            self._exists[table.name] = sa.inspect(self.connection).has_table(table.name)
        return self.connection if self._exists[table.name] else None

    def rows(self, table: sa.Table) -> int | None:
        """Rows of `table`."""
        connection = self._ready(table)
        if connection is None:
            return None
        return int(connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())

    def values(self, table: sa.Table, column: str) -> int | None:
        """Rows where `column` holds a value."""
        connection = self._ready(table)
        if connection is None:
            return None
        query = sa.select(sa.func.count(table.c[column]))
        return int(connection.execute(query).scalar_one())

    def matching(self, table: sa.Table, column: str, value: str) -> int | None:
        """Rows where `column` holds `value`."""
        connection = self._ready(table)
        if connection is None:
            return None
        query = sa.select(sa.func.count()).select_from(table).where(table.c[column] == value)
        return int(connection.execute(query).scalar_one())

    def nulls(self, table: sa.Table, column: str) -> int | None:
        """Rows where `column` is empty."""
        rows, values = self.rows(table), self.values(table, column)
        return None if rows is None or values is None else rows - values


def n_records(count: int | None) -> str:
    """ "3 records", or "records" when not counted."""
    return "records" if count is None else _n(count, "record")


def _n(count: int, word: str) -> str:
    return f"{count} {word if count == 1 else word + 's'}"
