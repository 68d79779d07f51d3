"""The view and dashboard-widget editors' forms <-> documents (pure; no web objects).

A form is a plain dict of what the inputs show, so a refused save comes back with exactly
what the designer typed; `*_body` turns it into the document the engine validates.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from appblocks.views.designer_more_edits import label_of, label_parts
from appblocks.views.designer_more_filters import (
    Row,
    filter_of,
    rest_from_form,
    rows_from_form,
    rows_of,
)

VIEW_TYPES = ("list", "kanban", "calendar")
CHARTS = ("number", "bar", "line", "pie", "funnel", "gauge")
AGGREGATES = ("count", "sum", "avg", "min", "max")
MAX_SORT = 3

Lists = Mapping[str, Sequence[str]]


def _first(many: Lists, key: str, default: str = "") -> str:
    values = many.get(key) or []
    return str(values[0]) if values else default


def _filter_form(filt: Any) -> dict[str, Any]:
    rows, rest = rows_of(filt)
    return {"rows": rows, "rest": json.dumps(rest, ensure_ascii=False) if rest else ""}


def _posted_filter(many: Lists) -> dict[str, Any]:
    rows = rows_from_form(
        many.get("f_path") or [], many.get("f_op") or [], many.get("f_value") or []
    )
    return {"rows": rows, "rest": _first(many, "f_rest")}


def filter_body(form: Mapping[str, Any]) -> dict[str, Any] | None:
    """The filter a form's rows say (raises FilterProblem)."""
    return filter_of(form["rows"], rest_from_form(form.get("rest") or ""))


def edit_rows(form: dict[str, Any], op: str) -> dict[str, Any]:
    """Apply a builder button (`add_filter`, `remove_filter:N`) to a form's rows."""
    rows: list[Row] = list(form["rows"])
    if op == "add_filter":
        rows.append(Row())
    elif op.startswith("remove_filter:"):
        index = int(op.partition(":")[2] or -1) if op.partition(":")[2].isdigit() else -1
        if 0 <= index < len(rows):
            rows.pop(index)
    return {**form, "rows": rows}


# --- views ----------------------------------------------------------------------------------


def _sort_pairs(sort: Any) -> list[tuple[str, str]]:
    keys = sort.split(",") if isinstance(sort, str) else list(sort or [])
    out = []
    for key in (str(k).strip() for k in keys):
        if key:
            out.append((key.lstrip("-"), "desc" if key.startswith("-") else "asc"))
    return out


def view_form(doc: Mapping[str, Any]) -> dict[str, Any]:
    """A view document as the editor's inputs."""
    en, zh = label_parts(doc.get("label"))
    return {
        "entity": str(doc.get("entity") or ""),
        "type": str(doc.get("type") or "list"),
        "label_en": en,
        "label_zh": zh,
        "columns": [str(c) for c in doc.get("columns") or []],
        "sort": _sort_pairs(doc.get("sort")),
        "group_by": str(doc.get("group_by") or ""),
        "date_field": str(doc.get("date_field") or ""),
        **_filter_form(doc.get("filter")),
    }


def posted_view_form(many: Lists) -> dict[str, Any]:
    """The editor's inputs as posted."""
    sort = [
        (field, direction)
        for field, direction in zip(
            many.get("s_field") or [], many.get("s_dir") or [], strict=False
        )
        if field
    ]
    columns = [c for c in many.get("columns") or [] if c]
    added = _first(many, "add_column")
    op = _first(many, "op")
    if op == "add_column" and added and added not in columns:
        columns.append(added)
    if op.startswith("remove_column:"):
        columns = [c for c in columns if c != op.partition(":")[2]]
    form = {
        "entity": _first(many, "entity"),
        "type": _first(many, "type", "list"),
        "label_en": _first(many, "label_en"),
        "label_zh": _first(many, "label_zh"),
        "columns": list(dict.fromkeys(columns)),
        "sort": sort[:MAX_SORT],
        "group_by": _first(many, "group_by"),
        "date_field": _first(many, "date_field"),
        **_posted_filter(many),
    }
    return edit_rows(form, op)


