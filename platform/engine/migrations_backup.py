"""Backups of the values a migration drops, as JSON Lines files, and restoring them.

A file holds one header line (what was saved: a table, or a column with the table's key) and
then one JSON object per row. Values keep their type through the header: decimals are
written as strings, dates and timestamps in ISO format.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa

from appblocks.engine.migrations_steps import MigrationError, Plan, Step
from appblocks.engine.migrations_types import SqlType, sql_type

FORMAT = "appblocks-backup/1"
DEFAULT_DIR = Path("var/backups")
_CHUNK = 1000


def default_backup_dir() -> Path:
    """A new folder under var/backups named after the current UTC time."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return _unused(DEFAULT_DIR / stamp)


def write_backups(plan: Plan, connection: sa.Connection, directory: Path) -> list[Path]:
    """Save the values each data-loss step of `plan` would drop; the files' paths."""
    directory.mkdir(parents=True, exist_ok=True)
    return [write_backup(step, plan, connection, directory) for step in plan.data_loss]


def write_backup(step: Step, plan: Plan, connection: sa.Connection, directory: Path) -> Path:
    """Save what one drop step would lose: a column's values by key, or a table's rows."""
    table = plan.old.metadata.tables[step.table]
    key = [c.name for c in table.primary_key.columns]
    if step.kind == "drop_column" and step.column is not None:
        columns = [table.c[k] for k in key] + [table.c[step.column]]
        query = sa.select(*columns).where(table.c[step.column].is_not(None))
        path = _unused(directory / f"{table.name}.{step.column}.jsonl")
        kind = "column"
    else:
        columns = list(table.columns)
        query = sa.select(*columns)
        path = _unused(directory / f"{table.name}.jsonl")
        kind = "table"
    if key:
        query = query.order_by(*(table.c[k] for k in key))
    header = {
        "format": FORMAT,
        "kind": kind,
        "table": table.name,
        "key": key,
        "columns": {c.name: sql_type(c.type).to_dict() for c in columns},
        "saved_at": dt.datetime.now(dt.UTC).isoformat(),
    }
    with path.open("x", encoding="utf-8") as out:
        _write(out, header)
        # yield_per on the statement, not the connection: it is the caller's connection.
        for row in connection.execute(query.execution_options(yield_per=_CHUNK)).mappings():
            _write(out, dict(row))
    return path


def restore(path: str | Path, connection: sa.Connection) -> int:
    """Write a backup's values back (its table or column must exist again); rows written."""
    path = Path(path)
    with path.open(encoding="utf-8") as source:
        header = json.loads(source.readline())
        if header.get("format") != FORMAT:
            raise MigrationError(f"{path.name} is not an appblocks backup file")
        types = {name: SqlType(**spec) for name, spec in header["columns"].items()}
        name, key = str(header["table"]), list(header["key"])
        _check_target(connection, path, name, list(types))
        table = sa.table(name, *(sa.column(c, t.to_sa()) for c, t in types.items()))
        if header["kind"] == "column":
            statement: Any = (
                sa.update(table)
                .where(*(table.c[k] == sa.bindparam(f"key_{k}") for k in key))
                .values({c: sa.bindparam(f"value_{c}") for c in types if c not in key})
            )
            prefix = {c: ("key_" if c in key else "value_") + c for c in types}
        else:
            statement, prefix = sa.insert(table), {c: c for c in types}
        written = 0
        for chunk in _chunks(source, types):
            rows = [{prefix[c]: v for c, v in row.items()} for row in chunk]
            connection.execute(statement, rows)
            written += len(rows)
    if header["kind"] == "table" and "id" in types and connection.dialect.name == "postgresql":
        # Rows came back with their ids: move the id sequence past them.
        top = sa.select(sa.func.max(table.c.id)).scalar_subquery()
        sequence = sa.func.pg_get_serial_sequence(name, "id")
        connection.execute(sa.select(sa.func.setval(sequence, top)))
    return written


def _check_target(connection: sa.Connection, path: Path, table: str, columns: list[str]) -> None:
    inspector = sa.inspect(connection)
    if not inspector.has_table(table):
        raise MigrationError(f"cannot restore {path.name}: table {table} does not exist")
    present = {c["name"] for c in inspector.get_columns(table)}
    missing = [c for c in columns if c not in present]
    if missing:
        raise MigrationError(
            f"cannot restore {path.name}: {table} has no column {', '.join(missing)}; "
            "add it back first"
        )


def _chunks(source: IO[str], types: dict[str, SqlType]) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for line in source:
        if line.strip():
            row = json.loads(line)
            chunk.append({c: _decode(row.get(c), t) for c, t in types.items()})
        if len(chunk) >= _CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _write(out: IO[str], obj: dict[str, Any]) -> None:
    out.write(json.dumps(obj, ensure_ascii=False, default=_encode) + "\n")


def _encode(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    raise TypeError(f"cannot save a {type(value).__name__} in a backup")


def _decode(value: Any, type_: SqlType) -> Any:
    if value is None or not isinstance(value, str):
        return value
    if type_.kind == "decimal":
        return decimal.Decimal(value)
    if type_.kind == "datetime":
        return dt.datetime.fromisoformat(value)
    if type_.kind == "date":
        return dt.date.fromisoformat(value)
    return value


def _unused(path: Path) -> Path:
    """`path`, or the same name with -2, -3... when it exists (never overwrite a backup)."""
    candidate, n = path, 1
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
    return candidate
