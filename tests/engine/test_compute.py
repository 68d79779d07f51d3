"""Computed fields: formulas, rollups and lookups on save, propagation, migration recompute."""

from __future__ import annotations

import copy
import datetime as dt
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from appblocks.engine.blueprints import install
from appblocks.engine.catalog import Catalog
from appblocks.engine.compute import (
    Computer,
    build_store,
    dependency_cycle,
    recompute_all,
    recompute_entities,
)
from appblocks.engine.compute_plan import entity_compute
from appblocks.engine.loader import load_blueprint_text
from appblocks.engine.records import RecordErrors, RecordStore

Conn = sa.Connection

BUYING: dict[str, Any] = {
    "blueprint": "buy",
    "version": "1.0.0",
    "entities": {
        "region": {
            "title": "name",
            "fields": {
                "name": {"type": "text", "required": True},
                "open_total": {
                    "type": "money",
                    "rollup": {"over": "supplier.region", "agg": "sum", "field": "open_po_total"},
                },
            },
        },
        "supplier": {
            "title": "name",
            "fields": {
                "name": {"type": "text", "required": True, "unique": True},
                "risk": {"type": "choice", "options": ["low", "medium", "high"], "default": "low"},
                "region": {"type": "link", "to": "region"},
                "open_po_total": {
                    "type": "money",
                    "rollup": {
                        "over": "purchase_order.supplier",
                        "agg": "sum",
                        "field": "total",
                        "where": "status == 'open'",
                    },
                },
                "po_count": {
                    "type": "integer",
                    "rollup": {"over": "purchase_order.supplier", "agg": "count"},
                },
            },
        },
        "material": {
            "title": "code",
            "fields": {
                "code": {"type": "text", "required": True, "unique": True},
                "price": {"type": "money"},
            },
        },
        "purchase_order": {
            "title": "number",
            "fields": {
                "number": {"type": "autonumber", "format": "PO-{seq:04}"},
                "supplier": {"type": "link", "to": "supplier", "required": True},
                "status": {
                    "type": "choice",
                    "options": ["draft", "open", "closed"],
                    "default": "open",
                },
                "approver": {"type": "text"},
                "order_date": {"type": "date"},
                "lines": {"type": "lines", "to": "purchase_order_line"},
                "total": {
                    "type": "money",
                    "rollup": {"over": "lines", "agg": "sum", "field": "amount"},
                },
                "line_count": {"type": "integer", "rollup": {"over": "lines", "agg": "count"}},
                "bulk_total": {
                    "type": "money",
                    "rollup": {
                        "over": "lines",
                        "agg": "sum",
                        "field": "amount",
                        "where": "quantity > 10",
                    },
                },
                "list_total": {
                    "type": "money",
                    "rollup": {"over": "lines", "agg": "sum", "field": "list_amount"},
                },
                "supplier_risk": {"type": "lookup", "via": "supplier", "field": "risk"},
                "with_tax": {"type": "money", "formula": "total * Decimal('1.13')"},
                "due": {"type": "date", "formula": "add_days(coalesce(order_date, today()), 30)"},
            },
            "rules": [
                {
                    "when": "total > 100000 and not approver",
                    "field": "approver",
                    "error": {
                        "en": "an order over 100,000 needs an approver",
                        "zh-CN": "超过 100,000 的订单需要审批人",
                    },
                }
            ],
        },
        "purchase_order_line": {
            "fields": {
                "material": {"type": "link", "to": "material", "on_delete": "set_null"},
                "quantity": {"type": "decimal", "min": 0},
                "unit_price": {"type": "money"},
                "amount": {"type": "money", "formula": "quantity * unit_price"},
                "per_unit": {"type": "decimal", "formula": "unit_price / quantity"},
                "material_price": {"type": "lookup", "via": "material", "field": "price"},
                "list_amount": {"type": "money", "formula": "quantity * material_price"},
            },
        },
    },
}


def blueprint_text(blueprint: dict[str, Any]) -> str:
    """A blueprint dict as the YAML an analyst would write."""
    return yaml.safe_dump(blueprint, allow_unicode=True, sort_keys=False)


