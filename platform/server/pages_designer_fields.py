"""The entity designer's side panel: a field document read from the panel's inputs (with a
message per input the engine could not take), the choices the panel offers (link targets,
rollups, lookups), and the formula preview on a sample record through the sandbox.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from fastapi import Request

from appblocks.engine.fieldtypes import FieldValueError, registry
from appblocks.engine.sandbox import evaluate, names_of
from appblocks.engine.sandbox_values import ExpressionError, UserContext
from appblocks.engine.spec import FieldSpec, label_text
from appblocks.engine.users import Identity
from appblocks.server.pages_designer_common import Workspace, name_message
from appblocks.server.problems import locale_of
from appblocks.server.runtime import Loaded
from appblocks.server.web import tr
from appblocks.views.designer import AGGREGATES, field_mode, fields_of, type_icon, type_label

NUMBERS = frozenset({"integer", "decimal", "money", "percent"})
TEXTS = frozenset({"text", "long_text", "email", "phone", "url"})
NO_DEFAULT = frozenset({"lines", "links", "file", "json", "autonumber", "lookup"})


@dataclass
class Panel:
    """What the side panel shows: the field (as typed), where it goes, and the messages."""

    entity: str
    name: str
    doc: dict[str, Any]
    original: str | None = None  # the field's name before this edit (None: a new field)
    position: int | None = None
    mode: str = "input"
    errors: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    saved: bool = False

    @property
    def type(self) -> str:
        return str(self.doc.get("type") or "text")

    @property
    def is_new(self) -> bool:
        return self.original is None

    def label(self, locale: str) -> str:
        return label_text(self.doc.get("label"), locale, self.name)


def _number(text: str, integer: bool = False) -> int | float | None:
    text = text.strip().replace(",", "")
    if not text:
        return None
    value = decimal.Decimal(text)  # InvalidOperation for text that is no number
    if integer or value == value.to_integral_value():
        return int(value)
    return float(value)


def _options(text: str) -> list[Any]:
    """Options typed one per line: `value`, or `value | English | 中文`."""
    out: list[Any] = []
    for line in text.splitlines():
        parts = [p.strip() for p in line.split("|")]
        if not parts[0]:
            continue
        labels = {k: v for k, v in zip(("en", "zh-CN"), parts[1:3], strict=False) if v}
        out.append({"value": parts[0], "label": labels} if labels else parts[0])
    return out


def options_text(options: Any) -> str:
    """Options as the panel's textarea shows them."""
    lines = []
    for option in options or []:
        if isinstance(option, Mapping):
            label = option.get("label")
            labels = (
                [label.get("en", ""), label.get("zh-CN", "")]
                if isinstance(label, Mapping)
                else [str(label or "")]
            )
            lines.append(" | ".join([str(option.get("value")), *labels]).rstrip(" |"))
        else:
            lines.append(str(option))
    return "\n".join(lines)


