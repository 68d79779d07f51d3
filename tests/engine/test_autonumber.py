"""Autonumbers: formats, counters per prefix, batches, rollback, concurrent saves."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from appblocks.engine.autonumber import counter_key, next_value, next_values, parse_format
from appblocks.engine.catalog import Catalog
from appblocks.engine.db import create_engine
from appblocks.engine.platform_db import upgrade
from appblocks.engine.records import RecordErrors, RecordStore
from appblocks.engine.spec import FieldSpec

from .conftest import PG_URL, PURCHASING

NOW = dt.datetime(2025, 3, 7, 10, 30, tzinfo=dt.UTC)


def field(fmt: str | None) -> FieldSpec:
    doc = {"type": "autonumber"} if fmt is None else {"type": "autonumber", "format": fmt}
    return FieldSpec("number", "autonumber", doc, "srm.purchase_order")


@pytest.mark.parametrize(
    ("fmt", "seq", "expected"),
    [
        ("PO-{yyyy}-{seq:05}", 42, "PO-2025-00042"),
        ("PO-{yyyy}-{seq:05}", 123456, "PO-2025-123456"),
        ("{yy}{mm}{dd}-{seq}", 7, "250307-7"),
        ("INV/{yyyy}/{mm}/{seq:3}", 5, "INV/2025/03/005"),
        ("{seq}", 1, "1"),
        ("Q-", 9, "Q-9"),  # no {seq}: appended, or every number would be the same
        ("{unknown}-{seq:02}", 3, "{unknown}-03"),
    ],
)
def test_format_renders_tokens(fmt: str, seq: int, expected: str) -> None:
    assert parse_format(fmt).render(NOW, seq) == expected


def test_counter_runs_per_prefix() -> None:
    f = field("PO-{yyyy}-{seq:05}")
    assert counter_key("srm.purchase_order", f, NOW) == "srm.purchase_order.number:PO-2025-{#}"
    later = NOW.replace(year=2026)
    assert counter_key("srm.purchase_order", f, later) != counter_key("srm.purchase_order", f, NOW)


def test_next_value_counts_and_restarts_per_prefix(engine: sa.Engine) -> None:
    f = field("PO-{yyyy}-{seq:05}")
    with engine.begin() as conn:
        assert next_value(conn, "srm.purchase_order", f, NOW) == "PO-2025-00001"
        assert next_value(conn, "srm.purchase_order", f, NOW) == "PO-2025-00002"
        assert next_value(conn, "srm.purchase_order", f, NOW.replace(year=2026)) == "PO-2026-00001"
        assert next_value(conn, "srm.other", f, NOW) == "PO-2025-00001"
        assert next_values(conn, "srm.purchase_order", f, NOW, 3) == [
            "PO-2025-00003",
            "PO-2025-00004",
            "PO-2025-00005",
        ]
        assert next_values(conn, "srm.purchase_order", f, NOW, 0) == []


def test_next_value_rolled_back_leaves_no_gap(engine: sa.Engine) -> None:
    f = field(None)
    with engine.begin() as conn:
        assert next_value(conn, "srm.x", f, NOW) == "1"
    with engine.connect() as conn:
        with conn.begin() as tx:
            assert next_value(conn, "srm.x", f, NOW) == "2"
            tx.rollback()
        with conn.begin():
            assert next_value(conn, "srm.x", f, NOW) == "2"


@pytest.fixture
def purchasing(engine: sa.Engine) -> tuple[sa.Engine, RecordStore]:
    catalog = Catalog({"srm": PURCHASING})
    with engine.begin() as conn:
        catalog.metadata.create_all(conn)
    return engine, RecordStore(catalog)


def test_records_get_autonumbers(purchasing: tuple[sa.Engine, RecordStore]) -> None:
    engine, store = purchasing
    year = dt.datetime.now(dt.UTC).year
    with engine.begin() as conn:
        s = store.create(conn, "srm.supplier", {"name": "Acme"})
        first = store.create(conn, "srm.purchase_order", {"supplier": s["id"]})
        ids = store.create_many(conn, "srm.purchase_order", [{"supplier": s["id"]}] * 3)
        numbers = [store.get(conn, "srm.purchase_order", i)["number"] for i in ids]
    assert first["number"] == f"PO-{year}-00001"
    assert numbers == [f"PO-{year}-{n:05d}" for n in (2, 3, 4)]


def test_failed_save_takes_no_number(purchasing: tuple[sa.Engine, RecordStore]) -> None:
    engine, store = purchasing
    with engine.begin() as conn:
        assert store.create(conn, "srm.material", {"code": "A"})["ref"] == "M001"
        with pytest.raises(RecordErrors):  # a bad value: refused before any number is taken
            store.create(conn, "srm.material", {"code": "B", "name": ["x"]})
        with pytest.raises(RecordErrors):  # a unique clash: its savepoint gives the number back
            store.create(conn, "srm.material", {"code": "A"})
        assert store.create(conn, "srm.material", {"code": "B"})["ref"] == "M002"


@pytest.fixture
def pg_engine() -> Iterator[sa.Engine]:
    """A PostgreSQL database of its own (concurrency needs real parallel transactions)."""
    if not PG_URL:
        pytest.skip("PostgreSQL tests need APPBLOCKS_TEST_PG_URL")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    url = sa.make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    engine = create_engine(url.render_as_string(hide_password=False), pool_size=10)
    upgrade(engine)
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


def test_concurrent_saves_get_distinct_numbers_without_gaps(pg_engine: sa.Engine) -> None:
    catalog = Catalog({"srm": PURCHASING})
    store = RecordStore(catalog)
    with pg_engine.begin() as conn:
        catalog.metadata.create_all(conn)
        supplier_id = store.create(conn, "srm.supplier", {"name": "Acme"})["id"]
    start = threading.Barrier(8)
    numbers: list[str] = []
    failures: list[BaseException] = []
    lock = threading.Lock()

    def work() -> None:
        try:
            start.wait()
            for _ in range(25):
                with pg_engine.begin() as conn:  # each save its own transaction
                    record = store.create(conn, "srm.purchase_order", {"supplier": supplier_id})
                with lock:
                    numbers.append(record["number"])
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            failures.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert len(numbers) == len(set(numbers)) == 200
    assert sorted(int(n.rsplit("-", 1)[1]) for n in numbers) == list(range(1, 201))
