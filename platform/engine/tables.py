"""Pure builders from entity specs to SQLAlchemy `Table`s: one naming convention for all."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import sqlalchemy as sa

from appblocks.engine.fieldtypes import ID_TYPE, UTCDateTime
from appblocks.engine.names import link_table_name
from appblocks.engine.spec import AppSpecs, EntitySpec, FieldSpec

# Alembic needs stable constraint names to alter them later (batch mode on SQLite too).
NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s",
    "pk": "pk_%(table_name)s",
}

SYSTEM_COLUMNS = ("id", "_version", "_created_at", "_updated_at", "_created_by", "_updated_by")
LINE_COLUMNS = ("_parent_id", "_position")


def new_metadata() -> sa.MetaData:
    """A MetaData with the project's naming convention."""
    return sa.MetaData(naming_convention=NAMING_CONVENTION)


@dataclass(frozen=True)
class EntityTables:
    """The tables of one entity: its own, plus one per `links` field."""

    table: sa.Table
    link_tables: Mapping[str, sa.Table]


def system_columns(entity: EntitySpec, parent_table: str | None) -> list[sa.Column[object]]:
    """The columns every record table has, plus `_state` and the line-item keys where due."""
    cols: list[sa.Column[object]] = [
        sa.Column("id", ID_TYPE, primary_key=True, autoincrement=True),
        sa.Column("_version", sa.Integer, nullable=False, server_default="1"),
        sa.Column("_created_at", UTCDateTime, nullable=False),
        sa.Column("_updated_at", UTCDateTime, nullable=False),
        sa.Column("_created_by", sa.String(150)),
        sa.Column("_updated_by", sa.String(150)),
    ]
    if entity.has_state:
        cols.append(sa.Column("_state", sa.String(64), index=True))
    if parent_table is not None:
        cols.append(
            sa.Column(
                "_parent_id",
                ID_TYPE,
                sa.ForeignKey(f"{parent_table}.id", ondelete="CASCADE"),
                nullable=False,
                index=True,
            )
        )
        cols.append(sa.Column("_position", sa.Integer, nullable=False, server_default="0"))
    return cols


def on_delete(field: FieldSpec) -> str:
    """The link's delete rule: restrict, cascade or set_null."""
    rule = field.get("on_delete")
    if rule:
        return str(rule)
    return "restrict" if field.required else "set_null"


_SQL_ON_DELETE = {"restrict": "RESTRICT", "cascade": "CASCADE", "set_null": "SET NULL"}


def field_column(field: FieldSpec, target_table: str | None) -> sa.Column[object]:
    """The column of one stored field."""
    args: list[sa.ForeignKey] = []
    if field.type == "link":
        assert target_table is not None
        args.append(sa.ForeignKey(f"{target_table}.id", ondelete=_SQL_ON_DELETE[on_delete(field)]))
    # NOT NULL only where the engine guarantees a value: required inputs are checked by the
    # validator (with a message), and a NOT NULL added later would fail on existing rows.
    return sa.Column(
        field.name,
        field.ftype.column_type(field),
        *args,
        nullable=True,
        index=field.type == "link" or bool(field.get("index")),
        unique=field.unique or field.type == "autonumber" or None,
    )


def build_entity_tables(entity: EntitySpec, specs: AppSpecs, metadata: sa.MetaData) -> EntityTables:
    """Build (into `metadata`) the table of `entity` and the link tables of its `links`."""
    parent_table = specs.entity(entity.parent).table_name if entity.parent else None
    target: str | None = None
    columns: list[sa.Column[object]] = system_columns(entity, parent_table)
    for field in entity.columns():
        target = None
        if field.type == "link" and field.target:
            target = specs.entity(field.target).table_name
        columns.append(field_column(field, target))
    extras = [sa.UniqueConstraint(*names) for names in entity.unique]
    table = sa.Table(entity.table_name, metadata, *columns, *extras)
    for names in entity.indexes:
        sa.Index(None, *(table.c[n] for n in names), _table=table)
    link_tables: dict[str, sa.Table] = {}
    for field in entity.fields.values():
        if field.type != "links":
            continue
        assert field.target is not None
        target_table = specs.entity(field.target).table_name
        link_tables[field.name] = sa.Table(
            link_table_name(entity.app, entity.name, field.name),
            metadata,
            sa.Column(
                "source_id",
                ID_TYPE,
                sa.ForeignKey(f"{entity.table_name}.id", ondelete="CASCADE"),
                primary_key=True,
            ),
            sa.Column(
                "target_id",
                ID_TYPE,
                sa.ForeignKey(f"{target_table}.id", ondelete="CASCADE"),
                primary_key=True,
                index=True,
            ),
            sa.Column("_position", sa.Integer, nullable=False, server_default="0"),
        )
    return EntityTables(table, link_tables)


def build_tables(specs: AppSpecs, metadata: sa.MetaData | None = None) -> dict[str, EntityTables]:
    """Every entity's tables, keyed by qualified entity name, in one MetaData."""
    metadata = metadata if metadata is not None else new_metadata()
    return {q: build_entity_tables(e, specs, metadata) for q, e in specs.entities.items()}