def read_panel(
    request: Request, entity: str, form: Mapping[str, Any], old: Mapping[str, Any]
) -> Panel:
    """The field document the panel's inputs describe, kept as typed, with input messages.
    Keys the panel does not show (help, index, renamed_from...) are kept from `old`."""
    ftype = str(form.get("type") or old.get("type") or "text")
    if ftype not in registry:
        ftype = "text"
    kind = registry.get(ftype)
    keep = {k: v for k, v in old.items() if k in ("help", "index", "read_only", "renamed_from")}
    doc: dict[str, Any] = {"type": ftype, **keep}
    errors: dict[str, str] = {}
    label = {
        k: str(form.get(key, "")).strip()
        for k, key in (("en", "label_en"), ("zh-CN", "label_zh"))
        if str(form.get(key, "")).strip()
    }
    if label:
        doc["label"] = label
    name = str(form.get("name", "")).strip()
    problem = name_message(request, name) if name else tr(request, "Give the field a name")
    if problem:
        errors["name"] = problem
    mode = str(form.get("mode") or "input")
    if mode == "formula" and "formula" not in kind.options:
        mode = "input"
    if mode == "rollup" and "rollup" not in kind.options:
        mode = "input"
    computed = kind.computed or mode != "input"
    if not computed and form.get("required") == "on":
        doc["required"] = True
    if kind.has_column and not computed and form.get("unique") == "on":
        doc["unique"] = True
    default = str(form.get("default", "")).strip()
    if default and not computed and ftype not in NO_DEFAULT:
        doc["default"] = _default(ftype, default, errors, request)
    try:
        for key in ("max_length", "scale"):
            text = str(form.get(key, "")).strip()
            if key in kind.options and text:
                doc[key] = _number(text, integer=True)
        for key in ("min", "max"):
            text = str(form.get(key, "")).strip()
            if key in kind.options and text:
                doc[key] = text if ftype == "date" else _number(text, integer=ftype == "integer")
    except (decimal.InvalidOperation, ValueError):
        errors["limits"] = tr(request, "Limits must be numbers, such as 0 or 2.5")
    if "currency" in kind.options and str(form.get("currency", "")).strip():
        doc["currency"] = str(form["currency"]).strip().upper()
    if "options" in kind.options:
        doc["options"] = _options(str(form.get("options", "")))
        if not doc["options"]:
            errors["options"] = tr(request, "Give at least one option, one per line")
    if "to" in kind.options:
        doc["to"] = str(form.get("to", "")).strip()
        if not doc["to"]:
            errors["to"] = tr(request, "Choose the entity this field points to")
        if ftype == "link" and form.get("on_delete") in ("restrict", "cascade", "set_null"):
            doc["on_delete"] = form["on_delete"]
    if ftype == "lookup":
        doc["via"] = str(form.get("via", "")).strip()
        doc["field"] = str(form.get("lookup_field", "")).strip()
        if not doc["via"] or not doc["field"]:
            errors["lookup"] = tr(request, "Choose the link to follow and the field to show")
    if ftype == "autonumber":
        doc["format"] = str(form.get("format", "")).strip() or "{seq:05}"
    if mode == "formula":
        doc["formula"] = str(form.get("formula", "")).strip()
        if not doc["formula"]:
            errors["formula"] = tr(request, "Write the formula, for example quantity * unit_price")
    if mode == "rollup":
        rollup = {
            "over": str(form.get("rollup_over", "")).strip(),
            "agg": str(form.get("rollup_agg", "sum")),
        }
        if str(form.get("rollup_field", "")).strip() and rollup["agg"] != "count":
            rollup["field"] = str(form["rollup_field"]).strip()
        if str(form.get("rollup_where", "")).strip():
            rollup["where"] = str(form["rollup_where"]).strip()
        if rollup["agg"] not in AGGREGATES or not rollup["over"]:
            errors["rollup"] = tr(request, "Choose what to sum up and how")
        doc["rollup"] = rollup
    original = str(form.get("original") or "") or None
    position = str(form.get("position") or "")
    return Panel(
        entity, name, doc, original, int(position) if position.isdigit() else None, mode, errors
    )


def _default(ftype: str, text: str, errors: dict[str, str], request: Request) -> Any:
    try:
        if ftype == "boolean":
            return text.lower() in ("true", "yes", "1", "on", "是")
        if ftype in NUMBERS:
            return _number(text, integer=ftype == "integer")
    except (decimal.InvalidOperation, ValueError):
        errors["default"] = tr(request, "The default value must be a number")
    return text


def problem_key(path: str, entity: str, name: str) -> str | None:
    """The panel input an engine message is about (`entities.e.fields.f.max_length: ...`)."""
    prefix = f"entities.{entity}.fields.{name}."
    if not path.startswith(prefix):
        return None
    key = path[len(prefix) :].split(".")[0].split(":")[0]
    return {"via": "lookup", "field": "lookup", "min": "limits", "max": "limits"}.get(key, key)


def field_rows(request: Request, ws: Workspace, entity: str) -> list[dict[str, Any]]:
    """The rows of the field list: label, name, type, icon and badges of each field."""
    locale = locale_of(request)
    body = ws.doc("entity", entity) or {}
    out = []
    for name, fdoc in fields_of(body).items():
        mode = field_mode(fdoc)
        ftype = str(fdoc.get("type"))
        out.append(
            {
                "name": name,
                "label": label_text(fdoc.get("label"), locale, name.replace("_", " ").capitalize()),
                "type": ftype,
                "icon": "ƒx"
                if mode == "formula"
                else "Σ"
                if mode == "rollup"
                else type_icon(ftype),
                "type_label": type_label(ftype, locale),
                "mode": mode,
                "required": bool(fdoc.get("required")),
                "unique": bool(fdoc.get("unique")),
                "to": fdoc.get("to"),
                "is_title": body.get("title") == name,
                "customised": ws.field_customised(entity, name),
            }
        )
    return out


