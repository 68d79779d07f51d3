"""Migrations: plan the steps between two catalogs, show them, apply them in one transaction."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from appblocks.engine.catalog import Catalog, write_blueprint
from appblocks.engine.migrations import (
    NO_CHANGES,
    ApplyReport,
    DataLossRefused,
    MigrationError,
    MigrationFailed,
    MigrationRefused,
    Plan,
    SqlType,
    apply,
    begin_migration,
    conversion_problem,
    plan,
    plan_blueprint,
    restore,
    sql_type,
)

NOW = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def app(entities: dict[str, Any], **sections: Any) -> Catalog:
    """A catalog of one small app `srm`."""
    return Catalog(
        {"srm": {"blueprint": "srm", "version": "1.0.0", "entities": entities, **sections}}
    )


def fields(**docs: Any) -> dict[str, Any]:
    return {"fields": docs}


def migrate(engine: sa.Engine, old: Catalog, new: Catalog, **options: Any) -> ApplyReport:
    with begin_migration(engine) as conn:
        return apply(plan(old, new, conn), conn, **options)


def install(engine: sa.Engine, catalog: Catalog) -> Catalog:
    migrate(engine, Catalog({}), catalog)
    return catalog


def insert(engine: sa.Engine, catalog: Catalog, entity: str, *rows: dict[str, Any]) -> None:
    table = catalog.table(f"srm.{entity}")
    with engine.begin() as conn:
        for row in rows:  # one by one: rows may name different columns
            conn.execute(table.insert().values(_created_at=NOW, _updated_at=NOW, **row))


def read(engine: sa.Engine, catalog: Catalog, entity: str, *columns: str) -> list[tuple[Any, ...]]:
    table = catalog.table(f"srm.{entity}")
    with engine.connect() as conn:
        query = sa.select(*(table.c[c] for c in columns)).order_by(table.c.id)
        return [tuple(row) for row in conn.execute(query)]


def columns_of(engine: sa.Engine, table: str) -> set[str]:
    return {c["name"] for c in sa.inspect(engine).get_columns(table)}


def assert_schema_matches(engine: sa.Engine, catalog: Catalog) -> None:
    """The database holds exactly the catalog's tables, constraints and indexes, by name."""
    inspector = sa.inspect(engine)
    expected = catalog.metadata.tables
    # Platform tables (ab_) and the search index's FTS tables (_search_, see
    # test_search_index.py) are not the catalog's record tables.
    tables = inspector.get_table_names()
    assert {t for t in tables if not t.startswith(("ab_", "_search_"))} == set(expected)
    for name, table in expected.items():
        reflected = {c["name"]: c for c in inspector.get_columns(name)}
        assert set(reflected) == set(table.c.keys()), name
        for column in table.columns:
            assert reflected[column.name]["nullable"] == column.nullable, (name, column.name)
            want, got = sql_type(column.type), sql_type(reflected[column.name]["type"])
            # SQLite stores decimals as REAL and the id as INTEGER; the kind still shows.
            assert want.kind == {"float": "decimal"}.get(got.kind, got.kind), (name, column.name)
            if engine.dialect.name == "postgresql" and want.kind in ("text", "decimal"):
                assert (want.length, want.scale) == (got.length, got.scale), (name, column.name)
        indexes = {
            i["name"]: (tuple(i["column_names"]), bool(i["unique"]))
            for i in inspector.get_indexes(name)
            if not i.get("duplicates_constraint") and not str(i["name"]).startswith("trgm_")
        }
        assert indexes == {
            str(i.name): (tuple(i.columns.keys()), bool(i.unique)) for i in table.indexes
        }, name
        uniques = {
            u["name"]: tuple(u["column_names"]) for u in inspector.get_unique_constraints(name)
        }
        assert uniques == {
            str(c.name): tuple(c.columns.keys())
            for c in table.constraints
            if isinstance(c, sa.UniqueConstraint)
        }, name
        fks = {
            f["name"]: (
                tuple(f["constrained_columns"]),
                f["referred_table"],
                (f["options"].get("ondelete") or "").upper(),
            )
            for f in inspector.get_foreign_keys(name)
        }
        assert fks == {
            str(f.name): (
                tuple(f.column_keys),
                f.elements[0].target_fullname.split(".")[0],
                (f.ondelete or "").upper(),
            )
            for f in table.foreign_key_constraints
        }, name


