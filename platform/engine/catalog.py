"""The in-memory catalog of installed documents, and their storage in `ab_document`.

A blueprint (a dict of manifest keys and sections) is split into documents, one per entity,
form, workflow, view, dashboard, role and automation, plus the manifest itself (kind
`blueprint`). Documents live in `ab_document` by layer: `base` is what a blueprint shipped,
`custom` an analyst's change on top; the catalog sees the custom document where one exists.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from appblocks.engine.models import App, Document, utcnow
from appblocks.engine.spec import MANIFEST_KEYS, SECTIONS, AppSpecs, EntitySpec, build_specs
from appblocks.engine.tables import EntityTables, build_tables, new_metadata

# section name <-> document kind
KINDS: dict[str, str] = {
    "entities": "entity",
    "forms": "form",
    "workflows": "workflow",
    "views": "view",
    "dashboards": "dashboard",
    "roles": "role",
    "automations": "automation",
}
SECTION_OF: dict[str, str] = {kind: section for section, kind in KINDS.items()}
LAYERS = ("base", "custom")


def checksum(body: Any) -> str:
    """A stable digest of a document body (canonical JSON)."""
    text = json.dumps(body, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Doc:
    """One document: kind, app, name and body."""

    kind: str
    app: str
    name: str
    body: Any


def split_blueprint(blueprint: Mapping[str, Any]) -> list[Doc]:
    """A blueprint dict as documents (the manifest first, then each section in order)."""
    app = str(blueprint["blueprint"])
    manifest = {k: copy.deepcopy(blueprint[k]) for k in MANIFEST_KEYS if k in blueprint}
    docs = [Doc("blueprint", app, app, manifest)]
    for section in SECTIONS:
        for name, body in (blueprint.get(section) or {}).items():
            docs.append(Doc(KINDS[section], app, str(name), copy.deepcopy(body)))
    return docs


def join_documents(docs: Iterable[Doc]) -> dict[str, dict[str, Any]]:
    """Documents back into blueprint dicts, keyed by app (the inverse of split_blueprint)."""
    out: dict[str, dict[str, Any]] = {}
    for doc in docs:
        bp = out.setdefault(doc.app, {"blueprint": doc.app})
        if doc.kind == "blueprint":
            bp.update(copy.deepcopy(doc.body))
        else:
            bp.setdefault(SECTION_OF[doc.kind], {})[doc.name] = copy.deepcopy(doc.body)
    return out


class Catalog:
    """Installed apps: their blueprints, entity specs and tables, built once per version."""

    def __init__(self, blueprints: Mapping[str, Mapping[str, Any]]) -> None:
        self.blueprints: dict[str, dict[str, Any]] = {a: dict(b) for a, b in blueprints.items()}
        self.specs: AppSpecs = build_specs(self.blueprints)
        self.metadata = new_metadata()
        self.tables: dict[str, EntityTables] = build_tables(self.specs, self.metadata)
        self.version = checksum(self.blueprints)

    @classmethod
    def load(cls, connection: sa.Connection) -> Catalog:
        """The catalog of everything installed in the database."""
        return cls(join_documents(read_documents(connection)))

    @property
    def apps(self) -> list[str]:
        return list(self.blueprints)

    def entity(self, qualified: str) -> EntitySpec:
        """The spec of `app.entity`."""
        return self.specs.entity(qualified)

    def table(self, qualified: str) -> sa.Table:
        """The table of `app.entity`."""
        return self.tables[qualified].table

    def link_table(self, qualified: str, field: str) -> sa.Table:
        """The link table behind a `links` field."""
        return self.tables[qualified].link_tables[field]

    def with_blueprint(self, blueprint: Mapping[str, Any]) -> Catalog:
        """A new catalog with `blueprint` installed (or replacing the same app)."""
        blueprints = dict(self.blueprints)
        blueprints[str(blueprint["blueprint"])] = {
            k: v for k, v in blueprint.items() if k != "data"
        }
        return Catalog(blueprints)

    def without(self, app: str) -> Catalog:
        """A new catalog without `app`."""
        return Catalog({a: b for a, b in self.blueprints.items() if a != app})


def read_documents(connection: sa.Connection, app: str | None = None) -> list[Doc]:
    """Installed documents, the custom layer over the base, in their stored order. A custom
    document whose body is JSON null is a tombstone: neither it nor the base document of the
    same kind, app and name is read (the customisation deleted that shipped document)."""
    query = sa.select(Document.kind, Document.app, Document.name, Document.layer, Document.body)
    if app is not None:
        query = query.where(Document.app == app)
    query = query.order_by(Document.app, Document.position, Document.id)
    chosen: dict[tuple[str, str, str], Doc] = {}
    hidden: set[tuple[str, str, str]] = set()
    for kind, doc_app, name, layer, body in connection.execute(query):
        key = (kind, doc_app, name)
        if layer == "custom" and body is None:
            hidden.add(key)
        elif layer == "custom" or key not in chosen:
            chosen[key] = Doc(kind, doc_app, name, body)
    return [doc for key, doc in chosen.items() if key not in hidden]


def write_blueprint(connection: sa.Connection, blueprint: Mapping[str, Any]) -> None:
    """Store a blueprint's documents as the `base` layer of its app, replacing the old ones."""
    app = str(blueprint["blueprint"])
    version = str(blueprint.get("version", "0.0.0"))
    connection.execute(sa.delete(Document).where(Document.app == app, Document.layer == "base"))
    rows = [
        {
            "kind": d.kind,
            "app": d.app,
            "name": d.name,
            "layer": "base",
            "version": version,
            "body": d.body,
            "checksum": checksum(d.body),
            "position": i,
            "updated_at": utcnow(),
        }
        for i, d in enumerate(split_blueprint(blueprint))
    ]
    connection.execute(sa.insert(Document), rows)
    values = {
        "version": version,
        "title": blueprint.get("title"),
        "requires": blueprint.get("requires"),
        "updated_at": utcnow(),
    }
    updated = connection.execute(sa.update(App).where(App.app == app).values(**values))
    if updated.rowcount == 0:
        connection.execute(sa.insert(App).values(app=app, installed_at=utcnow(), **values))


def fingerprint(connection: sa.Connection) -> tuple[object, ...]:
    """A cheap stamp of the installed documents: it changes when any document changes, so a
    cached catalog is rebuilt only then (reading every document costs far more)."""
    row = connection.execute(
        sa.select(sa.func.count(Document.id), sa.func.max(Document.updated_at))
    ).one()
    return (row[0], row[1])


def installed_apps(connection: sa.Connection) -> list[tuple[str, str]]:
    """(app, version) of every installed app."""
    rows = connection.execute(sa.select(App.app, App.version).order_by(App.app))
    return [(a, v) for a, v in rows]
