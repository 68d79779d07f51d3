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