@pytest.fixture
def buying(engine: sa.Engine) -> sa.Engine:
    """The database with the buying app installed (through validation and migrations)."""
    install(engine, load_blueprint_text(blueprint_text(BUYING), "buy.yaml"))
    return engine


@pytest.fixture
def store(buying: sa.Engine) -> RecordStore:
    """A store that computes fields and propagates changes."""
    with buying.connect() as conn:
        return build_store(Catalog.load(conn))


@pytest.fixture
def conn(buying: sa.Engine) -> Iterator[Conn]:
    """A connection in a transaction, rolled back after the test."""
    with buying.connect() as connection, connection.begin():
        yield connection


def money(value: str) -> Decimal:
    return Decimal(value).quantize(Decimal("0.01"))


def order(
    store: RecordStore, conn: Conn, supplier: int, *lines: tuple[Any, Any], **values: Any
) -> dict[str, Any]:
    """A purchase order with (quantity, unit_price) lines."""
    rows = [{"quantity": q, "unit_price": p} for q, p in lines]
    return store.create(conn, "buy.purchase_order", {"supplier": supplier, "lines": rows, **values})


def get(store: RecordStore, conn: Conn, entity: str, id: int) -> dict[str, Any]:
    return store.get(conn, f"buy.{entity}", id)


@pytest.fixture
def acme(store: RecordStore, conn: Conn) -> dict[str, Any]:
    return store.create(conn, "buy.supplier", {"name": "Acme", "risk": "medium"})


# --- on save ----------------------------------------------------------------------------------


def test_compute_values_on_create(store: RecordStore, conn: Conn, acme: dict[str, Any]) -> None:
    po = order(store, conn, acme["id"], (2, "1.50"), (20, "4"), order_date="2025-01-31")
    assert [line["amount"] for line in po["lines"]] == [money("3"), money("80")]
    assert (po["total"], po["line_count"], po["bulk_total"]) == (money("83"), 2, money("80"))
    assert po["supplier_risk"] == "medium"
    assert po["with_tax"] == money("93.79")  # a formula over a rollup
    assert po["due"] == dt.date(2025, 3, 2)
    assert get(store, conn, "purchase_order", po["id"])["total"] == money("83")


def test_compute_formula_reads_today(store: RecordStore, conn: Conn, acme: dict[str, Any]) -> None:
    po = order(store, conn, acme["id"])
    assert po["due"] == dt.date.today() + dt.timedelta(days=30)
    assert (po["total"], po["line_count"], po["bulk_total"]) == (0, 0, 0)


def test_compute_updating_a_line_recomputes_the_total(
    store: RecordStore, conn: Conn, acme: dict[str, Any]
) -> None:
    po = order(store, conn, acme["id"], (2, "1.50"), (1, "4"))
    first, second = po["lines"]
    changed = [{"id": first["id"], "quantity": 12}, {"id": second["id"]}]
    po = store.update(conn, "buy.purchase_order", po["id"], {"lines": changed}, version=1)
    assert (po["total"], po["bulk_total"], po["with_tax"]) == (
        money("22"),
        money("18"),
        money("24.86"),
    )
    assert get(store, conn, "purchase_order", po["id"])["lines"][0]["amount"] == money("18")


def test_compute_deleting_a_line_recomputes_the_total(
    store: RecordStore, conn: Conn, acme: dict[str, Any]
) -> None:
    po = order(store, conn, acme["id"], (2, "1.50"), (1, "4"))
    kept = [{"id": po["lines"][1]["id"]}]
    po = store.update(conn, "buy.purchase_order", po["id"], {"lines": kept}, version=1)
    assert (po["total"], po["line_count"]) == (money("4"), 1)


def test_compute_line_saved_on_its_own_recomputes_its_parent(
    store: RecordStore, conn: Conn, acme: dict[str, Any]
) -> None:
    po = order(store, conn, acme["id"], (1, "4"))
    line = store.create(
        conn, "buy.purchase_order_line", {"_parent_id": po["id"], "quantity": 3, "unit_price": 2}
    )
    assert get(store, conn, "purchase_order", po["id"])["total"] == money("10")
    store.update(conn, "buy.purchase_order_line", line["id"], {"quantity": 30}, version=1)
    assert get(store, conn, "purchase_order", po["id"])["bulk_total"] == money("60")
    store.delete(conn, "buy.purchase_order_line", line["id"])
    refreshed = get(store, conn, "purchase_order", po["id"])
    assert (refreshed["total"], refreshed["line_count"], refreshed["_version"]) == (
        money("4"),
        1,
        1,
    )


