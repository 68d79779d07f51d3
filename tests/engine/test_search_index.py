"""List search through an index (SQLite FTS5 trigram, PostgreSQL pg_trgm): the same records as
the plain scan, kept right through writes and migrations, and really used by the database."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import sqlalchemy as sa

from appblocks.engine.catalog import Catalog
from appblocks.engine.migrations import apply, begin_migration, plan
from appblocks.engine.query import compile_search
from appblocks.engine.search import fts_table, pg_index, sync_search_indexes

NOW = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def TOKEN(i: int) -> str:  # noqa: N802 - varied text, as real names are
    return hashlib.md5(str(i).encode(), usedforsecurity=False).hexdigest()


ENTITY = "srm.supplier"

NAMES = [
    "Acme Ltd",
    "ACME trading",
    "acme",
    "Globex Corporation",
    "张三",
    "李四商贸有限公司",
    "王五",
    "北京张三科技",
    "50% off_sale",
    "5000 offers",
    'The "Quoted" Co',
    "O'Brien & Sons",
    "NEAR Holdings",
    "star * power",
    "{a b}: c",
    "Ünïcode ÄBC",
    "äbc lower",
    "back\\slash",
    "x",
    None,
]
NOTES = ["secret plan Zebra", "pays late", "中文备注信息", None, "acme notes", "Apple"]

TERMS = [
    "a",
    "A",
    "x",
    "ac",
    "AcMe",
    "acme",
    "acme ",
    "ltd",
    "張三",
    "张三",
    "张",
    "三科技",
    "李四商贸",
    "备注",
    "中文备注",
    "%",
    "50%",
    "0%",
    "_",
    "f_s",
    "off_sale",
    "'",
    "O'Brien",
    '"',
    '"Quoted"',
    'he "Q',
    "*",
    "star *",
    "NEAR",
    "NEAR Holdings",
    "a OR b",
    "{a b}: c",
    "b}:",
    "äbc",
    "ÄBC",
    "ünï",
    "back\\",
    "\\s",
    "zebra",
    "nothing like this",
    "ple",
]


def catalog(**fields: Any) -> Catalog:
    docs = fields or {
        "name": {"type": "text"},
        "notes": {"type": "long_text"},
        "email": {"type": "email"},
        "rating": {"type": "integer"},
    }
    entities = {"supplier": {"fields": docs}}
    return Catalog({"srm": {"blueprint": "srm", "version": "1.0.0", "entities": entities}})


def migrate(engine: sa.Engine, old: Catalog, new: Catalog, **options: Any) -> None:
    with begin_migration(engine) as conn:
        apply(plan(old, new, conn), conn, **options)


def insert(engine: sa.Engine, cat: Catalog, rows: list[dict[str, Any]]) -> None:
    table = cat.table(ENTITY)
    with engine.begin() as conn:
        for row in rows:
            conn.execute(table.insert().values(_created_at=NOW, _updated_at=NOW, **row))


def filled(engine: sa.Engine) -> Catalog:
    cat = catalog()
    migrate(engine, Catalog({}), cat)
    rows = [{"name": n, "notes": NOTES[i % len(NOTES)]} for i, n in enumerate(NAMES)]
    insert(engine, cat, rows)
    return cat


def found(engine: sa.Engine, cat: Catalog, q: str, fields: list[str] | None = None) -> list[int]:
    table = cat.table(ENTITY)
    where = compile_search(cat, ENTITY, q, fields)
    with engine.connect() as conn:
        return list(conn.execute(sa.select(table.c.id).where(where).order_by(table.c.id)).scalars())


def scanned(engine: sa.Engine, cat: Catalog, q: str, fields: list[str] | None = None) -> list[int]:
    """What the search found before the index: ILIKE '%text%' over the columns, nothing else."""
    table = cat.table(ENTITY)
    text = q.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    names = fields or [c for c in ("name", "notes", "email") if c in table.c]
    where = sa.or_(*(table.c[n].ilike(f"%{text}%", escape="\\") for n in names))
    with engine.connect() as conn:
        return list(conn.execute(sa.select(table.c.id).where(where).order_by(table.c.id)).scalars())


def compiled(engine: sa.Engine, cat: Catalog, q: str) -> str:
    table = cat.table(ENTITY)
    with engine.connect() as conn:
        return str(sa.select(table.c.id).where(compile_search(cat, ENTITY, q)).compile(conn))


def index_hits(engine: sa.Engine, table: str, phrase: str) -> list[int]:
    """Rows the FTS index itself holds for `phrase` (SQLite), without the scan's check."""
    fts = fts_table(table)
    with engine.connect() as conn:
        query = sa.text(f'SELECT rowid FROM "{fts}" WHERE "{fts}" MATCH :m ORDER BY rowid')  # noqa: S608
        return list(conn.execute(query, {"m": '"' + phrase + '"'}).scalars())


