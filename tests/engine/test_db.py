"""Database set-up: SQLite with WAL and foreign keys, and concurrent writers that wait."""

from __future__ import annotations

import threading
from pathlib import Path

import sqlalchemy as sa

from appblocks.engine.catalog import Catalog
from appblocks.engine.db import create_engine, reading
from appblocks.engine.platform_db import upgrade
from appblocks.engine.records import RecordStore

BP = {
    "blueprint": "t",
    "version": "1.0.0",
    "entities": {
        "item": {
            "title": "number",
            "fields": {
                "number": {"type": "autonumber", "format": "I-{seq:05}"},
                "name": {"type": "text"},
            },
        }
    },
}


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_sqlite_concurrent_writers_wait_instead_of_failing(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    upgrade(engine)
    catalog = Catalog({"t": BP})
    with engine.begin() as conn:
        catalog.metadata.create_all(conn)
    store = RecordStore(catalog)
    errors: list[Exception] = []

    def work(n: int) -> None:
        for i in range(25):
            try:
                with engine.begin() as conn:
                    # Read first, then write: the pattern a deferred BEGIN cannot upgrade.
                    store.list(conn, "t.item", limit=1)
                    store.create(conn, "t.item", {"name": f"{n}-{i}"})
            except Exception as exc:  # noqa: BLE001 - collected and asserted below
                errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with reading(engine) as conn:
        numbers = conn.execute(sa.text("SELECT number FROM t_item")).scalars().all()
    assert len(numbers) == 200 and len(set(numbers)) == 200
