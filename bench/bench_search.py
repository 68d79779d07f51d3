"""Search benchmark: `q` on a list of 1,000,000 records, through the FTS5 trigram index and by the
old scan (the same ILIKE predicate without the index), on SQLite, in the same run.

Figures: the first page (25 rows by id, as the API's default sort) for a rare term, a common
term, a 3-character Chinese term (indexed) and a 2-character Chinese term (too short for
trigrams: the scan either way, shown so the figure is honest); the capped count a list asks for
with `count=true`; and the one-off cost of indexing the table (the `rebuild` a migration runs
after SQLite copies a table). Set BENCH_ROWS_BIG to change the row count (default 1,000,000).
"""

from __future__ import annotations

import datetime as dt
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml

from appblocks.engine.blueprints import install
from appblocks.engine.catalog import Catalog
from appblocks.engine.db import create_engine
from appblocks.engine.loader import load_blueprint_text
from appblocks.engine.paging import count_rows
from appblocks.engine.query import compile_search
from appblocks.engine.search import IndexedSearch, fts_table, sync_search_indexes

BLUEPRINT: dict[str, Any] = {
    "blueprint": "crm",
    "version": "1.0.0",
    "entities": {
        "customer": {
            "title": "name",
            "fields": {
                "name": {"type": "text", "required": True},
                "city": {"type": "text"},
                "email": {"type": "email"},
                "notes": {"type": "long_text"},
                "status": {"type": "choice", "options": ["lead", "active", "lost"]},
            },
        },
    },
}
ENTITY = "crm.customer"
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华"
WORDS = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike".split()
CITIES = ["Berlin", "Paris", "Madrid", "Rome", "Vienna", "Prague", "北京", "上海", "深圳", "成都"]
RARE = "quokka"  # in 10 records
COMMON = "charlie"  # in about a fifth of them


def _rows(n: int, start: int, stop: int) -> list[dict[str, Any]]:
    rng = random.Random(start)
    now = dt.datetime.now(dt.UTC)
    rows = []
    for i in range(start, stop):
        chinese = i % 2 == 0
        name = (
            rng.choice(SURNAMES) + rng.choice(GIVEN) + (rng.choice(GIVEN) if i % 3 else "")
            if chinese
            else f"{rng.choice(WORDS).title()} {rng.choice(WORDS).title()} {i:07d}"
        )
        notes = " ".join(rng.choice(WORDS) for _ in range(4))
        if i % (n // 10 or 1) == 5:
            notes += f" {RARE.title()}"
        rows.append(
            {
                "name": name,
                "city": rng.choice(CITIES),
                "email": None if chinese else f"c{i}@example.com",
                "notes": notes,
                "status": ("lead", "active", "lost")[i % 3],
                "_version": 1,
                "_created_at": now,
                "_updated_at": now,
            }
        )
    return rows


def _fill(engine: sa.Engine, catalog: Catalog, n: int) -> float:
    """n records by raw insert with the index's triggers off, then the index built as after a
    table rebuild (sync sees the triggers missing): returns the seconds that indexing took."""
    table = catalog.table(ENTITY)
    with engine.begin() as conn:
        for what in ("ai", "ad", "au"):
            conn.exec_driver_sql(f'DROP TRIGGER "_search_{table.name}__{what}"')
        for start in range(0, n, 50_000):
            conn.execute(table.insert(), _rows(n, start, min(n, start + 50_000)))
    started = time.perf_counter()
    with engine.begin() as conn:
        report = sync_search_indexes(conn, catalog)
        assert report.rebuilt == [fts_table(table.name)], report
    took = time.perf_counter() - started
    with engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
    return took


def _median_ms(call: Callable[[], object], repeat: int) -> float:
    call()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        call()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def run() -> list[tuple[str, float, str]]:
    n = int(os.environ.get("BENCH_ROWS_BIG", "1000000")) or 100_000
    out: list[tuple[str, float, str]] = []
    with tempfile.TemporaryDirectory() as folder:
        engine = create_engine(f"sqlite:///{Path(folder) / 'search.db'}")
        install(engine, load_blueprint_text(yaml.safe_dump(BLUEPRINT), "crm.yaml"))
        with engine.connect() as conn:
            catalog = Catalog.load(conn)
        indexing = _fill(engine, catalog, n)
        table = catalog.table(ENTITY)
        engine.dispose()  # connect anew: the engine sees the FTS table
        out.append((f"index {n:,} records (FTS5 trigram rebuild, one-off)", indexing, "s"))
        terms = [
            (f"rare term '{RARE}' (10 records)", RARE, 5),
            (f"common term '{COMMON}' (about 1 in 4)", COMMON, 5),
            ("Chinese 3 characters '王伟芳'", "王伟芳", 5),
            ("Chinese 2 characters '张伟' (too short: scan both ways)", "张伟", 3),
        ]
        with engine.connect() as conn:
            for label, term, repeat in terms:
                search = compile_search(catalog, ENTITY, term)
                assert isinstance(search, IndexedSearch) == (len(term) >= 3)
                scan = search.scan if isinstance(search, IndexedSearch) else search
                page = sa.select(table).order_by(table.c.id).limit(26)
                sql = str(page.where(search).compile(conn))
                assert ("MATCH" in sql) == (len(term) >= 3), sql
                hits = conn.execute(page.where(search)).all()
                assert hits == conn.execute(page.where(scan)).all()  # the same records
                fast = _median_ms(lambda s=search, p=page: conn.execute(p.where(s)).all(), repeat)
                slow = _median_ms(lambda s=scan, p=page: conn.execute(p.where(s)).all(), repeat)
                out.append((f"first page, {label}", fast, "ms"))
                out.append(("  baseline: the scan (ILIKE, no index)", slow, "ms"))
                out.append(("  ratio scan / indexed", slow / fast, "x"))
            for label, term in ((RARE, RARE), (COMMON, COMMON)):
                search = compile_search(catalog, ENTITY, term)
                assert isinstance(search, IndexedSearch)
                fast = _median_ms(lambda s=search: count_rows(conn, table, s), 3)
                slow = _median_ms(lambda s=search.scan: count_rows(conn, table, s), 3)
                out.append((f"count (capped at 10,000), '{label}'", fast, "ms"))
                out.append(("  baseline: the scan (ILIKE, no index)", slow, "ms"))
                out.append(("  ratio scan / indexed", slow / fast, "x"))
        engine.dispose()
    return out
