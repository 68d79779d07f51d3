"""Saved views: a user's own named columns, filter, sort and search of one entity's list.

Every function takes the owner's name: a view is found, listed or deleted only by the user
who saved it, so another user's view id is simply not there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

import sqlalchemy as sa

from appblocks.engine.models import SavedView, utcnow

MAX_NAME = 100
MAX_VIEWS = 200  # per user and entity: a dropdown, not an archive

_table = cast(sa.Table, SavedView.__table__)


def body(
    columns: Sequence[str], filter: Mapping[str, Any] | None, sort: str | None, q: str | None
) -> dict[str, Any]:
    """The stored shape of a view."""
    return {
        "columns": list(columns),
        "filter": dict(filter) if filter else None,
        "sort": sort or None,
        "q": q or None,
    }


def state(stored: Any) -> dict[str, Any]:
    """A stored body read defensively (an older or hand-edited row must not break a page)."""
    raw = stored if isinstance(stored, Mapping) else {}
    columns = raw.get("columns")
    return {
        "columns": [str(c) for c in columns] if isinstance(columns, list) else None,
        "filter": raw.get("filter") if isinstance(raw.get("filter"), Mapping) else None,
        "sort": raw.get("sort") if isinstance(raw.get("sort"), str) else None,
        "q": raw.get("q") if isinstance(raw.get("q"), str) else None,
    }


def listed(conn: sa.Connection, user: str, entity: str) -> list[dict[str, Any]]:
    """The user's views of `entity` by name: id and name (one query)."""
    query = (
        sa.select(_table.c.id, _table.c.name)
        .where(_table.c.user_name == user, _table.c.entity == entity)
        .order_by(_table.c.name, _table.c.id)
        .limit(MAX_VIEWS)
    )
    return [{"id": i, "name": n} for i, n in conn.execute(query)]


def find(conn: sa.Connection, user: str, entity: str, view_id: int) -> dict[str, Any] | None:
    """One of the user's views of `entity` (id, name, body), or None."""
    query = sa.select(_table.c.id, _table.c.name, _table.c.body).where(
        _table.c.id == view_id, _table.c.user_name == user, _table.c.entity == entity
    )
    row = conn.execute(query).first()
    return None if row is None else {"id": row.id, "name": row.name, "body": state(row.body)}


def save(conn: sa.Connection, user: str, entity: str, name: str, stored: dict[str, Any]) -> int:
    """Save under `name` (replacing the user's view of that name); the view's id."""
    key = (_table.c.user_name == user, _table.c.entity == entity, _table.c.name == name)
    found = conn.execute(sa.select(_table.c.id).where(*key)).scalar()
    if found is not None:
        conn.execute(sa.update(_table).where(_table.c.id == found).values(body=stored))
        return int(found)
    result = conn.execute(
        sa.insert(_table).values(
            user_name=user, entity=entity, name=name, body=stored, created_at=utcnow()
        )
    )
    assert result.inserted_primary_key is not None
    return int(result.inserted_primary_key[0])


def delete(conn: sa.Connection, user: str, entity: str, view_id: int) -> bool:
    """Delete one of the user's views; False when there is no such view of theirs."""
    result = conn.execute(
        sa.delete(_table).where(
            _table.c.id == view_id, _table.c.user_name == user, _table.c.entity == entity
        )
    )
    return bool(result.rowcount)