def test_compute_division_by_zero_stores_nothing(
    store: RecordStore, conn: Conn, acme: dict[str, Any]
) -> None:
    po = order(store, conn, acme["id"], (0, "5"), (4, "2"))
    assert [line["per_unit"] for line in po["lines"]] == [None, Decimal("0.5000")]
    assert po["total"] == money("8")


def test_compute_computed_fields_cannot_be_set(
    store: RecordStore, conn: Conn, acme: dict[str, Any]
) -> None:
    with pytest.raises(RecordErrors) as refused:
        store.create(conn, "buy.purchase_order", {"supplier": acme["id"], "total": 5})
    assert [(e.field, e.code) for e in refused.value.errors] == [("total", "computed")]


# --- propagation ------------------------------------------------------------------------------


def test_compute_lookup_follows_the_looked_up_field(
    store: RecordStore, conn: Conn, acme: dict[str, Any]
) -> None:
    first, second = order(store, conn, acme["id"]), order(store, conn, acme["id"])
    store.update(conn, "buy.supplier", acme["id"], {"risk": "high"}, version=1)
    for po in (first, second):
        stored = get(store, conn, "purchase_order", po["id"])
        assert (stored["supplier_risk"], stored["_version"]) == ("high", 1)


def test_compute_lookup_change_recomputes_formulas_and_the_parent(
    store: RecordStore, conn: Conn, acme: dict[str, Any]
) -> None:
    bolt = store.create(conn, "buy.material", {"code": "BOLT", "price": "2"})
    lines = [{"material": bolt["id"], "quantity": 5, "unit_price": 1}]
    po = store.create(conn, "buy.purchase_order", {"supplier": acme["id"], "lines": lines})
    assert (po["lines"][0]["list_amount"], po["list_total"]) == (money("10"), money("10"))
    store.update(conn, "buy.material", bolt["id"], {"price": "3"}, version=1)
    stored = get(store, conn, "purchase_order", po["id"])
    assert stored["lines"][0]["material_price"] == money("3")
    assert (stored["lines"][0]["list_amount"], stored["list_total"]) == (money("15"), money("15"))


def test_compute_cleared_link_clears_the_lookup(
    store: RecordStore, conn: Conn, acme: dict[str, Any]
) -> None:
    bolt = store.create(conn, "buy.material", {"code": "BOLT", "price": "2"})
    lines = [{"material": bolt["id"], "quantity": 5, "unit_price": 1}]
    po = store.create(conn, "buy.purchase_order", {"supplier": acme["id"], "lines": lines})
    store.delete(conn, "buy.material", bolt["id"])  # set_null on the line's link
    line = get(store, conn, "purchase_order", po["id"])["lines"][0]
    assert (line["material"], line["material_price"], line["list_amount"]) == (None, None, None)
    assert get(store, conn, "purchase_order", po["id"])["list_total"] == 0


def test_compute_reverse_rollup_follows_orders_and_chains(store: RecordStore, conn: Conn) -> None:
    region = store.create(conn, "buy.region", {"name": "North"})
    acme = store.create(conn, "buy.supplier", {"name": "Acme", "region": region["id"]})
    other = store.create(conn, "buy.supplier", {"name": "Other", "region": region["id"]})
    assert (acme["open_po_total"], acme["po_count"], region["open_total"]) == (0, 0, 0)

    def figures() -> tuple[Any, ...]:
        a, o = get(store, conn, "supplier", acme["id"]), get(store, conn, "supplier", other["id"])
        g = get(store, conn, "region", region["id"])
        return a["open_po_total"], a["po_count"], o["open_po_total"], g["open_total"]

    po = order(store, conn, acme["id"], (2, "50"))
    draft = order(store, conn, acme["id"], (1, "7"), status="draft")
    assert figures() == (money("100"), 2, 0, money("100"))
    store.update(conn, "buy.purchase_order", draft["id"], {"status": "open"}, version=1)
    assert figures() == (money("107"), 2, 0, money("107"))
    store.update(conn, "buy.purchase_order", po["id"], {"supplier": other["id"]}, version=1)
    assert figures() == (money("7"), 1, money("100"), money("107"))
    store.delete(conn, "buy.purchase_order", po["id"])
    assert figures() == (money("7"), 1, 0, money("7"))
    assert get(store, conn, "supplier", acme["id"])["_version"] == 1  # no version bump