SUPPLIER = fields(
    name={"type": "text", "max_length": 100},
    phone_no={"type": "phone"},
    fax={"type": "text"},
    rating={"type": "integer"},
)

SELF_LINK = {"type": "link", "to": "supplier"}
PURCHASING = {
    "supplier": fields(name={"type": "text"}, rating={"type": "integer"}, parent=SELF_LINK),
    "tag": {"title": "label", **fields(label={"type": "text"})},
    "order": fields(
        number={"type": "text", "max_length": 20, "unique": True},
        supplier={"type": "link", "to": "supplier", "on_delete": "cascade"},
        tags={"type": "links", "to": "tag"},
        lines={"type": "lines", "to": "order_line"},
    ),
    "order_line": fields(quantity={"type": "integer"}),
}


# --- the safe-conversion table (no database) ----------------------------------------------------

TEXT, INTEGER = SqlType("text", 255), SqlType("integer")
DEC_20_2, DEC_20_4 = (
    SqlType("decimal", precision=20, scale=2),
    SqlType("decimal", precision=20, scale=4),
)


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        (INTEGER, DEC_20_4, None),
        (INTEGER, SqlType("decimal", precision=9, scale=2), None),
        (INTEGER, TEXT, None),
        (INTEGER, SqlType("text", 5), "values longer than 5 characters would be cut"),
        (DEC_20_2, DEC_20_4, None),
        (DEC_20_4, DEC_20_2, "values with more than 2 decimal places would be cut"),
        (SqlType("text", 64), TEXT, None),
        (TEXT, SqlType("text"), None),
        (TEXT, SqlType("text", 100), "values longer than 100 characters would be cut"),
        (SqlType("text"), TEXT, "values longer than 255 characters would be cut"),
        (SqlType("date"), SqlType("datetime"), None),
        (SqlType("datetime"), SqlType("date"), "existing values may not convert"),
        (TEXT, INTEGER, "existing values may not convert"),
        (TEXT, SqlType("date"), "existing values may not convert"),
        (SqlType("json"), SqlType("text"), None),
        (SqlType("json"), TEXT, "values longer than 255 characters would be cut"),
        (SqlType("boolean"), TEXT, None),
        (DEC_20_4, INTEGER, "existing values may not convert"),
    ],
)
def test_conversion_problem_follows_the_safe_table(
    old: SqlType, new: SqlType, problem: str | None
) -> None:
    assert conversion_problem(old, new) == problem


def test_plan_of_a_catalog_against_itself_is_empty() -> None:
    flow = {"flow": {"entity": "order", "initial": "draft"}}
    same = plan(app(PURCHASING, workflows=flow), app(PURCHASING, workflows=flow))
    assert same.is_empty and not same.refused and not same.data_loss
    assert same.render() == NO_CHANGES


def test_plan_names_entities_whose_formulas_changed() -> None:
    def item(formula: str) -> Catalog:
        twice = {"type": "integer", "formula": formula}
        return app({"item": fields(qty={"type": "integer"}, twice=twice)})

    changed = plan(item("qty * 2"), item("qty * 3"))
    assert changed.is_empty and changed.recompute == {"srm.item"}
    assert "Formulas changed in srm.item" in changed.render()


def test_unsafe_retypes_are_refused_with_the_reason() -> None:
    old = app({"supplier": fields(name={"type": "text"}, score={"type": "decimal"})})
    new = app({"supplier": fields(name={"type": "integer"}, score={"type": "money"})})
    refused = {s.column: s.refused for s in plan(old, new).refused}
    assert refused == {
        "name": "existing values may not convert",
        "score": "values with more than 2 decimal places would be cut",
    }


