"""A widget per field type, and a stored value written the way its input expects it.

A `Widget` says which template macro draws the input (`ui/templates/_widgets.html`) and the
attributes it needs. Numbers use a text input with `inputmode` rather than `type=number`: a
browser empties a number input whose text it cannot parse, and a refused save must give back
exactly what was typed (`1,234.50` included). A datetime is stored as a UTC moment and
written into its `datetime-local` input as the clock time in the reader's zone.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
from dataclasses import dataclass
from typing import Any

from appblocks.engine.spec import FieldSpec


@dataclass(frozen=True)
class Widget:
    """How one field is edited: the macro (`kind`) and its input attributes."""

    kind: str  # input, textarea, checkbox, select, checkboxes, link, links, file, output, lines
    input_type: str = "text"
    inputmode: str | None = None
    step: str | None = None  # the smallest step of a number (shown as a hint, checked on save)
    maxlength: int | None = None
    autocomplete: str = "off"


_TEXT_TYPES = {"email": "email", "phone": "tel", "url": "url"}
_AUTOCOMPLETE = {"email": "email", "phone": "tel", "url": "url"}
_NUMBER_SCALE = {"decimal": 4, "money": 2, "percent": 2}


def _step(field: FieldSpec) -> str:
    if field.type == "integer":
        return "1"
    scale = int(field.get("scale", _NUMBER_SCALE.get(field.type, 2)))
    return "1" if scale == 0 else "0." + "0" * (scale - 1) + "1"


def widget_for(field: FieldSpec) -> Widget:
    """The widget that edits `field` (computed fields get a read-only output)."""
    kind = field.type
    if field.computed:
        return Widget("output")
    if kind == "lines":
        return Widget("lines")
    if kind in ("text", "user"):
        length = field.get("max_length", 255 if kind == "text" else 150)
        return Widget("input", maxlength=int(length) if length else None)
    if kind in _TEXT_TYPES:
        return Widget("input", _TEXT_TYPES[kind], autocomplete=_AUTOCOMPLETE[kind])
    if kind in ("long_text", "json"):
        return Widget("textarea")
    if kind == "integer":
        return Widget("input", inputmode="numeric", step="1")
    if kind in ("decimal", "money", "percent"):
        return Widget("input", inputmode="decimal", step=_step(field))
    if kind == "boolean":
        return Widget("checkbox", "checkbox")
    if kind == "date":
        return Widget("input", "date")
    if kind == "datetime":
        return Widget("input", "datetime-local")
    if kind == "choice":
        return Widget("select")
    if kind == "multi_choice":
        return Widget("checkboxes", "checkbox")
    if kind == "link":
        return Widget("link")
    if kind == "links":
        return Widget("links")
    if kind == "file":
        return Widget("file", "file")
    return Widget("input")


def _plain_decimal(value: decimal.Decimal) -> str:
    # 12.5000 -> "12.5", 100.00 -> "100": what a person would type, never 1E+2.
    text = format(value.normalize(), "f")
    return text


def input_value(field: FieldSpec, value: Any, tz: dt.tzinfo = dt.UTC) -> Any:
    """A stored value as its input shows it: text, or a list of texts for multi-valued inputs
    (a datetime as the clock time in `tz`, the reader's zone)."""
    if value is None:
        return [] if field.type in ("multi_choice", "links") else ""
    kind = field.type
    if kind in ("multi_choice", "links"):
        return [str(v["id"] if isinstance(v, dict) else v) for v in value or []]
    if kind == "boolean":
        return "true" if value else ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, decimal.Decimal):
        return _plain_decimal(value)
    if isinstance(value, float):
        return _plain_decimal(decimal.Decimal(repr(value)))
    if kind == "datetime":
        moment = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)  # stored moments are UTC
        moment = moment.astimezone(tz).replace(tzinfo=None)
        return moment.strftime("%Y-%m-%dT%H:%M")
    if isinstance(value, dt.date):
        return value.isoformat()
    if kind == "json":
        return json.dumps(value, ensure_ascii=False, indent=2)
    if kind == "link" and isinstance(value, dict):
        return str(value.get("id", ""))
    return str(value)
