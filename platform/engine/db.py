"""Database engines: SQLite (WAL, foreign keys on) by default, PostgreSQL for teams."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

DEFAULT_URL = "sqlite:///var/appblocks.db"


def database_url(url: str | None = None) -> str:
    """`--db`, else $APPBLOCKS_DB, else the SQLite file in ./var."""
    return url or os.environ.get("APPBLOCKS_DB") or DEFAULT_URL


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # pysqlite's own transaction handling would defer BEGIN; we issue it ourselves so that
    # a transaction really starts at begin() (and DDL is transactional too).
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


READONLY = "appblocks_readonly"


def _sqlite_begin(conn: sa.Connection) -> None:
    # A deferred BEGIN that reads and then writes fails at once with "database is locked"
    # when another writer committed meanwhile (WAL cannot upgrade a stale snapshot), so a
    # transaction takes the write lock up front unless it was opened with `reading(...)`.
    if conn.get_execution_options().get(READONLY):
        conn.exec_driver_sql("BEGIN")
    else:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def create_engine(url: str | None = None, **kwargs: Any) -> sa.Engine:
    """An Engine for `url`, set up the way the platform needs it."""
    url = database_url(url)
    parsed = sa.make_url(url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(parsed, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return sa.create_engine(parsed, **kwargs)


def reading(engine: sa.Engine) -> sa.Connection:
    """A connection for reads only: on SQLite it does not take the write lock."""
    return engine.connect().execution_options(**{READONLY: True})


def is_sqlite(bind: sa.Engine | sa.Connection) -> bool:
    """True on SQLite (batch mode for ALTER, no SKIP LOCKED)."""
    return bind.dialect.name == "sqlite"
