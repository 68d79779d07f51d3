"""The platform's own tables (`ab_*`), as SQLAlchemy ORM models versioned with Alembic."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from appblocks.engine.fieldtypes import ID_TYPE, UTCDateTime
from appblocks.engine.tables import NAMING_CONVENTION


def utcnow() -> dt.datetime:
    """Now, timezone-aware, in UTC."""
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    """Base of the platform models; one MetaData with the naming convention."""

    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dt.datetime: UTCDateTime, dict[str, Any]: sa.JSON}


class App(Base):
    """An installed app (blueprint) and its version."""

    __tablename__ = "ab_app"
    app: Mapped[str] = mapped_column(sa.String(31), primary_key=True)
    version: Mapped[str] = mapped_column(sa.String(64))
    title: Mapped[Any] = mapped_column(sa.JSON, nullable=True)
    requires: Mapped[Any] = mapped_column(sa.JSON, nullable=True)
    installed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Document(Base):
    """One schema document of an installed app, in a layer.

    `layer` is `base` for what a blueprint ships and `custom` for an analyst's changes on top
    of it (kept apart so an upgrade of the shipped blueprint can merge, not overwrite).
    """

    __tablename__ = "ab_document"
    __table_args__ = (sa.UniqueConstraint("kind", "app", "name", "layer"),)
    id: Mapped[int] = mapped_column(ID_TYPE, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(sa.String(32))
    app: Mapped[str] = mapped_column(sa.String(31), index=True)
    name: Mapped[str] = mapped_column(sa.String(63))
    layer: Mapped[str] = mapped_column(sa.String(16), default="base")
    version: Mapped[str] = mapped_column(sa.String(64))
    # A custom-layer tombstone (a deleted shipped document) is the JSON value null, which
    # sa.JSON writes for None as the text 'null': the column stays NOT NULL on both databases.
    body: Mapped[Any] = mapped_column(sa.JSON)
    checksum: Mapped[str] = mapped_column(sa.String(64))
    position: Mapped[int] = mapped_column(sa.Integer, default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Audit(Base):
    """One change to one record: who, when, what before and after."""

    __tablename__ = "ab_audit"
    __table_args__ = (sa.Index(None, "entity", "record_id", "id"),)
    id: Mapped[int] = mapped_column(ID_TYPE, primary_key=True, autoincrement=True)
    entity: Mapped[str] = mapped_column(sa.String(95))
    record_id: Mapped[int] = mapped_column(sa.BigInteger)
    action: Mapped[str] = mapped_column(sa.String(32))
    actor: Mapped[str | None] = mapped_column(sa.String(150))
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    before: Mapped[Any] = mapped_column(sa.JSON, nullable=True)
    after: Mapped[Any] = mapped_column(sa.JSON, nullable=True)
    comment: Mapped[str | None] = mapped_column(sa.Text)


class Counter(Base):
    """Autonumber counters, one row per entity, field and prefix."""

    __tablename__ = "ab_counter"
    key: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    value: Mapped[int] = mapped_column(sa.BigInteger, default=0)


class User(Base):
    """A person (or portal user) who signs in; roles and attributes feed record rules."""

    __tablename__ = "ab_user"
    id: Mapped[int] = mapped_column(ID_TYPE, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(sa.String(150), unique=True)
    display_name: Mapped[str | None] = mapped_column(sa.String(200))
    email: Mapped[str | None] = mapped_column(sa.String(254))
    password_hash: Mapped[str | None] = mapped_column(sa.String(255))
    roles: Mapped[Any] = mapped_column(sa.JSON, default=list)
    attributes: Mapped[Any] = mapped_column(sa.JSON, default=dict)
    locale: Mapped[str | None] = mapped_column(sa.String(16))
    time_zone: Mapped[str | None] = mapped_column(sa.String(64))  # IANA name; None: the default
    active: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Token(Base):
    """A bearer token for the API, stored as a hash; expiring and revocable."""

    __tablename__ = "ab_token"
    id: Mapped[int] = mapped_column(ID_TYPE, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(
        ID_TYPE, sa.ForeignKey("ab_user.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column()
    revoked_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)


class SignInAttempt(Base):
    """Failed sign-ins by user name and address, for throttling across servers."""

    __tablename__ = "ab_signin_attempt"
    __table_args__ = (sa.Index(None, "username", "at"),)
    id: Mapped[int] = mapped_column(ID_TYPE, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(sa.String(150))
    address: Mapped[str | None] = mapped_column(sa.String(64))
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Task(Base):
    """An approval waiting for (or decided by) a user or a role: the inbox's source."""

    __tablename__ = "ab_task"
    __table_args__ = (
        sa.Index(None, "status", "assignee_user"),
        sa.Index(None, "status", "assignee_role"),
        sa.Index(None, "entity", "record_id"),
    )
    id: Mapped[int] = mapped_column(ID_TYPE, primary_key=True, autoincrement=True)
    entity: Mapped[str] = mapped_column(sa.String(95))
    record_id: Mapped[int] = mapped_column(sa.BigInteger)
    workflow: Mapped[str] = mapped_column(sa.String(63))
    step: Mapped[str] = mapped_column(sa.String(63))
    level: Mapped[int] = mapped_column(sa.Integer, default=0)
    assignee_user: Mapped[str | None] = mapped_column(sa.String(150))
    assignee_role: Mapped[str | None] = mapped_column(sa.String(63))
    status: Mapped[str] = mapped_column(sa.String(16), default="open")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    decided_by: Mapped[str | None] = mapped_column(sa.String(150))
    comment: Mapped[str | None] = mapped_column(sa.Text)
    delegated_from: Mapped[str | None] = mapped_column(sa.String(150))
    requested_by: Mapped[str | None] = mapped_column(sa.String(150))


