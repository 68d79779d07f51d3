"""Indexes behind list search: FTS5 trigram tables on SQLite, pg_trgm GIN indexes on PostgreSQL.

Search (`q`) is a case-insensitive substring match over an entity's searchable text columns
(`query.compile_search`). On 1,000,000 rows a scan takes seconds, so the database keeps an index:

- SQLite (3.34+ with FTS5): one external-content FTS5 table per searchable entity,
  `_search_<table>__fts`, tokenizer `trigram case_sensitive 0`, kept in step with the record
  table by three triggers (`_search_<table>__ai/__ad/__au`). A term of 3+ characters is looked
  up there as one quoted phrase limited to the columns the caller may see; the old predicate
  still decides each candidate row, so the results are exactly the scan's (FTS folds case for
  all of Unicode, SQLite's LIKE for ASCII only: the index finds a superset). Shorter terms, and
  entities without an FTS table, use the scan.
- PostgreSQL: one GIN index (`gin_trgm_ops`) per searchable column, `trgm_<table>_<column>`;
  ILIKE uses it by itself. Without the pg_trgm extension (and no right to create it) search
  keeps working as a scan; that is logged once.

`sync_search_indexes(connection, catalog)` makes the database match the catalog and is idempotent;
`migrations.apply` runs it after every plan. An Alembic batch rebuild on SQLite copies a table
and so drops its triggers: missing or different triggers are recreated and the FTS table is
rebuilt from its content. Every name in the DDL comes from a validated table or column name.

Which tables have an FTS table is read from `sqlite_master` when an engine connects (again when
the last look is over `PROBE_SECONDS` old, or a sync ran); SQL compiled for search asks that
list, so a database made some other way (or by an older version) is searched by the scan.
"""

from __future__ import annotations

import hashlib
import logging
import re
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import ColumnElement
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.visitors import InternalTraversal

from appblocks.engine.catalog import Catalog

log = logging.getLogger(__name__)

MIN_INDEXED = 3  # a trigram index answers terms of at least this many characters
PREFIX = "_search_"  # every SQLite object of ours starts so (no record table can: names start a-z)
PG_PREFIX = "trgm_"
PROBE_SECONDS = 30.0
_IDENT = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
# Column names FTS5 refuses (an entity with one is searched by the scan).
_FTS_RESERVED = frozenset({"rank", "rowid", "oid", "_rowid_"})
_MIN_SQLITE = (3, 34, 0)


def _ident(name: str) -> str:
    """`name`, checked to be a table or column name the platform made (so safe in DDL)."""
    if not _IDENT.match(name):
        raise ValueError(f"not a valid table or column name: {name!r}")
    return name


def fts_table(table: str) -> str:
    """The FTS5 table that indexes record table `table` on SQLite."""
    return f"{PREFIX}{_ident(table)}__fts"


def _trigger(table: str, what: str) -> str:
    return f"{PREFIX}{_ident(table)}__{what}"


def pg_index(table: str, column: str) -> str:
    """The trigram index of `table.column` on PostgreSQL (at most 63 characters)."""
    name = f"{PG_PREFIX}{_ident(table)}_{_ident(column)}"
    if len(name) <= 63:
        return name
    digest = hashlib.sha1(f"{table}.{column}".encode(), usedforsecurity=False).hexdigest()[:10]
    return f"{PG_PREFIX}{table[:24]}_{column[:22]}_{digest}"  # 63


def searchable(catalog: Catalog) -> dict[str, tuple[str, ...]]:
    """Record table -> its searchable text columns, for every entity that has some."""
    out: dict[str, tuple[str, ...]] = {}
    for spec in catalog.specs.entities.values():
        columns = tuple(f.name for f in spec.columns() if f.ftype.searchable)
        if columns:
            out[spec.table_name] = columns
    return out


