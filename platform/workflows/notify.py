"""Notifications: in-app messages in `ab_notification`, optionally mailed through the outbox."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

import sqlalchemy as sa

from appblocks.engine.models import Notification, User, utcnow
from appblocks.workflows.outbox import queue_mail

NOTIFICATIONS = cast(sa.Table, Notification.__table__)
USERS = cast(sa.Table, User.__table__)
_SUBJECT_CHARS = 300


def notify(
    conn: sa.Connection,
    users: list[str],
    subject: str,
    body: str = "",
    *,
    entity: str | None = None,
    record_id: int | None = None,
    email: bool = False,
) -> None:
    """Notify users in the app and, with `email`, by mail to those who have an address."""
    names = list(dict.fromkeys(u for u in users if u))
    if not names:
        return
    subject = " ".join(subject.split())[:_SUBJECT_CHARS]  # one line: it may become a header
    now = utcnow()
    conn.execute(
        sa.insert(NOTIFICATIONS),
        [
            {
                "user_name": name,
                "subject": subject,
                "body": body or None,
                "entity": entity,
                "record_id": record_id,
                "created_at": now,
            }
            for name in names
        ],
    )
    if not email:
        return
    rows = conn.execute(
        sa.select(USERS.c.name, USERS.c.email).where(
            USERS.c.name.in_(names),
            USERS.c.active.is_(True),
            USERS.c.email.is_not(None),
            USERS.c.email != "",
        )
    ).all()
    # A malformed stored address is skipped rather than refused: it must not undo the save
    # that triggered the notification.
    address = {
        row.name: row.email.strip()
        for row in rows
        if "@" in row.email and "\n" not in row.email and "\r" not in row.email
    }
    # One mail per recipient: people notified together (e.g. competing suppliers on one
    # RFQ) must not see each other's addresses, and one bad address must not hold up the
    # others' retries.
    for name in names:
        if address.get(name):
            queue_mail(conn, [address[name]], subject, body)


def unread(conn: sa.Connection, user: str, *, limit: int = 100) -> list[dict[str, Any]]:
    """The user's unread notifications, newest first."""
    rows = conn.execute(
        sa.select(
            NOTIFICATIONS.c.id,
            NOTIFICATIONS.c.subject,
            NOTIFICATIONS.c.body,
            NOTIFICATIONS.c.entity,
            NOTIFICATIONS.c.record_id,
            NOTIFICATIONS.c.created_at,
        )
        .where(NOTIFICATIONS.c.user_name == user, NOTIFICATIONS.c.read_at.is_(None))
        .order_by(NOTIFICATIONS.c.id.desc())
        .limit(limit)
    )
    return [dict(row._mapping) for row in rows]


def mark_read(conn: sa.Connection, user: str, ids: Iterable[int]) -> int:
    """Mark the user's notifications with these ids read; how many changed."""
    wanted = sorted({int(i) for i in ids})
    if not wanted:
        return 0
    return conn.execute(
        sa.update(NOTIFICATIONS)
        .where(
            NOTIFICATIONS.c.user_name == user,
            NOTIFICATIONS.c.id.in_(wanted),
            NOTIFICATIONS.c.read_at.is_(None),
        )
        .values(read_at=utcnow())
    ).rowcount
