"""The record store reuses statements (list queries, rule predicates) without mixing them up."""

from __future__ import annotations

import copy
import datetime as dt

import pytest
import sqlalchemy as sa

from appblocks.engine.catalog import Catalog
from appblocks.engine.records import NotFound, RecordStore
from tests.engine.conftest import PURCHASING

Conn = sa.Connection


def _suppliers(store: RecordStore, conn: Conn) -> dict[str, int]:
    rows = [
        {"name": "Acme", "risk": "low", "rating": 5},
        {"name": "Brill", "risk": "high", "rating": 2},
        {"name": "Cato", "risk": "low"},
    ]
    ids = store.create_many(conn, "srm.supplier", rows)
    return {r["name"]: i for r, i in zip(rows, ids, strict=True)}


def _names(store: RecordStore, conn: Conn, **kwargs: object) -> list[str]:
    return [r["name"] for r in store.list(conn, "srm.supplier", **kwargs).items]  # type: ignore[arg-type]


def test_list_query_reused_per_filter_sort_and_rule(store: RecordStore, conn: Conn) -> None:
    ids = _suppliers(store, conn)
    table = store.catalog.table("srm.supplier")
    only_acme = table.c.id == ids["Acme"]
    only_brill = table.c.id == ids["Brill"]
    low = {"risk": "low"}
    assert _names(store, conn, filter=low, sort="-rating") == ["Acme", "Cato"]
    assert _names(store, conn, filter=low, sort="-rating") == ["Acme", "Cato"]  # reused
    assert _names(store, conn, filter=low, sort="rating") == ["Acme", "Cato"]
    assert _names(store, conn, filter={"risk": "high"}, sort="-rating") == ["Brill"]
    assert _names(store, conn, filter=low, sort="-rating", scope=only_acme) == ["Acme"]
    assert _names(store, conn, filter=low, sort="-rating", scope=only_brill) == []
    assert _names(store, conn, filter=None, sort="-rating", scope=only_brill) == ["Brill"]
    assert _names(store, conn, filter=low, sort="-rating", limit=1) == ["Acme"]
    page = store.list(conn, "srm.supplier", filter=low, sort="-rating", limit=1)
    after = store.list(
        conn, "srm.supplier", filter=low, sort="-rating", limit=1, cursor=page.next_cursor
    )
    assert [r["name"] for r in after.items] == ["Cato"]


def test_list_query_with_python_values_is_compiled_each_time(
    store: RecordStore, conn: Conn
) -> None:
    _suppliers(store, conn)
    store.create(conn, "srm.supplier", {"name": "Dorn", "since": "2024-03-01"})
    store.create(conn, "srm.supplier", {"name": "Eyre", "since": "2025-03-01"})
    for day, names in ((dt.date(2024, 1, 1), ["Dorn", "Eyre"]), (dt.date(2025, 1, 1), ["Eyre"])):
        assert _names(store, conn, filter={"since": {"gte": day}}, sort="name") == names


def test_rule_predicates_keep_their_own_statements(store: RecordStore, conn: Conn) -> None:
    ids = _suppliers(store, conn)
    table = store.catalog.table("srm.supplier")
    low, high = table.c.risk == "low", table.c.risk == "high"
    for _ in range(2):  # the second round reuses the statements built in the first
        assert store.get(conn, "srm.supplier", ids["Acme"], scope=low)["name"] == "Acme"
        store.check_exists(conn, "srm.supplier", ids["Acme"], scope=low)
        store.check_exists(conn, "srm.supplier", ids["Brill"], scope=high)
        store.check_exists(conn, "srm.supplier", ids["Brill"])
        with pytest.raises(NotFound):
            store.get(conn, "srm.supplier", ids["Acme"], scope=high)
        with pytest.raises(NotFound):
            store.check_exists(conn, "srm.supplier", ids["Brill"], scope=low)
    with pytest.raises(NotFound):
        store.check_exists(conn, "srm.supplier", 10**9)


def test_list_query_follows_a_new_catalog_version(store: RecordStore, conn: Conn) -> None:
    _suppliers(store, conn)
    old_plan = store.plans["srm.supplier"]
    assert _names(store, conn, filter={"risk": "low"}, sort="name") == ["Acme", "Cato"]
    changed = copy.deepcopy(PURCHASING)
    changed["entities"]["supplier"]["label"] = "Vendor"  # a new version, the same columns
    store.catalog = Catalog({"srm": changed})
    assert _names(store, conn, filter={"risk": "low"}, sort="name") == ["Acme", "Cato"]
    plan = store.plans["srm.supplier"]
    assert plan is not old_plan
    assert any(key[0] is plan for key in store._list_queries)
