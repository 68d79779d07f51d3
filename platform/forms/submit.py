"""A submitted HTML form as the record store's values, keeping what was typed for re-display.

Inputs are named after their fields (`supplier`, `order_date`); a line item's inputs are
`<lines field>-<row>-<field>` (`lines-0-quantity`, with `lines-0-id` for a stored line). Rows
keep the number they were given in the page, gaps included, so that an error the engine
reports at `lines.2.quantity` (the third line it was given) finds its way back to the input
`lines-7-quantity`. A link's visible text is `<name>__label`; it is only re-displayed.

Every typed text is kept in `raw`, so a refused save shows the form exactly as it was sent.
Names the form does not offer to this viewer (a hidden or read-only field, a made-up one)
are refused, never ignored: a forged field must not slip through with the rest.

A `datetime-local` input sends a clock time without a zone: it is read in the typing user's
zone and handed to the engine as an aware UTC moment. A clock time that happens twice (the
hour repeated when summer time ends) means the first of them; one that never happens (the
hour skipped when it starts) is read with the offset in force before the change, so it
lands as far past the gap as it was typed into it (02:30 in a skipped hour is 03:30).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from appblocks.engine.i18n import translate
from appblocks.engine.record_errors import FieldError
from appblocks.forms.layout import Form, FormField
from appblocks.forms.messages import invalid_message

Gettext = Callable[..., str]
LINE_NAME = re.compile(r"^([a-z][a-z0-9_]{0,62})-([0-9]{1,4})-([a-z][a-z0-9_]{0,62})$")
CONTROLS = frozenset({"csrf_token", "_version", "_add_line", "_remove_line", "_form"})
SUFFIXES = ("__label", "__file")
MAX_ROWS = 1000
_NUMBER = re.compile(r"^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)$")
_DATE = re.compile(r"^([0-9]{4})\s*[-/.年]\s*([0-9]{1,2})\s*[-/.月]\s*([0-9]{1,2})\s*日?$")
_CURRENCY = "¥$€£₩"


def plain(message: str, **params: Any) -> str:
    """English text with its parameters (a stand-in for a translator)."""
    return message % params if params else message


@dataclass
class Submission:
    """What a form sent: the engine's values, the raw texts, and the problems found."""

    values: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, list[str]] = field(default_factory=dict)
    rows: dict[str, list[int]] = field(default_factory=dict)  # every row shown, by lines field
    kept: dict[str, list[int]] = field(default_factory=dict)  # rows sent to the engine, in order
    errors: dict[str, list[str]] = field(default_factory=dict)  # input name -> messages
    top: list[str] = field(default_factory=list)  # messages that belong to no one input
    forged: list[str] = field(default_factory=list)
    version: int | None = None

    def text(self, name: str) -> str:
        """The last text sent under `name` ('' when none)."""
        values = self.raw.get(name)
        return values[-1] if values else ""

    def add(self, name: str, message: str) -> None:
        """Note a message at input `name`."""
        self.errors.setdefault(name, [])
        if message not in self.errors[name]:
            self.errors[name].append(message)

    @property
    def ok(self) -> bool:
        return not self.errors and not self.top and not self.forged


def normalize_number(text: str) -> str | None:
    """`1,234.50`, `１２３４．５`, `¥1 234` -> `1234.50`-like text; '' for blank; None if not a
    number. Commas are grouping (en and zh-CN alike); a percent sign is allowed."""
    cleaned = unicodedata.normalize("NFKC", text)
    cleaned = re.sub(r"[\s,'_]", "", cleaned).strip(_CURRENCY).removesuffix("%")
    if cleaned == "":
        return ""
    return cleaned if _NUMBER.match(cleaned) else None


def normalize_date(text: str) -> str | None:
    """`2026-01-05`, `2026/1/5`, `2026年1月5日` -> `2026-01-05`; '' for blank; None if not a
    date."""
    cleaned = unicodedata.normalize("NFKC", text).strip()
    if cleaned == "":
        return ""
    match = _DATE.match(cleaned)
    if match is None:
        return None
    try:
        return dt.date(int(match[1]), int(match[2]), int(match[3])).isoformat()
    except ValueError:
        return None


