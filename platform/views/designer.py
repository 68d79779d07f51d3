"""The designer's document edits as pure functions: fields added, moved, renamed and removed,
links between entities, and form layouts; plus the palette of field types.

Every function takes documents (plain dicts, as stored) and returns new ones; nothing here
touches a draft or a database. The designer pages call these, then hand the result to the
engine's draft functions, the same documents a blueprint import would carry.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from appblocks.engine.fieldtypes import registry
from appblocks.engine.spec import label_text

# field type -> (icon, label by locale, palette group). Types a plugin adds show by name.
TYPE_INFO: dict[str, tuple[str, dict[str, str], str]] = {
    "text": ("Aa", {"en": "Text", "zh-CN": "单行文本"}, "basic"),
    "long_text": ("¶", {"en": "Long text", "zh-CN": "多行文本"}, "basic"),
    "integer": ("#", {"en": "Whole number", "zh-CN": "整数"}, "basic"),
    "decimal": ("1.5", {"en": "Decimal number", "zh-CN": "小数"}, "basic"),
    "money": ("¥", {"en": "Money", "zh-CN": "金额"}, "basic"),
    "percent": ("%", {"en": "Percent", "zh-CN": "百分比"}, "basic"),
    "boolean": ("✓", {"en": "Yes / no", "zh-CN": "是/否"}, "basic"),
    "date": ("▦", {"en": "Date", "zh-CN": "日期"}, "basic"),
    "datetime": ("◷", {"en": "Date and time", "zh-CN": "日期时间"}, "basic"),
    "choice": ("▾", {"en": "Single choice", "zh-CN": "单选"}, "basic"),
    "multi_choice": ("☰", {"en": "Multiple choice", "zh-CN": "多选"}, "basic"),
    "email": ("@", {"en": "Email", "zh-CN": "邮箱"}, "basic"),
    "phone": ("☎", {"en": "Phone", "zh-CN": "电话"}, "basic"),
    "url": ("www", {"en": "Web address", "zh-CN": "网址"}, "basic"),
    "user": ("☺", {"en": "User", "zh-CN": "成员"}, "basic"),
    "file": ("⎘", {"en": "File", "zh-CN": "附件"}, "basic"),
    "link": ("→", {"en": "Link to a record", "zh-CN": "关联记录"}, "relation"),
    "links": ("⇉", {"en": "Links to records", "zh-CN": "关联多条记录"}, "relation"),
    "lines": ("≡", {"en": "Line items", "zh-CN": "明细(子表)"}, "relation"),
    "lookup": ("⤷", {"en": "Lookup", "zh-CN": "查找引用"}, "relation"),
    "autonumber": ("№", {"en": "Auto number", "zh-CN": "自动编号"}, "advanced"),
    "json": ("{}", {"en": "JSON data", "zh-CN": "JSON 数据"}, "advanced"),
}
# Palette entries that are a type with a way of computing it (Airtable's "formula" type).
PRESETS: dict[str, tuple[str, str, str, dict[str, str]]] = {
    "formula": ("decimal", "formula", "ƒx", {"en": "Formula", "zh-CN": "公式"}),
    "rollup": ("decimal", "rollup", "Σ", {"en": "Rollup", "zh-CN": "汇总"}),
}
GROUPS = ("basic", "relation", "advanced")
RELATION_KINDS = ("link", "links", "lines")
AGGREGATES = ("sum", "count", "min", "max", "avg")
_SLUG = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True)
class PaletteItem:
    """One draggable field type (or a computed preset) of the palette."""

    key: str  # what a drop sends: a type name or a preset name
    type: str
    icon: str
    label: Any
    group: str
    mode: str = "input"  # input, formula or rollup


def palette() -> list[PaletteItem]:
    """Every registered field type (and the formula and rollup presets), grouped."""
    items: list[PaletteItem] = []
    for name in registry.names():
        icon, label, group = TYPE_INFO.get(name, ("•", {"en": name}, "advanced"))
        items.append(PaletteItem(name, name, icon, label, group))
    for key, (ftype, mode, icon, label) in PRESETS.items():
        items.append(PaletteItem(key, ftype, icon, label, "relation", mode))
    groups = {g: i for i, g in enumerate(GROUPS)}
    known = {t: i for i, t in enumerate([*TYPE_INFO, *PRESETS])}
    return sorted(items, key=lambda i: (groups.get(i.group, len(groups)), known.get(i.key, 99)))


# The shipped apps keep their colours (SRM teal, CRM pink) on every designer page.
FIXED_COLOURS = {"srm": 0, "crm": 1}
COLOURS = 6


def app_colour(app: str) -> int:
    """The colour index (0-5) of an app: fixed for the shipped ones, stable for others."""
    if app in FIXED_COLOURS:
        return FIXED_COLOURS[app]
    return 2 + sum(app.encode()) % (COLOURS - 2)


def type_icon(ftype: str) -> str:
    """The icon of a field type."""
    return TYPE_INFO.get(ftype, ("•", {}, ""))[0]


def type_label(ftype: str, locale: str) -> str:
    """A field type's name for people."""
    return label_text(TYPE_INFO.get(ftype, ("", {"en": ftype}, ""))[1], locale, ftype)