def view_body(form: Mapping[str, Any]) -> dict[str, Any]:
    """The view document a form says (raises FilterProblem for a bad filter row)."""
    body: dict[str, Any] = {"entity": form["entity"], "type": form["type"]}
    label = label_of(form["label_en"], form["label_zh"])
    if label:
        body["label"] = label
    if form["columns"]:
        body["columns"] = list(form["columns"])
    filt = filter_body(form)
    if filt:
        body["filter"] = filt
    sort = ",".join(("-" if d == "desc" else "") + f for f, d in form["sort"] if f)
    if sort:
        body["sort"] = sort
    if form["type"] == "kanban":
        body["group_by"] = form["group_by"]
    if form["type"] == "calendar":
        body["date_field"] = form["date_field"]
    return body


def new_view(
    entity: str, kind: str, label: dict[str, str] | None, picks: Mapping[str, Any]
) -> dict[str, Any]:
    """A first view document: the first columns, and what a board or calendar needs."""
    body: dict[str, Any] = {"entity": entity, "type": kind}
    if label:
        body["label"] = label
    columns = list(picks.get("columns") or [])[:5]
    if columns:
        body["columns"] = columns
    if kind == "kanban":
        body["group_by"] = picks.get("group_by") or ""
    if kind == "calendar":
        body["date_field"] = picks.get("date_field") or ""
    return body


# --- dashboard widgets ----------------------------------------------------------------------


def widget_form(widget: Mapping[str, Any]) -> dict[str, Any]:
    """A widget as the editor's inputs."""
    en, zh = label_parts(widget.get("title"))
    found = widget.get("measure")
    measure: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
    agg, field = next(iter(measure.items()), ("count", ""))
    return {
        "chart": str(widget.get("chart") or "number"),
        "title_en": en,
        "title_zh": zh,
        "entity": str(widget.get("entity") or ""),
        "group_by": str(widget.get("group_by") or ""),
        "agg": str(agg),
        "field": "" if field is True or field in ("*", "id") else str(field or ""),
        "width": str(widget.get("width") or ""),
        "max": "" if widget.get("max") is None else str(widget.get("max")),
        **_filter_form(widget.get("filter")),
    }


def posted_widget_form(many: Lists) -> dict[str, Any]:
    """The widget editor's inputs as posted."""
    form = {
        "chart": _first(many, "chart", "number"),
        "title_en": _first(many, "title_en"),
        "title_zh": _first(many, "title_zh"),
        "entity": _first(many, "entity"),
        "group_by": _first(many, "group_by"),
        "agg": _first(many, "agg", "count"),
        "field": _first(many, "field"),
        "width": _first(many, "width").strip(),
        "max": _first(many, "max").strip(),
        **_posted_filter(many),
    }
    return edit_rows(form, _first(many, "op"))


class WidgetProblem(ValueError):
    """A widget input that is not a number; `text` is English, for `tr`."""

    def __init__(self, key: str, text: str) -> None:
        super().__init__(text)
        self.key, self.text = key, text


def _number(text: str, key: str, integer: bool) -> int | float | None:
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise WidgetProblem(key, "Enter a number.") from None
    if integer:
        if value != int(value):
            raise WidgetProblem(key, "Enter a whole number.")
        return int(value)
    return int(value) if value == int(value) else value


def widget_body(form: Mapping[str, Any], old: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The widget a form says, keeping what the form does not show (series, label, limit).

    Raises FilterProblem or WidgetProblem."""
    body: dict[str, Any] = {"chart": form["chart"]}
    title = label_of(form["title_en"], form["title_zh"])
    if title:
        body["title"] = title
    body["entity"] = form["entity"]
    if form["group_by"] and form["chart"] not in ("number", "gauge"):
        body["group_by"] = form["group_by"]
    if form["agg"] != "count" or form["field"]:
        body["measure"] = {form["agg"]: form["field"] or (True if form["agg"] == "count" else "")}
    filt = filter_body(form)
    if filt:
        body["filter"] = filt
    width = _number(form["width"], "width", integer=True)
    if width is not None:
        body["width"] = width
    top = _number(form["max"], "max", integer=False)
    if top is not None and form["chart"] == "gauge":
        body["max"] = top
    body.update({k: v for k, v in (old or {}).items() if k in ("label", "limit", "series")})
    return body
