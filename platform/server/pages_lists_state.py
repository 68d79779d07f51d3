"""What a list page shows, read from its URL: search, filter rows, sort, columns, saved view.

The URL is the state, so every list is a link someone can share. A form of the page (the
filter builder, the column chooser) submits its own fields; they are read here and turned
into the canonical URL (`?q=&filter=<CONTRACT JSON>&sort=&columns=&view=`), which the page
redirects to (or, for htmx, pushes into the address bar).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import sqlalchemy as sa
from fastapi import Request

from appblocks.engine.access import Scope
from appblocks.engine.query import compile_search
from appblocks.engine.records import Page
from appblocks.engine.spec import EntitySpec, FieldSpec
from appblocks.engine.users import Identity
from appblocks.server.problems import Problem, locale_of
from appblocks.server.runtime import Loaded, Runtime
from appblocks.server.visibility import Viewer
from appblocks.server.web import tr
from appblocks.views import list_filters, list_saved
from appblocks.views.list_filters import FilterRow, TitleLookup
from appblocks.views.lists import column_fields, default_columns, parse_columns
from appblocks.workflows.specs import WorkflowSpec

PAGE_SIZE = 25
DEFAULT_SORT = "-id"  # newest first
MAX_Q = 200
MAX_FILTER = 8000


@dataclass
class Setup:
    """One caller's list of one entity: what it may see, and the fields it may use."""

    loaded: Loaded
    identity: Identity
    spec: EntitySpec
    scope: Scope
    viewer: Viewer
    fields: dict[str, FieldSpec]
    defaults: list[str]
    workflow: WorkflowSpec | None

    @property
    def entity(self) -> str:
        return self.spec.qualified

    @property
    def path(self) -> str:
        return f"/{self.spec.app}/{self.spec.name}"

    def visible(self, entity: str) -> Scope | None:
        """The caller's read scope of another entity (for the titles of links)."""
        return self.loaded.scope(self.identity, entity, "read")


def column_label(request: Request, s: Setup, name: str) -> str:
    """A column's heading in the caller's language (system columns have ours)."""
    system = {
        "_state": tr(request, "State"),
        "_created_at": tr(request, "Created at"),
        "_created_by": tr(request, "Created by"),
        "_updated_at": tr(request, "Updated at"),
        "_updated_by": tr(request, "Updated by"),
    }
    return system.get(name) or s.fields[name].label(locale_of(request))


def setup(request: Request, runtime: Runtime, identity: Identity, entity: str) -> Setup:
    """The list setup for `entity` (qualified); 404 for line items and unreadable entities."""
    loaded = runtime.current()
    missing = Problem(404, tr(request, "There is no such list, or you may not open it."))
    spec = loaded.catalog.specs.entities.get(entity)
    if spec is None or spec.parent is not None:
        raise missing
    scope = loaded.scope(identity, entity, "read")
    if scope is None:
        raise missing
    workflow = loaded.workflows.workflow_for(entity)
    states = (
        {s: workflow.labels.get(s) or s.replace("_", " ").capitalize() for s in workflow.states}
        if workflow
        else None
    )
    fields = column_fields(spec, scope.hidden, states)
    viewer = Viewer(loaded, identity)
    return Setup(
        loaded, identity, spec, scope, viewer, fields, default_columns(spec, fields), workflow
    )


@dataclass
class Base:
    """Where a list starts before its URL says otherwise (defaults, a preset, a saved view)."""

    columns: list[str]
    sort: str = DEFAULT_SORT
    filter: dict[str, Any] | None = None
    q: str = ""


@dataclass
class State:
    """What the list shows now."""

    q: str
    filter: dict[str, Any] | None
    rows: list[FilterRow]
    rest: dict[str, Any] | None
    sort: str
    columns: list[str]
    view: dict[str, Any] | None = None
    cursor: str | None = None
    submitted: bool = False  # a form's own fields were read: answer with the canonical URL
    chooser_open: bool = False

    @property
    def failed(self) -> bool:
        return any(r.error for r in self.rows)


