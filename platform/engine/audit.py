"""The audit trail: one `ab_audit` row per change to a record (who, when, before and after)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from appblocks.engine.models import Audit, utcnow
from appblocks.engine.record_bulk import insert_many

_AUDIT: sa.Table = Audit.__table__  # type: ignore[assignment]

CREATE = "create"
UPDATE = "update"
DELETE = "delete"


@dataclass(frozen=True)
class AuditEntry:
    """One audit row to write; `before`/`after` are JSON-able (the record's `to_json`)."""

    entity: str
    record_id: int
    action: str
    actor: str | None
    before: Mapping[str, Any] | None
    after: Mapping[str, Any] | None
    comment: str | None = None
    at: dt.datetime | None = None


def write_audit(
    conn: sa.Connection,
    entity: str,
    record_id: int,
    action: str,
    actor: str | None,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
    comment: str | None = None,
    *,
    at: dt.datetime | None = None,
) -> None:
    """Write one audit row in the caller's transaction."""
    write_audit_many(
        conn, [AuditEntry(entity, record_id, action, actor, before, after, comment, at)]
    )


def write_audit_many(conn: sa.Connection, entries: Sequence[AuditEntry]) -> None:
    """Write many audit rows with one executemany."""
    if not entries:
        return
    now = utcnow()
    rows = [
        {
            "entity": e.entity,
            "record_id": e.record_id,
            "action": e.action,
            "actor": e.actor,
            "at": e.at or now,
            "before": e.before,
            "after": e.after,
            "comment": e.comment,
        }
        for e in entries
    ]
    # A key that is None in every row is left out: the column gets SQL NULL (not JSON null),
    # and a batch of creates skips serialising 10,000 empty `before`s.
    empty = [k for k in ("before", "after", "comment") if all(r[k] is None for r in rows)]
    if empty:
        for row in rows:
            for key in empty:
                del row[key]
    insert_many(conn, _AUDIT, rows)


def changes(
    before: Mapping[str, Any], after: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Only the keys whose value differs, as (before, after); keys missing count as None."""
    keys = [k for k in after if before.get(k) != after[k]]
    keys += [k for k in before if k not in after and before[k] is not None]
    return {k: before.get(k) for k in keys}, {k: after.get(k) for k in keys}


def history(
    conn: sa.Connection, entity: str, record_id: int, limit: int = 100
) -> list[dict[str, Any]]:
    """The audit entries of one record, newest first."""
    query = (
        sa.select(_AUDIT)
        .where(_AUDIT.c.entity == entity, _AUDIT.c.record_id == record_id)
        .order_by(_AUDIT.c.id.desc())
        .limit(limit)
    )
    return [dict(row._mapping) for row in conn.execute(query)]
