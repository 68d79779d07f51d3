"""The custom layer: an analyst's changes kept over a shipped blueprint's documents.

`ab_document` holds two layers per app. `base` is what a blueprint import wrote; `custom` holds
a whole document wherever the analyst changed (or added) one, and the catalog reads the custom
document in place of the base one (`catalog.read_documents`). So the effective blueprint is the
base with the custom documents over it, and an upgrade of the shipped blueprint can merge the
customisation in (`upgrade_merge`) instead of overwriting it.

A customisation deletes a shipped document with a **tombstone**: a custom document whose body
is JSON null. The catalog then shows neither it nor the base document it hides, and an
upgrade reads it as "the customisation deleted this" (kept deleted while upstream leaves the
document alone, a conflict when upstream changes it). `read_layer(app, "custom")` returns
tombstones as documents with the body None; the effective documents never contain one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from appblocks.engine.catalog import Doc, checksum, join_documents, read_documents, split_blueprint
from appblocks.engine.merge import (
    MISSING,
    Conflict,
    Item,
    MergeResult,
    Path,
    doc_keys,
    format_path,
    item_label,
    keyed_items,
    merge_documents,
    same,
)
from appblocks.engine.models import App, AppVersion, Document, utcnow

LAYER_NAMES = ("base", "custom", "effective")


class CodedError(Exception):
    """An engine refusal with a message code and parameters, readable in en and zh-CN."""

    MESSAGES: dict[str, str] = {}
    ZH_CN: dict[str, str] = {}

    def __init__(self, code: str, **params: Any) -> None:
        self.code, self.params = code, params
        super().__init__(self.message())

    def message(self, locale: str = "en") -> str:
        """The message in `locale`."""
        table = self.ZH_CN if locale == "zh-CN" else self.MESSAGES
        return table.get(self.code, self.MESSAGES.get(self.code, self.code)).format(**self.params)


class LayerError(CodedError):
    """A change the custom layer cannot hold."""

    MESSAGES = {"not_installed": "no app called {app} is installed"}
    ZH_CN = {"not_installed": "未安装名为 {app} 的应用"}


def is_tombstone(doc: Doc) -> bool:
    """Whether a custom-layer document deletes the base document of its kind and name."""
    return doc.body is None


def read_layer(connection: sa.Connection, app: str, layer: str) -> list[Doc]:
    """The documents of one layer (`base` or `custom`) of `app`, in their stored order;
    `effective` is the base with the custom documents over it."""
    if layer == "effective":
        return read_documents(connection, app)
    query = (
        sa.select(Document.kind, Document.name, Document.body)
        .where(Document.app == app, Document.layer == layer)
        .order_by(Document.position, Document.id)
    )
    return [Doc(kind, app, name, body) for kind, name, body in connection.execute(query)]


def layer_blueprint(
    connection: sa.Connection, app: str, layer: str = "effective"
) -> dict[str, Any]:
    """One layer of an installed app as a blueprint dict; the custom layer alone carries the
    manifest's `blueprint` and `version` so it says what it customises, and shows a shipped
    document it deletes as null in its section (`views: {supplier_list: null}`)."""
    docs = read_layer(connection, app, layer)
    if not read_layer(connection, app, "base"):
        raise LayerError("not_installed", app=app)
    blueprint = join_documents(docs).get(app, {"blueprint": app})
    if layer == "custom":
        version = connection.execute(sa.select(App.version).where(App.app == app)).scalar()
        blueprint = {"blueprint": app, "version": version, **blueprint}
    return blueprint


def has_custom(connection: sa.Connection, app: str) -> bool:
    """Whether `app` has any customised document."""
    query = sa.select(Document.id).where(Document.app == app, Document.layer == "custom").limit(1)
    return connection.execute(query).first() is not None


def is_shipped(connection: sa.Connection, app: str) -> bool:
    """Whether `app` came from a blueprint import (changes go to its custom layer), rather than
    being made in the designer (changes go to its base). An app installed before versions
    were recorded counts as imported."""
    if not read_layer(connection, app, "base"):
        return False
    sources = set(
        connection.execute(sa.select(AppVersion.source).where(AppVersion.app == app)).scalars()
    )
    return not sources or bool(sources & {"import", "upgrade"})


def custom_documents(base: Iterable[Doc], effective: Iterable[Doc]) -> list[Doc]:
    """The custom layer that turns `base` into `effective`: every document that differs, and
    a tombstone (body None) for every base document `effective` no longer has."""
    base = list(base)
    base_bodies = {(d.kind, d.name): d.body for d in base}
    effective = list(effective)
    present = {(d.kind, d.name) for d in effective}
    changed = [
        d
        for d in effective
        if (d.kind, d.name) not in base_bodies or not same(d.body, base_bodies[(d.kind, d.name)])
    ]
    gone = [Doc(d.kind, d.app, d.name, None) for d in base if (d.kind, d.name) not in present]
    return changed + gone


def write_custom(connection: sa.Connection, app: str, docs: Iterable[Doc]) -> None:
    """Replace the custom layer of `app` with `docs` (documents equal to the base are dropped,
    so the layer only ever holds real changes). A document with the body None is a tombstone:
    it is kept only over a base document, which it hides."""
    base = {(d.kind, d.name): d for d in read_layer(connection, app, "base")}
    version = connection.execute(sa.select(App.version).where(App.app == app)).scalar() or "0.0.0"
    connection.execute(sa.delete(Document).where(Document.app == app, Document.layer == "custom"))
    positions = {key: i for i, key in enumerate(base)}
    rows = []
    for i, doc in enumerate(docs):
        key = (doc.kind, doc.name)
        body = _manifest_identity(doc, base.get(key))
        if key in base and same(body, base[key].body):
            continue
        if body is None and (key not in base or doc.kind == "blueprint"):
            continue  # nothing shipped to hide (and the manifest is never hidden)
        rows.append(
            {
                "kind": doc.kind,
                "app": app,
                "name": doc.name,
                "layer": "custom",
                "version": str(version),
                "body": body,
                "checksum": checksum(body),
                "position": positions.get(key, len(base) + i),
                "updated_at": utcnow(),
            }
        )
    if rows:
        connection.execute(sa.insert(Document), rows)


def _manifest_identity(doc: Doc, base: Doc | None) -> Any:
    # The custom manifest never overrides which app and version are installed.
    if doc.kind != "blueprint" or not isinstance(doc.body, Mapping) or base is None:
        return doc.body
    body = dict(doc.body)
    for key in ("blueprint", "version"):
        if key in base.body:
            body[key] = base.body[key]
    return body


def set_custom_document(connection: sa.Connection, doc: Doc) -> None:
    """Put one document into the custom layer of its app (replacing a custom one)."""
    current = {(d.kind, d.name): d for d in read_layer(connection, doc.app, "custom")}
    current[(doc.kind, doc.name)] = doc
    write_custom(connection, doc.app, current.values())


def delete_custom_document(connection: sa.Connection, app: str, kind: str, name: str) -> None:
    """Drop one document from the custom layer (the base one, if any, shows again)."""
    docs = [d for d in read_layer(connection, app, "custom") if (d.kind, d.name) != (kind, name)]
    write_custom(connection, app, docs)


@dataclass(frozen=True)
class Change:
    """One difference between two documents: a value added, removed or changed."""

    keys: Path
    old: Any  # MISSING when added
    new: Any  # MISSING when removed

    @property
    def path(self) -> str:
        return format_path(self.keys)

    @property
    def kind(self) -> str:
        if self.old is MISSING:
            return "added"
        return "removed" if self.new is MISSING else "changed"

    def as_dict(self) -> dict[str, Any]:
        """A JSON-able form (absent values as None)."""
        old = None if self.old is MISSING else self.old
        new = None if self.new is MISSING else self.new
        return {"kind": self.kind, "path": self.path, "old": old, "new": new}


def diff(old: Any, new: Any, keys: Path = ()) -> list[Change]:
    """What changed from `old` to `new`, as finely as a merge sees it (MISSING for absent)."""
    if same(old, new):
        return []
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        changes: list[Change] = []
        for key in {**old, **new}:
            changes += diff(old.get(key, MISSING), new.get(key, MISSING), (*keys, key))
        return changes
    if isinstance(old, list) and isinstance(new, list):
        om, nm = keyed_items(old), keyed_items(new)
        if om is not None and nm is not None and (set(om) != set(nm) or list(om) == list(nm)):
            changes = []
            for ident in {**om, **nm}:
                step = Item(item_label(ident))
                changes += diff(om.get(ident, MISSING), nm.get(ident, MISSING), (*keys, step))
            return changes
    return [Change(keys, old, new)]


@dataclass(frozen=True)
class LayerChange:
    """What the custom layer does to one document: `added`, `changed` (with the changes) or
    `deleted` (a tombstone hides the shipped document)."""

    kind: str
    name: str
    status: str
    changes: tuple[Change, ...] = ()

    @property
    def path(self) -> str:
        return ".".join(str(k) for k in doc_keys(self.kind, self.name)) or "(manifest)"


def custom_changes(connection: sa.Connection, app: str) -> list[LayerChange]:
    """What the custom layer of `app` changes relative to its base, document by document."""
    base = {(d.kind, d.name): d.body for d in read_layer(connection, app, "base")}
    out = []
    for doc in read_layer(connection, app, "custom"):
        key = (doc.kind, doc.name)
        if is_tombstone(doc):
            out.append(LayerChange(doc.kind, doc.name, "deleted"))
        elif key not in base:
            out.append(LayerChange(doc.kind, doc.name, "added"))
        else:
            changes = tuple(diff(base[key], doc.body, doc_keys(*key)))
            out.append(LayerChange(doc.kind, doc.name, "changed", changes))
    return out


@dataclass
class MergedUpgrade:
    """An upgrade merged with a customisation: the effective blueprint, the new custom layer."""

    blueprint: dict[str, Any]
    result: MergeResult
    conflicts: list[Conflict] = field(default_factory=list)


def upgrade_merge(connection: sa.Connection, incoming: Mapping[str, Any]) -> MergedUpgrade:
    """Merge the installed customisation of an app into `incoming` (its new base blueprint):
    ancestor = the installed base, ours = the effective documents, theirs = `incoming`."""
    app = str(incoming["blueprint"])
    theirs = split_blueprint({k: v for k, v in incoming.items() if k != "data"})
    result = merge_documents(
        read_layer(connection, app, "base"), read_documents(connection, app), theirs
    )
    blueprint = join_documents(result.documents).get(app, {"blueprint": app})
    return MergedUpgrade(blueprint, result, list(result.conflicts))