def test_results_are_the_scans_for_every_kind_of_term(engine: sa.Engine) -> None:
    cat = filled(engine)
    sqlite = engine.dialect.name == "sqlite"
    for term in TERMS:
        assert found(engine, cat, term) == scanned(engine, cat, term), term
        if sqlite:  # the index answers 3+ characters, the scan shorter terms
            assert ("MATCH" in compiled(engine, cat, term)) == (len(term.strip()) >= 3), term
    # The comparison can fail: these terms find what a person expects.
    assert len(found(engine, cat, "acme")) == 6  # three names and three notes, any case
    assert found(engine, cat, "张三") == [5, 8]
    assert len(found(engine, cat, "50%")) == 1
    assert found(engine, cat, '"Quoted"') == [11]
    assert found(engine, cat, "star *") == [14]


def test_hostile_terms_do_not_error_or_widen(engine: sa.Engine) -> None:
    cat = filled(engine)
    for term in ['"', '""', '" OR "a', "a* ", "NEAR(a b)", "^acme", "acme*", "-acme", "名字 AND x"]:
        assert found(engine, cat, term) == scanned(engine, cat, term), term
    assert found(engine, cat, "acme*") == []


def test_hidden_fields_are_not_searched(engine: sa.Engine) -> None:
    cat = filled(engine)
    assert found(engine, cat, "zebra") == [1, 7, 13, 19]
    assert found(engine, cat, "zebra", ["name"]) == []
    assert found(engine, cat, "zebra", ["notes"]) == [1, 7, 13, 19]
    assert found(engine, cat, "acme", ["name"]) == [1, 2, 3]
    assert found(engine, cat, "acme", ["notes"]) == scanned(engine, cat, "acme", ["notes"])
    assert found(engine, cat, "acme", []) == []


def test_the_index_follows_inserts_updates_and_deletes(engine: sa.Engine) -> None:
    cat = filled(engine)
    table = cat.table(ENTITY)
    insert(engine, cat, [{"name": "Initech 软件", "notes": "printer"}])
    new_id = len(NAMES) + 1
    assert found(engine, cat, "initech") == [new_id]
    with engine.begin() as conn:
        conn.execute(sa.update(table).where(table.c.id == new_id).values(name="Hooli 软件"))
        conn.execute(sa.update(table).where(table.c.id == 4).values(rating=3))  # no text
    assert found(engine, cat, "initech") == []
    assert found(engine, cat, "hooli 软") == [new_id]
    assert found(engine, cat, "globex") == [4]
    with engine.begin() as conn:
        conn.execute(sa.delete(table).where(table.c.id.in_([new_id, 4])))
    assert found(engine, cat, "hooli") == [] and found(engine, cat, "globex") == []
    if engine.dialect.name == "sqlite":  # the index itself, not only the results
        assert index_hits(engine, table.name, "initech") == []
        assert index_hits(engine, table.name, "hooli") == []
        assert index_hits(engine, table.name, "acme") == [1, 2, 3, 5, 11, 17]


def test_fields_added_renamed_and_removed_by_migrations(engine: sa.Engine) -> None:
    old = filled(engine)
    grown = catalog(
        name={"type": "text"},
        notes={"type": "long_text"},
        email={"type": "email"},
        rating={"type": "integer"},
        city={"type": "text"},
    )
    migrate(engine, old, grown)
    insert(engine, grown, [{"name": "Umbrella", "city": "Raccoon City"}])
    assert found(engine, grown, "raccoon") == [21]
    assert found(engine, grown, "acme") == scanned(engine, grown, "acme") != []
    renamed = catalog(
        title={"type": "text", "renamed_from": "name"},
        notes={"type": "long_text"},
        email={"type": "email"},
        rating={"type": "integer"},
        city={"type": "text"},
    )
    migrate(engine, grown, renamed)
    insert(engine, renamed, [{"title": "Wayne Enterprises"}])
    assert found(engine, renamed, "wayne") == [22]
    assert found(engine, renamed, "globex") == [4]
    assert found(engine, renamed, "globex", ["title"]) == [4]
    shrunk = catalog(title={"type": "text"}, rating={"type": "integer"}, city={"type": "text"})
    migrate(engine, renamed, shrunk, allow_data_loss=True)
    insert(engine, shrunk, [{"title": "Stark Industries", "city": "Malibu"}])
    assert found(engine, shrunk, "zebra") == []  # the notes are gone
    assert found(engine, shrunk, "stark") == [23] and found(engine, shrunk, "malibu") == [23]
    assert found(engine, shrunk, "globex") == [4]
    with engine.begin() as conn:
        assert not sync_search_indexes(conn, shrunk).changed  # nothing left to do
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            names = set(
                conn.execute(
                    sa.text("SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()")
                ).scalars()
            )
        table = shrunk.table(ENTITY).name
        assert {pg_index(table, "title"), pg_index(table, "city")} <= names
        assert pg_index(table, "name") not in names and pg_index(table, "notes") not in names