def to_utc(moment: dt.datetime, tz: dt.tzinfo) -> dt.datetime:
    """A typed moment as an aware UTC moment: a naive one is a clock time in `tz` (see the
    module doc for the hours summer time repeats or skips)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz, fold=0)
    return moment.astimezone(dt.UTC)


def _coerce(
    spec: FormField, texts: list[str], gettext: Gettext, tz: dt.tzinfo = dt.UTC
) -> tuple[Any, str | None]:
    """(value for the engine, message) of one input's texts."""
    kind = spec.type
    last = texts[-1] if texts else ""
    if kind == "boolean":
        return bool(texts) and last.strip().lower() not in ("", "false", "0", "off"), None
    if kind == "multi_choice":
        return [t for t in texts if t.strip()], None
    if kind == "links":
        ids = [t.strip() for t in texts if t.strip()]
        if not all(i.isdigit() for i in ids):
            return None, gettext("Choose records from the suggestions.")
        return [int(i) for i in dict.fromkeys(ids)], None
    text = last.strip()
    if kind in ("integer", "decimal", "money", "percent"):
        number = normalize_number(text)
        if number is None:
            if kind == "integer":
                return None, gettext("Enter a whole number, e.g. 12.")
            return None, gettext("Enter a number, e.g. 1234.56.")
        return (number or None), None
    if kind == "date":
        day = normalize_date(text)
        if day is None:
            return None, gettext("Enter a date as YYYY-MM-DD.")
        return (day or None), None
    if kind == "datetime":
        if text == "":
            return None, None
        try:
            moment = dt.datetime.fromisoformat(unicodedata.normalize("NFKC", text))
            return to_utc(moment, tz).isoformat(), None
        except (ValueError, OverflowError):
            return None, gettext("Enter a date and time as YYYY-MM-DD HH:MM.")
    if kind == "link":
        if text == "":
            return None, None
        if not text.isdigit():
            return None, gettext("Choose a record from the suggestions.")
        return int(text), None
    if kind == "json":
        if text == "":
            return None, None
        try:
            return json.loads(text), None
        except json.JSONDecodeError as exc:
            return None, gettext("This is not valid JSON: %(detail)s", detail=exc.msg)
    return (text or None), None


def _split(name: str) -> tuple[str, str]:
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)], suffix
    return name, ""


