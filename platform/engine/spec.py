"""Frozen, typed specs built once from blueprint documents (compile once, run many).

A blueprint is a plain dict: the manifest keys (`blueprint`, `version`, `title`, `requires`)
plus the sections `entities`, `forms`, `workflows`, `views`, `dashboards`, `roles`,
`automations`. `build_specs` resolves every entity of a set of installed apps into
`EntitySpec`s whose fields know their type object and their link targets. It assumes the
documents were validated (see `validate.py`); it raises `SpecError` on what it cannot resolve.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from appblocks.engine.fieldtypes import FieldType, registry
from appblocks.engine.names import table_name

SECTIONS = ("entities", "forms", "workflows", "views", "dashboards", "roles", "automations")
MANIFEST_KEYS = ("blueprint", "version", "title", "description", "requires")


class SpecError(ValueError):
    """A document that cannot be resolved into specs (validation should have caught it)."""


def qualify(app: str, ref: str) -> str:
    """`supplier` in app `srm` -> `srm.supplier`; `crm.sales_order` stays as it is."""
    return ref if "." in ref else f"{app}.{ref}"


def label_text(label: Any, locale: str = "en", fallback: str = "") -> str:
    """A label (plain string or map by locale) in `locale`, falling back sensibly."""
    if label is None:
        return fallback
    if isinstance(label, Mapping):
        for key in (locale, locale.split("-")[0], "en", "zh-CN"):
            if label.get(key):
                return str(label[key])
        return next((str(v) for v in label.values() if v), fallback)
    return str(label)


@dataclass(frozen=True, eq=False)
class FieldSpec:
    """One field of an entity, with its type object and resolved references."""

    name: str
    type: str
    doc: Mapping[str, Any]
    entity: str  # qualified name of the owning entity
    target: str | None = None  # qualified target for link, links, lines
    resolved_lookup: FieldSpec | None = None

    def get(self, key: str, default: Any = None) -> Any:
        """A key of the field's document."""
        return self.doc.get(key, default)

    @property
    def ftype(self) -> FieldType:
        return registry.get(self.type)

    @property
    def required(self) -> bool:
        return bool(self.doc.get("required"))

    @property
    def unique(self) -> bool:
        return bool(self.doc.get("unique"))

    @property
    def computed(self) -> bool:
        """Computed by the engine (formula, rollup, lookup, autonumber): never input."""
        return self.ftype.computed or "formula" in self.doc or "rollup" in self.doc

    @property
    def has_column(self) -> bool:
        return self.ftype.has_column

    def label(self, locale: str = "en") -> str:
        return label_text(self.doc.get("label"), locale, self.name.replace("_", " ").capitalize())


@dataclass(frozen=True, eq=False)
class EntitySpec:
    """One entity: its fields in order and where it lives."""

    app: str
    name: str
    doc: Mapping[str, Any]
    fields: Mapping[str, FieldSpec]
    parent: str | None = None  # qualified parent entity when this is a line-item entity
    parent_field: str | None = None  # the parent's `lines` field
    has_state: bool = False
    unique: tuple[tuple[str, ...], ...] = ()
    indexes: tuple[tuple[str, ...], ...] = ()

    @property
    def qualified(self) -> str:
        return f"{self.app}.{self.name}"

    @property
    def table_name(self) -> str:
        return table_name(self.app, self.name)

    @property
    def title(self) -> str | None:
        return self.doc.get("title")

    def label(self, locale: str = "en") -> str:
        return label_text(self.doc.get("label"), locale, self.name.replace("_", " ").capitalize())

    def columns(self) -> Iterator[FieldSpec]:
        """Fields stored as a column of this entity's own table."""
        return (f for f in self.fields.values() if f.has_column)

    def inputs(self) -> Iterator[FieldSpec]:
        """Fields a caller may write."""
        return (f for f in self.fields.values() if not f.computed)


