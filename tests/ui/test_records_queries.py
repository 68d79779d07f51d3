"""The record page costs a fixed number of statements, however many lines and related records
it shows (on SQLite and PostgreSQL): titles are resolved per entity, related lists are one
statement each, lines one per lines field."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy import event

from tests.server.conftest import Live, module_db_url, shipped
from tests.ui.conftest import page_session

__all__ = ["module_db_url", "shipped"]  # the fixtures, for pytest to find here


@contextmanager
def counting(engine: sa.Engine) -> Iterator[list[str]]:
    """Every statement the engine runs meanwhile, but for the catalog's change check (it runs
    at most once a second, whenever a request happens to come, in a transaction of its own)
    and transaction control (the BEGIN that SQLite connections issue themselves)."""
    seen: list[str] = []
    lock = threading.Lock()

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "ab_document" not in statement and not statement.startswith("BEGIN"):
            with lock:
                seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def _api(live: Live, user: str, method: str, path: str, **kw: Any) -> Any:
    with live.client(user) as client:
        answer = client.request(method, path, **kw)
    assert answer.status_code < 300, answer.text
    return answer.json()


def _id(live: Live, entity: str, where: str) -> int:
    found = _api(live, "admin1", "GET", f"/api/v1/srm/{entity}", params={"filter": where})
    return int(found["items"][0]["id"])


def _statements(live: Live, client: httpx.Client, path: str) -> int:
    assert client.get(path).status_code == 200  # warm: plans and statements are built once
    with counting(live.engine) as seen:
        answer = client.get(path)
    assert answer.status_code == 200
    return len(seen)


def test_records_page_statements_do_not_grow_with_lines(shipped: Live) -> None:
    supplier = _id(shipped, "supplier", '{"code": "SUP-001"}')
    materials = [_id(shipped, "material", f'{{"code": "M-100{i}"}}') for i in (1, 3, 9)]
    pages = []
    for count in (2, 20):
        lines = [
            {"material": materials[i % 3], "quantity": i + 1, "unit_price": "3.5"}
            for i in range(count)
        ]
        body = {"supplier": supplier, "order_date": "2026-04-01", "lines": lines}
        order = _api(shipped, "buyer1", "POST", "/api/v1/srm/purchase_order", json=body)
        pages.append(f"/srm/purchase_order/{order['id']}")
    client = page_session(shipped, "buyer1")
    try:
        few, many = (_statements(shipped, client, p) for p in pages)
        assert "M-1009" in client.get(pages[1]).text
    finally:
        client.close()
    assert few == many, (few, many)
    assert few <= 25, few


def test_records_page_statements_do_not_grow_with_related_records(shipped: Live) -> None:
    material = _id(shipped, "material", '{"code": "M-1001"}')
    paths = []
    for name, orders in (("Query Count Few Ltd.", 2), ("Query Count Many Ltd.", 14)):
        supplier = _api(shipped, "manager1", "POST", "/api/v1/srm/supplier", json={"name": name})
        line = {"material": material, "quantity": 1, "unit_price": "1"}
        rows = [
            {"supplier": supplier["id"], "order_date": "2026-04-01", "lines": [line]}
            for _ in range(orders)
        ]
        _api(shipped, "buyer1", "POST", "/api/v1/srm/purchase_order/batch", json=rows)
        contacts = [{"supplier": supplier["id"], "name": f"Contact {i}"} for i in range(orders)]
        _api(shipped, "manager1", "POST", "/api/v1/srm/supplier_contact/batch", json=contacts)
        paths.append(f"/srm/supplier/{supplier['id']}")
    client = page_session(shipped, "buyer1")
    try:
        few, many = (_statements(shipped, client, p) for p in paths)
        page = client.get(paths[1]).text
    finally:
        client.close()
    assert few == many, (few, many)
    assert ">14<" in page.replace(" ", "")  # the count of a list that shows only 10