# --- choices the panel offers ---------------------------------------------------------------


def targets(ws: Workspace, loaded: Loaded, locale: str) -> list[tuple[str, str]]:
    """(reference, label) of every entity a relation field may point at: this app's (as
    drafted), then every other installed app's (`app.entity`)."""
    out = [
        (name, label_text((doc or {}).get("label"), locale, name))
        for name, doc in ws.entities.items()
    ]
    for spec in loaded.catalog.specs.entities.values():
        if spec.app != ws.app:
            out.append((spec.qualified, f"{spec.label(locale)} ({spec.app.upper()})"))
    return out


def rollup_sources(ws: Workspace, loaded: Loaded, entity: str) -> list[str]:
    """What a rollup of `entity` may go over: its lines fields, and links pointing at it."""
    out = [
        n for n, f in fields_of(ws.entities.get(entity) or {}).items() if f.get("type") == "lines"
    ]
    for other, doc in ws.entities.items():
        for fname, fdoc in fields_of(doc).items():
            if fdoc.get("type") == "link" and fdoc.get("to") in (entity, f"{ws.app}.{entity}"):
                out.append(f"{other}.{fname}")
    for spec in loaded.catalog.specs.entities.values():
        if spec.app == ws.app:
            continue
        for f in spec.fields.values():
            if f.type == "link" and f.target == f"{ws.app}.{entity}":
                out.append(f"{spec.qualified}.{f.name}")
    return out


def type_choices(locale: str) -> list[tuple[str, str]]:
    """(type, label) of every registered field type."""
    return [(n, type_label(n, locale)) for n in registry.names()]


# --- the formula preview --------------------------------------------------------------------


def sample_record(
    conn: sa.Connection, loaded: Loaded, identity: Identity, qualified: str
) -> dict[str, Any]:
    """The entity's first record the user may read (hidden fields left out), or {}."""
    if qualified not in loaded.catalog.specs.entities:
        return {}
    scope = loaded.scope(identity, qualified, "read")
    if scope is None:
        return {}
    page = loaded.store.list(conn, qualified, limit=1, scope=scope.predicate)
    if not page.items:
        return {}
    return {k: v for k, v in dict(page.items[0]).items() if k not in scope.hidden}


def shown(value: Any, locale: str) -> str:
    """A value as the preview prints it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, decimal.Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


@dataclass
class Preview:
    """The formula's inputs (one per field it reads) and its value or the error."""

    inputs: list[dict[str, Any]]
    value: str | None = None
    error: str | None = None
    sample_from: str | None = None  # the title of the sample record, when one was read


def preview_formula(
    request: Request,
    entity_doc: Mapping[str, Any],
    qualified: str,
    formula: str,
    sample: Mapping[str, Any],
    typed: Mapping[str, str],
    identity: Identity,
) -> Preview:
    """Evaluate `formula` in the sandbox over the sample record, with typed values over it."""
    fields = fields_of(entity_doc)
    if not formula.strip():
        return Preview([], error=tr(request, "Write a formula to see its value here"))
    try:
        names = sorted(n for n in names_of(formula) if n in fields)
    except ExpressionError as exc:
        return Preview([], error=exc.message)
    inputs, values = [], {}
    for name in names:
        fdoc = fields[name]
        text = typed[name] if name in typed else shown(sample.get(name), locale_of(request))
        item = {"name": name, "label": label_text(fdoc.get("label"), locale_of(request), name),
                "text": text, "error": None}  # fmt: skip
        try:
            spec = FieldSpec(name, str(fdoc.get("type")), fdoc, qualified)
            values[name] = spec.ftype.from_text(text, spec) if text != "" else None
        except (FieldValueError, KeyError, ValueError, decimal.InvalidOperation) as exc:
            item["error"] = str(exc)
        inputs.append(item)
    user = UserContext(identity.name, identity.roles, dict(identity.attributes))
    title = str(sample.get(str(entity_doc.get("title") or ""), "") or sample.get("id", ""))
    try:
        value = evaluate(formula, values, user=user)
    except ExpressionError as exc:
        return Preview(inputs, error=exc.message, sample_from=title or None)
    return Preview(inputs, value=shown(value, locale_of(request)), sample_from=title or None)
