"""The baseline of `bench_api.py`: a bare FastAPI + SQLAlchemy Core app on the same table.

It does what a hand-written endpoint would: a Pydantic body, one INSERT per create, one SELECT
per read, a filtered and sorted page with a capped count, Core statements only (no ORM, no
auth, no audit), responses encoded with orjson like the platform's. The database is a copy of
the benchmark's (same `bench_item` table, same indexes, same SQLite pragmas).

Run it with `python -m uvicorn --app-dir bench --factory bare_app:create`; the database URL
comes from $BENCH_BARE_DB.
"""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

import orjson
import sqlalchemy as sa
from fastapi import FastAPI, HTTPException, Response
from pydantic import BaseModel
from sqlalchemy import event

COUNT_CAP = 10_000

metadata = sa.MetaData()
items = sa.Table(
    "bench_item",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.Text),
    sa.Column("status", sa.String(64)),
    sa.Column("amount", sa.Float),
    sa.Column("due", sa.Date),
    sa.Column("note", sa.Text),
    sa.Column("supplier", sa.Integer),
    sa.Column("_version", sa.Integer),
    sa.Column("_created_at", sa.DateTime),
    sa.Column("_updated_at", sa.DateTime),
    sa.Column("_created_by", sa.String(150)),
    sa.Column("_updated_by", sa.String(150)),
)
# Plain strings: column names are `quoted_name`, a str subclass that orjson refuses as a key.
COLUMNS = [f"{c.name}" for c in items.columns]


class Item(BaseModel):
    """The body of a create."""

    name: str
    status: str | None = None
    amount: float | None = None
    due: dt.date | None = None
    note: str | None = None
    supplier: int | None = None


def _pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


def _json(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def _row(row: Any) -> dict[str, Any]:
    out = dict(zip(COLUMNS, row, strict=True))
    for key in ("_created_at", "_updated_at"):
        if out[key] is not None:
            out[key] = out[key].replace(tzinfo=dt.UTC).isoformat()
    return out


def create() -> FastAPI:
    """The bare app on $BENCH_BARE_DB."""
    engine = sa.create_engine(os.environ["BENCH_BARE_DB"])
    event.listen(engine, "connect", _pragmas)
    app = FastAPI()
    by_id = sa.select(items).where(items.c.id == sa.bindparam("id"))

    @app.post("/items", status_code=201)
    def create_item(item: Item) -> Response:
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        values = {
            **item.model_dump(),
            "_version": 1,
            "_created_at": now,
            "_updated_at": now,
            "_created_by": "bare",
            "_updated_by": "bare",
        }
        with engine.begin() as conn:
            new_id = conn.execute(items.insert().values(values)).inserted_primary_key[0]
        values["id"] = new_id
        values = {k: values[k] for k in COLUMNS}
        values["due"] = values["due"].isoformat() if values["due"] else None
        for key in ("_created_at", "_updated_at"):
            values[key] = now.replace(tzinfo=dt.UTC).isoformat()
        return _json(values, 201)

    @app.post("/items/batch", status_code=201)
    def create_items(rows: list[Item]) -> Response:
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        stamp = {
            "_version": 1,
            "_created_at": now,
            "_updated_at": now,
            "_created_by": "bare",
            "_updated_by": "bare",
        }
        with engine.begin() as conn:
            conn.execute(items.insert(), [{**r.model_dump(), **stamp} for r in rows])
        return _json({"count": len(rows)}, 201)

    @app.get("/items/{item_id}")
    def get_item(item_id: int) -> Response:
        with engine.connect() as conn:
            row = conn.execute(by_id, {"id": item_id}).first()
        if row is None:
            raise HTTPException(404)
        return _json(_row(row))

    @app.get("/items")
    def list_items(status: str, limit: int = 25) -> Response:
        where = items.c.status == status
        page = (
            sa.select(items)
            .where(where)
            .order_by(items.c.amount.desc(), items.c.id)  # the platform's order for -amount
            .limit(limit + 1)
        )
        capped = sa.select(sa.literal(1)).select_from(items).where(where).limit(COUNT_CAP + 1)
        count = sa.select(sa.func.count()).select_from(capped.subquery())
        with engine.connect() as conn:
            rows = conn.execute(page).all()
            total = conn.execute(count).scalar_one()
        body = {
            "items": [_row(r) for r in rows[:limit]],
            "more": len(rows) > limit,
            "total": total,
        }
        return _json(body)

    return app