def match_text(columns: Sequence[str], text: str) -> str:
    """The FTS5 query for `text` as one literal phrase in `columns`: `{"a" "b"} : "te""xt"`.

    Inside double quotes FTS5 reads no operator (`*`, `NEAR`, `AND`, `:`...); a `"` is doubled.
    The result is bound as a parameter, never spliced into SQL."""
    names = " ".join(f'"{_ident(c)}"' for c in columns)
    phrase = text.replace('"', '""')
    return f'{{{names}}} : "{phrase}"'


# --- which FTS tables a database has (per engine) ----------------------------------------------


@dataclass
class _Known:
    tables: frozenset[str] = frozenset()
    at: float = 0.0
    stale: bool = True
    lock: threading.Lock = field(default_factory=threading.Lock)


_known: weakref.WeakKeyDictionary[Dialect, _Known] = weakref.WeakKeyDictionary()
_known_lock = threading.Lock()


def _entry(dialect: Dialect) -> _Known:
    with _known_lock:
        entry = _known.get(dialect)
        if entry is None:
            entry = _known[dialect] = _Known()
        return entry


def _sqlite_library_ok() -> bool:
    return sqlite3.sqlite_version_info >= _MIN_SQLITE


@event.listens_for(sa.engine.Engine, "engine_connect")
def _probe(connection: sa.Connection) -> None:
    """Read which FTS tables exist when it is time to look again (cheap: one small query)."""
    if connection.dialect.name != "sqlite" or not _sqlite_library_ok():
        return
    entry = _entry(connection.dialect)
    if not entry.stale and time.monotonic() - entry.at < PROBE_SECONDS:
        return
    if not entry.lock.acquire(blocking=False):
        return  # another thread is looking
    try:
        raw: Any = connection.connection.driver_connection
        # On the raw connection, outside any transaction: the connection's own BEGIN is
        # still to come, and this must not take the write lock.
        rows = raw.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' "
            "AND name LIKE '\\_search\\_%\\_\\_fts' ESCAPE '\\' "
            "AND sql LIKE 'CREATE VIRTUAL TABLE%'"
        ).fetchall()
        tables = frozenset(str(r[0]) for r in rows)
        if tables != entry.tables:
            connection.engine.clear_compiled_cache()  # SQL compiled for the old list
        entry.tables, entry.at, entry.stale = tables, time.monotonic(), False
    except Exception:  # a probe must never stop a connection: search then scans
        log.warning("could not read the search tables; search scans", exc_info=True)
    finally:
        entry.lock.release()


def fts_ready(dialect: Dialect, table: str) -> bool:
    """Whether the database behind `dialect` was last seen with an FTS table for `table`."""
    entry = _known.get(dialect)
    return entry is not None and fts_table(table) in entry.tables


# --- the search predicate -----------------------------------------------------------------------


class IndexedSearch(ColumnElement[bool]):
    """A search predicate that SQLite answers through the FTS table where there is one.

    `scan` is the plain predicate (ILIKE over the columns); `indexed` is
    `id IN (SELECT rowid FROM fts WHERE fts MATCH :phrase) AND scan`."""

    type = sa.Boolean()
    inherit_cache = True
    _is_implicitly_boolean = True  # a predicate: no `= 1` after it in WHERE
    _traverse_internals = [
        ("table_name", InternalTraversal.dp_string),
        ("indexed", InternalTraversal.dp_clauseelement),
        ("scan", InternalTraversal.dp_clauseelement),
    ]

    def __init__(
        self, table: sa.Table, columns: Sequence[str], text: str, scan: ColumnElement[bool]
    ) -> None:
        self.table_name = table.name
        name = fts_table(table.name)
        fts = sa.table(name, sa.column("rowid"), sa.column(name))
        phrase = sa.bindparam(None, match_text(columns, text), type_=sa.String())
        hits = sa.select(fts.c.rowid).where(fts.c[name].op("MATCH")(phrase))
        self.indexed = sa.and_(table.c.id.in_(hits), scan).self_group()
        self.scan = scan.self_group()