# --- applying plans (SQLite and PostgreSQL) -----------------------------------------------------


def test_plan_creates_every_table_from_nothing(engine: sa.Engine) -> None:
    catalog = app(PURCHASING)
    steps = plan(Catalog({}), catalog)
    assert {s.kind for s in steps.steps} == {"create_table"}
    order = [s.table for s in steps.steps]  # parents before the tables that link to them
    assert order.index("srm_supplier") < order.index("srm_order") < order.index("srm_order_line")
    install(engine, catalog)
    assert_schema_matches(engine, catalog)


def test_tables_that_link_to_each_other_are_created(engine: sa.Engine) -> None:
    catalog = app(
        {
            "supplier": fields(main_contact={"type": "link", "to": "contact"}),
            "contact": fields(supplier={"type": "link", "to": "supplier"}),
        }
    )
    install(engine, catalog)
    assert_schema_matches(engine, catalog)


def test_added_field_keeps_old_rows_and_is_empty(engine: sa.Engine) -> None:
    old = install(engine, app({"supplier": SUPPLIER}))
    insert(engine, old, "supplier", {"name": "Acme", "rating": 4})
    new = app({"supplier": fields(**SUPPLIER["fields"], email={"type": "email"})})
    migrate(engine, old, new)
    assert read(engine, new, "supplier", "name", "rating", "email") == [("Acme", 4, None)]
    assert_schema_matches(engine, new)


def test_renamed_from_renames_the_column_and_keeps_values(engine: sa.Engine) -> None:
    old = install(engine, app(PURCHASING))
    insert(engine, old, "supplier", {"name": "Acme", "rating": 3})
    insert(engine, old, "order", {"number": "PO-1", "supplier": 1})
    order = PURCHASING["order"]["fields"]
    new_order = {
        "code": {"type": "text", "max_length": 20, "unique": True, "renamed_from": "number"},
        "vendor": {
            "type": "link",
            "to": "supplier",
            "on_delete": "cascade",
            "renamed_from": "supplier",
        },
        "tags": order["tags"],
        "lines": order["lines"],
    }
    renamed_retyped = {"type": "decimal", "renamed_from": "rating"}
    supplier = fields(name={"type": "text"}, score=renamed_retyped, parent=SELF_LINK)
    new = app({**PURCHASING, "supplier": supplier, "order": {"fields": new_order}})
    steps = plan(old, new)
    assert not steps.data_loss
    text = steps.render()
    assert "~ rename column srm_order.number -> code" in text
    assert "~ rename column srm_order.supplier -> vendor" in text
    assert "~ retype srm_supplier.score: integer -> decimal(20,4)" in text
    migrate(engine, old, new)
    assert read(engine, new, "order", "code", "vendor") == [("PO-1", 1)]
    assert read(engine, new, "supplier", "score") == [(Decimal("3.0000"),)]
    assert_schema_matches(engine, new)


SAFE_RETYPES = [
    ({"type": "integer"}, {"type": "decimal"}, 7, Decimal("7.0000")),
    ({"type": "integer"}, {"type": "money"}, 7, Decimal("7.00")),
    ({"type": "integer"}, {"type": "text"}, 123, "123"),
    ({"type": "decimal", "scale": 2}, {"type": "decimal"}, Decimal("2.5"), Decimal("2.5000")),
    ({"type": "text", "max_length": 50}, {"type": "long_text"}, "hello", "hello"),
    ({"type": "text", "max_length": 50}, {"type": "text", "max_length": 80}, "hello", "hello"),
    ({"type": "choice", "options": ["a"]}, {"type": "text"}, "a", "a"),
    ({"type": "email"}, {"type": "long_text"}, "a@b.co", "a@b.co"),
    ({"type": "date"}, {"type": "datetime"}, dt.date(2024, 1, 5), NOW.replace(day=5)),
    ({"type": "boolean"}, {"type": "long_text"}, True, "true"),
]


