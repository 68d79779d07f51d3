"""The entity designer's own settings: an entity's label in English and Chinese, the field that
names its records (its title), its description, and what deleting the entity takes with it.

The routes live in `pages_designer_entities`; this module reads the settings form into an
entity document (keeping what was typed, with a message per input) and works out the edit
that deletes an entity: the entity, its forms, views, workflows and automations, its
permissions in the roles and its dashboard widgets, all one undoable step. Links from other
entities stop a deletion (a link may not point at nothing), so they are listed first.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request

from appblocks.engine.drafts import DocChange
from appblocks.engine.spec import label_text
from appblocks.server.pages_designer_common import Workspace
from appblocks.server.runtime import Loaded
from appblocks.server.web import tr
from appblocks.views.designer import fields_of

#: field types that can name a record: one short text
TITLE_TYPES = frozenset({"text", "email", "phone", "url", "autonumber"})
RELATION_TYPES = frozenset({"link", "links", "lines"})


@dataclass
class Settings:
    """What the settings panel shows: the values as typed, and the messages."""

    label_en: str = ""
    label_zh: str = ""
    title: str = ""
    description_en: str = ""
    description_zh: str = ""
    errors: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    saved: bool = False


def _parts(value: Any) -> tuple[str, str]:
    """A label (a map by locale, or one text) as its English and Chinese texts."""
    if isinstance(value, Mapping):
        return str(value.get("en") or ""), str(value.get("zh-CN") or "")
    return (str(value), "") if value else ("", "")


def settings_of(body: Mapping[str, Any]) -> Settings:
    """The settings panel of an entity document as it is."""
    label_en, label_zh = _parts(body.get("label"))
    description_en, description_zh = _parts(body.get("description"))
    title = str(body.get("title") or "")
    return Settings(label_en, label_zh, title, description_en, description_zh)


def title_choices(body: Mapping[str, Any], locale: str) -> list[tuple[str, str]]:
    """(field, label) of the fields that may name a record: the short text ones, and the
    current title whatever its type (so saving other settings never changes it)."""
    current = body.get("title")
    return [
        (name, label_text(fdoc.get("label"), locale, name))
        for name, fdoc in fields_of(body).items()
        if fdoc.get("type") in TITLE_TYPES or name == current
    ]


def _label(old: Any, en: str, zh: str) -> Any:
    """The new label from its two texts, keeping other languages and a plain-text label that
    did not change; None when both are empty."""
    if isinstance(old, str) and not zh and en == old:
        return old
    out = dict(old) if isinstance(old, Mapping) else {}
    for key, text in (("en", en), ("zh-CN", zh)):
        if text:
            out[key] = text
        else:
            out.pop(key, None)
    return out or None


def _put(body: dict[str, Any], key: str, value: Any) -> None:
    if value is None:
        body.pop(key, None)
    else:
        body[key] = value  # an existing key keeps its place, so an unchanged save is no edit


def read_settings(
    request: Request, body: Mapping[str, Any], form: Mapping[str, Any]
) -> tuple[Settings, dict[str, Any]]:
    """The settings as typed and the entity document they make (check `Settings.errors`)."""

    def typed(key: str) -> str:
        return str(form.get(key, "")).strip()

    settings = Settings(
        typed("label_en"),
        typed("label_zh"),
        typed("title"),
        typed("description_en"),
        typed("description_zh"),
    )
    if not settings.label_en and not settings.label_zh:
        settings.errors["label"] = tr(request, "Give the entity a name in at least one language")
    allowed = {name for name, _ in title_choices(body, "en")}
    if settings.title and settings.title not in allowed:
        settings.errors["title"] = tr(
            request, "Choose one of the entity's text fields to name its records"
        )
    if not settings.title and body.get("title"):
        settings.errors["title"] = tr(request, "Choose the field that names a record")
    updated = copy.deepcopy(dict(body))
    _put(updated, "label", _label(body.get("label"), settings.label_en, settings.label_zh))
    _put(updated, "title", settings.title or None)
    description = _label(body.get("description"), settings.description_en,
                         settings.description_zh)  # fmt: skip
    _put(updated, "description", description)
    return settings, updated


# --- deleting an entity ---------------------------------------------------------------------


@dataclass
class Removal:
    """What deleting an entity takes with it, and the links that stop it."""

    links: list[str] = field(default_factory=list)  # "Contract › Supplier", one per link field
    takes: list[tuple[str, str]] = field(default_factory=list)  # (kind, label) that goes too
    problems: list[str] = field(default_factory=list)
    open: bool = False  # the dialog shows at once (a refused deletion, or no script)

    @property
    def blocked(self) -> bool:
        return bool(self.links)


def _target(to: Any, app: str) -> str | None:
    """The entity of this app a relation points at (`supplier` or `srm.supplier`), or None."""
    text = str(to or "")
    if "." not in text:
        return text or None
    owner, name = text.split(".", 1)
    return name if owner == app else None


def _named(doc: Any, locale: str, fallback: str) -> str:
    return label_text((doc or {}).get("label") if isinstance(doc, Mapping) else None,
                      locale, fallback)  # fmt: skip


def doomed(ws: Workspace, entity: str) -> list[str]:
    """The entity and its line-item entities (theirs too): they are only edited inside it, so
    they go with it."""
    out = [entity]
    for name in out:
        for fdoc in fields_of(ws.entities.get(name) or {}).values():
            child = _target(fdoc.get("to"), ws.app) if fdoc.get("type") == "lines" else None
            if child and child in ws.entities and child not in out:
                out.append(child)
    return out


def links_to(ws: Workspace, loaded: Loaded, entity: str, locale: str) -> list[str]:
    """The relation fields of other entities (this app's as drafted, other apps' installed)
    that point at the entity or its line items, as “Entity › Field” (another app's with the
    app's name)."""
    gone = set(doomed(ws, entity))
    out = []
    for other, doc in ws.entities.items():
        if other in gone:
            continue  # links among the entities that go together go with them
        for fname, fdoc in fields_of(doc).items():
            if fdoc.get("type") in RELATION_TYPES and _target(fdoc.get("to"), ws.app) in gone:
                out.append(f"{_named(doc, locale, other)} › {_named(fdoc, locale, fname)}")
    qualified = {f"{ws.app}.{name}" for name in gone}
    for spec in loaded.catalog.specs.entities.values():
        if spec.app == ws.app:
            continue
        for f in spec.fields.values():
            if f.type in RELATION_TYPES and f.target in qualified:
                out.append(f"{spec.label(locale)} › {f.label(locale)} ({spec.app.upper()})")
    return out


def _owned(ws: Workspace, gone: set[str]) -> list[tuple[str, str]]:
    """(kind, name) of the forms, views, workflows and automations of the entities `gone`."""
    out = []
    for kind in ("form", "view", "workflow"):
        for name, doc in ws.of_kind(kind).items():
            if isinstance(doc, Mapping) and _target(doc.get("entity"), ws.app) in gone:
                out.append((kind, name))
    for name, doc in ws.of_kind("automation").items():
        on = doc.get("on") if isinstance(doc, Mapping) else None
        if isinstance(on, Mapping) and _target(on.get("entity"), ws.app) in gone:
            out.append(("automation", name))
    return out


def removal_changes(ws: Workspace, entity: str) -> list[DocChange]:
    """The draft edit that deletes `entity`: it and its line-item entities, their forms,
    views, workflows and automations, their permissions in the roles, their widgets on
    dashboards (a dashboard left with none goes too)."""
    names = doomed(ws, entity)
    gone = set(names)
    changes = [DocChange("entity", name) for name in names]
    changes += [DocChange(kind, name) for kind, name in _owned(ws, gone)]
    for name, doc in ws.of_kind("role").items():
        permissions = doc.get("permissions") if isinstance(doc, Mapping) else None
        if isinstance(permissions, Mapping) and gone & set(permissions):
            body = copy.deepcopy(dict(doc))
            body["permissions"] = {k: v for k, v in permissions.items() if k not in gone}
            changes.append(DocChange("role", name, body))
    for name, doc in ws.of_kind("dashboard").items():
        widgets = list(doc.get("widgets") or []) if isinstance(doc, Mapping) else []
        kept = [
            w
            for w in widgets
            if not (isinstance(w, Mapping) and _target(w.get("entity"), ws.app) in gone)
        ]
        if len(kept) != len(widgets):
            changes.append(DocChange("dashboard", name, {**doc, "widgets": kept} if kept else None))
    return changes


def removal(ws: Workspace, loaded: Loaded, entity: str, locale: str) -> Removal:
    """What the Delete entity dialog says: the links that stop it, else what goes with it."""
    found = Removal(links=links_to(ws, loaded, entity, locale))
    for change in removal_changes(ws, entity)[1:]:
        what = _named(ws.doc(change.kind, change.name), locale, change.name)
        if change.kind == "entity":
            found.takes.append(("lines", what))
        elif change.kind == "role":
            found.takes.append(("role", what))
        elif change.kind == "dashboard" and change.body is not None:
            found.takes.append(("widgets", what))
        else:
            found.takes.append((change.kind, what))
    return found