def test_a_rebuilt_table_is_indexed_again(engine: sa.Engine) -> None:
    old = filled(engine)
    # Retyping a number (and making a text field required) rebuilds the table on SQLite,
    # which drops its triggers; the sync puts them back and rebuilds the FTS table.
    new = catalog(
        name={"type": "text"},
        notes={"type": "long_text"},
        email={"type": "email"},
        rating={"type": "decimal"},
    )
    migrate(engine, old, new)
    insert(engine, new, [{"name": "Cyberdyne Systems"}])
    table = new.table(ENTITY)
    with engine.begin() as conn:
        conn.execute(sa.update(table).where(table.c.id == 4).values(name="Soylent"))
    assert found(engine, new, "cyberdyne") == [21]
    assert found(engine, new, "soylent") == [4] and found(engine, new, "globex") == []
    for term in TERMS:
        assert found(engine, new, term) == scanned(engine, new, term), term
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            triggers = conn.exec_driver_sql(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?",
                (table.name,),
            ).scalars()
            assert len(list(triggers)) == 3
        assert index_hits(engine, table.name, "globex") == []
        assert index_hits(engine, table.name, "soylent") == [4]


def test_a_searchable_text_retyped_to_long_text_is_still_indexed(engine: sa.Engine) -> None:
    old = filled(engine)
    new = catalog(
        name={"type": "long_text"},
        notes={"type": "long_text"},
        email={"type": "email"},
        rating={"type": "integer"},
    )
    migrate(engine, old, new)
    insert(engine, new, [{"name": "Tyrell Corporation"}])
    assert found(engine, new, "tyrell") == [21]
    assert found(engine, new, "globex") == [4]
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            query = "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"
            names = set(conn.execute(sa.text(query)).scalars())
        assert pg_index("srm_supplier", "name") in names


def test_a_database_without_the_index_still_searches(engine: sa.Engine) -> None:
    cat = catalog()
    with engine.begin() as conn:
        cat.metadata.create_all(conn)  # not through a migration: no search index
    insert(engine, cat, [{"name": "Acme"}, {"name": "Globex"}])
    assert found(engine, cat, "acme") == [1]
    assert "MATCH" not in compiled(engine, cat, "acme")
    with engine.begin() as conn:
        report = sync_search_indexes(conn, cat)
        assert report.changed or engine.dialect.name != "sqlite" or report.skipped
    engine.dispose()  # a new connection looks again
    assert found(engine, cat, "acme") == [1]
    if engine.dialect.name == "sqlite":
        assert "MATCH" in compiled(engine, cat, "acme")


def test_the_database_uses_the_index_for_a_long_term(engine: sa.Engine) -> None:
    cat = catalog()
    migrate(engine, Catalog({}), cat)
    table = cat.table(ENTITY)
    rows = [
        {"name": f"Supplier {TOKEN(i)}", "notes": f"note {i % 97}", "_created_at": NOW}
        | {"_updated_at": NOW}
        for i in range(30_000)
    ]
    with engine.begin() as conn:
        conn.execute(table.insert(), rows)
    # VACUUM merges GIN's pending list on PostgreSQL, as autovacuum would in time.
    analyze = "ANALYZE" if engine.dialect.name == "sqlite" else f"VACUUM ANALYZE {table.name}"
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql(analyze)
    query = sa.select(table.c.id).where(compile_search(cat, ENTITY, TOKEN(12_345)[:7]))
    with engine.connect() as conn:
        sql = str(query.compile(conn, compile_kwargs={"literal_binds": True}))
        if engine.dialect.name == "sqlite":
            plan_rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql).all()
            text = "\n".join(str(r[-1]) for r in plan_rows)
            assert f"{fts_table(table.name)} VIRTUAL TABLE INDEX" in text, text
            assert "SCAN srm_supplier" not in text, text
        else:
            text = "\n".join(conn.exec_driver_sql("EXPLAIN " + sql).scalars())
            assert pg_index(table.name, "name") in text, text
            assert "Seq Scan" not in text, text
        assert 12_346 in set(conn.execute(query).scalars())