@pytest.mark.parametrize(("before", "after", "value", "expected"), SAFE_RETYPES)
def test_safe_retype_keeps_values(
    engine: sa.Engine, before: dict[str, Any], after: dict[str, Any], value: Any, expected: Any
) -> None:
    old = install(engine, app({"item": fields(name={"type": "text"}, value=before)}))
    insert(engine, old, "item", {"name": "one", "value": value}, {"name": "two"})
    new = app({"item": fields(name={"type": "text"}, value=after)})
    steps = plan(old, new)
    assert [s.kind for s in steps.steps] == ["alter_type"] and not steps.refused
    migrate(engine, old, new)
    assert read(engine, new, "item", "name", "value") == [("one", expected), ("two", None)]
    assert_schema_matches(engine, new)


def test_unsafe_retype_is_refused_and_changes_nothing(engine: sa.Engine) -> None:
    old = install(engine, app({"item": fields(code={"type": "text"})}))
    insert(engine, old, "item", {"code": "A-1"})
    new = app({"item": fields(code={"type": "integer"}, extra={"type": "text"})})
    refused = (
        "! refused: retype srm_item.code: text(255) -> integer: existing values may not convert"
    )
    assert refused in plan(old, new).render().splitlines()
    with pytest.raises(MigrationRefused, match="existing values may not convert"):
        migrate(engine, old, new)
    assert "extra" not in columns_of(engine, "srm_item")
    assert read(engine, old, "item", "code") == [("A-1",)]


def test_drop_is_refused_without_allow_data_loss(engine: sa.Engine) -> None:
    old = install(engine, app({"supplier": SUPPLIER}))
    insert(engine, old, "supplier", {"name": "Acme", "fax": "555-1"})
    new = app({"supplier": fields(name=SUPPLIER["fields"]["name"])})
    with engine.connect() as conn:
        steps = plan(old, new, conn)
    assert [s.detail for s in steps.data_loss] == [
        "srm_supplier.phone_no",
        "srm_supplier.fax",
        "srm_supplier.rating",
    ]
    with pytest.raises(DataLossRefused):
        migrate(engine, old, new)
    assert {"phone_no", "fax", "rating"} <= columns_of(engine, "srm_supplier")


def test_drop_column_backs_up_values_and_restore_puts_them_back(
    engine: sa.Engine, tmp_path: Path
) -> None:
    old = install(engine, app({"supplier": SUPPLIER}))
    rows = [{"name": "A", "fax": "1"}, {"name": "B"}, {"name": "C", "fax": "3"}]
    insert(engine, old, "supplier", *rows)
    new = app({"supplier": fields(**{k: v for k, v in SUPPLIER["fields"].items() if k != "fax"})})
    report = migrate(engine, old, new, allow_data_loss=True, backup_dir=tmp_path)
    assert "fax" not in columns_of(engine, "srm_supplier")
    assert [p.name for p in report.backups] == ["srm_supplier.fax.jsonl"]
    saved = report.backups[0].read_text().splitlines()[1:]  # after the header
    assert [json.loads(line) for line in saved] == [{"id": 1, "fax": "1"}, {"id": 3, "fax": "3"}]

    with begin_migration(engine) as conn, pytest.raises(MigrationError, match="add it back"):
        restore(report.backups[0], conn)
    migrate(engine, new, old)  # the field comes back, empty
    assert read(engine, old, "supplier", "fax") == [(None,), (None,), (None,)]
    with begin_migration(engine) as conn:
        assert restore(report.backups[0], conn) == 2
    assert read(engine, old, "supplier", "name", "fax") == [("A", "1"), ("B", None), ("C", "3")]


