"""The REST API of every installed entity: list, create, batch, get, update, delete, history.

Routes are generic (`/api/v1/{app}/{entity}`); `openapi.py` publishes one typed path per
installed entity instead. Every query runs under the caller's scope: rows outside a record
rule are not there (404), hidden fields are neither returned nor accepted.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import orjson
import sqlalchemy as sa
from fastapi import APIRouter, Body, Header, Query, Request, Response
from fastapi.responses import JSONResponse

from appblocks.engine.access import Scope
from appblocks.engine.audit import history
from appblocks.engine.db import reading
from appblocks.engine.query import compile_search
from appblocks.engine.record_errors import FieldError, NotFound, RecordErrors
from appblocks.engine.rules import user_context
from appblocks.engine.users import Identity
from appblocks.server.auth import IdentityDep, RuntimeDep
from appblocks.server.problems import Problem
from appblocks.server.runtime import Loaded
from appblocks.server.visibility import Viewer

router = APIRouter(prefix="/api/v1", tags=["records"])
MAX_LIMIT = 200
MAX_BATCH = 1000


class FastJSONResponse(JSONResponse):
    """A JSONResponse encoded by orjson (several times faster on record pages). Anything
    orjson refuses (a key that is not a plain str, an integer past 64 bits) goes the
    standard library's way, so clients read the same JSON either way."""

    def render(self, content: Any) -> bytes:
        try:
            return orjson.dumps(content)
        except TypeError:  # orjson.JSONEncodeError
            return super().render(content)


def _entity(loaded: Loaded, app: str, entity: str) -> str:
    qualified = f"{app}.{entity}"
    if qualified not in loaded.catalog.specs.entities:
        raise Problem(404, f"no entity {qualified}")
    return qualified


def _scope(loaded: Loaded, identity: Identity, entity: str, action: str) -> Scope:
    scope = loaded.scope(identity, entity, action)
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


def record_json(
    loaded: Loaded, identity: Identity, entity: str, record: dict[str, Any]
) -> dict[str, Any]:
    """A record as JSON, without what this identity may not see (lines and links too)."""
    return Viewer(loaded, identity).strip(entity, loaded.store.to_json(entity, record))


def resolve_entity(loaded: Loaded, app: str, entity: str) -> str:
    """`app.entity`, or a 404 problem when no such entity is installed."""
    return _entity(loaded, app, entity)


def _user(identity: Identity) -> Any:
    return user_context(identity.name, identity.roles, identity.attributes)


def _outside_rule(entity: str) -> Problem:
    return Problem(
        422,
        f"the record would fall outside the {entity} records you may see",
        errors=[{"field": "", "message": "not allowed by your record rule"}],
    )


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
        raise Problem(
            422, f"filter is not JSON: {exc.msg}", errors=[{"field": "filter", "message": exc.msg}]
        ) from None
    if parsed is not None and not isinstance(parsed, dict):
        raise Problem(
            422,
            "filter must be a JSON object",
            errors=[{"field": "filter", "message": "not an object"}],
        )
    viewer = Viewer(loaded, identity)
    viewer.check_filter(qualified, parsed)
    viewer.check_sort(qualified, sort)
    predicate = scope.predicate
    if q and scope.hidden:
        # Search only the text this caller can see: hidden notes must not be searchable.
        search = compile_search(loaded.catalog, qualified, q, viewer.search_columns(qualified))
        if search is not None:
            predicate = search if predicate is None else sa.and_(predicate, search)
        q = None
    expands = _expand(expand)
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
            expand=expands,
            scope=predicate,
        )
        items = [loaded.store.to_json(qualified, r) for r in page.items]
        viewer.restrict_expanded(conn, qualified, items, expands)
    body: dict[str, Any] = {
        "items": [viewer.strip(qualified, r) for r in items],
        "next_cursor": page.next_cursor,
    }
    if count:
        body["total"] = page.total
        if page.total_is_estimate:
            body["total_is_estimate"] = True
    return FastJSONResponse(body)


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
        record = loaded.store.create(
            conn, qualified, values, actor=identity.name, user=_user(identity)
        )
        read = loaded.scope(identity, qualified, "read") or scope
        if read.predicate is not None:
            # A portal user may only create what their own rule lets them see.
            try:
                loaded.store.check_exists(conn, qualified, record["id"], scope=read.predicate)
            except NotFound:
                raise _outside_rule(qualified) from None
    return FastJSONResponse(record_json(loaded, identity, qualified, record), status_code=201)


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
        ids = loaded.store.create_many(
            conn, qualified, rows, actor=identity.name, user=_user(identity)
        )
        read = loaded.scope(identity, qualified, "read")
        if read is not None and read.predicate is not None:
            table = loaded.catalog.table(qualified)
            seen = conn.execute(
                sa.select(sa.func.count()).where(table.c.id.in_(ids), read.predicate)
            ).scalar_one()
            if seen != len(ids):
                raise _outside_rule(qualified)  # rolls the whole batch back
    return FastJSONResponse({"ids": ids, "count": len(ids)}, status_code=201)


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
    expands = _expand(expand)
    viewer = Viewer(loaded, identity)
    with reading(runtime.engine) as conn:
        record = loaded.store.get(conn, qualified, record_id, expand=expands, scope=scope.predicate)
        out = loaded.store.to_json(qualified, record)
        viewer.restrict_expanded(conn, qualified, [out], expands)
    return FastJSONResponse(viewer.strip(qualified, out))


def version_from(if_match: str | None, values: dict[str, Any]) -> int | None:
    """The version a write says it read: If-Match, else `_version` in the body."""
    return _version(if_match, values)


def _version(if_match: str | None, values: dict[str, Any]) -> int | None:
    raw = values.pop("_version", None)
    if if_match:
        raw = if_match.strip().removeprefix("W/").strip('"')
    if raw is None:
        return None
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise Problem(
            422,
            "the version must be a whole number",
            errors=[{"field": "_version", "message": "not a number"}],
        ) from None


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
            conn,
            qualified,
            record_id,
            values,
            version=version,
            actor=identity.name,
            scope=scope.predicate,
            user=_user(identity),
        )
        read = loaded.scope(identity, qualified, "read")
        if read is not None and read.predicate is not None:
            # The change must not move the record out of the caller's own rule.
            try:
                loaded.store.check_exists(conn, qualified, record["id"], scope=read.predicate)
            except NotFound:
                raise _outside_rule(qualified) from None
    return FastJSONResponse(record_json(loaded, identity, qualified, record))


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
        loaded.store.check_exists(conn, qualified, record_id, scope=scope.predicate)
        items = history(conn, qualified, record_id)
    Viewer(loaded, identity).strip_history(qualified, items)
    return JSONResponse({"items": json.loads(json.dumps(items, default=str))})
