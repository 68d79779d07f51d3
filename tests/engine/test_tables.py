"""Entity documents become real tables: columns, keys, indexes, link and line tables."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from appblocks.engine.catalog import Catalog

SHOP: dict[str, Any] = {
    "blueprint": "shop",
    "version": "1.0.0",
    "entities": {
        "customer": {
            "title": "name",
            "fields": {
                "name": {"type": "text", "required": True, "unique": True, "max_length": 120},
                "tier": {"type": "choice", "options": ["a", "b"], "index": True},
            },
        },
        "tag": {"title": "label", "fields": {"label": {"type": "text"}}},
        "sale": {
            "title": "number",
            "fields": {
                "number": {"type": "autonumber", "format": "S-{seq:04}"},
                "customer": {"type": "link", "to": "customer", "required": True},
                "referrer": {"type": "link", "to": "customer"},
                "tags": {"type": "links", "to": "tag"},
                "lines": {"type": "lines", "to": "sale_line"},
                "total": {
                    "type": "money",
                    "rollup": {"over": "lines", "agg": "sum", "field": "amount"},
                },
                "tier": {"type": "lookup", "via": "customer", "field": "tier"},
                "day": {"type": "date"},
            },
            "unique": [["customer", "day"]],
            "indexes": [["day", "total"]],
        },
        "sale_line": {"fields": {"amount": {"type": "money"}}},
    },
    "workflows": {"flow": {"entity": "sale", "initial": "draft", "states": ["draft"]}},
}


@pytest.fixture
def shop(engine: sa.Engine) -> Catalog:
    catalog = Catalog({"shop": SHOP})
    with engine.begin() as conn:
        catalog.metadata.create_all(conn)
    return catalog


def test_tables_are_named_app_entity_with_system_columns(engine: sa.Engine, shop: Catalog) -> None:
    names = set(sa.inspect(engine).get_table_names())
    assert {"shop_customer", "shop_sale", "shop_sale_line", "shop_tag", "shop_sale__tags"} <= names
    cols = {c["name"] for c in sa.inspect(engine).get_columns("shop_sale")}
    system = {"id", "_version", "_created_at", "_updated_at", "_created_by", "_updated_by"}
    assert system | {"_state", "number", "customer", "referrer", "total", "tier", "day"} <= cols
    assert "tags" not in cols and "lines" not in cols
    assert "_state" not in {c["name"] for c in sa.inspect(engine).get_columns("shop_customer")}


def test_link_is_an_indexed_foreign_key_with_its_delete_rule(
    engine: sa.Engine, shop: Catalog
) -> None:
    inspector = sa.inspect(engine)
    fks = {fk["constrained_columns"][0]: fk for fk in inspector.get_foreign_keys("shop_sale")}
    assert fks["customer"]["referred_table"] == "shop_customer"
    assert fks["customer"]["options"].get("ondelete") == "RESTRICT"
    assert fks["referrer"]["options"].get("ondelete") == "SET NULL"
    indexed = {tuple(ix["column_names"]) for ix in inspector.get_indexes("shop_sale")}
    assert ("customer",) in indexed and ("day", "total") in indexed


def test_lookup_column_takes_the_type_of_the_field_it_copies(shop: Catalog) -> None:
    assert isinstance(shop.table("shop.sale").c.tier.type, sa.String)
    assert shop.table("shop.sale").c.tier.type.length == 64


def test_line_children_cascade_with_their_parent(engine: sa.Engine, shop: Catalog) -> None:
    sale, line = shop.table("shop.sale"), shop.table("shop.sale_line")
    customer = shop.table("shop.customer")
    now = sa.func.now() if engine.dialect.name == "postgresql" else sa.func.datetime("now")
    base = {"_created_at": now, "_updated_at": now}
    with engine.begin() as conn:
        cid = conn.execute(customer.insert().values(name="Ada", **base)).inserted_primary_key[0]
        sid = conn.execute(sale.insert().values(customer=cid, **base)).inserted_primary_key[0]
        conn.execute(line.insert().values(_parent_id=sid, _position=0, amount=5, **base))
        conn.execute(sale.delete().where(sale.c.id == sid))
        assert conn.execute(sa.select(sa.func.count()).select_from(line)).scalar() == 0
        with pytest.raises(sa.exc.IntegrityError):
            with conn.begin_nested():
                conn.execute(customer.insert().values(name="Ada", **base))


def test_unique_constraints_are_named_by_the_convention(shop: Catalog) -> None:
    names = {
        c.name for c in shop.table("shop.sale").constraints if isinstance(c, sa.UniqueConstraint)
    }
    assert "uq_shop_sale_customer_day" in names
    assert "uq_shop_sale_number" in names  # an autonumber is unique


def test_links_table_has_both_keys(engine: sa.Engine, shop: Catalog) -> None:
    cols = [c["name"] for c in sa.inspect(engine).get_columns("shop_sale__tags")]
    assert cols[:2] == ["source_id", "target_id"]
