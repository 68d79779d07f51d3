"""Computed fields: saving a purchase order of 50 lines with formulas, rollups and a lookup,
against the same order without computed fields, in the same run (SQLite, one transaction per
save, the two kinds of save alternating). The computed save includes its propagation: the
supplier's rollup of open orders (with a `where`) is recomputed on every order saved. The
update figure reads the order, then changes one of its lines. Also: a change to a looked-up
field copied into the orders that look it up.
"""

from __future__ import annotations

import copy
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from appblocks.engine.catalog import Catalog
from appblocks.engine.compute import build_store
from appblocks.engine.db import create_engine
from appblocks.engine.platform_db import upgrade
from appblocks.engine.records import RecordStore

LINES = 50
SAVES = 100

PLAIN: dict[str, Any] = {
    "blueprint": "bench",
    "version": "1.0.0",
    "entities": {
        "supplier": {
            "title": "name",
            "fields": {
                "name": {"type": "text", "required": True},
                "risk": {"type": "choice", "options": ["low", "high"], "default": "low"},
            },
        },
        "po": {
            "title": "ref",
            "fields": {
                "ref": {"type": "text"},
                "supplier": {"type": "link", "to": "supplier", "required": True},
                "status": {"type": "choice", "options": ["open", "closed"], "default": "open"},
                "lines": {"type": "lines", "to": "po_line"},
            },
        },
        "po_line": {
            "fields": {
                "quantity": {"type": "decimal"},
                "unit_price": {"type": "money"},
            }
        },
    },
}

COMPUTED = copy.deepcopy(PLAIN)
_po = COMPUTED["entities"]["po"]["fields"]
_po["total"] = {"type": "money", "rollup": {"over": "lines", "agg": "sum", "field": "amount"}}
_po["line_count"] = {"type": "integer", "rollup": {"over": "lines", "agg": "count"}}
_po["bulk"] = {
    "type": "money",
    "rollup": {"over": "lines", "agg": "sum", "field": "amount", "where": "quantity > 10"},
}
_po["supplier_risk"] = {"type": "lookup", "via": "supplier", "field": "risk"}
_po["with_tax"] = {"type": "money", "formula": "total * Decimal('1.13')"}
COMPUTED["entities"]["po_line"]["fields"]["amount"] = {
    "type": "money",
    "formula": "quantity * unit_price",
}
COMPUTED["entities"]["supplier"]["fields"]["open_total"] = {
    "type": "money",
    "rollup": {"over": "po.supplier", "agg": "sum", "field": "total", "where": "status == 'open'"},
}


def _setup(url: str, blueprint: dict[str, Any]) -> tuple[sa.Engine, RecordStore, int]:
    engine = create_engine(url)
    upgrade(engine)
    catalog = Catalog({"bench": blueprint})
    store = build_store(catalog)
    with engine.begin() as conn:
        catalog.metadata.create_all(conn)
        supplier = store.create(conn, "bench.supplier", {"name": "Acme"})["id"]
    return engine, store, supplier


def _order(supplier: int, n: int) -> dict[str, Any]:
    lines = [{"quantity": 1 + (i * 7) % 20, "unit_price": f"{1 + i % 9}.25"} for i in range(LINES)]
    return {"ref": f"PO-{n}", "supplier": supplier, "lines": lines}


class _Bench:
    """One database and store; its saves are timed in turn with the other's (the machine's
    load then weighs on both alike)."""

    def __init__(self, url: str, blueprint: dict[str, Any]) -> None:
        self.engine, self.store, self.supplier = _setup(url, blueprint)
        self.ids: list[int] = []
        self.samples: dict[str, list[float]] = {"create": [], "update": []}

    def _timed(self, kind: str, action: Callable[[sa.Connection], Any]) -> None:
        with self.engine.begin() as conn:
            t0 = time.perf_counter()
            action(conn)
            self.samples[kind].append(time.perf_counter() - t0)

    def create(self, n: int) -> None:
        order = _order(self.supplier, n)
        self._timed(
            "create", lambda c: self.ids.append(self.store.create(c, "bench.po", order)["id"])
        )

    def update(self, n: int) -> None:
        def change(conn: sa.Connection) -> None:
            po = self.store.get(conn, "bench.po", self.ids[n])
            lines = [{"id": line["id"]} for line in po["lines"]]
            lines[n % LINES]["quantity"] = 99
            self.store.update(conn, "bench.po", po["id"], {"lines": lines}, version=1)

        self._timed("update", change)

    def median_ms(self, kind: str) -> float:
        return statistics.median(self.samples[kind]) * 1000


def run() -> list[tuple[str, float, str]]:
    """Figures for saving orders with and without computed fields (SQLite)."""
    out: list[tuple[str, float, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        plain = _Bench(f"sqlite:///{tmp}/plain.db", PLAIN)
        computed = _Bench(f"sqlite:///{tmp}/computed.db", COMPUTED)
        for step in ("create", "update"):
            for n in range(SAVES):
                for bench in (plain, computed):
                    getattr(bench, step)(n)
        for kind, verb in (("create", "create"), ("update", "update one line of")):
            what = f"{verb} a PO of {LINES} lines"
            fast, slow = plain.median_ms(kind), computed.median_ms(kind)
            out.append((f"{what}, no computed fields", fast, "ms"))
            out.append((f"{what}, formulas + rollups + lookup", slow, "ms"))
            out.append((f"{verb}: computed / plain", slow / fast, "x"))
        for bench in (plain, computed):
            bench.engine.dispose()
        out.append(_propagation(f"sqlite:///{tmp}/propagate.db"))
    return out


def _propagation(url: str) -> tuple[str, float, str]:
    """One supplier risk change copied into 1,000 orders (the one-UPDATE lookup path)."""
    engine, store, supplier = _setup(url, COMPUTED)
    with engine.begin() as conn:
        rows = [{"ref": f"PO-{n}", "supplier": supplier} for n in range(1000)]
        store.create_many(conn, "bench.po", rows)
    with engine.begin() as conn:
        t0 = time.perf_counter()
        store.update(conn, "bench.supplier", supplier, {"risk": "high"}, version=1)
        elapsed = (time.perf_counter() - t0) * 1000
    engine.dispose()
    return ("supplier risk change copied into 1,000 orders", elapsed, "ms")


if __name__ == "__main__":
    for label, value, unit in run():
        print(f"{label:<66} {value:>14,.2f} {unit}")
