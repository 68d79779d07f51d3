"""Stored files (`ab_file`): a record's attachments and the values of `file` fields.

A file is kept in the database (every app server behind a load balancer sees it) under a
random key. An attachment carries its record (`entity`, `record_id`) from the start. A file
chosen in a form is stored before the record is saved, without a record; the save claims it
(sets its record) in the same transaction. Whoever may read the record may download its
files; an unclaimed file only its uploader.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import Any, cast

import sqlalchemy as sa

from appblocks.engine.models import StoredFile, utcnow

FILES = cast(sa.Table, StoredFile.__table__)
MAX_FILE_BYTES = 10 * 1024 * 1024
MAX_NAME = 255
META = (
    FILES.c.id, FILES.c.key, FILES.c.name, FILES.c.content_type, FILES.c.size,
    FILES.c.entity, FILES.c.record_id, FILES.c.created_by, FILES.c.created_at,
)  # fmt: skip


def safe_name(name: str | None) -> str:
    """A file name without a path or control characters, at most 255 characters."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(c for c in base if c.isprintable() and c not in '"<>|').strip()
    if not cleaned:
        cleaned = "file"
    if len(cleaned) > MAX_NAME:
        stem, dot, ext = cleaned.rpartition(".")
        keep = MAX_NAME - len(ext) - 1 if dot and len(ext) < 16 else MAX_NAME
        cleaned = (stem[:keep] + "." + ext) if dot and len(ext) < 16 else cleaned[:MAX_NAME]
    return cleaned


def store_file(
    conn: sa.Connection,
    *,
    name: str | None,
    content_type: str | None,
    data: bytes,
    created_by: str,
    entity: str | None = None,
    record_id: int | None = None,
) -> dict[str, Any]:
    """Keep a file; its metadata (with the new `key`)."""
    row = {
        "key": secrets.token_urlsafe(24),
        "name": safe_name(name),
        "content_type": (content_type or "application/octet-stream")[:127],
        "size": len(data),
        "data": data,
        "entity": entity,
        "record_id": record_id,
        "created_by": created_by,
        "created_at": utcnow(),
    }
    new_id = conn.execute(sa.insert(FILES).values(row).returning(FILES.c.id)).scalar_one()
    return {**{k: v for k, v in row.items() if k != "data"}, "id": new_id}


def file_meta(conn: sa.Connection, key: str) -> dict[str, Any] | None:
    """A file's metadata by key (not its bytes), or None."""
    row = conn.execute(sa.select(*META).where(FILES.c.key == key)).first()
    return dict(row._mapping) if row is not None else None


def files_by_key(conn: sa.Connection, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Metadata of the files with these keys, by key."""
    wanted = sorted({k for k in keys if k})
    if not wanted:
        return {}
    rows = conn.execute(sa.select(*META).where(FILES.c.key.in_(wanted)))
    return {row.key: dict(row._mapping) for row in rows}


def file_data(conn: sa.Connection, file_id: int) -> bytes:
    """The bytes of a stored file."""
    return bytes(conn.execute(sa.select(FILES.c.data).where(FILES.c.id == file_id)).scalar_one())


def claim_files(
    conn: sa.Connection, keys: Iterable[str], entity: str, record_id: int, user: str
) -> None:
    """Give the unclaimed files this user uploaded for a form to the record just saved."""
    wanted = sorted({k for k in keys if k})
    if not wanted:
        return
    conn.execute(
        sa.update(FILES)
        .where(
            FILES.c.key.in_(wanted),
            FILES.c.record_id.is_(None),
            FILES.c.created_by == user,
            FILES.c.entity == entity,
        )
        .values(record_id=record_id)
    )


def delete_file(conn: sa.Connection, file_id: int) -> None:
    """Remove a stored file."""
    conn.execute(sa.delete(FILES).where(FILES.c.id == file_id))
