"""Fixtures of the record tests: a small purchasing app, its tables, a store and a connection."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from appblocks.engine.catalog import Catalog
from appblocks.engine.db import create_engine
from appblocks.engine.events import EventBus
from appblocks.engine.platform_db import upgrade
from appblocks.engine.records import RecordStore

PG_URL = os.environ.get("APPBLOCKS_TEST_PG_URL")

PURCHASING: dict[str, Any] = {
    "blueprint": "srm",
    "version": "1.0.0",
    "entities": {
        "supplier": {
            "title": "name",
            "fields": {
                "name": {"type": "text", "required": True, "unique": True, "max_length": 200},
                "email": {"type": "email"},
                "risk": {"type": "choice", "options": ["low", "medium", "high"], "default": "low"},
                "rating": {"type": "integer", "min": 0, "max": 5},
                "active": {"type": "boolean"},
                "tags": {"type": "multi_choice", "options": ["local", "global", "preferred"]},
                "since": {"type": "date"},
                "notes": {"type": "long_text"},
                "parent": {"type": "link", "to": "supplier"},
            },
        },
        "contact": {
            "title": "name",
            "fields": {
                "name": {"type": "text", "required": True},
                "supplier": {"type": "link", "to": "supplier", "on_delete": "cascade"},
            },
        },
        "material": {
            "title": "code",
            "fields": {
                "code": {"type": "text", "required": True, "unique": True},
                "name": {"type": "text"},
                "ref": {"type": "autonumber", "format": "M{seq:03}"},
            },
        },
        "purchase_order": {
            "title": "number",
            "fields": {
                "number": {"type": "autonumber", "format": "PO-{yyyy}-{seq:05}"},
                "supplier": {
                    "type": "link",
                    "to": "supplier",
                    "required": True,
                    "on_delete": "restrict",
                },
                "contact": {"type": "link", "to": "contact", "on_delete": "set_null"},
                "order_date": {"type": "date"},
                "amount": {"type": "money"},
                "status": {
                    "type": "choice",
                    "options": ["draft", "sent", "closed"],
                    "default": "draft",
                },
                "materials": {"type": "links", "to": "material"},
                "lines": {"type": "lines", "to": "purchase_order_line"},
                "total": {
                    "type": "money",
                    "rollup": {"over": "lines", "agg": "sum", "field": "amount"},
                },
                "supplier_risk": {"type": "lookup", "via": "supplier", "field": "risk"},
            },
        },
        "purchase_order_line": {
            "fields": {
                "material": {"type": "link", "to": "material", "required": True},
                "quantity": {"type": "decimal", "min": 0},
                "unit_price": {"type": "money"},
                "note": {"type": "text"},
                "amount": {"type": "money", "formula": "quantity * unit_price"},
            },
        },
        "goods_receipt": {
            "fields": {
                "purchase_order": {
                    "type": "link",
                    "to": "purchase_order",
                    "on_delete": "cascade",
                },
                "received_on": {"type": "date"},
                "quantity": {"type": "integer"},
            },
        },
    },
    "workflows": {
        "po_flow": {
            "entity": "purchase_order",
            "initial": "draft",
            "states": ["draft", "sent"],
            "transitions": {"send": {"from": "draft", "to": "sent"}},
        }
    },
}


@pytest.fixture
def catalog() -> Catalog:
    """The purchasing app's catalog."""
    return Catalog({"srm": PURCHASING})


@pytest.fixture
def db(engine: sa.Engine, catalog: Catalog) -> sa.Engine:
    """The test database with the purchasing tables created."""
    with engine.begin() as conn:
        catalog.metadata.create_all(conn)
    return engine


@pytest.fixture
def bus() -> EventBus:
    """An event bus to subscribe to."""
    return EventBus()


@pytest.fixture
def store(catalog: Catalog, bus: EventBus) -> RecordStore:
    """A record store on the purchasing catalog."""
    return RecordStore(catalog, bus)


@pytest.fixture
def conn(db: sa.Engine) -> Iterator[sa.Connection]:
    """A connection in a transaction, rolled back after the test."""
    with db.connect() as connection:
        transaction = connection.begin()
        try:
            yield connection
        finally:
            if transaction.is_active:
                transaction.rollback()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def module_db(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[sa.Engine]:
    """One database per test module (for read-only, table-driven tests), tables created."""
    schema = None
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('module_db') / 'test.db'}"
    else:
        if not PG_URL:
            pytest.skip("PostgreSQL tests need APPBLOCKS_TEST_PG_URL")
        schema = f"t_{uuid.uuid4().hex[:12]}"
        admin_engine = create_engine(PG_URL)
        with admin_engine.begin() as admin:
            admin.exec_driver_sql(f"CREATE SCHEMA {schema}")
        admin_engine.dispose()
        url = (
            sa.make_url(PG_URL)
            .update_query_dict({"options": f"-csearch_path={schema}"})
            .render_as_string(hide_password=False)
        )
    engine = create_engine(url)
    upgrade(engine)
    with engine.begin() as conn:
        Catalog({"srm": PURCHASING}).metadata.create_all(conn)
    try:
        yield engine
    finally:
        engine.dispose()
        if schema is not None:
            admin_engine = create_engine(PG_URL)
            with admin_engine.begin() as admin:
                admin.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
            admin_engine.dispose()