def field_mode(fdoc: Mapping[str, Any]) -> str:
    """How a field gets its value: input, formula or rollup."""
    if "formula" in fdoc:
        return "formula"
    return "rollup" if "rollup" in fdoc else "input"


def slug(text: str, taken: Iterable[str] = (), fallback: str = "field") -> str:
    """A field name made from a label (`Sales order` -> `sales_order`), unique among `taken`."""
    base = _SLUG.sub("_", text.lower()).strip("_")[:50]
    if not base or not base[0].isalpha():
        base = f"{fallback}_{base}".strip("_") if base else fallback
    used = set(taken)
    name, n = base, 2
    while name in used:
        name, n = f"{base}_{n}", n + 1
    return name


# --- entity documents -------------------------------------------------------------------------


def fields_of(entity: Mapping[str, Any]) -> dict[str, Any]:
    """The entity's fields, in order."""
    return dict(entity.get("fields") or {})


def put_field(
    entity: Mapping[str, Any],
    name: str,
    field: Mapping[str, Any],
    *,
    old_name: str | None = None,
    position: int | None = None,
) -> dict[str, Any]:
    """The entity with `field` stored as `name`: replacing `old_name` in its place (a rename
    keeps the position), or inserted at `position` (at the end when None)."""
    out = copy.deepcopy(dict(entity))
    items = list(fields_of(out).items())
    keys = [k for k, _ in items]
    if old_name is not None and old_name in keys:
        index = keys.index(old_name)
        items[index] = (name, dict(field))
    else:
        index = len(items) if position is None else max(0, min(position, len(items)))
        items.insert(index, (name, dict(field)))
    out["fields"] = dict(items)
    if old_name and old_name != name and out.get("title") == old_name:
        out["title"] = name
    return out


def move_fields(entity: Mapping[str, Any], order: Iterable[str]) -> dict[str, Any]:
    """The entity with its fields in `order` (unknown names ignored, missing ones kept last)."""
    out = copy.deepcopy(dict(entity))
    fields = fields_of(out)
    wanted = [n for n in dict.fromkeys(order) if n in fields]
    wanted += [n for n in fields if n not in wanted]
    out["fields"] = {n: fields[n] for n in wanted}
    return out


def move_field(entity: Mapping[str, Any], name: str, step: int) -> dict[str, Any]:
    """The entity with one field moved `step` places (negative: up)."""
    names = list(fields_of(entity))
    if name not in names:
        return copy.deepcopy(dict(entity))
    index = names.index(name)
    names.insert(max(0, min(len(names) - 1, index + step)), names.pop(index))
    return move_fields(entity, names)


def remove_field(entity: Mapping[str, Any], name: str) -> dict[str, Any]:
    """The entity without the field `name`."""
    out = copy.deepcopy(dict(entity))
    out["fields"] = {k: v for k, v in fields_of(out).items() if k != name}
    return out


def new_entity(label: Mapping[str, str], title_label: Mapping[str, str]) -> dict[str, Any]:
    """A new entity with one required text field that names its records."""
    return {
        "label": dict(label),
        "title": "name",
        "fields": {"name": {"type": "text", "label": dict(title_label), "required": True}},
    }


# --- relations --------------------------------------------------------------------------------


def reference(app: str, target: str) -> str:
    """How a field of `app` names the entity `target` (`app.entity`): bare inside its app."""
    target_app, _, name = target.partition(".")
    return name if target_app == app else target