@compiles(IndexedSearch)
def _search_scan(element: IndexedSearch, compiler: SQLCompiler, **kw: Any) -> str:
    return str(compiler.process(element.scan, **kw))


@compiles(IndexedSearch, "sqlite")
def _search_sqlite(element: IndexedSearch, compiler: SQLCompiler, **kw: Any) -> str:
    chosen = element.indexed if fts_ready(compiler.dialect, element.table_name) else element.scan
    return str(compiler.process(chosen, **kw))


def indexed_search(
    table: sa.Table, columns: Sequence[str], text: str, scan: ColumnElement[bool]
) -> ColumnElement[bool]:
    """`scan`, answered through the index where the database has one for this term."""
    if len(text) < MIN_INDEXED or not columns:
        return scan
    return IndexedSearch(table, columns, text, scan)


# --- keeping the database's search structures in step with the catalog -------------------------


@dataclass
class SyncReport:
    """What a sync changed (table or index names); empty when everything was in place."""

    created: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    rebuilt: list[str] = field(default_factory=list)
    skipped: str | None = None  # why nothing was indexed (no trigram support, no pg_trgm)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.dropped or self.rebuilt)


def sync_search_indexes(connection: sa.Connection, catalog: Catalog) -> SyncReport:
    """Make the search indexes of the database match `catalog` (idempotent), in the caller's
    transaction: create them for new entities and columns, drop those of removed ones, and on
    SQLite recreate lost triggers and rebuild the FTS table of a table a migration rebuilt."""
    wanted = searchable(catalog)
    if connection.dialect.name == "sqlite":
        report = _sync_sqlite(connection, wanted)
        if report.changed:
            _entry(connection.dialect).stale = True  # look again once this has committed
        return report
    if connection.dialect.name == "postgresql":
        return _sync_pg(connection, wanted)
    return SyncReport(skipped=f"no search index on {connection.dialect.name}")


def prepare_search_indexes(connection: sa.Connection, retyped: Iterable[tuple[str, str]]) -> None:
    """Before a migration: drop the trigram index of each (table, column) about to be retyped
    (PostgreSQL refuses to retype a column to a non-text type under a gin_trgm_ops index);
    the sync afterwards makes it again where the column is still searchable text."""
    if connection.dialect.name != "postgresql":
        return
    existing = _pg_existing(connection)
    for table, column in retyped:
        for name, where in existing.items():
            if where == (table, column):
                _pg_drop(connection, name)


# --- SQLite -------------------------------------------------------------------------------------


def sqlite_supports_trigram(connection: sa.Connection) -> bool:
    """SQLite 3.34+ with FTS5 (the trigram tokenizer came in 3.34.0)."""
    version = connection.exec_driver_sql("SELECT sqlite_version()").scalar()
    parts = tuple(int(p) for p in str(version).split(".")[:3])
    if parts < _MIN_SQLITE:
        return False
    options = {str(r[0]) for r in connection.exec_driver_sql("PRAGMA compile_options")}
    return "ENABLE_FTS5" in options


def _q(connection: sa.Connection, name: str) -> str:
    return str(connection.dialect.identifier_preparer.quote_identifier(name))


def _fts_sql(connection: sa.Connection, table: str, columns: Sequence[str]) -> str:
    fts = _q(connection, fts_table(table))
    cols = ", ".join(_q(connection, _ident(c)) for c in columns)
    return (
        f"CREATE VIRTUAL TABLE {fts} USING fts5({cols}, content='{_ident(table)}', "
        "content_rowid='id', tokenize='trigram case_sensitive 0')"
    )