def test_compute_concurrent_lines_both_count(buying: sa.Engine, store: RecordStore) -> None:
    with buying.begin() as conn:
        acme = store.create(conn, "buy.supplier", {"name": "Acme"})
        po = order(store, conn, acme["id"])
    errors: list[BaseException] = []

    def add_line(conn: Conn, price: str) -> None:
        line = {"_parent_id": po["id"], "quantity": 1, "unit_price": price}
        store.create(conn, "buy.purchase_order_line", line)

    def second() -> None:
        try:
            with buying.begin() as other:
                add_line(other, "5")
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    with buying.connect() as first, first.begin():
        add_line(first, "10")
        thread = threading.Thread(target=second)
        thread.start()
        time.sleep(0.3)  # the second save now waits for this transaction's locks
    thread.join(timeout=30)
    assert not errors
    with buying.connect() as conn:
        assert get(store, conn, "purchase_order", po["id"])["total"] == money("15")
        assert get(store, conn, "supplier", acme["id"])["open_po_total"] == money("15")


def test_compute_propagation_stops_on_a_loop(
    engine: sa.Engine, caplog: pytest.LogCaptureFixture
) -> None:
    catalog = Catalog(
        {
            "loop": {
                "blueprint": "loop",
                "entities": {
                    "box": {
                        "title": "name",
                        "fields": {
                            "name": {"type": "text"},
                            "total": {
                                "type": "integer",
                                "rollup": {"over": "item.box", "agg": "sum", "field": "size"},
                            },
                        },
                    },
                    "item": {
                        "fields": {
                            "box": {"type": "link", "to": "box"},
                            "box_total": {"type": "lookup", "via": "box", "field": "total"},
                            "size": {"type": "integer", "formula": "coalesce(box_total, 0) + 1"},
                        }
                    },
                },
            }
        }
    )
    store = build_store(catalog)
    with engine.begin() as conn:
        catalog.metadata.create_all(conn)
        box = store.create(conn, "loop.box", {"name": "B"})
        store.create(conn, "loop.item", {"box": box["id"]})
        assert store.get(conn, "loop.box", box["id"])["total"] > 1
    assert "round in a circle" in caplog.text


def test_compute_plain_store_leaves_stored_values_alone(buying: sa.Engine, conn: Conn) -> None:
    plain = RecordStore(Catalog.load(conn))
    acme = plain.create(conn, "buy.supplier", {"name": "Acme"})
    po = plain.create(conn, "buy.purchase_order", {"supplier": acme["id"]})
    assert po["total"] is None


# --- recomputing ------------------------------------------------------------------------------


def test_compute_recompute_all_fills_stale_values(buying: sa.Engine, conn: Conn) -> None:
    catalog = Catalog.load(conn)
    plain = RecordStore(catalog)
    acme = plain.create(conn, "buy.supplier", {"name": "Acme"})
    lines = [{"quantity": 2, "unit_price": 3}]
    po = plain.create(conn, "buy.purchase_order", {"supplier": acme["id"], "lines": lines})
    assert recompute_all(conn, catalog, "buy.purchase_order_line") == 1
    assert recompute_all(conn, catalog, "buy.purchase_order") == 1
    assert recompute_all(conn, catalog, "buy.purchase_order") == 0
    assert plain.get(conn, "buy.purchase_order", po["id"])["total"] == money("6")
    counts = recompute_entities(conn, catalog, ["buy.purchase_order"])
    assert list(counts) == ["buy.purchase_order", "buy.supplier", "buy.region"]
    assert (
        counts["buy.supplier"] == 1 and plain.get(conn, "buy.supplier", acme["id"])["po_count"] == 1
    )