@dataclass(frozen=True, eq=False)
class AppSpecs:
    """Every entity of a set of installed apps, by qualified name."""

    entities: Mapping[str, EntitySpec]
    blueprints: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def entity(self, qualified: str) -> EntitySpec:
        try:
            return self.entities[qualified]
        except KeyError:
            raise SpecError(f"unknown entity {qualified!r}") from None

    def reverse_links(self, qualified: str) -> list[tuple[EntitySpec, FieldSpec]]:
        """Every `link` field (of any app) that points at `qualified`."""
        return [
            (e, f)
            for e in self.entities.values()
            for f in e.fields.values()
            if f.type == "link" and f.target == qualified
        ]


def _tuples(value: Any) -> tuple[tuple[str, ...], ...]:
    out = []
    for item in value or []:
        if isinstance(item, Mapping):
            item = item.get("fields", [])
        if isinstance(item, str):
            item = [item]
        out.append(tuple(item))
    return tuple(out)


def build_specs(blueprints: Mapping[str, Mapping[str, Any]]) -> AppSpecs:
    """Resolve the entities of the given blueprints (keyed by app) into specs."""
    stateful: set[str] = set()
    parents: dict[str, tuple[str, str]] = {}
    for app, bp in blueprints.items():
        for wf in (bp.get("workflows") or {}).values():
            if isinstance(wf, Mapping) and wf.get("entity"):
                stateful.add(qualify(app, str(wf["entity"])))
        for ename, edoc in (bp.get("entities") or {}).items():
            for fname, fdoc in (edoc.get("fields") or {}).items():
                if fdoc.get("type") == "lines":
                    child = qualify(app, str(fdoc.get("to")))
                    if child in parents:
                        raise SpecError(f"{child} is the line items of two entities")
                    parents[child] = (f"{app}.{ename}", fname)

    # First pass: fields without lookups resolved.
    raw: dict[str, dict[str, FieldSpec]] = {}
    for app, bp in blueprints.items():
        for ename, edoc in (bp.get("entities") or {}).items():
            qualified = f"{app}.{ename}"
            fields: dict[str, FieldSpec] = {}
            for fname, fdoc in (edoc.get("fields") or {}).items():
                ftype = fdoc.get("type")
                if ftype not in registry:
                    raise SpecError(f"{qualified}.{fname}: unknown field type {ftype!r}")
                target = qualify(app, str(fdoc["to"])) if fdoc.get("to") else None
                fields[fname] = FieldSpec(fname, ftype, fdoc, qualified, target)
            raw[qualified] = fields

    # Second pass: a lookup takes the type of the field it copies (lookups of lookups too).
    def resolve(qualified: str, fname: str, depth: int = 0) -> FieldSpec:
        spec = raw[qualified][fname]
        if spec.type != "lookup" or spec.resolved_lookup is not None:
            return spec
        if depth > 8:
            raise SpecError(f"{qualified}.{fname}: lookups go round in a circle")
        via = raw[qualified].get(str(spec.get("via")))
        if via is None or via.type != "link" or via.target not in raw:
            raise SpecError(f"{qualified}.{fname}: lookup via an unknown link")
        target_name = str(spec.get("field"))
        if target_name not in raw[via.target]:
            raise SpecError(f"{qualified}.{fname}: unknown field {target_name!r} of {via.target}")
        target = resolve(via.target, target_name, depth + 1)
        if target.type == "lookup":
            target = target.resolved_lookup or target
        resolved = FieldSpec(spec.name, spec.type, spec.doc, qualified, spec.target, target)
        raw[qualified][fname] = resolved
        return resolved

    for qualified, fields in raw.items():
        for fname in list(fields):
            resolve(qualified, fname)

    entities: dict[str, EntitySpec] = {}
    for app, bp in blueprints.items():
        for ename, edoc in (bp.get("entities") or {}).items():
            qualified = f"{app}.{ename}"
            parent = parents.get(qualified)
            entities[qualified] = EntitySpec(
                app=app,
                name=ename,
                doc=edoc,
                fields=raw[qualified],
                parent=parent[0] if parent else None,
                parent_field=parent[1] if parent else None,
                has_state=qualified in stateful,
                unique=_tuples(edoc.get("unique")),
                indexes=_tuples(edoc.get("indexes")),
            )
    return AppSpecs(entities, dict(blueprints))