def link_field(kind: str, app: str, target: str, label: Mapping[str, str]) -> dict[str, Any]:
    """A link (many-to-one), links (many-to-many) or lines (line items) field to `target`."""
    field: dict[str, Any] = {"type": kind, "to": reference(app, target)}
    if any(label.values()):
        field["label"] = {k: v for k, v in label.items() if v}
    return field


def major_minor(version: str) -> str:
    """`1.2.3` -> `1.2`."""
    parts = str(version).split(".")
    return ".".join(parts[:2]) if len(parts) >= 2 else str(version)


def with_requires(manifest: Mapping[str, Any], app: str, version: str) -> dict[str, Any]:
    """The manifest requiring `app` at `>=major.minor` of `version` (kept when already there)."""
    out = copy.deepcopy(dict(manifest))
    requires = dict(out.get("requires") or {})
    requires.setdefault(app, f">={major_minor(version)}")
    out["requires"] = requires
    return out


def links_between(
    blueprints: Mapping[str, Mapping[str, Any]],
) -> list[tuple[str, str, str, str]]:
    """(holder `app.entity`, field, kind, target `app.entity`) of every relation field."""
    out = []
    for app, bp in blueprints.items():
        for ename, edoc in (bp.get("entities") or {}).items():
            for fname, fdoc in fields_of(edoc).items():
                if isinstance(fdoc, Mapping) and fdoc.get("type") in RELATION_KINDS:
                    to = str(fdoc.get("to") or "")
                    target = to if "." in to else f"{app}.{to}"
                    out.append((f"{app}.{ename}", str(fname), str(fdoc["type"]), target))
    return out


# --- form documents ---------------------------------------------------------------------------


def form_names(forms: Mapping[str, Any], entity: str) -> list[str]:
    """The names of the forms of `entity` (a bare name within the app)."""
    return [n for n, d in forms.items() if isinstance(d, Mapping) and d.get("entity") == entity]


def placed_fields(form: Mapping[str, Any]) -> list[str]:
    """The fields a form shows, in order."""
    out = []
    for section in form.get("sections") or []:
        for item in section.get("fields") or []:
            out.append(str(item.get("field")) if isinstance(item, Mapping) else str(item))
    return out


def layout_form(
    form: Mapping[str, Any], sections: Iterable[Mapping[str, Any]], known: Iterable[str]
) -> dict[str, Any]:
    """The form with new sections (title, columns, field names), each field once; empty
    sections are dropped (a form section holds at least one field). Per-field options of the
    old form (a label, read-only) stay with their field."""
    items = {}
    for section in form.get("sections") or []:
        for item in section.get("fields") or []:
            name = str(item.get("field")) if isinstance(item, Mapping) else str(item)
            items[name] = item
    allowed, seen = set(known), set[str]()
    out_sections = []
    for section in sections:
        names = []
        for n in section.get("fields") or []:
            if n in allowed and n not in seen:
                seen.add(n)
                names.append(n)
        if not names:
            continue
        out: dict[str, Any] = {}
        title = {k: v for k, v in dict(section.get("title") or {}).items() if v}
        if title:
            out["title"] = title
        out["columns"] = max(1, min(4, int(section.get("columns") or 2)))
        out["fields"] = [copy.deepcopy(items.get(n, n)) for n in names]
        out_sections.append(out)
    doc = copy.deepcopy(dict(form))
    doc["sections"] = out_sections
    return doc


def rename_in_forms(
    forms: Mapping[str, Any], entity: str, old: str, new: str | None
) -> dict[str, dict[str, Any]]:
    """The forms of `entity` that place the field `old`, with it renamed to `new` (or taken
    off when `new` is None; a section left empty goes too)."""
    out = {}
    for name in form_names(forms, entity):
        form = copy.deepcopy(dict(forms[name]))
        touched = False
        for section in form.get("sections") or []:
            items = []
            for item in section.get("fields") or []:
                fname = item.get("field") if isinstance(item, Mapping) else item
                if fname == old:
                    touched = True
                    if new is None:
                        continue
                    item = {**item, "field": new} if isinstance(item, Mapping) else new
                items.append(item)
            section["fields"] = items
        if touched:
            form["sections"] = [s for s in form.get("sections") or [] if s.get("fields")]
            out[name] = form
    return out
