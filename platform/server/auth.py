"""Who is calling: bearer tokens for the API, signed cookies (with CSRF) for pages."""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from appblocks.engine.db import reading
from appblocks.engine.users import (
    Identity,
    authenticate,
    identity_of,
    issue_token,
    revoke_token,
    throttled,
)
from appblocks.server.problems import Problem
from appblocks.server.runtime import Runtime

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"


async def get_runtime(request: Request) -> Runtime:
    """The process's runtime (engine and catalog)."""
    # async: FastAPI runs a plain `def` dependency in a worker thread, a hop per request.
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def csrf_token(request: Request) -> str:
    """The session's CSRF token, created on first use (htmx sends it in X-CSRF-Token)."""
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return str(token)


async def check_csrf(request: Request) -> None:
    """403 unless the request carries the session's CSRF token (header or form field)."""
    expected = request.session.get("csrf")
    given = request.headers.get(CSRF_HEADER)
    form = None
    if given is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        given = value if isinstance(value, str) else None
    if not expected or not given or not hmac.compare_digest(str(expected), given):
        if form is not None:
            await form.close()  # an upload's temporary files, closed before the refusal
        raise Problem(403, "CSRF token missing or wrong: reload the page and try again")


async def current_identity(request: Request) -> Identity:
    """The signed-in identity (bearer token, else session cookie); 401 when there is none."""
    # The runtime is read here, not injected: a sub-dependency costs FastAPI a second solve
    # on every request.
    runtime: Runtime = request.app.state.runtime
    cached: Identity | None = getattr(request.state, "identity", None)
    if cached is not None:
        return cached
    header = request.headers.get("authorization", "")
    identity: Identity | None = None
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Problem(
                401, "use 'Authorization: Bearer <token>'", headers={"WWW-Authenticate": "Bearer"}
            )
        token = token.strip()
        # Cached for a couple of seconds (see runtime.py); a miss reads the database in a
        # worker thread, never on the event loop.
        identity = runtime.cached_identity(token)
        if identity is None:
            identity = await run_in_threadpool(runtime.token_identity, token)
        if identity is None:
            raise Problem(
                401,
                "the token is unknown, expired or revoked",
                headers={"WWW-Authenticate": "Bearer"},
            )
    else:
        name = request.session.get("user")
        if name:
            with reading(runtime.engine) as conn:
                identity = identity_of(conn, str(name))
        if identity is None:
            raise Problem(401, "sign in first", headers={"WWW-Authenticate": "Bearer"})
        # A cookie is sent by the browser on its own: unsafe requests must prove intent.
        if request.method not in SAFE_METHODS:
            await check_csrf(request)
    request.state.identity = identity
    return identity


IdentityDep = Annotated[Identity, Depends(current_identity)]

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


@router.post("/token", summary="Exchange a user name and password for a bearer token")
def token(
    request: Request,
    runtime: RuntimeDep,
    username: Annotated[str, Form(max_length=150)],
    password: Annotated[str, Form(max_length=1024)],
) -> JSONResponse:
    """OAuth2 password flow: `{"access_token", "token_type": "bearer"}`."""
    address = request.client.host if request.client else None
    with runtime.engine.begin() as conn:
        if throttled(conn, username):
            raise Problem(429, "too many failed sign-ins for this user; wait 15 minutes")
        identity = authenticate(conn, username, password, address=address)
        issued = issue_token(conn, identity.name) if identity is not None else None
    # Raised after the block: the failed attempt must commit so that throttling counts it.
    if issued is None:
        raise Problem(401, "wrong user name or password")
    return JSONResponse({"access_token": issued, "token_type": "bearer"})


@router.delete("/token", status_code=204, summary="Revoke the bearer token of this request")
def revoke(request: Request, runtime: RuntimeDep, identity: IdentityDep) -> None:
    """Sign the token out."""
    _, _, value = request.headers.get("authorization", "").partition(" ")
    with runtime.engine.begin() as conn:
        revoke_token(conn, value.strip())
    runtime.forget_token(value.strip())


@router.get("/csrf", summary="The CSRF token of the cookie session")
def csrf(request: Request) -> dict[str, str]:
    """What a page's script sends as X-CSRF-Token on unsafe requests."""
    return {"csrf_token": csrf_token(request)}


@router.get("/me", summary="The signed-in user")
def me(identity: IdentityDep) -> dict[str, object]:
    """Name, roles and attributes of the caller."""
    return {
        "name": identity.name,
        "roles": sorted(identity.roles),
        "attributes": dict(identity.attributes),
        "locale": identity.locale,
    }
