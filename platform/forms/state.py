"""What a form shows in its inputs: a stored record's values, or exactly what was submitted.

`FormState` is keyed by input name (`supplier`, `lines-3-quantity`): the text of each input,
the visible title of each link input, the messages at each input, the rows of each line-item
table, and the computed values shown beside the inputs (`computed`, by output name).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from appblocks.forms.layout import Form, FormField
from appblocks.forms.submit import LINE_NAME, Submission
from appblocks.forms.widgets import input_value

#: (target entity, id) -> the title to show in a link input
TitleOf = Callable[[str | None, Any], str]


@dataclass
class FormState:
    """Inputs' texts, link titles, messages, line rows and computed values of one form."""

    values: dict[str, Any] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)
    top: list[str] = field(default_factory=list)
    rows: dict[str, list[int]] = field(default_factory=dict)
    computed: dict[str, Any] = field(default_factory=dict)
    version: int | None = None

    def value(self, name: str) -> Any:
        """The text of input `name` ('' when there is none)."""
        return self.values.get(name, "")

    def many(self, name: str) -> list[str]:
        """The texts of a multi-valued input (checkboxes, links)."""
        value = self.values.get(name)
        if value is None or value == "":
            return []
        return [str(v) for v in value] if isinstance(value, list) else [str(value)]

    def next_row(self, lines: str) -> int:
        """The number a new row of `lines` gets (after every row shown)."""
        rows = self.rows.get(lines) or []
        return max(rows) + 1 if rows else 0

    def label_of(self, form: Form, name: str, locale: str = "en") -> str:
        """What an input is called, for the summary of messages: a field's label, or for a
        line's input the table, the line's number and the column (`Order lines #2 · Qty`)."""
        spec = form.field(name)
        if spec is not None:
            return spec.label(locale)
        match = LINE_NAME.match(name)
        table = form.tables.get(match[1]) if match is not None else None
        if match is None or table is None:
            return name
        column = next((c for c in table.columns if c.name == match[3]), None)
        rows = self.rows.get(match[1], [])
        number = rows.index(int(match[2])) + 1 if int(match[2]) in rows else int(match[2]) + 1
        part = column.label(locale) if column is not None else match[3]
        return f"{table.field.label(locale)} #{number} · {part}"

    def messages(self) -> list[tuple[str, str]]:
        """(input name, message) of every message at an input, for the summary on top."""
        return [(name, m) for name, items in self.errors.items() for m in items]


def _put(
    state: FormState,
    name: str,
    spec: FormField,
    value: Any,
    title_of: TitleOf,
    tz: dt.tzinfo = dt.UTC,
) -> None:
    state.values[name] = input_value(spec.spec, value, tz)
    if spec.type == "link" and value is not None:
        state.labels[name] = title_of(spec.spec.target, value)
    elif spec.type == "links":
        for item in value or []:
            state.labels[f"{name}:{item}"] = title_of(spec.spec.target, item)


def from_record(
    form: Form,
    record: Mapping[str, Any],
    title_of: TitleOf,
    *,
    blank_rows: int = 0,
    tz: dt.tzinfo = dt.UTC,
) -> FormState:
    """The inputs of a stored record (or of defaults, for a new one); `blank_rows` empty rows
    in each editable line-item table; datetimes as clock times in `tz`, the reader's zone."""
    state = FormState(version=record.get("_version"))
    for spec in form.fields():
        if spec.type == "lines":
            table = form.tables.get(spec.name)
            lines = record.get(spec.name) or []
            rows = list(range(len(lines)))
            if spec.read_only:
                state.computed[spec.name] = lines  # shown as a table, not edited
                state.rows[spec.name] = []
                continue
            if table is not None:
                for index, line in enumerate(lines):
                    prefix = f"{spec.name}-{index}-"
                    state.values[prefix + "id"] = str(line.get("id", ""))
                    for column in table.columns:
                        if column.read_only:
                            state.computed[prefix + column.name] = line.get(column.name)
                        else:
                            _put(
                                state,
                                prefix + column.name,
                                column,
                                line.get(column.name),
                                title_of,
                                tz,
                            )
            rows += list(range(len(rows), len(rows) + blank_rows))
            state.rows[spec.name] = rows
        elif spec.read_only:
            state.computed[spec.name] = record.get(spec.name)
            _put(state, spec.name, spec, record.get(spec.name), title_of, tz)
        else:
            _put(state, spec.name, spec, record.get(spec.name), title_of, tz)
    _totals(state, form, record)
    return state


def _totals(state: FormState, form: Form, values: Mapping[str, Any]) -> None:
    """The parent's totals under each line-item table (shown even when the form has no
    field for them)."""
    for table in form.tables.values():
        for name in (*table.totals.values(), table.count_field):
            if name:
                state.computed.setdefault(name, values.get(name))


def from_submission(
    form: Form,
    sub: Submission,
    title_of: TitleOf,
    shown: Mapping[str, Any] | None = None,
    tz: dt.tzinfo = dt.UTC,
) -> FormState:
    """The inputs exactly as submitted, with the submission's messages; read-only fields and
    computed values from `shown` (the record's values after the change, when known)."""
    state = FormState(version=sub.version)
    shown = shown or {}
    for name, texts in sub.raw.items():
        if name.endswith("__label"):
            state.labels[name.removesuffix("__label")] = texts[-1] if texts else ""
            continue
        spec_name = name.split("-")[0] if "-" in name else name
        spec = form.field(spec_name)
        multi = spec is not None and spec.type in ("multi_choice", "links") and "-" not in name
        state.values[name] = list(texts) if multi else (texts[-1] if texts else "")
    for spec in form.fields():
        if spec.type == "lines":
            if spec.read_only:
                state.computed[spec.name] = shown.get(spec.name) or []
            state.rows[spec.name] = list(sub.rows.get(spec.name, []))
            continue
        if spec.read_only:
            state.computed[spec.name] = shown.get(spec.name)
            if spec.name not in state.values:
                _put(state, spec.name, spec, shown.get(spec.name), title_of, tz)
        elif spec.type == "link" and spec.name not in state.labels:
            raw = state.values.get(spec.name)
            if isinstance(raw, str) and raw.isdigit():
                state.labels[spec.name] = title_of(spec.spec.target, int(raw))
        elif spec.type == "links":
            for item in state.many(spec.name):
                if item.isdigit():
                    state.labels[f"{spec.name}:{item}"] = title_of(spec.spec.target, int(item))
    add_line_outputs(state, form, sub, shown)
    _totals(state, form, shown)
    state.errors = {k: list(v) for k, v in sub.errors.items()}
    state.top = list(sub.top)
    return state


def add_line_outputs(
    state: FormState, form: Form, sub: Submission, shown: Mapping[str, Any]
) -> None:
    """Computed values of the submitted lines, each at the row it was typed in."""
    for lines_name, kept in sub.kept.items():
        table = form.tables.get(lines_name)
        computed = shown.get(lines_name) or []
        if table is None:
            continue
        for position, index in enumerate(kept):
            line = computed[position] if position < len(computed) else {}
            for column in table.columns:
                if column.read_only:
                    state.computed[f"{lines_name}-{index}-{column.name}"] = line.get(column.name)
