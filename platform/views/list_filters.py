"""The filter builder of list pages: rows of (field, operator, value) <-> the CONTRACT filter.

A row's operators depend on its field's type. Rows become the filter language of the REST
API (`{"total": {"gte": 100}, "supplier": {"eq": 3}}`), so a filtered list is a plain,
shareable URL; a filter from a URL becomes rows again, and whatever rows cannot say (an `or`,
a dotted path) is kept aside, unchanged, as the rest of the filter.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from appblocks.engine.fieldtypes import FieldValueError
from appblocks.engine.spec import FieldSpec
from appblocks.views.lists import value_field

#: the builder's operators by kind of field (each maps to the engine's operators below)
OPERATORS: dict[str, tuple[str, ...]] = {
    "text": ("contains", "eq", "ne", "startswith", "empty", "notempty"),
    "number": ("eq", "ne", "lt", "lte", "gt", "gte", "between", "empty", "notempty"),
    "date": ("eq", "ne", "lt", "lte", "gt", "gte", "between", "empty", "notempty"),
    "datetime": ("lt", "lte", "gt", "gte", "between", "empty", "notempty"),
    "choice": ("eq", "in", "ne", "empty", "notempty"),
    "multi": ("contains", "empty", "notempty"),
    "link": ("eq", "ne", "empty", "notempty"),
    "links": ("contains", "empty", "notempty"),
    "boolean": ("eq", "empty", "notempty"),
    "other": ("empty", "notempty"),
}
#: operators written as themselves in the filter language
PLAIN = frozenset({"eq", "ne", "lt", "lte", "gt", "gte", "contains", "startswith", "in"})
NO_VALUE = frozenset({"empty", "notempty"})
MAX_ROWS = 20

_KINDS = {
    **dict.fromkeys(("text", "long_text", "email", "phone", "url", "user", "autonumber"), "text"),
    **dict.fromkeys(("integer", "decimal", "money", "percent"), "number"),
    "date": "date",
    "datetime": "datetime",
    "choice": "choice",
    "multi_choice": "multi",
    "link": "link",
    "links": "links",
    "boolean": "boolean",
}


def kind(spec: FieldSpec) -> str:
    """The builder's kind of a field: text, number, date, datetime, choice, multi, link,
    links, boolean or other."""
    return _KINDS.get(value_field(spec).type, "other")


def operators(spec: FieldSpec) -> tuple[str, ...]:
    """The builder's operators for a field, in menu order."""
    return OPERATORS[kind(spec)]


@dataclass
class FilterRow:
    """One condition as a person wrote it; `error` (a code, with `params`) when refused."""

    field: str
    op: str
    values: tuple[str, ...] = ()
    value2: str = ""
    error: str | None = None
    params: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def value(self) -> str:
        """The first value (most operators take one)."""
        return self.values[0] if self.values else ""


class RowError(ValueError):
    """Why a row cannot become a condition: a code the page translates, and its params."""

    def __init__(self, code: str, **params: Any) -> None:
        super().__init__(code)
        self.code = code
        self.params = params


#: `titles(target, text)`: the id of the `target` record titled `text` (or numbered so), or None
TitleLookup = Callable[[str, str], int | None]


def _unbounded(spec: FieldSpec) -> FieldSpec:
    # A filter may ask about values outside the field's bounds ("quantity < -1" is fair).
    inner = value_field(spec)
    doc = {k: v for k, v in inner.doc.items() if k not in ("min", "max", "max_length")}
    return dataclasses.replace(inner, doc=doc)


