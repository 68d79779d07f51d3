"""Page benchmarks: a 25-row list page and a record page with 50 lines, at 1,000,000 rows.

Targets (issue 5): the list page under 50 ms, the record page under 80 ms, served over real
HTTP by the full app (session cookie, access checks, templates). Baseline in the same run:
the JSON API answering the same questions (its ratio shows what the HTML costs on top).
Set BENCH_ROWS_BIG to change the row count (default 1,000,000; it takes a minute to fill).
"""

from __future__ import annotations

import datetime as dt
import decimal
import os
import random
import re
import socket
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
import uvicorn
import yaml

from appblocks.engine.blueprints import install
from appblocks.engine.catalog import Catalog
from appblocks.engine.db import create_engine
from appblocks.engine.loader import load_blueprint_text
from appblocks.engine.records import RecordStore
from appblocks.engine.users import create_user
from appblocks.server.app import create_app
from appblocks.server.runtime import Runtime
from appblocks.server.settings import Settings

PASSWORD = "bench password 123"
BLUEPRINT: dict[str, Any] = {
    "blueprint": "shop",
    "version": "1.0.0",
    "entities": {
        "customer": {
            "title": "name",
            "fields": {
                "name": {"type": "text", "required": True, "unique": True},
                "region": {"type": "choice", "options": ["north", "south", "east", "west"]},
            },
        },
        "product": {
            "title": "code",
            "fields": {"code": {"type": "text", "required": True, "unique": True}},
        },
        "sale": {
            "title": "number",
            "fields": {
                "number": {"type": "text", "required": True, "unique": True},
                "customer": {"type": "link", "to": "customer", "required": True},
                "status": {"type": "choice", "options": ["open", "shipped", "closed"]},
                "placed_on": {"type": "date", "index": True},
                "note": {"type": "text"},
                "lines": {"type": "lines", "to": "sale_line"},
                "total": {
                    "type": "money",
                    "rollup": {"over": "lines", "agg": "sum", "field": "amount"},
                },
            },
        },
        "sale_line": {
            "fields": {
                "product": {"type": "link", "to": "product", "required": True},
                "quantity": {"type": "decimal", "min": 0},
                "unit_price": {"type": "money"},
                "amount": {"type": "money", "formula": "quantity * unit_price"},
            }
        },
    },
}


def _fill(engine: sa.Engine, catalog: Catalog, n: int) -> int:
    """n orders by raw insert (the engine's own insert path is benchmarked elsewhere), and one
    order with 50 lines through the engine; returns that order's id."""
    rng = random.Random(3)
    now = dt.datetime.now(dt.UTC)
    system = {"_version": 1, "_created_at": now, "_updated_at": now, "_created_by": "bench"}
    store = RecordStore(catalog)
    with engine.begin() as conn:
        store.create_many(
            conn, "shop.customer", [{"name": f"C{i:04d}", "region": "north"} for i in range(200)]
        )
        store.create_many(conn, "shop.product", [{"code": f"P{i:04d}"} for i in range(500)])
        table = catalog.table("shop.sale")
        for start in range(0, n, 50_000):
            rows = [
                {
                    "number": f"SO-{i:08d}",
                    "customer": rng.randint(1, 200),
                    "status": ("open", "shipped", "closed")[i % 3],
                    "placed_on": dt.date(2026, 1, 1) + dt.timedelta(days=i % 365),
                    "note": "bench",
                    "total": decimal.Decimal(rng.randint(100, 999_999)) / 100,
                    **system,
                }
                for i in range(start, min(n, start + 50_000))
            ]
            conn.execute(table.insert(), rows)
        lines = [
            {"product": rng.randint(1, 500), "quantity": rng.randint(1, 40), "unit_price": "12.50"}
            for _ in range(50)
        ]
        record = store.create(
            conn,
            "shop.sale",
            {"number": "SO-BIG", "customer": 1, "status": "open", "lines": lines},
        )
    return int(record["id"])


def _serve(url: str, engine: sa.Engine) -> tuple[uvicorn.Server, threading.Thread, str]:
    settings = Settings(db_url=url, secret_key="bench-" + "k" * 40)
    app = create_app(settings, Runtime(settings, engine))
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    return server, thread, f"http://127.0.0.1:{port}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _signed_in(base: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=60)
    token = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/login").text)
    assert token
    answer = client.post(
        "/login", data={"username": "bench", "password": PASSWORD, "csrf_token": token.group(1)}
    )
    assert answer.status_code == 303, answer.text
    return client


def _median_ms(call: Callable[[], httpx.Response], repeat: int = 40) -> float:
    for _ in range(5):
        answer = call()
        assert answer.status_code == 200, (answer.status_code, answer.text[:300])
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        call()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def run() -> list[tuple[str, float, str]]:
    n = int(os.environ.get("BENCH_ROWS_BIG", "1000000")) or 100_000
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'pages.db'}"
        engine = create_engine(url)
        install(engine, load_blueprint_text(yaml.safe_dump(BLUEPRINT), "shop.yaml"))
        with engine.connect() as conn:
            catalog = Catalog.load(conn)
        big = _fill(engine, catalog, n)
        with engine.begin() as conn:
            create_user(conn, "bench", password=PASSWORD, roles=["admin"])
            conn.exec_driver_sql("ANALYZE")
        server, thread, base = _serve(url, engine)
        try:
            client = _signed_in(base)
            api = httpx.Client(base_url=base, timeout=60)
            token = api.post("/api/v1/auth/token", data={"username": "bench", "password": PASSWORD})
            api.headers["Authorization"] = "Bearer " + token.json()["access_token"]
            list_page = _median_ms(lambda: client.get("/shop/sale?sort=-placed_on"))
            list_api = _median_ms(
                lambda: api.get(
                    "/api/v1/shop/sale?sort=-placed_on&limit=25&count=true&expand=customer"
                )
            )
            record_page = _median_ms(lambda: client.get(f"/shop/sale/{big}"))
            record_api = _median_ms(lambda: api.get(f"/api/v1/shop/sale/{big}?expand=customer"))
        finally:
            server.should_exit = True
            thread.join(timeout=10)
            engine.dispose()
    return [
        (f"list page, 25 rows of {n:,} (target < 50 ms)", list_page, "ms"),
        ("  baseline: the same page as JSON from the API", list_api, "ms"),
        ("  ratio HTML page / JSON API", list_page / list_api, "x"),
        ("record page with 50 lines (target < 80 ms)", record_page, "ms"),
        ("  baseline: the record with lines as JSON", record_api, "ms"),
        ("  ratio HTML page / JSON API", record_page / record_api, "x"),
    ]