def test_drop_table_backs_up_rows_and_restore_puts_them_back(
    engine: sa.Engine, tmp_path: Path
) -> None:
    entities = {
        "supplier": SUPPLIER,
        "note": fields(text={"type": "long_text"}, amount={"type": "money"}, day={"type": "date"}),
    }
    old = install(engine, app(entities))
    note = {"text": "hi", "amount": Decimal("2.50"), "day": dt.date(2024, 2, 1)}
    insert(engine, old, "note", note)
    new = app({"supplier": SUPPLIER})
    with engine.connect() as conn:
        assert "- drop table srm_note  (data loss: 1 row)" in plan(old, new, conn).render()
    report = migrate(engine, old, new, allow_data_loss=True, backup_dir=tmp_path)
    assert "srm_note" not in sa.inspect(engine).get_table_names()

    migrate(engine, new, old)
    with begin_migration(engine) as conn:
        assert restore(report.backups[0], conn) == 1
    insert(engine, old, "note", {"text": "new"})  # ids continue after the restored rows
    assert read(engine, old, "note", "id", "text", "amount", "day") == [
        (1, *note.values()),
        (2, "new", None, None),
    ]


def test_indexes_and_uniques_are_added_and_dropped(engine: sa.Engine) -> None:
    plain = {"supplier": fields(name={"type": "text"}, code={"type": "text"})}
    supplier = fields(name={"type": "text", "index": True}, code={"type": "text", "unique": True})
    indexed = {"supplier": {**supplier, "indexes": [["name", "code"]]}}
    old = install(engine, app(plain))
    insert(engine, old, "supplier", {"name": "A", "code": "1"})
    new = app(indexed)
    assert [(s.kind, s.name) for s in plan(old, new).steps] == [
        ("create_unique", "uq_srm_supplier_code"),
        ("create_index", "ix_srm_supplier_name"),
        ("create_index", "ix_srm_supplier_name_code"),
    ]
    migrate(engine, old, new)
    assert_schema_matches(engine, new)
    with pytest.raises(sa.exc.IntegrityError):
        insert(engine, new, "supplier", {"name": "B", "code": "1"})
    migrate(engine, new, old)
    assert_schema_matches(engine, old)
    assert read(engine, old, "supplier", "name", "code") == [("A", "1")]


def test_a_failing_step_rolls_back_the_whole_plan(engine: sa.Engine) -> None:
    old = install(engine, app({"supplier": fields(name={"type": "text"})}))
    insert(engine, old, "supplier", {"name": "Acme"}, {"name": "Acme"})
    new = app(
        {
            "supplier": fields(name={"type": "text", "unique": True}, note={"type": "text"}),
            "material": fields(code={"type": "text"}),
        }
    )
    kinds = [s.kind for s in plan(old, new).steps]
    assert kinds == ["create_table", "add_column", "create_unique"]  # fails at the last one
    with pytest.raises(MigrationFailed, match="uq_srm_supplier_name"):
        migrate(engine, old, new)
    assert_schema_matches(engine, old)
    assert read(engine, old, "supplier", "name") == [("Acme",), ("Acme",)]


def test_retyping_a_linked_table_keeps_the_rows_that_link_to_it(engine: sa.Engine) -> None:
    old = install(engine, app(PURCHASING))
    insert(engine, old, "supplier", {"name": "Acme", "rating": 4}, {"name": "Sub", "parent": 1})
    insert(engine, old, "tag", {"label": "urgent"})
    insert(engine, old, "order", {"number": "PO-1", "supplier": 1})
    insert(engine, old, "order_line", {"_parent_id": 1, "quantity": 5}, {"_parent_id": 1})
    with engine.begin() as conn:
        conn.execute(
            old.link_table("srm.order", "tags").insert(), [{"source_id": 1, "target_id": 1}]
        )
    changed = {
        **PURCHASING,
        "supplier": fields(**{**PURCHASING["supplier"]["fields"], "rating": {"type": "decimal"}}),
        "order": fields(**{**PURCHASING["order"]["fields"], "number": {"type": "long_text"}}),
    }
    new = app(changed)
    migrate(engine, old, new)
    assert read(engine, new, "supplier", "rating", "parent") == [
        (Decimal("4.0000"), None),
        (None, 1),
    ]
    assert read(engine, new, "order", "number", "supplier") == [("PO-1", 1)]
    assert len(read(engine, new, "order_line", "id")) == 2
    with engine.connect() as conn:
        assert conn.execute(sa.select(new.link_table("srm.order", "tags"))).all() == [(1, 1, 0)]
    assert_schema_matches(engine, new)
    with engine.begin() as conn:  # the links still cascade from supplier to order to lines
        conn.execute(
            sa.delete(new.table("srm.supplier")).where(new.table("srm.supplier").c.id == 1)
        )
    assert read(engine, new, "order_line", "id") == []