def _trigger_sqls(connection: sa.Connection, table: str, columns: Sequence[str]) -> dict[str, str]:
    q = _q(connection, _ident(table))
    fts = _q(connection, fts_table(table))
    cols = ", ".join(_q(connection, c) for c in columns)
    new = ", ".join(f"new.{_q(connection, c)}" for c in columns)
    old = ", ".join(f"old.{_q(connection, c)}" for c in columns)
    # Only validated, quoted identifiers go into this DDL.
    add = f"INSERT INTO {fts}(rowid, {cols}) VALUES (new.id, {new});"  # noqa: S608
    remove = f"INSERT INTO {fts}({fts}, rowid, {cols}) VALUES ('delete', old.id, {old});"  # noqa: S608
    names = {w: _trigger(table, w) for w in ("ai", "ad", "au")}
    return {
        names["ai"]: f"CREATE TRIGGER {_q(connection, names['ai'])} AFTER INSERT ON {q} "
        f"BEGIN {add} END",
        names["ad"]: f"CREATE TRIGGER {_q(connection, names['ad'])} AFTER DELETE ON {q} "
        f"BEGIN {remove} END",
        names["au"]: f"CREATE TRIGGER {_q(connection, names['au'])} AFTER UPDATE OF {cols} "
        f"ON {q} BEGIN {remove} {add} END",
    }


def _sync_sqlite(connection: sa.Connection, wanted: dict[str, tuple[str, ...]]) -> SyncReport:
    report = SyncReport()
    if not sqlite_supports_trigram(connection):
        report.skipped = "SQLite lacks FTS5 or the trigram tokenizer (3.34+): search scans"
        return report
    rows = connection.exec_driver_sql(
        "SELECT type, name, sql FROM sqlite_master WHERE name LIKE '\\_search\\_%' ESCAPE '\\'"
    ).all()
    fts_now = {
        str(name): str(sql)
        for kind, name, sql in rows
        if kind == "table" and str(sql or "").startswith("CREATE VIRTUAL TABLE")
    }
    triggers_now = {str(name): str(sql) for kind, name, sql in rows if kind == "trigger"}
    tables_now = set(
        connection.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'table'").scalars()
    )
    want_fts: dict[str, str] = {}
    want_triggers: dict[str, str] = {}
    for table, columns in wanted.items():
        if table not in tables_now or _FTS_RESERVED & set(columns):
            continue  # not created yet (someone else's job), or columns FTS5 cannot name
        want_fts[fts_table(table)] = table
        want_triggers.update(_trigger_sqls(connection, table, columns))
    for name in sorted(set(triggers_now) - set(want_triggers)):
        connection.exec_driver_sql(f"DROP TRIGGER IF EXISTS {_q(connection, name)}")
        report.dropped.append(name)
    for name in sorted(set(fts_now) - set(want_fts)):
        connection.exec_driver_sql(f"DROP TABLE IF EXISTS {_q(connection, name)}")
        report.dropped.append(name)
    for name, table in want_fts.items():
        columns = wanted[table]
        sql = _fts_sql(connection, table, columns)
        fresh = fts_now.get(name) != sql
        if fresh:
            if name in fts_now:
                connection.exec_driver_sql(f"DROP TABLE {_q(connection, name)}")
            connection.exec_driver_sql(sql)
            report.created.append(name)
        triggers = _trigger_sqls(connection, table, columns)
        if fresh or any(triggers_now.get(t) != s for t, s in triggers.items()):
            for trigger, trigger_sql in triggers.items():
                connection.exec_driver_sql(f"DROP TRIGGER IF EXISTS {_q(connection, trigger)}")
                connection.exec_driver_sql(trigger_sql)
            quoted = _q(connection, name)
            # The index is rebuilt from the record table: rows copied by a table rebuild (or
            # changed while the triggers were missing) are indexed as they are now.
            rebuild = f"INSERT INTO {quoted}({quoted}) VALUES ('rebuild')"  # noqa: S608
            connection.exec_driver_sql(rebuild)
            report.rebuilt.append(name)
    return report


# --- PostgreSQL ---------------------------------------------------------------------------------