def base_for(s: Setup, request: Request, preset: Mapping[str, Any] | None) -> Base:
    """Defaults, or a configured view's columns and sort (its filter always applies apart)."""
    base = Base(list(s.defaults))
    if not preset:
        return base
    columns = preset.get("columns")
    if isinstance(columns, list | str):
        chosen, _refused = parse_columns(
            columns if isinstance(columns, str) else [str(c) for c in columns], s.fields
        )
        base.columns = chosen or base.columns  # a hidden column of the view is left out
    sort = preset.get("sort")
    if isinstance(sort, str) and sort.strip():
        keys = [k.strip().lstrip("+-") for k in sort.split(",") if k.strip()]
        # A view sorted by a field this caller may not see starts in the default order.
        if all(k == "id" or k in s.fields for k in keys):
            base.sort = sort.strip()
    return base


def with_view(base: Base, view: Mapping[str, Any], fields: Mapping[str, FieldSpec]) -> Base:
    """The base a saved view gives: its columns, filter, sort and search."""
    stored = view["body"]
    columns, _refused = parse_columns(stored["columns"] or [], fields)
    return Base(
        columns or base.columns, stored["sort"] or base.sort, stored["filter"], stored["q"] or ""
    )


def _json_filter(request: Request, text: str) -> dict[str, Any] | None:
    if not text.strip():
        return None
    if len(text) > MAX_FILTER:
        raise Problem(422, tr(request, "The filter is too long."))
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError:
        raise Problem(422, tr(request, "The filter is not valid JSON.")) from None
    if not isinstance(parsed, dict):
        raise Problem(422, tr(request, "The filter must be a JSON object."))
    return parsed


def _builder_rows(params: Mapping[str, Any], getlist: Any) -> list[FilterRow]:
    indexes = sorted({int(k[2:]) for k in params if k.startswith("f.") and k[2:].isdigit()})
    removed = str(params.get("remove", ""))
    rows = []
    for i in indexes[: list_filters.MAX_ROWS + 1]:
        name = str(params.get(f"f.{i}", "")).strip()
        if not name or str(i) == removed:
            continue
        op = str(params.get(f"op.{i}", "")).strip()
        values = tuple(str(v) for v in getlist(f"v.{i}"))
        rows.append(FilterRow(name, op, values, str(params.get(f"v2.{i}", ""))))
    return rows


def _chooser(request: Request, base: list[str], fields: Mapping[str, FieldSpec]) -> list[str]:
    params = request.query_params
    order = [c for c in params.getlist("order") if c in fields] or list(base)
    checked = set(params.getlist("col"))
    move = str(params.get("move", ""))
    name, _sep, where = move.rpartition(":")
    if name in order:
        at = order.index(name)
        to = at - 1 if where == "up" else at + 1
        if 0 <= to < len(order):
            order[at], order[to] = order[to], order[at]
    return [c for c in order if c in checked]


def read_state(
    request: Request,
    s: Setup,
    base: Base,
    view: dict[str, Any] | None,
    titles: TitleLookup,
    params: Mapping[str, Any] | None = None,
) -> State:
    """The list's state from the request's query (or `params`), on top of `base`."""
    query = request.query_params if params is None else params
    getlist = getattr(query, "getlist", lambda k: [query[k]] if k in query else [])
    submitted = False
    q = str(query.get("q", base.q))[:MAX_Q].strip()
    if any(k.startswith("f.") for k in query) or "rest" in query:
        rest = _json_filter(request, str(query.get("rest", "")))
        parsed = list_filters.parse_rows(_builder_rows(query, getlist), s.fields, titles, rest)
        rows, filter, submitted = parsed.rows, parsed.filter, True
        rest = rest if rest else None
    else:
        text = query.get("filter")
        filter = _json_filter(request, str(text)) if text is not None else base.filter
        rows, rest = list_filters.rows_from_filter(filter, s.fields)
    sort = str(query.get("sort") or base.sort).strip()
    if "chooser" in query:
        columns = _chooser(request, base.columns, s.fields) or list(s.defaults)
        submitted = True
    elif "columns" in query:
        columns, refused = parse_columns(str(query.get("columns", "")), s.fields)
        if refused:
            raise Problem(
                422, tr(request, "You cannot show the column “%(name)s”.", name=refused[0])
            )
        columns = columns or list(base.columns)
    else:
        columns = list(base.columns)
    state = State(q, filter, rows, rest, sort, columns, view, query.get("cursor") or None)
    state.submitted = submitted or "remove" in query
    state.chooser_open = query.get("open") == "columns"
    return state


