"""List pages: `/{app}/{entity}` with search, a filter builder, sort, columns, keyset
"load more", a fast count, bulk actions, exports and saved views.

One query reads the page, one counts it (capped: exact up to 10,000, an estimate past it),
one per linked entity names the links, one lists the user's saved views: the same handful
of statements for 5 rows as for 25, whatever the table holds. An htmx request gets only the
part of the page it replaces (the listing, or the next rows); every control is also a plain
link or form, so the page works without JavaScript.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from appblocks.engine.db import reading
from appblocks.engine.paging import COUNT_CAP
from appblocks.engine.users import Identity
from appblocks.server import pages_lists_actions, pages_lists_builder, pages_lists_export
from appblocks.server.auth import RuntimeDep
from appblocks.server.pages_lists_builder import filter_row, row_titles
from appblocks.server.pages_lists_state import (
    Base,
    Setup,
    State,
    base_for,
    check,
    column_label,
    filter_text,
    query_page,
    read_state,
    saved_view,
    setup,
    title_lookup,
    url,
    url_params,
    with_view,
)
from appblocks.server.problems import locale_of
from appblocks.server.runtime import Runtime
from appblocks.server.web import PageUser, is_htmx, render
from appblocks.views import list_filters, list_saved
from appblocks.views.lists import (
    is_numeric,
    rows,
    sortable,
    titles_for,
    wanted_links,
)

router = APIRouter(include_in_schema=False)
router.include_router(pages_lists_export.router)
router.include_router(pages_lists_actions.router)
router.include_router(pages_lists_builder.router)


def _columns(request: Request, s: Setup, state: State, base: Base, path: str) -> list[Any]:
    first = state.sort.split(",")[0].strip()
    descending, primary = first.startswith("-"), first.lstrip("+-")
    out = []
    for name in state.columns:
        spec = s.fields[name]
        entry: dict[str, Any] = {
            "name": name,
            "label": column_label(request, s, name),
            "numeric": is_numeric(spec),
            "sortable": sortable(spec),
            "aria_sort": None,
        }
        if entry["sortable"]:
            toggled = f"-{name}" if primary == name and not descending else name
            entry["sort_url"] = url(path, state, base, sort=toggled)
            if primary == name:
                entry["aria_sort"] = "descending" if descending else "ascending"
        out.append(entry)
    return out


def _permissions(s: Setup, locale: str) -> dict[str, Any]:
    policy, identity, entity = s.loaded.policy, s.identity, s.entity
    transitions = []
    if s.workflow is not None:
        for tr_spec in s.workflow.transitions.values():
            if s.loaded.workflows.may_run(s.workflow, tr_spec, identity):
                transitions.append(
                    {
                        "name": tr_spec.name,
                        "label": tr_spec.title(locale),
                        "comment_required": tr_spec.comment_required,
                    }
                )
    return {
        "can_create": policy.can(identity, entity, "create"),
        "can_delete": s.loaded.scope(identity, entity, "delete") is not None,
        "can_export": policy.can(identity, entity, "export"),
        "transitions": transitions,
    }


def _render_list(
    request: Request,
    runtime: Runtime,
    identity: Identity,
    entity: str,
    *,
    preset: Mapping[str, Any] | None,
    title: str | None,
) -> Response:
    s = setup(request, runtime, identity, entity)
    path = request.url.path
    preset_filter = (
        preset.get("filter") if preset and isinstance(preset.get("filter"), dict) else None
    )
    base = base_for(s, request, preset)
    # A history restore after a cache miss wants the whole page back, not a fragment.
    fragment = is_htmx(request) and not request.headers.get("hx-history-restore-request")
    with reading(runtime.engine) as conn:
        view = saved_view(conn, request, s) if not preset else None
        if view is not None:
            base = with_view(base, view, s.fields)
        state = read_state(request, s, base, view, title_lookup(conn, s))
        check(request, s, state)
        canonical = url(path, state, base)
        if state.submitted and not state.failed and not fragment:
            if "move" in request.query_params:
                # Reordering without JavaScript: come back to the open chooser.
                joiner = "&" if "?" in canonical else "?"
                return RedirectResponse(f"{canonical}{joiner}open=columns#columns", 303)
            return RedirectResponse(canonical, status_code=303)
        more = fragment and state.cursor is not None
        page = query_page(conn, s, state, preset_filter, count=not state.cursor)
        columns = [s.fields[c] for c in state.columns]
        titles = titles_for(conn, s.loaded.catalog, wanted_links(page.items, columns), s.visible)
        names = row_titles(conn, s, state) if not more else {}
        saved = list_saved.listed(conn, identity.name, entity) if not (more or preset) else []
    locale = locale_of(request)
    items = rows(s.loaded.catalog, s.spec, page.items, columns, titles, locale)
    title_column = s.spec.title if s.spec.title in state.columns else state.columns[0]
    context: dict[str, Any] = {
        "entity": s.spec,
        "entity_path": s.path,
        "path": path,
        "heading": title or s.spec.label(locale),
        "items": items,
        "columns": _columns(request, s, state, base, path),
        "link_column": state.columns.index(title_column),
        "next_url": url(path, state, base, cursor=page.next_cursor) if page.next_cursor else None,
        "first_url": url(path, state, base) if state.cursor and not fragment else None,
        **_permissions(s, locale),
    }
    if more:
        return render(request, _templates(s), block="more", **context)
    chosen = set(state.columns)
    labels = {n: column_label(request, s, n) for n in s.fields}
    context |= {
        "total": page.total,
        "estimate": page.total_is_estimate,
        "cap": COUNT_CAP,
        "q": state.q,
        "state": state,
        "filter_fields": [{"name": n, "label": label} for n, label in labels.items()],
        "rows": [filter_row(request, s, r, i, names) for i, r in enumerate(state.rows)]
        + [filter_row(request, s, None, len(state.rows), names)],
        "rest": filter_text(state.rest),
        "keep": [(k, v) for k, v in url_params(state, base) if k not in ("q", "filter")],
        "keep_all": [(k, v) for k, v in url_params(state, base) if k != "columns"],
        "chooser": [
            {"name": n, "label": labels[n], "checked": n in chosen}
            for n in [*state.columns, *(n for n in s.fields if n not in chosen)]
        ],
        "clear_url": url(path, replace(state, filter=None, rows=[], rest=None), base),
        "canonical": canonical,
        "saved": saved,
        "view": state.view,
        "presetted": bool(preset),
        "export_query": _export_query(state, preset_filter),
        "filter_json": filter_text(state.filter),
    }
    status = 422 if state.failed else 200
    headers = {"HX-Push-Url": canonical} if fragment and not state.failed else None
    block = "listing" if fragment else None
    return render(request, _templates(s), status, block=block, headers=headers, **context)


def _export_query(state: State, preset_filter: Mapping[str, Any] | None) -> str:
    params = [("columns", ",".join(state.columns)), ("sort", state.sort)]
    if state.q:
        params.append(("q", state.q))
    combined = list_filters.combine([preset_filter, state.filter])
    if combined:
        params.append(("filter", filter_text(combined)))
    return urlencode(params)


def _templates(s: Setup) -> list[str]:
    return [f"list-{s.spec.app}-{s.spec.name}.html", "list.html"]


def list_response(
    request: Request,
    runtime: Runtime,
    identity: Identity,
    entity: str,
    *,
    preset: Mapping[str, Any] | None = None,
    title: str | None = None,
) -> Response:
    """The list of `entity` (qualified), starting from a view document's `columns`, `filter`
    and `sort` when `preset` is given; the preset filter always applies, and the user can
    still search, filter and sort on top of it."""
    return _render_list(request, runtime, identity, entity, preset=preset, title=title)


@router.get("/{app}/{entity}")
def list_page(
    app: str, entity: str, request: Request, runtime: RuntimeDep, identity: PageUser
) -> Response:
    """The list of an entity's records."""
    return list_response(request, runtime, identity, f"{app}.{entity}")
