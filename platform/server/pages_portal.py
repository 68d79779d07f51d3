"""Pages: the portal (`/portal`) of supplier and customer users.

Their own records only, in the sections `views/portal.py` lays out: every list is read under
the user's read scope (the record rule of their role), so a supplier sees its own orders and
RFQs and a customer its own tickets, never another's. In place they may confirm an order
(the yes/no field their role may write, e.g. `supplier_confirmed`) and run the workflow
transitions their role may run; anything else opens the normal record and form pages.
Administrators may look at the portal as a portal role lays it out (`?role=`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from appblocks.engine.access import Scope
from appblocks.engine.db import reading
from appblocks.engine.i18n import translate
from appblocks.engine.record_errors import NotFound, RecordError, RecordErrors
from appblocks.engine.rules import user_context
from appblocks.engine.spec import EntitySpec
from appblocks.engine.users import Identity
from appblocks.server.auth import RuntimeDep
from appblocks.server.problems import Problem, field_errors, locale_of
from appblocks.server.runtime import Loaded
from appblocks.server.visibility import Viewer
from appblocks.server.web import PageUser, flash, is_htmx, render, tr
from appblocks.views import portal
from appblocks.views.portal import PortalList, cell_text
from appblocks.workflows.specs import WorkflowError

router = APIRouter(include_in_schema=False)
ROWS = 20


def _allowed(request: Request, loaded: Loaded, identity: Identity) -> None:
    if not (loaded.policy.is_portal(identity) or identity.is_admin):
        raise Problem(404, tr(request, "There is no portal for your account."))


def _writable(loaded: Loaded, identity: Identity, entity: str) -> frozenset[str] | None:
    scope = loaded.scope(identity, entity, "update")
    if scope is None:
        return None
    return frozenset(loaded.catalog.entity(entity).fields) - scope.hidden - scope.read_only


def _hidden(loaded: Loaded, identity: Identity, entity: str) -> frozenset[str]:
    scope = loaded.scope(identity, entity, "read")
    return scope.hidden if scope is not None else frozenset(loaded.catalog.entity(entity).fields)


def _user_value(value: Any, identity: Identity) -> Any:
    """`$user` / `$user.<attr>` of a rule as the identity's value (None when it has none)."""
    if isinstance(value, Mapping) and set(value) == {"eq"}:
        value = value["eq"]
    if value == "$user":
        return identity.name
    if isinstance(value, str) and value.startswith("$user."):
        return identity.attributes.get(value[len("$user.") :]) or None
    return None


def prefill(conn: sa.Connection, loaded: Loaded, identity: Identity, entity: str) -> dict[str, int]:
    """Link values a new record needs to fall under the user's own rule: for a rule like
    `{supplier.name: "$user.supplier"}`, the id of their supplier (if they may read it)."""
    out: dict[str, int] = {}
    for role in sorted(identity.roles):
        grant = loaded.policy.grants.get(role, {}).get(entity)
        if grant is None or "create" not in grant.actions or not grant.where:
            continue
        for path, rule in grant.where.items():
            value = _user_value(rule, identity)
            if value is None:
                continue
            link, _, title = str(path).partition(".")
            field = loaded.catalog.entity(entity).fields.get(link)
            if field is None or field.type != "link" or not field.target or "." in title:
                continue
            target = loaded.catalog.entity(field.target)
            scope = loaded.scope(identity, field.target, "read")
            if scope is None or title != target.title or not isinstance(value, str | int):
                continue
            table = loaded.catalog.table(field.target)
            query = sa.select(table.c.id).where(table.c[title] == value)
            if scope.predicate is not None:
                query = query.where(scope.predicate)
            found = conn.execute(query.limit(1)).scalar()
            if found is not None:
                out.setdefault(link, int(found))
    return out


def _query(values: dict[str, Any]) -> str:
    return "?" + "&".join(f"{k}={v}" for k, v in values.items()) if values else ""


def _responders(
    loaded: Loaded, identity: Identity, spec: EntitySpec
) -> list[tuple[EntitySpec, str]]:
    """Entities the user may create that link to `spec` (a bid to an RFQ): (entity, field)."""
    out = []
    for other, field in loaded.catalog.specs.reverse_links(spec.qualified):
        if other.parent is None and field.type == "link" and other.qualified != spec.qualified:
            if loaded.scope(identity, other.qualified, "create") is not None:
                out.append((other, field.name))
    return out


def _plain(record: Mapping[str, Any]) -> dict[str, Any]:
    """The record with expanded links back to their ids (what conditions read)."""
    return {
        k: v["id"] if isinstance(v, Mapping) and "id" in v and not k.startswith("_") else v
        for k, v in record.items()
    }