_pg_warned = False


def _pg_trgm_schema(connection: sa.Connection) -> str | None:
    """The schema of the pg_trgm extension, created if missing and allowed; None without it."""
    global _pg_warned
    find = sa.text(
        "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
        "WHERE e.extname = 'pg_trgm'"
    )
    schema = connection.execute(find).scalar()
    if schema is not None:
        return str(schema)
    has_public = connection.execute(
        sa.text(
            "SELECT has_schema_privilege(oid, 'CREATE') FROM pg_namespace WHERE nspname = 'public'"
        )
    ).scalar()
    try:
        with connection.begin_nested():  # a refusal must not abort the migration's transaction
            where = " SCHEMA public" if has_public else ""
            connection.exec_driver_sql(f"CREATE EXTENSION IF NOT EXISTS pg_trgm{where}")
    except sa.exc.DBAPIError as exc:
        if not _pg_warned:
            _pg_warned = True
            log.warning(
                "pg_trgm is not installed and cannot be created (%s): search works without "
                "trigram indexes (scans); a superuser can run CREATE EXTENSION pg_trgm",
                str(exc.orig).strip().splitlines()[0] if exc.orig else exc,
            )
        return None
    found = connection.execute(find).scalar()
    return None if found is None else str(found)


def _pg_existing(connection: sa.Connection) -> dict[str, tuple[str, str]]:
    """Our trigram indexes in the current schema: name -> (table, column)."""
    rows = connection.execute(
        sa.text(
            "SELECT i.relname, t.relname, a.attname FROM pg_index x "
            "JOIN pg_class i ON i.oid = x.indexrelid "
            "JOIN pg_class t ON t.oid = x.indrelid "
            "JOIN pg_namespace n ON n.oid = i.relnamespace "
            "LEFT JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = x.indkey[0] "
            "WHERE n.nspname = current_schema() AND i.relname LIKE :prefix"
        ),
        {"prefix": PG_PREFIX.replace("_", "\\_") + "%"},
    ).all()
    return {str(name): (str(table), str(column)) for name, table, column in rows}


def _pg_drop(connection: sa.Connection, name: str) -> None:
    connection.exec_driver_sql(f"DROP INDEX IF EXISTS {_q(connection, name)}")


def _sync_pg(connection: sa.Connection, wanted: dict[str, tuple[str, ...]]) -> SyncReport:
    report = SyncReport()
    existing = _pg_existing(connection)
    want = {pg_index(t, c): (t, c) for t, columns in wanted.items() for c in columns}
    present = {
        str(t)
        for t in connection.execute(
            sa.text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
        ).scalars()
    }
    want = {name: where for name, where in want.items() if where[0] in present}
    by_column = {where: name for name, where in existing.items()}
    for name, where in want.items():
        # A renamed column keeps its index: give it the new name instead of building it anew.
        old = by_column.get(where)
        if old is not None and old != name and name not in existing:
            connection.exec_driver_sql(
                f"ALTER INDEX {_q(connection, old)} RENAME TO {_q(connection, name)}"
            )
            existing[name] = existing.pop(old)
            report.created.append(name)
    for name, where in list(existing.items()):
        if want.get(name) != where:
            _pg_drop(connection, name)
            report.dropped.append(name)
            del existing[name]
    missing = {n: w for n, w in want.items() if existing.get(n) != w}
    if not missing:
        return report
    schema = _pg_trgm_schema(connection)
    if schema is None:
        report.skipped = "pg_trgm is not available: search scans"
        return report
    opclass = f"{_q(connection, schema)}.gin_trgm_ops"
    for name, (table, column) in sorted(missing.items()):
        connection.exec_driver_sql(
            f"CREATE INDEX {_q(connection, name)} ON {_q(connection, _ident(table))} "
            f"USING gin ({_q(connection, _ident(column))} {opclass})"
        )
        report.created.append(name)
    return report
