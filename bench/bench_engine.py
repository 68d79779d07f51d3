"""Engine benchmarks: record creation against raw Core inserts, first pages, CSV import.

Targets (issue 2): engine create within 1.5x of the raw insert per row; CSV import at least
20,000 rows/s on SQLite; a filtered, sorted first page under 5 ms at 1,000,000 rows.
Set BENCH_ROWS_BIG=0 to skip the 1,000,000-row table (it takes a minute to fill).
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import os
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from appblocks.engine.catalog import Catalog
from appblocks.engine.dataio import import_file
from appblocks.engine.db import create_engine
from appblocks.engine.platform_db import upgrade
from appblocks.engine.records import RecordStore

BLUEPRINT: dict[str, Any] = {
    "blueprint": "bench",
    "version": "1.0.0",
    "entities": {
        "supplier": {
            "title": "name",
            "fields": {"name": {"type": "text", "required": True, "unique": True}},
        },
        "item": {
            "title": "name",
            "fields": {
                "name": {"type": "text", "required": True},
                "supplier": {"type": "link", "to": "supplier"},
                "status": {"type": "choice", "options": ["open", "closed", "draft"], "index": True},
                "amount": {"type": "money", "index": True},
                "due": {"type": "date"},
                "note": {"type": "long_text"},
            },
            "indexes": [["status", "amount"]],
        },
    },
}

STATUSES = ["open", "closed", "draft"]


def _row(i: int, rng: random.Random, suppliers: int) -> dict[str, Any]:
    return {
        "name": f"Item {i:07d}",
        "supplier": rng.randint(1, suppliers),
        "status": STATUSES[i % 3],
        "amount": decimal.Decimal(rng.randint(100, 10_000_000)) / 100,
        "due": dt.date(2026, 1, 1) + dt.timedelta(days=i % 365),
        "note": "bench row",
    }


def _setup(url: str) -> tuple[sa.Engine, Catalog]:
    engine = create_engine(url)
    upgrade(engine)
    catalog = Catalog({"bench": BLUEPRINT})
    with engine.begin() as conn:
        catalog.metadata.create_all(conn)
        store = RecordStore(catalog)
        store.create_many(conn, "bench.supplier", [{"name": f"S{i}"} for i in range(50)])
    return engine, catalog


def _raw_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    now = dt.datetime.now(dt.UTC)
    return [
        {**r, "_version": 1, "_created_at": now, "_updated_at": now, "_created_by": "bench"}
        for r in rows
    ]


def bench_create(url: str, n: int = 10_000) -> list[tuple[str, float, str]]:
    """Engine create_many and create against raw Core executemany of the same rows."""
    engine, catalog = _setup(url)
    rng = random.Random(1)
    rows = [_row(i, rng, 50) for i in range(n)]
    table = catalog.table("bench.item")
    store = RecordStore(catalog)
    results = []

    raw = _raw_rows(rows)
    t0 = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(table.insert(), raw)
    raw_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    with engine.begin() as conn:
        store.create_many(conn, "bench.item", rows, actor="bench")
    many_s = time.perf_counter() - t0

    one_n = n // 10
    t0 = time.perf_counter()
    with engine.begin() as conn:
        for row in rows[:one_n]:
            store.create(conn, "bench.item", row, actor="bench")
    one_s = (time.perf_counter() - t0) * (n / one_n)

    results.append((f"raw Core executemany, {n:,} rows", n / raw_s, "rows/s"))
    results.append((f"engine create_many (validated, audited), {n:,} rows", n / many_s, "rows/s"))
    results.append(
        ("  ratio engine create_many / raw per row (target <= 1.5)", many_s / raw_s, "x")
    )
    results.append((f"engine create one by one, {one_n:,} rows", n / one_s, "rows/s"))
    results.append(("  ratio engine create / raw per row", one_s / raw_s, "x"))
    engine.dispose()
    return results


def _fill(engine: sa.Engine, catalog: Catalog, n: int) -> None:
    rng = random.Random(2)
    table = catalog.table("bench.item")
    batch = 50_000
    with engine.begin() as conn:
        for start in range(0, n, batch):
            rows = [_row(i, rng, 50) for i in range(start, min(n, start + batch))]
            conn.execute(table.insert(), _raw_rows(rows))


def bench_first_page(url: str, n: int, label: str) -> list[tuple[str, float, str]]:
    """A filtered, sorted first page of 25 (indexed filter) and the raw select baseline."""
    engine, catalog = _setup(url)
    _fill(engine, catalog, n)
    store = RecordStore(catalog)
    table = catalog.table("bench.item")
    flt = {"status": "open", "amount": {"gte": 5000}}
    raw_q = (
        sa.select(table)
        .where(table.c.status == "open", table.c.amount >= 5000)
        .order_by(table.c.amount.desc(), table.c.id.desc())
        .limit(25)
    )

    def timed(fn: Any, repeat: int = 30) -> float:
        fn()
        samples = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            fn()
            samples.append(time.perf_counter() - t0)
        return statistics.median(samples) * 1000

    with engine.connect() as conn:
        raw_ms = timed(lambda: conn.execute(raw_q).all())
        page_ms = timed(
            lambda: store.list(conn, "bench.item", filter=flt, sort="-amount", limit=25)
        )
        page = store.list(conn, "bench.item", filter=flt, sort="-amount", limit=25)
        second_ms = timed(
            lambda: store.list(
                conn, "bench.item", filter=flt, sort="-amount", limit=25, cursor=page.next_cursor
            )
        )
        count_ms = timed(
            lambda: store.list(
                conn, "bench.item", filter=flt, sort="-amount", limit=25, count=True
            ),
            repeat=5,
        )
    engine.dispose()
    return [
        (f"{label}: raw indexed select, first 25", raw_ms, "ms"),
        (f"{label}: engine list, filtered+sorted first page of 25", page_ms, "ms"),
        (f"{label}: engine list, next page by keyset cursor", second_ms, "ms"),
        (f"{label}: engine list with capped count", count_ms, "ms"),
        (f"{label}:   ratio engine / raw", page_ms / raw_ms, "x"),
    ]


def bench_csv_import(url: str, n: int = 50_000) -> list[tuple[str, float, str]]:
    """CSV import through `data import` (links by title) in rows per second."""
    engine, catalog = _setup(url)
    with engine.begin() as conn:
        from appblocks.engine.catalog import write_blueprint

        write_blueprint(conn, BLUEPRINT)
    rng = random.Random(3)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "items.csv"
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["name", "supplier", "status", "amount", "due", "note"])
            for i in range(n):
                r = _row(i, rng, 50)
                writer.writerow(
                    [r["name"], f"S{r['supplier'] - 1}", r["status"], r["amount"], r["due"], ""]
                )
        t0 = time.perf_counter()
        count = import_file(engine, "bench.item", path)
        elapsed = time.perf_counter() - t0
    engine.dispose()
    return [
        (
            f"CSV import, {count:,} rows with a link by title (target >= 20,000)",
            count / elapsed,
            "rows/s",
        )
    ]


def run() -> list[tuple[str, float, str]]:
    """All engine figures on SQLite (files in a temporary folder)."""
    results: list[tuple[str, float, str]] = []
    big = int(os.environ.get("BENCH_ROWS_BIG", "1000000"))
    with tempfile.TemporaryDirectory() as tmp:
        results += bench_create(f"sqlite:///{tmp}/create.db")
        results += bench_csv_import(f"sqlite:///{tmp}/csv.db")
        results += bench_first_page(f"sqlite:///{tmp}/p100k.db", 100_000, "100,000 rows")
        if big:
            results += bench_first_page(f"sqlite:///{tmp}/p1m.db", big, f"{big:,} rows")
    return results


if __name__ == "__main__":
    for label, value, unit in run():
        print(f"{label:<66} {value:>14,.2f} {unit}")