def _rows(
    conn: sa.Connection,
    loaded: Loaded,
    identity: Identity,
    plist: PortalList,
    scope: Scope,
    locale: str,
    records: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    spec = plist.entity
    viewer = Viewer(loaded, identity)
    links = [f.name for f in plist.columns if f.type == "link"]
    items = [loaded.store.to_json(spec.qualified, r) for r in records]
    viewer.restrict_expanded(conn, spec.qualified, items, links)
    wf = loaded.workflows.workflow_for(spec.qualified)
    responders = [
        (other, field, prefill(conn, loaded, identity, other.qualified))
        for other, field in (_responders(loaded, identity, spec)[:2] if plist.respond else [])
    ]
    rows = []
    for record, item in zip(records, items, strict=True):
        item = viewer.strip(spec.qualified, item)
        row: dict[str, Any] = {
            "id": item["id"],
            "version": item.get("_version"),
            "url": f"/{spec.app}/{spec.name}/{item['id']}",
            "cells": [
                cell_text(loaded.catalog, f, item.get(f.name), locale) for f in plist.columns
            ],
            "state": wf.state_label(loaded.workflows.state_of(wf, item), locale) if wf else "",
            "confirm": plist.confirm_field is not None and not item.get(plist.confirm_field),
            "transitions": [
                (t.name, wf.transitions[t.name].title(locale) if wf else t.label)
                for t in loaded.workflows.available(identity, spec.qualified, _plain(record))
                if t.allowed and not t.comment_required
            ],
            "respond": [
                (
                    other.label(locale),
                    f"/{other.app}/{other.name}/new" + _query({field: item["id"], **fill}),
                )
                for other, field, fill in responders
            ],
        }
        rows.append(row)
    return rows


def _list(
    conn: sa.Connection, loaded: Loaded, identity: Identity, plist: PortalList, locale: str
) -> dict[str, Any]:
    spec = plist.entity
    scope = loaded.scope(identity, spec.qualified, "read")
    assert scope is not None
    links = [f.name for f in plist.columns if f.type == "link"]
    page = loaded.store.list(
        conn, spec.qualified, filter=plist.filter, sort="-id", limit=ROWS, count=True,
        expand=links, scope=scope.predicate,
    )  # fmt: skip
    new_url = None
    if loaded.scope(identity, spec.qualified, "create") is not None:
        new_url = f"/{spec.app}/{spec.name}/new" + _query(
            prefill(conn, loaded, identity, spec.qualified)
        )
    return {
        "key": f"{spec.app}-{spec.name}",
        "entity": spec,
        "label": spec.label(locale),
        "columns": [f.label(locale) for f in plist.columns],
        "rows": _rows(conn, loaded, identity, plist, scope, locale, page.items),
        "total": page.total or 0,
        "more_url": f"/{spec.app}/{spec.name}" if page.next_cursor else None,
        "new_url": new_url,
        "plist": plist,
    }


def _sections(loaded: Loaded, identity: Identity, roles: list[str]) -> list[portal.Section]:
    return portal.sections(
        loaded.catalog,
        loaded.policy,
        roles,
        hidden=lambda e: _hidden(loaded, identity, e),
        writable=lambda e: _writable(loaded, identity, e),
        readable=lambda e: loaded.scope(identity, e, "read") is not None,
    )


@router.get("/portal")
def portal_page(
    request: Request, runtime: RuntimeDep, identity: PageUser, role: str | None = None
) -> HTMLResponse:
    """The portal: the user's own records, section by section."""
    loaded = runtime.current()
    _allowed(request, loaded, identity)
    locale = locale_of(request)
    roles = portal.portal_roles(loaded.policy, identity, role)
    company = next(
        (str(v) for k, v in identity.attributes.items() if k in ("supplier", "customer") and v), ""
    )
    with reading(runtime.engine) as conn:
        sections = [
            {"key": s.key, "lists": [_list(conn, loaded, identity, pl, locale) for pl in s.lists]}
            for s in _sections(loaded, identity, roles)
        ]
    return render(
        request,
        "portal.html",
        sections=sections,
        company=company,
        roles=roles,
        preview=identity.is_admin,
        portal_roles=sorted(loaded.policy.portal_roles),
    )


def _row_response(
    request: Request,
    loaded: Loaded,
    identity: Identity,
    entity: str,
    record_id: int,
    *,
    status: int = 200,
    error: str | None = None,
    done: str | None = None,
) -> Response:
    """After an action: the record's row again (htmx), else back to the portal."""
    if not is_htmx(request):
        flash(request, error or done or "", "error" if error else "success")
        return RedirectResponse("/portal", status_code=303)
    locale = locale_of(request)
    runtime = request.app.state.runtime
    key = request.query_params.get("list", "")
    plist = next(
        (
            pl
            for s in _sections(loaded, identity, portal.portal_roles(loaded.policy, identity))
            for pl in s.lists
            if pl.entity.qualified == entity and f"{pl.entity.app}-{pl.entity.name}" == key
        ),
        None,
    )
    spec = loaded.catalog.entity(entity)
    if plist is None:
        plist = PortalList(spec, portal.list_columns(spec, _hidden(loaded, identity, entity)))
    scope = loaded.scope(identity, entity, "read")
    if scope is None:
        raise Problem(404, tr(request, "There is no such record."))
    with reading(runtime.engine) as conn:
        links = [f.name for f in plist.columns if f.type == "link"]
        try:
            record = loaded.store.get(conn, entity, record_id, expand=links, scope=scope.predicate)
        except NotFound:
            raise Problem(404, tr(request, "There is no such record.")) from None
        row = _rows(conn, loaded, identity, plist, scope, locale, [record])[0]
    return render(
        request,
        "_portal_row.html",
        status,
        row=row,
        lst={"key": key, "entity": spec, "plist": plist},
        error=error,
        done=done,
    )


def _record_error(request: Request, exc: RecordError) -> str:
    locale = locale_of(request)
    if isinstance(exc, RecordErrors):
        return "; ".join(e["message"] for e in field_errors(exc.errors, locale))
    return translate(exc.code, exc.params, locale)


def _entity(request: Request, loaded: Loaded, identity: Identity, app: str, entity: str) -> str:
    _allowed(request, loaded, identity)
    qualified = f"{app}.{entity}"
    if qualified not in loaded.catalog.specs.entities:
        raise Problem(404, tr(request, "There is no such record."))
    return qualified


@router.post("/portal/confirm/{app}/{entity}/{record_id:int}")
def confirm(
    app: str,
    entity: str,
    record_id: int,
    request: Request,
    runtime: RuntimeDep,
    identity: PageUser,
    version: Annotated[int | None, Form()] = None,
) -> Response:
    """Confirm a record (an approved order): set its confirmation field, as the user."""
    loaded = runtime.current()
    qualified = _entity(request, loaded, identity, app, entity)
    field = portal.confirm_field(
        loaded.catalog.entity(qualified), _writable(loaded, identity, qualified)
    )
    update = loaded.scope(identity, qualified, "update")
    read = loaded.scope(identity, qualified, "read")
    if field is None or update is None or read is None:
        raise Problem(404, tr(request, "There is nothing to confirm here."))
    user = user_context(identity.name, identity.roles, identity.attributes)
    try:
        with runtime.engine.begin() as conn:
            loaded.store.update(
                conn, qualified, record_id, {field: True}, version=version, actor=identity.name,
                scope=update.predicate, user=user,
            )  # fmt: skip
            loaded.store.check_exists(conn, qualified, record_id, scope=read.predicate)
    except NotFound:
        raise Problem(404, tr(request, "There is no such record.")) from None
    except RecordError as exc:
        message = _record_error(request, exc)
        return _row_response(
            request, loaded, identity, qualified, record_id, status=422, error=message
        )
    return _row_response(
        request, loaded, identity, qualified, record_id, done=tr(request, "Confirmed. Thank you!")
    )


@router.post("/portal/transition/{app}/{entity}/{record_id:int}/{name}")
def transition(
    app: str,
    entity: str,
    record_id: int,
    name: str,
    request: Request,
    runtime: RuntimeDep,
    identity: PageUser,
) -> Response:
    """Run a workflow transition the user's role may run (one that needs no comment)."""
    loaded = runtime.current()
    qualified = _entity(request, loaded, identity, app, entity)
    read = loaded.scope(identity, qualified, "read")
    if read is None:
        raise Problem(404, tr(request, "There is no such record."))
    try:
        with runtime.engine.begin() as conn:
            loaded.workflows.transition(
                conn, loaded.store, qualified, record_id, name, identity, scope=read.predicate
            )
    except NotFound:
        raise Problem(404, tr(request, "There is no such record.")) from None
    except WorkflowError as exc:
        locale = locale_of(request)
        detail = translate(exc.code, exc.params, locale) if exc.code else str(exc)
        message = str(exc) if detail == exc.code else detail
        return _row_response(
            request, loaded, identity, qualified, record_id, status=exc.status, error=message
        )
    except RecordError as exc:
        message = _record_error(request, exc)
        return _row_response(
            request, loaded, identity, qualified, record_id, status=422, error=message
        )
    return _row_response(request, loaded, identity, qualified, record_id, done=tr(request, "Done."))