class Job(Base):
    """A unit of deferred work: a due timer, a scheduled automation, an outgoing mail or hook.

    Workers claim due rows with `FOR UPDATE SKIP LOCKED` on PostgreSQL, so several workers
    never run one job twice; `dedupe_key` keeps a timer from being queued twice.
    """

    __tablename__ = "ab_job"
    __table_args__ = (sa.Index(None, "status", "due_at"),)
    id: Mapped[int] = mapped_column(ID_TYPE, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(sa.String(32))
    due_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    payload: Mapped[Any] = mapped_column(sa.JSON, default=dict)
    status: Mapped[str] = mapped_column(sa.String(16), default="pending")
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    locked_by: Mapped[str | None] = mapped_column(sa.String(100))
    locked_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    done_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    dedupe_key: Mapped[str | None] = mapped_column(sa.String(255), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Notification(Base):
    """An in-app message to a user (workflow notices, automation notifications)."""

    __tablename__ = "ab_notification"
    __table_args__ = (sa.Index(None, "user_name", "read_at"),)
    id: Mapped[int] = mapped_column(ID_TYPE, primary_key=True, autoincrement=True)
    user_name: Mapped[str] = mapped_column(sa.String(150))
    subject: Mapped[str] = mapped_column(sa.String(300))
    body: Mapped[str | None] = mapped_column(sa.Text)
    entity: Mapped[str | None] = mapped_column(sa.String(95))
    record_id: Mapped[int | None] = mapped_column(sa.BigInteger)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    read_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)


class StoredFile(Base):
    """An uploaded file (a `file` field's value or a record's attachment), kept in the database
    so that every app server behind a load balancer sees it."""

    __tablename__ = "ab_file"
    __table_args__ = (sa.Index(None, "entity", "record_id"),)
    id: Mapped[int] = mapped_column(ID_TYPE, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name: Mapped[str] = mapped_column(sa.String(255))
    content_type: Mapped[str] = mapped_column(sa.String(127))
    size: Mapped[int] = mapped_column(sa.BigInteger)
    data: Mapped[bytes] = mapped_column(sa.LargeBinary)
    entity: Mapped[str | None] = mapped_column(sa.String(95))
    record_id: Mapped[int | None] = mapped_column(sa.BigInteger)
    created_by: Mapped[str | None] = mapped_column(sa.String(150))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class SavedView(Base):
    """A user's own named list view: columns, filter, sort and search of one entity."""

    __tablename__ = "ab_saved_view"
    __table_args__ = (sa.UniqueConstraint("user_name", "entity", "name"),)
    id: Mapped[int] = mapped_column(ID_TYPE, primary_key=True, autoincrement=True)
    user_name: Mapped[str] = mapped_column(sa.String(150))
    entity: Mapped[str] = mapped_column(sa.String(95))
    name: Mapped[str] = mapped_column(sa.String(100))
    body: Mapped[Any] = mapped_column(sa.JSON)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ImportRun(Base):
    """One import from the pages: the uploaded file, the column mapping, and its progress
    (a table, not process memory, so that any server can report it)."""

    __tablename__ = "ab_import"
    id: Mapped[int] = mapped_column(ID_TYPE, primary_key=True, autoincrement=True)
    user_name: Mapped[str] = mapped_column(sa.String(150))
    entity: Mapped[str] = mapped_column(sa.String(95))
    file_id: Mapped[int | None] = mapped_column(
        ID_TYPE, sa.ForeignKey("ab_file.id", ondelete="SET NULL"), nullable=True
    )
    mapping: Mapped[Any] = mapped_column(sa.JSON, default=dict)
    status: Mapped[str] = mapped_column(sa.String(16), default="uploaded")
    total: Mapped[int] = mapped_column(sa.Integer, default=0)
    done: Mapped[int] = mapped_column(sa.Integer, default=0)
    errors: Mapped[Any] = mapped_column(sa.JSON, default=list)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)


class Draft(Base):
    """Unpublished designer edits of one app: the documents it started from and a stack of
    edits with an undo/redo position (edits past `position` are the redo stack)."""

    __tablename__ = "ab_draft"
    __table_args__ = (sa.Index(None, "app", "status"),)
    id: Mapped[int] = mapped_column(ID_TYPE, primary_key=True, autoincrement=True)
    app: Mapped[str] = mapped_column(sa.String(31))
    actor: Mapped[str | None] = mapped_column(sa.String(150))
    status: Mapped[str] = mapped_column(sa.String(16), default="open")
    baseline: Mapped[Any] = mapped_column(sa.JSON, default=list)
    edits: Mapped[Any] = mapped_column(sa.JSON, default=list)
    position: Mapped[int] = mapped_column(sa.Integer, default=0)
    restores: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class AppVersion(Base):
    """A kept version of an app: its effective documents after an import, upgrade, publish
    or restore, who made it, when and why (restoring one publishes it again)."""

    __tablename__ = "ab_app_version"
    __table_args__ = (sa.UniqueConstraint("app", "number"),)
    id: Mapped[int] = mapped_column(ID_TYPE, primary_key=True, autoincrement=True)
    app: Mapped[str] = mapped_column(sa.String(31))
    number: Mapped[int] = mapped_column(sa.Integer)
    source: Mapped[str] = mapped_column(sa.String(16))
    base_version: Mapped[str | None] = mapped_column(sa.String(64))
    documents: Mapped[Any] = mapped_column(sa.JSON)
    plan: Mapped[str | None] = mapped_column(sa.Text)
    actor: Mapped[str | None] = mapped_column(sa.String(150))
    note: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
