"""Values of a record page as people read them: links by title, files by name, history entries.

`show` turns one field's value into parts (`Ref`: text and, for links and files, a URL) that a
template joins; `history_entries` turns audit rows into who, when, what changed and why.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup, escape

from appblocks.engine.spec import EntitySpec, FieldSpec
from appblocks.views import display, numbers
from appblocks.views.record_titles import Ref, Titles

NUMERIC = frozenset({"integer", "decimal", "money", "percent"})


def file_url(key: str) -> str:
    """Where a stored file is downloaded."""
    return f"/files/{key}"


def is_numeric(spec: FieldSpec) -> bool:
    """Numbers are right-aligned in tables (lookups of numbers too)."""
    target = spec.resolved_lookup if spec.type == "lookup" else spec
    return target is not None and target.type in NUMERIC


def show(
    spec: FieldSpec,
    value: Any,
    locale: str,
    titles: Titles,
    files: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    currency: str | None = None,
) -> list[Ref]:
    """A field's value as parts to show (empty when there is no value)."""
    if value is None or value == "" or value == []:
        return []
    kind = spec.type
    target = spec
    if kind == "lookup" and spec.resolved_lookup is not None:
        target = spec.resolved_lookup
        kind = target.type
    if kind in ("link", "links"):
        values = value if isinstance(value, list) else [value]
        refs = [titles.ref(target.target, v) for v in values]
        return [r for r in refs if r is not None]
    if kind == "file":
        found = (files or {}).get(str(value))
        if found is None:
            return [Ref(0, str(value))]
        return [Ref(0, str(found["name"]), file_url(str(value)))]
    if kind == "lines":
        return [Ref(0, str(len(value)) if isinstance(value, list) else "")]
    if kind == "json":
        return [Ref(0, json.dumps(value, ensure_ascii=False, indent=2, default=str))]
    if kind == "money":
        return [Ref(0, numbers.money(value, locale, target.get("currency") or currency))]
    if kind in ("integer", "decimal", "percent"):
        scale = target.get("scale") if kind == "decimal" else None
        text = numbers.number(value, locale, int(scale) if scale is not None else None)
        return [Ref(0, text + "%" if kind == "percent" else text)]
    return [Ref(0, display.value(spec, value, locale))]


def parts_html(parts: list[Ref]) -> Markup:
    """Parts joined for a page: links where they have a URL, `—` when there are none."""
    if not parts:
        return Markup('<span class="muted">—</span>')
    out = []
    for part in parts:
        if part.url:
            out.append(Markup('<a href="{}">{}</a>').format(part.url, part.text))
        else:
            out.append(escape(part.text))
    return Markup(", ").join(out)


def currency_of(entity: EntitySpec, record: Mapping[str, Any]) -> str | None:
    """The record's currency when it has a `currency` choice (money is shown in it)."""
    spec = entity.fields.get("currency")
    if spec is not None and spec.type == "choice" and isinstance(record.get("currency"), str):
        code = record["currency"]
        return code if len(code) == 3 and code.isalpha() and code.isupper() else None
    return None


@dataclass
class Change:
    """One field's change in a history entry."""

    label: str
    before: list[Ref]
    after: list[Ref]
    lines: bool = False  # a lines field: `before`/`after` carry counts


@dataclass
class Entry:
    """One history entry: who did what when, and why."""

    at: dt.datetime | None
    actor: str | None
    action: str
    comment: str | None
    changes: list[Change] = field(default_factory=list)
    state_from: str | None = None
    state_to: str | None = None
    level: str | None = None  # the approval level of a decision


def history_entries(
    entity: EntitySpec,
    items: list[dict[str, Any]],
    locale: str,
    titles: Titles,
    state_label: Callable[[str], str],
) -> list[Entry]:
    """Audit rows (hidden values already stripped) as entries for the timeline."""
    out: list[Entry] = []
    for item in items:
        before: dict[str, Any] = item["before"] if isinstance(item.get("before"), dict) else {}
        after: dict[str, Any] = item["after"] if isinstance(item.get("after"), dict) else {}
        entry = Entry(
            item.get("at"), item.get("actor"), str(item.get("action")), item.get("comment")
        )
        if entry.action in ("approve", "reject", "delegate"):
            entry.level = str(after.get("level") or "") or None
            out.append(entry)
            continue
        keys = list(dict.fromkeys([*before, *after]))
        for key in keys:
            if key == "_state":
                old, new = before.get(key), after.get(key)
                entry.state_from = state_label(str(old)) if old else None
                entry.state_to = state_label(str(new)) if new else None
                continue
            spec = entity.fields.get(key)
            if spec is None:
                continue
            change = Change(
                spec.label(locale),
                show(spec, before.get(key), locale, titles),
                show(spec, after.get(key), locale, titles),
                spec.type == "lines",
            )
            entry.changes.append(change)
        out.append(entry)
    return out
