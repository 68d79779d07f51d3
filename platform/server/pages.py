"""HTML pages: sign-in and sign-out (the work pages build on this shell)."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlparse

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, PackageLoader, select_autoescape

from appblocks.engine.i18n import translate
from appblocks.engine.users import authenticate, throttled
from appblocks.server.auth import RuntimeDep, check_csrf, csrf_token
from appblocks.server.problems import locale_of

templates = Jinja2Templates(
    env=Environment(
        loader=PackageLoader("appblocks.ui", "templates"), autoescape=select_autoescape()
    )
)
router = APIRouter(include_in_schema=False)


def render(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    """A page in the caller's language, with the session's CSRF token."""
    locale = locale_of(request)
    context.update(
        locale=locale,
        csrf=csrf_token(request),
        t=lambda text: translate(text, {}, locale, plain=True),
    )
    return templates.TemplateResponse(request, name, context, status_code=status)


def _safe_next(target: str | None) -> str:
    # Only same-site paths: an open redirect would turn the sign-in page into a phishing aid.
    if not target or not target.startswith("/") or target.startswith("//"):
        return "/"
    parsed = urlparse(target)
    return "/" if parsed.scheme or parsed.netloc else target


@router.get("/login")
def login_page(request: Request, next: str | None = None) -> HTMLResponse:
    """The sign-in form."""
    return render(request, "login.html", next=_safe_next(next), username="", error=None)


@router.post("/login")
async def login(
    request: Request,
    runtime: RuntimeDep,
    username: Annotated[str, Form(max_length=150)],
    password: Annotated[str, Form(max_length=1024)],
    next: Annotated[str | None, Form()] = None,
) -> Response:
    """Check the password, start a session, go where the user was heading."""
    await check_csrf(request)
    locale = locale_of(request)
    address = request.client.host if request.client else None
    with runtime.engine.begin() as conn:
        if throttled(conn, username):
            message = translate(
                "Too many failed sign-ins; wait 15 minutes.", {}, locale, plain=True
            )
            identity = None
        else:
            identity = authenticate(conn, username, password, address=address)
            message = translate("Wrong user name or password.", {}, locale, plain=True)
    if identity is None:
        return render(
            request, "login.html", 401, next=_safe_next(next), username=username, error=message
        )
    request.session.clear()  # a new session on sign-in: no fixation of an old one
    request.session["user"] = identity.name
    csrf_token(request)
    return RedirectResponse(_safe_next(next), status_code=303)


@router.post("/logout")
async def logout(request: Request) -> Response:
    """End the session."""
    await check_csrf(request)
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


@router.get("/api/v1/auth/csrf")
def csrf(request: Request) -> dict[str, str]:
    """The CSRF token of the cookie session (htmx sends it as X-CSRF-Token)."""
    return {"csrf_token": csrf_token(request)}


@router.get("/")
def home(request: Request) -> Response:
    """The start page: sign in first; the app launcher arrives with the work pages."""
    if not request.session.get("user"):
        return RedirectResponse("/login?next=/", status_code=303)
    return RedirectResponse("/api/docs", status_code=303)