def check(request: Request, s: Setup, state: State) -> None:
    """Refuse a filter or sort that names a field the caller may not see (422, translated)."""
    for path in list_filters.paths(state.filter):
        try:
            s.viewer.check_path(s.entity, path, "filter")
        except Problem:
            raise Problem(422, tr(request, "You cannot filter by “%(name)s”.", name=path)) from None
    for key in state.sort.split(","):
        name = key.strip().lstrip("+-")
        if name and name != "id" and name not in s.fields:
            raise Problem(422, tr(request, "You cannot sort by “%(name)s”.", name=name))


def filter_text(spec: Mapping[str, Any] | None) -> str:
    """A filter as compact JSON for a URL."""
    return json.dumps(spec, ensure_ascii=False, separators=(",", ":")) if spec else ""


def url_params(state: State, base: Base, **change: Any) -> list[tuple[str, str]]:
    """The query of the canonical URL: what differs from `base`, plus `change`."""
    sort = change.get("sort", state.sort)
    params: list[tuple[str, str]] = []
    if state.view:
        params.append(("view", str(state.view["id"])))
    if state.q != base.q:
        params.append(("q", state.q))
    if state.filter != base.filter:
        params.append(("filter", filter_text(state.filter)))
    if sort != base.sort:
        params.append(("sort", sort))
    if state.columns != base.columns:
        params.append(("columns", ",".join(state.columns)))
    if change.get("cursor"):
        params.append(("cursor", change["cursor"]))
    return params


def url(path: str, state: State, base: Base, **change: Any) -> str:
    """The canonical URL of the list (with `sort` or `cursor` changed when given)."""
    params = url_params(state, base, **change)
    return path + ("?" + urlencode(params) if params else "")


def title_lookup(conn: sa.Connection, s: Setup) -> TitleLookup:
    """Find a linked record by its exact title (or `#id`) among those the caller may read."""

    def lookup(target: str, text: str) -> int | None:
        scope = s.visible(target)
        if scope is None:
            return None
        spec = s.loaded.catalog.entity(target)
        table = s.loaded.catalog.table(target)
        tries = []
        if spec.title and spec.title not in scope.hidden:
            tries.append(table.c[spec.title] == text)
        number = text.removeprefix("#")
        if number.isdigit() and len(number) < 19:
            tries.append(table.c.id == int(number))
        for match in tries:
            query = sa.select(table.c.id).where(match).order_by(table.c.id).limit(1)
            if scope.predicate is not None:
                query = query.where(scope.predicate)
            found = conn.execute(query).scalar()
            if found is not None:
                return int(found)
        return None

    return lookup


def query_page(
    conn: sa.Connection,
    s: Setup,
    state: State,
    preset_filter: Mapping[str, Any] | None,
    *,
    count: bool,
    limit: int = PAGE_SIZE,
) -> Page:
    """One page of the list, under the caller's read scope (search only over visible text)."""
    predicate, q = search_scope(s, state.q)
    return s.loaded.store.list(
        conn,
        s.entity,
        filter=list_filters.combine([preset_filter, state.filter]),
        sort=state.sort,
        limit=limit,
        cursor=state.cursor,
        q=q,
        count=count,
        scope=predicate,
    )


def search_scope(s: Setup, q: str) -> tuple[Any, str | None]:
    """(scope predicate, q) for the store: with hidden fields, the search joins the scope
    over only the visible text, so hidden notes cannot be found by what they say."""
    predicate = s.scope.predicate
    if not q:
        return predicate, None
    if not s.scope.hidden:
        return predicate, q
    search = compile_search(s.loaded.catalog, s.entity, q, s.viewer.search_columns(s.entity))
    if search is None:
        return predicate, None
    return (search if predicate is None else sa.and_(predicate, search)), None


def saved_view(conn: sa.Connection, request: Request, s: Setup) -> dict[str, Any] | None:
    """The saved view `?view=` names (the caller's own), or None; 404 for another's."""
    raw = request.query_params.get("view")
    if not raw:
        return None
    if not raw.isdigit() or len(raw) > 18:
        raise Problem(404, tr(request, "There is no such saved view."))
    found = list_saved.find(conn, s.identity.name, s.entity, int(raw))
    if found is None:
        raise Problem(404, tr(request, "There is no such saved view."))
    return found
