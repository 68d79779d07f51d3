"""Queries behind the form pages: link titles for the inputs, the link lookup, the computed
values a form shows beside its inputs.

The lookup searches the target entity's visible text under the viewer's read scope of that
entity (never the source's), one query per keystroke, at most `LOOKUP_ROWS` rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from appblocks.engine.access import Scope
from appblocks.engine.catalog import Catalog
from appblocks.engine.query import compile_search
from appblocks.engine.spec import FieldSpec
from appblocks.forms.layout import Form, FormField
from appblocks.forms.state import FormState
from appblocks.views.record_format import show
from appblocks.views.record_titles import ScopeOf, Titles

LOOKUP_ROWS = 10


@dataclass(frozen=True)
class Option:
    """One suggestion of a link lookup."""

    id: int
    title: str
    detail: str = ""


def lookup(
    conn: sa.Connection,
    catalog: Catalog,
    target: str,
    scope: Scope,
    searchable: Iterable[str],
    q: str,
) -> list[Option]:
    """Records of `target` the viewer may read whose visible text contains `q` (all, when
    `q` is blank), by title."""
    spec = catalog.entity(target)
    table = catalog.table(target)
    title = spec.title if spec.title and spec.title not in scope.hidden else None
    visible = [n for n in searchable if n != title]
    detail = visible[0] if visible else None
    columns: list[sa.ColumnElement[Any]] = [table.c.id]
    if title is not None:
        columns.append(table.c[title].label("title"))
    if detail is not None:
        columns.append(table.c[detail].label("detail"))
    query = sa.select(*columns)
    if scope.predicate is not None:
        query = query.where(scope.predicate)
    text = q.strip()
    if text:
        search = compile_search(catalog, target, text, [*([title] if title else []), *visible])
        if search is not None:
            query = query.where(search)
    order = [table.c[title]] if title is not None else []
    query = query.order_by(*order, table.c.id).limit(LOOKUP_ROWS)
    out = []
    for row in conn.execute(query):
        found = row._mapping
        shown = found.get("title") if title is not None else None
        extra = found.get("detail") if detail is not None else None
        out.append(
            Option(
                row.id,
                str(shown) if shown not in (None, "") else f"#{row.id}",
                str(extra) if extra not in (None, "") else "",
            )
        )
    return out


def _link_fields(form: Form) -> list[tuple[str, FormField]]:
    """(input name prefix, field) of link inputs: flat ones, and each lines column's."""
    out: list[tuple[str, FormField]] = [
        ("", f) for f in form.fields() if f.type in ("link", "links") or f.spec.type == "lookup"
    ]
    for name, table in form.tables.items():
        out += [(name, c) for c in table.columns if c.type == "link" or c.spec.type == "lookup"]
    return out


def titles_for(
    conn: sa.Connection,
    catalog: Catalog,
    scope_of: ScopeOf,
    form: Form,
    values: Mapping[str, Any],
) -> Titles:
    """Titles of every linked id among a record's (or a submission's) values, resolved."""
    titles = Titles(catalog, scope_of)
    for lines, spec in _link_fields(form):
        target = _target(spec)
        if lines:
            for line in values.get(lines) or []:
                titles.need(target, [line.get(spec.name)])
        else:
            value = values.get(spec.name)
            titles.need(target, value if isinstance(value, list) else [value])
    titles.resolve(conn)
    return titles


def _target(spec: FormField) -> str | None:
    field = spec.spec
    if field.type == "lookup" and field.resolved_lookup is not None:
        return field.resolved_lookup.target if field.resolved_lookup.type == "link" else None
    return field.target


def outputs(
    form: Form,
    state: FormState,
    locale: str,
    titles: Titles,
    currency: str | None = None,
    *,
    live: bool = False,
) -> dict[str, str]:
    """Text of the form's computed outputs (by output name: `total`, `lines-3-amount`, and
    `foot-total` under a line-item table); read-only fields' values too unless `live` (the
    preview: only what typing can change)."""
    out: dict[str, str] = {}
    specs = {f.name: f for f in form.fields()}

    def text(spec: FieldSpec, value: Any) -> str:
        return ", ".join(r.text for r in show(spec, value, locale, titles, currency=currency))

    for name, value in state.computed.items():
        base, _, rest = name.partition("-")
        if rest:
            table = form.tables.get(base)
            column = rest.partition("-")[2]
            found = next((c for c in table.columns if c.name == column), None) if table else None
            if found is not None:
                out[name] = text(found.spec, value)
            continue
        field = specs.get(name)
        if field is None or field.type == "lines":
            continue
        if live and field.widget.kind != "output":
            continue
        out[name] = text(field.spec, value)
    for table in form.tables.values():
        present = {c.name for c in table.columns}
        for column, total in table.totals.items():
            if column in present and total in state.computed:
                out[f"foot-{total}"] = text(form.entity.fields[total], state.computed[total])
    return out