def _json(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else format(value.normalize(), "f")
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return value


def _coerce(spec: FieldSpec, text: str) -> Any:
    text = text.strip()
    if text == "":
        raise RowError("needs_value")
    try:
        value = _unbounded(spec).ftype.from_text(text, _unbounded(spec))
    except FieldValueError as exc:
        raise RowError("bad_value", value=text, detail=str(exc)) from None
    if value is None:
        raise RowError("needs_value")
    return _json(value)


def _link(spec: FieldSpec, text: str, titles: TitleLookup) -> int:
    target = value_field(spec).target
    text = text.strip()
    if not text or target is None:
        raise RowError("needs_value")
    found = titles(target, text)
    if found is None:
        raise RowError("no_title", value=text)
    return found


def condition(spec: FieldSpec, row: FilterRow, titles: TitleLookup) -> dict[str, Any]:
    """The filter-language condition of one row on `spec` (`{"total": {"gte": 5}}`);
    raises RowError."""
    op, name, what = row.op, spec.name, kind(spec)
    if op not in OPERATORS[what]:
        raise RowError("bad_operator")
    if op in NO_VALUE:
        return {name: {"isnull": op == "empty"}}
    if what in ("link", "links"):
        return {name: {op: _link(spec, row.value, titles)}}
    if what == "boolean":
        word = row.value.strip().lower()
        if word not in ("true", "false"):
            raise RowError("needs_value")
        return {name: {"eq": word == "true"}}
    if what == "multi":
        return {name: {"contains": _coerce(spec, row.value)[0]}}
    if op == "between":
        low, high = _coerce(spec, row.value), _coerce(spec, row.value2)
        return {name: {"gte": low, "lte": high}}
    if op == "in":
        chosen = [v for v in row.values if v.strip()]
        if not chosen:
            raise RowError("needs_value")
        return {name: {"in": [_coerce(spec, v) for v in chosen]}}
    if what == "text":
        text = row.value.strip()
        if not text:
            raise RowError("needs_value")
        return {name: {op: text}}
    return {name: {op: _coerce(spec, row.value)}}


# --- rows from a filter -----------------------------------------------------------------------


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def row_of(spec: FieldSpec, cond: Any) -> FilterRow | None:
    """The builder row that says `cond` on `spec`, or None when no row can say it."""
    if not isinstance(cond, Mapping):
        cond = {"eq": cond}
    ops = operators(spec)
    keys = set(cond)
    if keys == {"isnull"} and isinstance(cond["isnull"], bool):
        return FilterRow(spec.name, "empty" if cond["isnull"] else "notempty")
    if keys == {"gte", "lte"} and "between" in ops:
        return FilterRow(spec.name, "between", (_text(cond["gte"]),), _text(cond["lte"]))
    if len(keys) != 1:
        return None
    op, value = next(iter(cond.items()))
    if op not in PLAIN or op not in ops or value is None:
        return None
    if op == "in":
        if not isinstance(value, list) or not value or None in value:
            return None
        return FilterRow(spec.name, "in", tuple(_text(v) for v in value))
    if isinstance(value, list | Mapping):
        return None
    if kind(spec) == "boolean" and not isinstance(value, bool):
        return None
    return FilterRow(spec.name, op, (_text(value),))


def _parts(spec: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    # A top-level `and` of single conditions is the same as one object with those keys.
    for key, value in spec.items():
        if key == "and" and isinstance(value, list) and all(isinstance(v, Mapping) for v in value):
            for part in value:
                yield from part.items()
        else:
            yield key, value


def rows_from_filter(
    spec: Mapping[str, Any] | None, fields: Mapping[str, FieldSpec]
) -> tuple[list[FilterRow], dict[str, Any] | None]:
    """(rows, rest): the builder rows a filter reads as, and what rows cannot say."""
    if not spec:
        return [], None
    found: list[FilterRow] = []
    rest: list[dict[str, Any]] = []
    for key, cond in _parts(spec):
        target = fields.get(key)
        row = row_of(target, cond) if target is not None else None
        if row is None or len(found) >= MAX_ROWS:
            rest.append({key: cond})
        else:
            found.append(row)
    return found, combine(rest)


# --- putting conditions together --------------------------------------------------------------


def combine(parts: Sequence[Mapping[str, Any] | None]) -> dict[str, Any] | None:
    """One filter meaning all of `parts`: a flat object when their keys differ, else `and`."""
    present = [dict(p) for p in parts if p]
    if not present:
        return None
    if len(present) == 1:
        return present[0]
    keys = [k for p in present for k in p]
    if len(keys) == len(set(keys)) and not {"and", "or", "not"} & set(keys):
        return {k: v for p in present for k, v in p.items()}
    return {"and": present}


def paths(spec: Any, depth: int = 0) -> Iterator[str]:
    """Every field path a filter names (through and / or / not)."""
    if depth > 16 or not isinstance(spec, Mapping):
        return
    for key, value in spec.items():
        if key in ("and", "or") and isinstance(value, list):
            for part in value:
                yield from paths(part, depth + 1)
        elif key == "not":
            yield from paths(value, depth + 1)
        else:
            yield str(key)


@dataclass
class Parsed:
    """Rows read from a builder form: the rows (some refused), and the filter of the good."""

    rows: list[FilterRow] = field(default_factory=list)
    filter: dict[str, Any] | None = None

    @property
    def failed(self) -> bool:
        """Whether any row was refused."""
        return any(r.error for r in self.rows)


def parse_rows(
    rows: Sequence[FilterRow],
    fields: Mapping[str, FieldSpec],
    titles: TitleLookup,
    rest: Mapping[str, Any] | None = None,
) -> Parsed:
    """Check and translate builder rows; a refused row keeps what the person typed."""
    out = Parsed()
    conditions: list[Mapping[str, Any] | None] = []
    for row in rows[:MAX_ROWS]:
        spec = fields.get(row.field)
        try:
            if spec is None:
                raise RowError("unknown_field")
            conditions.append(condition(spec, row, titles))
        except RowError as exc:
            row.error, row.params = exc.code, exc.params
        out.rows.append(row)
    conditions.append(rest)
    out.filter = combine(conditions)
    return out