def test_compute_formula_change_recomputes_during_install(buying: sa.Engine) -> None:
    with buying.begin() as conn:
        store = build_store(Catalog.load(conn))
        acme = store.create(conn, "buy.supplier", {"name": "Acme"})
        po = order(store, conn, acme["id"], (2, "5"), (1, "1"))
    upgraded = copy.deepcopy(BUYING)
    upgraded["version"] = "1.1.0"
    line_fields = upgraded["entities"]["purchase_order_line"]["fields"]
    line_fields["amount"]["formula"] = "quantity * unit_price * 2"
    result = install(buying, load_blueprint_text(blueprint_text(upgraded), "buy.yaml"))
    assert result.plan.recompute == {"buy.purchase_order_line"}
    assert result.recomputed["buy.purchase_order_line"] == 2
    with buying.connect() as conn:
        store = build_store(Catalog.load(conn))
        stored = get(store, conn, "purchase_order", po["id"])
        assert [line["amount"] for line in stored["lines"]] == [money("20"), money("2")]
        assert (stored["total"], stored["with_tax"]) == (money("22"), money("24.86"))
        assert get(store, conn, "supplier", acme["id"])["open_po_total"] == money("22")


def test_compute_added_formula_is_filled_during_install(buying: sa.Engine) -> None:
    with buying.begin() as conn:
        store = build_store(Catalog.load(conn))
        acme = store.create(conn, "buy.supplier", {"name": "Acme", "risk": "high"})
    upgraded = copy.deepcopy(BUYING)
    upgraded["version"] = "1.0.1"
    fields = upgraded["entities"]["supplier"]["fields"]
    fields["risky"] = {"type": "boolean", "formula": "risk == 'high'"}
    install(buying, load_blueprint_text(blueprint_text(upgraded), "buy.yaml"))
    with buying.connect() as conn:
        assert (
            build_store(Catalog.load(conn)).get(conn, "buy.supplier", acme["id"])["risky"] is True
        )


# --- analysis ---------------------------------------------------------------------------------


def one_entity(fields: dict[str, Any]) -> Catalog:
    """A catalog of one entity `t.e` with `fields`."""
    return Catalog({"t": {"blueprint": "t", "entities": {"e": {"fields": fields}}}})


def test_compute_steps_run_in_dependency_order(conn: Conn) -> None:
    catalog = one_entity(
        {
            "a": {"type": "integer"},
            "c": {"type": "integer", "formula": "b + 1"},
            "b": {"type": "integer", "formula": "a * 2"},
        }
    )
    spec = catalog.entity("t.e")
    assert [s.field.name for s in entity_compute(spec).steps] == ["b", "c"]
    assert dependency_cycle(spec) is None
    assert Computer(catalog).compute(conn, "t.e", {"a": 3}) == {"b": 6, "c": 7}


@pytest.mark.parametrize(
    ("ftype", "formula", "stored"),
    [
        ("integer", "a / 4", 2),  # 2.5: rounded half to even, as decimal fields are
        ("integer", "a / 0", None),
        ("money", "a / 3", Decimal("3.33")),
        ("text", "a * 2", "20"),
        ("date", "add_days(date(2025, 1, 1), a)", dt.date(2025, 1, 11)),
        ("boolean", "a > 5", True),
        ("integer", "'many'", None),  # a result the type cannot hold stores nothing
    ],
)
def test_compute_formula_results_take_the_field_type(
    conn: Conn, ftype: str, formula: str, stored: Any
) -> None:
    catalog = one_entity({"a": {"type": "integer"}, "f": {"type": ftype, "formula": formula}})
    assert Computer(catalog).compute(conn, "t.e", {"a": 10}) == {"f": stored}


def test_compute_dependency_cycle_is_named() -> None:
    catalog = one_entity(
        {
            "a": {"type": "integer", "formula": "c + 1"},
            "b": {"type": "integer", "formula": "a + 1"},
            "c": {"type": "integer", "formula": "b + 1"},
        }
    )
    assert dependency_cycle(catalog.entity("t.e")) == ["a", "c", "b", "a"]
