"""What the record store needs per entity, analysed once per catalog version (compile once).

An `EntityPlan` holds the entity's table, its fields sorted by role (columns, inputs, links,
lines, autonumbers), coerced defaults, unique sets, the reverse links that a delete must
follow, and prebuilt statements. The store walks plans per call; it never re-reads specs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from appblocks.engine.catalog import Catalog
from appblocks.engine.fieldtypes import FieldValueError
from appblocks.engine.record_errors import NotFound
from appblocks.engine.rules import Rule, compile_rules
from appblocks.engine.spec import EntitySpec, FieldSpec
from appblocks.engine.tables import on_delete

#: The bound parameter of `EntityPlan.by_id` and `id_by_id`: statements built once and reused,
#: so that SQLAlchemy finds them in its compiled cache without walking them again.
RECORD_ID = "_record_id"
#: The bound (expanding) list of `EntityPlan.ids_in`.
RECORD_IDS = "_record_ids"

# Read-only system keys a client may send back unchanged (a record read, edited, written).
IGNORED_INPUT = frozenset({"_version", "_created_at", "_updated_at", "_created_by", "_updated_by"})


@dataclass(frozen=True, eq=False)
class EntityPlan:
    """One entity, analysed for reading and writing records."""

    spec: EntitySpec
    table: sa.Table
    columns: tuple[FieldSpec, ...]  # fields stored in a column of the table (computed too)
    inputs: Mapping[str, FieldSpec]  # fields a caller may write
    link_fields: tuple[FieldSpec, ...]  # many-to-one: a column with a foreign key
    links: tuple[FieldSpec, ...]  # many-to-many through a link table
    lines: tuple[FieldSpec, ...]  # child records
    autonumbers: tuple[FieldSpec, ...]
    computed_columns: frozenset[str]  # formula / rollup / lookup columns the computer fills
    kinds: Mapping[str, str]  # field name -> column, link, links, lines or computed
    coercers: Mapping[str, Callable[[Any], Any]]  # field name -> its type's from_json
    # column and link inputs: name -> (from_json, field, link target or None); the hot path
    scalars: Mapping[str, tuple[Callable[[Any, FieldSpec], Any], FieldSpec, str | None]]
    defaults: Mapping[str, Any]
    required: tuple[str, ...]
    unique_sets: tuple[tuple[str, ...], ...]
    reverse: tuple[tuple[str, str, str], ...]  # (entity, link field, on_delete rule)
    reverse_links: tuple[tuple[str, str], ...]  # (entity, links field) pointing here
    link_tables: Mapping[str, sa.Table]
    out_keys: tuple[str, ...]  # column keys of a record, in output order
    write_keys: tuple[str, ...]  # every column an INSERT sets (uniform executemany rows)
    select: sa.Select[Any]
    by_id: sa.Select[Any]  # `select` of one record: bind RECORD_ID
    id_by_id: sa.Select[Any]  # only the id of one record (does it exist?): bind RECORD_ID
    ids_in: sa.Select[Any]  # the ids among a list (which exist?): bind RECORD_IDS, a list
    insert: sa.Insert
    insert_returning: sa.Insert
    rules: tuple[Rule, ...] = ()  # the entity's business rules, compiled once

    @property
    def name(self) -> str:
        return self.spec.qualified

    def field(self, name: str) -> FieldSpec:
        return self.spec.fields[name]


def _defaults(spec: EntitySpec) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for field in spec.inputs():
        if field.has_column and "default" in field.doc:
            try:
                out[field.name] = field.ftype.from_json(field.doc["default"], field)
            except FieldValueError:
                continue  # blueprint validation reports a bad default; never fail a save on it
    return out


def _coercer(field: FieldSpec) -> Callable[[Any], Any]:
    from_json = field.ftype.from_json

    def coerce(value: Any) -> Any:
        return from_json(value, field)

    return coerce


def _kind(field: FieldSpec) -> str:
    if field.computed:
        return "computed"
    if field.type in ("link", "links", "lines"):
        return field.type
    return "column"


def build_plan(catalog: Catalog, entity: str) -> EntityPlan:
    """Analyse `entity` of `catalog` for the record store."""
    spec = catalog.entity(entity)
    table = catalog.table(entity)
    fields = list(spec.fields.values())
    columns = tuple(f for f in fields if f.has_column)
    system = ["_state"] if spec.has_state else []
    system += ["_version", "_created_at", "_updated_at", "_created_by", "_updated_by"]
    if spec.parent:
        system += ["_parent_id", "_position"]
    out_keys = ("id", *(f.name for f in columns), *system)
    write_keys = tuple(k for k in out_keys if k != "id")
    unique_sets: list[tuple[str, ...]] = [
        (f.name,) for f in columns if f.unique or f.type == "autonumber"
    ]
    unique_sets += [tuple(names) for names in spec.unique]
    reverse = tuple(
        (e.qualified, f.name, on_delete(f)) for e, f in catalog.specs.reverse_links(entity)
    )
    reverse_links = tuple(
        (e.qualified, f.name)
        for e in catalog.specs.entities.values()
        for f in e.fields.values()
        if f.type == "links" and f.target == entity
    )
    links = tuple(f for f in fields if f.type == "links")
    select = sa.select(*(table.c[k] for k in out_keys))
    return EntityPlan(
        spec=spec,
        table=table,
        columns=columns,
        inputs={f.name: f for f in spec.inputs()},
        link_fields=tuple(f for f in columns if f.type == "link"),
        links=links,
        lines=tuple(f for f in fields if f.type == "lines"),
        autonumbers=tuple(f for f in columns if f.type == "autonumber"),
        computed_columns=frozenset(
            f.name for f in columns if f.computed and f.type != "autonumber"
        ),
        kinds={f.name: _kind(f) for f in fields},
        coercers={f.name: _coercer(f) for f in spec.inputs()},
        scalars={
            f.name: (f.ftype.from_json, f, f.target if f.type == "link" else None)
            for f in spec.inputs()
            if _kind(f) in ("column", "link")
        },
        defaults=_defaults(spec),
        required=tuple(f.name for f in spec.inputs() if f.required),
        unique_sets=tuple(unique_sets),
        reverse=reverse,
        reverse_links=reverse_links,
        link_tables={f.name: catalog.link_table(entity, f.name) for f in links},
        out_keys=out_keys,
        write_keys=write_keys,
        select=select,
        by_id=select.where(table.c.id == sa.bindparam(RECORD_ID)),
        id_by_id=sa.select(table.c.id).where(table.c.id == sa.bindparam(RECORD_ID)),
        ids_in=sa.select(table.c.id).where(
            table.c.id.in_(sa.bindparam(RECORD_IDS, expanding=True))
        ),
        insert=table.insert(),
        insert_returning=table.insert().returning(table.c.id, sort_by_parameter_order=True),
        rules=compile_rules(spec.doc.get("rules")),
    )


class Plans:
    """Entity plans of a catalog, built on first use and kept per catalog version."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._version = catalog.version
        self._plans: dict[str, EntityPlan] = {}

    def __getitem__(self, entity: str) -> EntityPlan:
        if self.catalog.version != self._version:  # the catalog was reloaded: start over
            self._plans.clear()
            self._version = self.catalog.version
        plan = self._plans.get(entity)
        if plan is None:
            if entity not in self.catalog.specs.entities:
                raise NotFound(entity)
            plan = self._plans[entity] = build_plan(self.catalog, entity)
        return plan
