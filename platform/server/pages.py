"""HTML pages: sign-in and sign-out (the work pages build on this shell)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlparse

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from appblocks.engine.users import (
    UserError,
    authenticate,
    set_locale,
    set_time_zone,
    throttled,
    time_zone_problem,
)
from appblocks.server.auth import RuntimeDep, check_csrf, csrf_token
from appblocks.server.problems import Problem, locale_of
from appblocks.server.web import LOCALES, PageUser, flash, gettext_for, render, tr

router = APIRouter(include_in_schema=False)


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
    time_zone: Annotated[str | None, Form(max_length=64)] = None,
) -> Response:
    """Check the password, start a session, go where the user was heading. A user without a
    time zone of their own gets the browser's (sent by app.js; ignored when not a zone)."""
    await check_csrf(request)
    locale = locale_of(request)
    address = request.client.host if request.client else None
    with runtime.engine.begin() as conn:
        if throttled(conn, username):
            message = gettext_for(locale)("Too many failed sign-ins; wait 15 minutes.")
            identity = None
        else:
            identity = authenticate(conn, username, password, address=address)
            message = gettext_for(locale)("Wrong user name or password.")
            browser_zone = (time_zone or "").strip()
            if identity is not None and identity.time_zone is None and browser_zone:
                if time_zone_problem(browser_zone) is None:
                    set_time_zone(conn, identity.name, browser_zone)
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


@router.get("/")
def home(request: Request, runtime: RuntimeDep, identity: PageUser) -> Response:
    """The app launcher: the apps this user may open (portal users go to their portal)."""
    loaded = runtime.current()
    if loaded.policy.is_portal(identity) and not identity.is_admin:
        return RedirectResponse("/portal", status_code=303)
    return render(request, "launcher.html", apps=request.state.nav)


# Registered after every other page router: `/{app}` would otherwise shadow `/tasks` & co.
late_router = APIRouter(include_in_schema=False)


@late_router.get("/{app}")
def app_home(app: str, request: Request, runtime: RuntimeDep, identity: PageUser) -> Response:
    """One app: its entities, views and dashboards as tiles."""
    found = next((a for a in request.state.nav if a["app"] == app), None)
    if found is None:
        raise Problem(404, tr(request, "There is no such app, or you may not open it."))
    return render(request, "app.html", app=found)


@router.post("/preferences/language")
async def set_language(request: Request, runtime: RuntimeDep, identity: PageUser) -> Response:
    """Keep the user's language (their setting wins over the browser's) and go back."""
    form = await request.form()
    locale = str(form.get("locale", ""))
    if locale not in LOCALES:
        raise Problem(422, tr(request, "Unknown language."))
    with runtime.engine.begin() as conn:
        set_locale(conn, identity.name, locale)
    flash(request, gettext_for(locale)("Language changed."), "success")
    return RedirectResponse(_safe_next(str(form.get("next") or "/")), status_code=303)


@router.post("/preferences/time-zone")
async def set_time_zone_page(request: Request, runtime: RuntimeDep, identity: PageUser) -> Response:
    """Keep the zone the user reads and types datetimes in, and go back."""
    form = await request.form()
    name = str(form.get("time_zone", "")).strip()
    with runtime.engine.begin() as conn:
        try:
            set_time_zone(conn, identity.name, name)
        except UserError:
            raise Problem(422, tr(request, "Unknown time zone: %(name)s", name=name[:64])) from None
    flash(request, tr(request, "Time zone changed to %(name)s.", name=name), "success")
    return RedirectResponse(_safe_next(str(form.get("next") or "/")), status_code=303)
