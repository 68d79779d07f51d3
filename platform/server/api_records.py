"""The REST API of every installed entity: list, create, batch, get, update, delete, history.

Routes are generic (`/api/v1/{app}/{entity}`); `openapi.py` publishes one typed path per
installed entity instead. Every query runs under the caller's scope: rows outside a record
rule are not there (404), hidden fields are neither returned nor accepted.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Query, Request, Response
from fastapi.responses import JSONResponse

from appblocks.engine.access import Scope
from appblocks.engine.audit import history
from appblocks.engine.db import reading
from appblocks.engine.record_errors import FieldError, NotFound, RecordErrors
from appblocks.engine.users import Identity
from appblocks.server.auth import IdentityDep, RuntimeDep
from appblocks.server.problems import Problem
from appblocks.server.runtime import Loaded

router = APIRouter(prefix="/api/v1", tags=["records"])
MAX_LIMIT = 200
MAX_BATCH = 1000


def _entity(loaded: Loaded, app: str, entity: str) -> str:
    qualified = f"{app}.{entity}"
    if qualified not in loaded.catalog.specs.entities:
        raise Problem(404, f"no entity {qualified}")
    return qualified


def _scope(loaded: Loaded, identity: Identity, entity: str, action: str) -> Scope:
    scope = loaded.policy.scope(identity, entity, action)
    if scope is None:
        if action != "read" and loaded.policy.can(identity, entity, "read"):
            raise Problem(403, f"your roles may not {action} {entity}")
        raise Problem(404, f"no entity {entity}")
    return scope


def _check_writable(scope: Scope, values: Any) -> None:
    if not isinstance(values, dict):
        raise RecordErrors([FieldError.of("not_a_record", "")])
    blocked = [k for k in values if k in scope.hidden or k in scope.read_only]
    if blocked:
        raise RecordErrors([FieldError(k, "you may not change this field") for k in blocked])


def _out(loaded: Loaded, scope: Scope, entity: str, record: dict[str, Any]) -> dict[str, Any]:
    return scope.visible(loaded.store.to_json(entity, record))


def _expand(expand: str | None) -> list[str]:
    return [e.strip() for e in (expand or "").split(",") if e.strip()]


@router.get("/{app}/{entity}", include_in_schema=False)
def list_records(
    app: str,
    entity: str,
    runtime: RuntimeDep,
    identity: IdentityDep,
    filter: Annotated[str | None, Query(max_length=8000)] = None,
    sort: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 25,
    cursor: Annotated[str | None, Query(max_length=2000)] = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    count: bool = False,
    expand: Annotated[str | None, Query(max_length=500)] = None,
) -> JSONResponse:
    """A page of records (keyset pagination)."""
    loaded = runtime.current()
    qualified = _entity(loaded, app, entity)
    scope = _scope(loaded, identity, qualified, "read")
    try:
        parsed = json.loads(filter) if filter else None
    except json.JSONDecodeError as exc:
        raise Problem(422, f"filter is not JSON: {exc.msg}", errors=[{"field": "filter", "message": exc.msg}]) from None
    if parsed is not None and not isinstance(parsed, dict):
        raise Problem(422, "filter must be a JSON object", errors=[{"field": "filter", "message": "not an object"}])
    if parsed and scope.hidden and any(k.split(".")[0] in scope.hidden for k in parsed):
        raise Problem(422, "cannot filter on a hidden field")
    with reading(runtime.engine) as conn:
        page = loaded.store.list(
            conn,
            qualified,
            filter=parsed,
            sort=sort,
            limit=limit,
            cursor=cursor,
            q=q,
            count=count,
            expand=_expand(expand),
            scope=scope.predicate,
        )
    body: dict[str, Any] = {
        "items": [_out(loaded, scope, qualified, r) for r in page.items],
        "next_cursor": page.next_cursor,
    }
    if count:
        body["total"] = page.total
        if page.total_is_estimate:
            body["total_is_estimate"] = True
    return JSONResponse(body)


@router.post("/{app}/{entity}", include_in_schema=False, status_code=201)
def create_record(
    app: str,
    entity: str,
    runtime: RuntimeDep,
    identity: IdentityDep,
    values: Annotated[Any, Body()],
) -> JSONResponse:
    """Create one record."""
    loaded = runtime.current()
    qualified = _entity(loaded, app, entity)
    scope = _scope(loaded, identity, qualified, "create")
    _check_writable(scope, values)
    for owner in scope.owner_fields:
        values[owner] = identity.name
    with runtime.engine.begin() as conn:
        record = loaded.store.create(conn, qualified, values, actor=identity.name)
        read = loaded.policy.scope(identity, qualified, "read") or scope
        if read.predicate is not None:
            # A portal user may only create what their own rule lets them see.
            loaded.store.get(conn, qualified, record["id"], scope=read.predicate)
    return JSONResponse(_out(loaded, read, qualified, record), status_code=201)


@router.post("/{app}/{entity}/batch", include_in_schema=False, status_code=201)
def create_batch(
    app: str,
    entity: str,
    runtime: RuntimeDep,
    identity: IdentityDep,
    rows: Annotated[Any, Body()],
) -> JSONResponse:
    """Create up to 1,000 records: all or none."""
    loaded = runtime.current()
    qualified = _entity(loaded, app, entity)
    scope = _scope(loaded, identity, qualified, "create")
    if not isinstance(rows, list) or not rows or len(rows) > MAX_BATCH:
        raise Problem(422, f"send a JSON list of 1 to {MAX_BATCH} records")
    errors: list[FieldError] = []
    for index, values in enumerate(rows):
        try:
            _check_writable(scope, values)
        except RecordErrors as exc:
            errors += [e.at(index) for e in exc.errors]
            continue
        for owner in scope.owner_fields:
            values[owner] = identity.name
    if errors:
        raise RecordErrors(errors)
    with runtime.engine.begin() as conn:
        ids = loaded.store.create_many(conn, qualified, rows, actor=identity.name)
    return JSONResponse({"ids": ids, "count": len(ids)}, status_code=201)


@router.get("/{app}/{entity}/{record_id}", include_in_schema=False)
def get_record(
    app: str,
    entity: str,
    record_id: int,
    runtime: RuntimeDep,
    identity: IdentityDep,
    expand: Annotated[str | None, Query(max_length=500)] = None,
) -> JSONResponse:
    """One record; `expand` inlines links and lines."""
    loaded = runtime.current()
    qualified = _entity(loaded, app, entity)
    scope = _scope(loaded, identity, qualified, "read")
    with reading(runtime.engine) as conn:
        record = loaded.store.get(
            conn, qualified, record_id, expand=_expand(expand), scope=scope.predicate
        )
    return JSONResponse(_out(loaded, scope, qualified, record))


def _version(if_match: str | None, values: dict[str, Any]) -> int | None:
    raw = values.pop("_version", None)
    if if_match:
        raw = if_match.strip().removeprefix("W/").strip('"')
    if raw is None:
        return None
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise Problem(422, "the version must be a whole number", errors=[{"field": "_version", "message": "not a number"}]) from None


@router.patch("/{app}/{entity}/{record_id}", include_in_schema=False)
def update_record(
    app: str,
    entity: str,
    record_id: int,
    runtime: RuntimeDep,
    identity: IdentityDep,
    values: Annotated[Any, Body()],
    if_match: Annotated[str | None, Header()] = None,
) -> JSONResponse:
    """Change the given fields; needs the version you read (If-Match or `_version`)."""
    loaded = runtime.current()
    qualified = _entity(loaded, app, entity)
    scope = _scope(loaded, identity, qualified, "update")
    if not isinstance(values, dict):
        raise RecordErrors([FieldError.of("not_a_record", "")])
    version = _version(if_match, values)
    _check_writable(scope, values)
    with runtime.engine.begin() as conn:
        record = loaded.store.update(
            conn, qualified, record_id, values, version=version, actor=identity.name,
            scope=scope.predicate,
        )
    read = loaded.policy.scope(identity, qualified, "read") or scope
    return JSONResponse(_out(loaded, read, qualified, record))


@router.delete("/{app}/{entity}/{record_id}", include_in_schema=False, status_code=204)
def delete_record(
    app: str,
    entity: str,
    record_id: int,
    runtime: RuntimeDep,
    identity: IdentityDep,
    if_match: Annotated[str | None, Header()] = None,
) -> Response:
    """Delete a record (409 while a restricting link points at it)."""
    loaded = runtime.current()
    qualified = _entity(loaded, app, entity)
    scope = _scope(loaded, identity, qualified, "delete")
    version = _version(if_match, {})
    with runtime.engine.begin() as conn:
        loaded.store.delete(
            conn, qualified, record_id, version=version, actor=identity.name, scope=scope.predicate
        )
    return Response(status_code=204)


@router.get("/{app}/{entity}/{record_id}/history", include_in_schema=False)
def record_history(
    app: str,
    entity: str,
    record_id: int,
    runtime: RuntimeDep,
    identity: IdentityDep,
    request: Request,
) -> JSONResponse:
    """Audit entries of the record, newest first."""
    loaded = runtime.current()
    qualified = _entity(loaded, app, entity)
    scope = _scope(loaded, identity, qualified, "read")
    with reading(runtime.engine) as conn:
        try:
            loaded.store.get(conn, qualified, record_id, scope=scope.predicate)
        except NotFound:
            raise
        items = history(conn, qualified, record_id)
    if scope.hidden:
        for item in items:
            for key in ("before", "after"):
                if isinstance(item.get(key), dict):
                    item[key] = {k: v for k, v in item[key].items() if k not in scope.hidden}
    return JSONResponse({"items": json.loads(json.dumps(items, default=str))})