def parse(
    form: Form,
    items: Iterable[tuple[str, str]],
    gettext: Gettext = plain,
    tz: dt.tzinfo = dt.UTC,
) -> Submission:
    """The engine's values of a submitted form (see the module doc); problems in `errors`;
    datetimes typed without a zone are clock times in `tz`, the typing user's zone."""
    sub = Submission()
    editable = form.editable()
    seen: dict[str, list[str]] = {}
    line_rows: dict[str, dict[int, dict[str, list[str]]]] = {}
    for name, value in items:
        sub.raw.setdefault(name, []).append(value)
        if name in CONTROLS:
            continue
        base, suffix = _split(name)
        match = LINE_NAME.match(base)
        if match is not None and match[1] in form.tables and match[1] in editable:
            table = form.tables[match[1]]
            column = match[3]
            allowed = column == "id" or any(c.name == column and c.editable for c in table.columns)
            if not allowed:
                sub.forged.append(name)
                continue
            rows = line_rows.setdefault(match[1], {})
            if len(rows) >= MAX_ROWS and int(match[2]) not in rows:
                sub.top.append(gettext("At most %(n)s lines can be saved at once.", n=MAX_ROWS))
                continue
            if not suffix:
                rows.setdefault(int(match[2]), {}).setdefault(column, []).append(value)
            else:
                rows.setdefault(int(match[2]), {})
            continue
        if base not in editable or editable[base].type == "lines":
            sub.forged.append(name)
            continue
        if not suffix:
            seen.setdefault(base, []).append(value)
    version = sub.text("_version").strip()
    sub.version = int(version) if version.isdigit() else None
    for spec in editable.values():
        if spec.type == "lines":
            continue
        texts = seen.get(spec.name)
        if texts is None and spec.type not in ("boolean", "multi_choice", "links"):
            continue  # not sent: left as it is (unchecked boxes are the exception)
        value, problem = _coerce(spec, texts or [], gettext, tz)
        if problem is None and spec.type == "link" and value is None:
            if sub.text(spec.name + "__label").strip():
                problem = gettext("Choose a record from the suggestions.")
        if problem is not None:
            sub.add(spec.name, problem)
            continue
        if spec.name in form.required and value in (None, [], ""):
            sub.add(spec.name, gettext("This field is required."))
        sub.values[spec.name] = value
    for lines_name, table in form.tables.items():
        if lines_name not in editable:
            continue
        rows = line_rows.get(lines_name, {})
        sub.rows[lines_name] = sorted(rows)
        sub.kept[lines_name] = []
        lines: list[dict[str, Any]] = []
        for index in sorted(rows):
            sent = rows[index]
            typed = any(t.strip() for c, ts in sent.items() if c != "id" for t in ts)
            row_id = (sent.get("id") or [""])[-1].strip()
            labels = any(sub.text(f"{lines_name}-{index}-{c.name}__label").strip()
                         for c in table.columns)  # fmt: skip
            if not typed and not row_id and not labels:
                continue  # a blank row nobody filled in
            line: dict[str, Any] = {}
            if row_id.isdigit():
                line["id"] = int(row_id)
            for column in table.columns:
                if not column.editable:
                    continue
                input_name = f"{lines_name}-{index}-{column.name}"
                value, problem = _coerce(column, sent.get(column.name, []), gettext, tz)
                if problem is None and column.type == "link" and value is None:
                    if sub.text(input_name + "__label").strip():
                        problem = gettext("Choose a record from the suggestions.")
                if problem is not None:
                    sub.add(input_name, problem)
                    continue
                line[column.name] = value
            lines.append(line)
            sub.kept[lines_name].append(index)
        sub.values[lines_name] = lines
    return sub


def input_name(sub: Submission, path: str) -> str:
    """The input an engine error path names: `lines.2.quantity` -> `lines-7-quantity`."""
    parts = path.split(".")
    if len(parts) >= 3 and parts[0] in sub.kept and parts[1].isdigit():
        kept = sub.kept[parts[0]]
        position = int(parts[1])
        if position < len(kept):
            return f"{parts[0]}-{kept[position]}-{parts[2]}"
    return path


def engine_message(error: FieldError, locale: str, gettext: Gettext = plain) -> str:
    """An engine field error's message in `locale` (without the field name)."""
    if error.code == "invalid":
        return invalid_message(error.message, gettext)
    return translate(error.code, {"field": error.field, **error.params}, locale)


def add_engine_errors(
    sub: Submission,
    form: Form,
    errors: Sequence[FieldError],
    locale: str,
    gettext: Gettext = plain,
) -> None:
    """Place the engine's errors at their inputs (or at the top when no input shows them),
    skipping inputs that already carry a message of their own."""
    shown = {f.name: f for f in form.fields()}
    for error in errors:
        name = input_name(sub, error.field)
        message = engine_message(error, locale, gettext)
        if name in sub.errors:
            continue
        if name in shown:
            sub.add(name, message)
            continue
        line = LINE_NAME.match(name)
        table = form.tables.get(line[1]) if line is not None else None
        if line is not None and table is not None:
            if any(c.name == line[3] for c in table.columns):
                sub.add(name, message)
            else:
                rows, index = sub.rows.get(line[1], []), int(line[2])
                number = rows.index(index) + 1 if index in rows else index + 1
                sub.add(line[1], gettext("Line %(n)s: %(message)s", n=number, message=message))
            continue
        spec = form.entity.fields.get(name)
        label = spec.label(locale) if spec is not None else ""
        colon = "：" if locale == "zh-CN" else ": "
        sub.top.append(f"{label}{colon}{message}" if label else message)
