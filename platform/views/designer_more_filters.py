"""The designer's filter builder: rows of (field path, operator, value) <-> the filter language.

The rows write the CONTRACT filter (`{"total": {"gte": 100}, "supplier.name": "$user.supplier"}`)
of views, dashboard widgets and record rules. Values are typed as JSON would read them (`100`,
`true`, `null`), anything else is text; `in` / `nin` take a comma-separated list. Whatever rows
cannot say (an `and` / `or` group) is kept aside, unchanged, as the rest of the filter.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

#: the operators of the filter language, in menu order
OPERATORS = (
    "eq", "ne", "lt", "lte", "gt", "gte", "in", "nin", "contains", "startswith", "isnull",
)  # fmt: skip
LISTS = frozenset({"in", "nin"})
MAX_ROWS = 30


@dataclass(frozen=True)
class Row:
    """One condition as the builder shows it."""

    path: str = ""
    op: str = "eq"
    value: str = ""


class FilterProblem(ValueError):
    """A row the builder cannot turn into a condition; `text` is English, for `tr`."""

    def __init__(self, text: str, **params: Any) -> None:
        super().__init__(text % params if params else text)
        self.text, self.params = text, params


def value_text(value: Any) -> str:
    """A condition value as the builder's input shows it."""
    if isinstance(value, list):
        return ", ".join(value_text(v) for v in value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def parse_value(text: str) -> Any:
    """One typed value: a JSON number, true, false or null, else the text itself."""
    text = text.strip()
    if text in ("true", "false", "null") or _numeric(text):
        return json.loads(text)
    return text


def _numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    # JSON has no `inf`, `nan`, `1_000` or a leading `+`: those stay text.
    return all(ch in "0123456789.-eE" for ch in text) and not text.startswith(".")


def rows_of(filt: Any) -> tuple[list[Row], dict[str, Any]]:
    """The rows of a filter, and the rest that rows cannot say (its `and` / `or`)."""
    rows: list[Row] = []
    rest: dict[str, Any] = {}
    for key, cond in (filt if isinstance(filt, Mapping) else {}).items():
        if key in ("and", "or"):
            rest[key] = cond
        elif isinstance(cond, Mapping):
            if not cond or any(op not in OPERATORS for op in cond):
                rest[key] = cond
                continue
            for op, value in cond.items():
                rows.append(Row(str(key), str(op), value_text(value)))
        else:
            rows.append(Row(str(key), "eq", value_text(cond)))
    return rows, rest


def filter_of(rows: Sequence[Row], rest: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
    """The filter the rows (and the kept rest) say; None when it says nothing.

    A row without a field is skipped (an empty row of the form); a bad operator, a field
    given twice with one operator, or too many rows raise FilterProblem."""
    out: dict[str, Any] = {}
    used = [r for r in rows if r.path.strip()]
    if len(used) > MAX_ROWS:
        raise FilterProblem("A filter takes at most %(n)s conditions.", n=MAX_ROWS)
    for row in used:
        path = row.path.strip()
        if row.op not in OPERATORS:
            raise FilterProblem("%(op)s is not an operator.", op=row.op)
        if path in ("and", "or"):
            raise FilterProblem("%(path)s is not a field.", path=path)
        if row.op in LISTS:
            value: Any = [parse_value(v) for v in row.value.split(",") if v.strip()]
        elif row.op == "isnull":
            value = row.value.strip().lower() not in ("false", "no", "0")
        else:
            value = parse_value(row.value)
        cond = out.setdefault(path, {})
        if row.op in cond:
            raise FilterProblem(
                "The field %(path)s has two conditions with the same operator.", path=path
            )
        cond[row.op] = value
    # `{"field": value}` is how people write equality by hand; keep that short form.
    plain = {k: (v["eq"] if list(v) == ["eq"] else v) for k, v in out.items()}
    for key, value in (rest or {}).items():
        if key not in plain:
            plain[key] = value
    return plain or None


def rows_from_form(paths: Sequence[str], ops: Sequence[str], values: Sequence[str]) -> list[Row]:
    """Rows from the builder's parallel inputs (`f_path`, `f_op`, `f_value`)."""
    count = max(len(paths), len(ops), len(values), 0)
    pick = lambda seq, i, default: seq[i] if i < len(seq) else default  # noqa: E731
    return [
        Row(pick(paths, i, "").strip(), pick(ops, i, "eq"), pick(values, i, ""))
        for i in range(count)
    ]


def rest_from_form(text: str) -> dict[str, Any]:
    """The kept rest of a filter, as the form carries it (JSON); bad JSON raises."""
    if not text.strip():
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        raise FilterProblem("The kept part of the filter is not valid JSON.") from None
    if not isinstance(value, dict):
        raise FilterProblem("The kept part of the filter is not valid JSON.")
    return value