def test_sqlite_refuses_to_rebuild_a_linked_table_with_foreign_keys_on(engine: sa.Engine) -> None:
    old = install(engine, app(PURCHASING))
    insert(engine, old, "supplier", {"name": "Acme", "rating": 4})
    insert(engine, old, "order", {"number": "PO-1", "supplier": 1})
    new = app(
        {
            **PURCHASING,
            "supplier": fields(
                **{**PURCHASING["supplier"]["fields"], "rating": {"type": "decimal"}}
            ),
        }
    )
    sqlite = engine.dialect.name == "sqlite"
    with engine.begin() as conn:  # not begin_migration: SQLite would cascade the rebuild
        if sqlite:
            with pytest.raises(MigrationError, match="begin_migration"):
                apply(plan(old, new, conn), conn)
        else:
            apply(plan(old, new, conn), conn)
    rating = {c["name"]: c for c in sa.inspect(engine).get_columns("srm_supplier")}["rating"]
    assert sql_type(rating["type"]).kind == ("integer" if sqlite else "decimal")
    assert read(engine, old, "order", "supplier") == [(1,)]


def test_begin_migration_checks_links_at_the_end_and_enforces_them_again(
    engine: sa.Engine,
) -> None:
    catalog = install(engine, app(PURCHASING))
    bad = {"number": "PO-9", "supplier": 99, "_created_at": NOW, "_updated_at": NOW}
    # SQLite finds the broken link at the end of the migration, PostgreSQL at once
    with pytest.raises((MigrationFailed, sa.exc.IntegrityError)):
        with begin_migration(engine) as conn:
            conn.execute(catalog.table("srm.order").insert().values(**bad))
    assert read(engine, catalog, "order", "id") == []
    with pytest.raises(sa.exc.IntegrityError):  # enforced again outside a migration
        insert(engine, catalog, "order", {"number": "PO-9", "supplier": 99})


def test_tables_that_link_to_each_other_are_dropped(engine: sa.Engine, tmp_path: Path) -> None:
    linked = app(
        {
            "supplier": fields(main_contact={"type": "link", "to": "contact"}),
            "contact": fields(supplier={"type": "link", "to": "supplier"}),
        }
    )
    install(engine, linked)
    insert(engine, linked, "supplier", {})
    insert(engine, linked, "contact", {"supplier": 1})
    with engine.begin() as conn:
        supplier = linked.table("srm.supplier")
        conn.execute(sa.update(supplier).values(main_contact=1))
    report = migrate(engine, linked, app({}), allow_data_loss=True, backup_dir=tmp_path)
    assert sorted(p.name for p in report.backups) == ["srm_contact.jsonl", "srm_supplier.jsonl"]
    assert_schema_matches(engine, app({}))


def test_a_workflow_adds_state_with_the_initial_state(engine: sa.Engine) -> None:
    old = install(engine, app({"order": fields(number={"type": "text"})}))
    insert(engine, old, "order", {"number": "PO-1"})
    new = app(
        {"order": fields(number={"type": "text"})},
        workflows={"flow": {"entity": "order", "initial": "draft", "states": ["draft"]}},
    )
    assert "+ add column srm_order._state: text(64) (existing rows start in 'draft')" in (
        plan(old, new).render()
    )
    migrate(engine, old, new)
    assert read(engine, new, "order", "number", "_state") == [("PO-1", "draft")]
    assert_schema_matches(engine, new)


