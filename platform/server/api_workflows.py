"""Workflow transitions and the approval inbox over REST.

`POST /api/v1/{app}/{entity}/{id}/transitions/{name}` moves a record (200 with the record;
403 for a role that may not; 409 from the wrong state or a failing `when`). `/api/v1/tasks`
is the signed-in user's inbox; a task is decided or delegated by its id.
"""

from __future__ import annotations

import decimal
from typing import Annotated, Any

from fastapi import APIRouter, Body, FastAPI, Header, Request
from fastapi.responses import JSONResponse

from appblocks.engine.db import reading
from appblocks.engine.i18n import translate
from appblocks.server.api_records import record_json, resolve_entity, version_from
from appblocks.server.auth import IdentityDep, RuntimeDep
from appblocks.server.problems import Problem, locale_of, problem_response
from appblocks.workflows import approvals
from appblocks.workflows.specs import WorkflowError

router = APIRouter(prefix="/api/v1", tags=["workflows"])


def _comment(body: Any) -> str | None:
    if body is None:
        return None
    if not isinstance(body, dict):
        raise Problem(422, 'send a JSON object, e.g. {"comment": "..."}')
    comment = body.get("comment")
    if comment is not None and (not isinstance(comment, str) or len(comment) > 4000):
        raise Problem(422, "comment must be text of at most 4,000 characters")
    return comment.strip() if isinstance(comment, str) and comment.strip() else None


@router.get("/tasks", summary="The approvals waiting for the signed-in user")
def inbox(runtime: RuntimeDep, identity: IdentityDep, status: str = "open") -> JSONResponse:
    """Open tasks assigned to the user or one of their roles, newest first."""
    if status not in ("open", "approved", "rejected", "delegated", "cancelled"):
        raise Problem(422, "status is one of open, approved, rejected, delegated, cancelled")
    loaded = runtime.current()
    with reading(runtime.engine) as conn:
        tasks = approvals.inbox(conn, identity, status=status, engine=loaded.workflows)
    return JSONResponse({"items": [_jsonable(t) for t in tasks]})


@router.post("/tasks/{task_id}/{decision}", summary="Approve or reject a task")
def decide(
    task_id: int,
    decision: str,
    runtime: RuntimeDep,
    identity: IdentityDep,
    body: Annotated[Any, Body()] = None,
) -> JSONResponse:
    """`approve` or `reject` (a rejection needs a comment); `delegate` passes it on."""
    loaded = runtime.current()
    if decision == "delegate":
        if not isinstance(body, dict) or not isinstance(body.get("to"), str):
            raise Problem(422, 'send {"to": "user name", "comment": "..."}')
        with runtime.engine.begin() as conn:
            task = approvals.delegate(conn, task_id, identity, body["to"], _comment(body))
        return JSONResponse(_jsonable(task))
    if decision not in ("approve", "reject"):
        raise Problem(404, f"no such action on a task: {decision}")
    with runtime.engine.begin() as conn:
        record = approvals.decide(
            conn, loaded.store, loaded.workflows, task_id, identity, decision, _comment(body)
        )
    return JSONResponse(_jsonable(record))


@router.get("/{app}/{entity}/{record_id}/transitions", include_in_schema=False)
def available(
    app: str, entity: str, record_id: int, runtime: RuntimeDep, identity: IdentityDep
) -> JSONResponse:
    """The transitions the caller may run on the record now, and why others are closed."""
    loaded = runtime.current()
    qualified = resolve_entity(loaded, app, entity)
    scope = loaded.policy.scope(identity, qualified, "read")
    if scope is None:
        raise Problem(404, f"no entity {qualified}")
    with reading(runtime.engine) as conn:
        record = loaded.store.get(conn, qualified, record_id, scope=scope.predicate)
    infos = loaded.workflows.available(identity, qualified, record)
    return JSONResponse(
        {
            "state": record.get("_state"),
            "items": [
                {
                    "name": i.name,
                    "label": i.label,
                    "to": i.to,
                    "allowed": i.allowed,
                    "reason": i.reason,
                    "comment_required": i.comment_required,
                }
                for i in infos
            ],
        }
    )


@router.post("/{app}/{entity}/{record_id}/transitions/{name}", include_in_schema=False)
def run_transition(
    app: str,
    entity: str,
    record_id: int,
    name: str,
    runtime: RuntimeDep,
    identity: IdentityDep,
    body: Annotated[Any, Body()] = None,
    if_match: Annotated[str | None, Header()] = None,
) -> JSONResponse:
    """Run a named transition; the record after it."""
    loaded = runtime.current()
    qualified = resolve_entity(loaded, app, entity)
    scope = loaded.policy.scope(identity, qualified, "read")
    if scope is None:
        raise Problem(404, f"no entity {qualified}")
    version = version_from(if_match, dict(body) if isinstance(body, dict) else {})
    with runtime.engine.begin() as conn:
        record = loaded.workflows.transition(
            conn,
            loaded.store,
            qualified,
            record_id,
            name,
            identity,
            comment=_comment(body),
            version=version,
            scope=scope.predicate,
        )
    return JSONResponse(record_json(loaded, identity, qualified, record))


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    return value


def install_workflow_errors(app: FastAPI) -> None:
    """Workflow errors as problem+json with the status each one carries."""

    async def handle(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, WorkflowError)
        locale = locale_of(request)
        detail = translate(exc.code, exc.params, locale) if exc.code else str(exc)
        if detail == exc.code:
            detail = str(exc)
        return problem_response(request, exc.status, detail)

    app.add_exception_handler(WorkflowError, handle)