def test_becoming_line_items_is_refused_while_rows_exist(engine: sa.Engine) -> None:
    entities = {"order": fields(number={"type": "text"}), "item": fields(qty={"type": "integer"})}
    old = install(engine, app(entities))
    order = {"fields": {**entities["order"]["fields"], "lines": {"type": "lines", "to": "item"}}}
    new = app({**entities, "order": order})
    assert [s.refused for s in plan(old, new).refused] == ["existing rows have no parent"]
    with engine.connect() as conn:  # an empty table can become line items
        steps = plan(old, new, conn)
    assert not steps.refused
    insert(engine, old, "item", {"qty": 1})
    with engine.connect() as conn:
        assert [s.refused for s in plan(old, new, conn).refused] == ["existing rows have no parent"]
    with begin_migration(engine) as conn:
        conn.execute(sa.delete(old.table("srm.item")))
        apply(plan(old, new, conn), conn)
    assert_schema_matches(engine, new)


def test_a_link_may_change_its_rule_but_not_its_target_while_it_holds_values(
    engine: sa.Engine,
) -> None:
    entities = {
        "supplier": fields(name={"type": "text"}),
        "vendor": fields(name={"type": "text"}),
        "order": fields(supplier={"type": "link", "to": "supplier"}),
    }
    old = install(engine, app(entities))
    insert(engine, old, "supplier", {"name": "Acme"})
    insert(engine, old, "order", {"supplier": 1})
    retarget = app({**entities, "order": fields(supplier={"type": "link", "to": "vendor"})})
    with engine.connect() as conn:
        assert [s.refused for s in plan(old, retarget, conn).refused] == [
            "existing values link to srm_supplier, not srm_vendor"
        ]
    cascade = {"type": "link", "to": "supplier", "on_delete": "cascade"}
    new = app({**entities, "order": fields(supplier=cascade)})
    assert [s.kind for s in plan(old, new).steps] == ["drop_fk", "create_fk"]
    migrate(engine, old, new)
    assert_schema_matches(engine, new)
    assert read(engine, new, "order", "supplier") == [(1,)]


def test_render_reads_like_a_terraform_plan(engine: sa.Engine) -> None:
    old = install(engine, app({"supplier": SUPPLIER}))
    insert(engine, old, "supplier", {"name": "A", "fax": "1"}, {"name": "B", "fax": "2"})
    new = app(
        {
            "supplier": fields(
                name={"type": "text", "max_length": 100, "index": True},
                phone={"type": "phone", "renamed_from": "phone_no"},
                rating={"type": "decimal"},
                code={"type": "integer"},
            ),
            "material": fields(code={"type": "text"}),
        }
    )
    with engine.connect() as conn:
        text = plan(old, new, conn).render()
    for line in [
        "+ create table srm_material (7 columns)",
        "~ rename column srm_supplier.phone_no -> phone",
        "~ retype srm_supplier.rating: integer -> decimal(20,4)",
        "- drop column srm_supplier.fax  (data loss: 2 values)",
        "+ add column srm_supplier.code: integer",
        "+ create index ix_srm_supplier_name on srm_supplier (name)",
        "Plan: 3 to create, 2 to change, 1 to drop.",
        "Data loss: 1 step drops stored values; it runs only with --allow-data-loss, "
        "which first saves the values to a backup file.",
    ]:
        assert line in text.splitlines(), (line, text)


def test_importing_a_newer_blueprint_is_an_upgrade_through_the_same_plan(engine: sa.Engine) -> None:
    v1 = {"blueprint": "srm", "version": "1.0.0", "entities": {"supplier": SUPPLIER}}
    v2 = {
        **v1,
        "version": "1.1.0",
        "entities": {"supplier": fields(**SUPPLIER["fields"], web={"type": "url"})},
    }
    for blueprint, expected in [(v1, "create_table"), (v2, "add_column")]:
        with begin_migration(engine) as conn:
            steps = plan_blueprint(conn, blueprint)
            assert isinstance(steps, Plan) and [s.kind for s in steps.steps] == [expected]
            apply(steps, conn)
            write_blueprint(conn, blueprint)
    with engine.connect() as conn:
        assert plan_blueprint(conn, v2).is_empty
    assert "web" in columns_of(engine, "srm_supplier")
