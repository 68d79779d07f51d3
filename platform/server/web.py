"""What every HTML page shares: templates, translations, the signed-in user, flash messages.

Pages are one route and one template per screen. A normal request gets the whole page; an
htmx request (`HX-Request`, not boosted) may ask for a named block only (`render(..., block=)`),
rendered by jinja2-fragments from the same template. UI text goes through Babel catalogs
(`ui/translations/<locale>/LC_MESSAGES/*.po`, every file of a locale merged; English is the
msgid), numbers and dates through Babel's locale data. Datetimes are shown and typed in the
reader's time zone (`zone_name`): their own setting, else the deployment's default.
"""

from __future__ import annotations

import datetime as dt
import inspect
import json
from collections.abc import Callable, Mapping
from functools import cache
from importlib.resources import files
from typing import Annotated, Any
from urllib.parse import quote

from babel.messages.pofile import read_po
from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from jinja2_fragments import render_block
from markupsafe import escape
from starlette.concurrency import run_in_threadpool

from appblocks.engine.db import reading
from appblocks.engine.spec import label_text
from appblocks.engine.users import Identity, identity_of, time_zone_problem
from appblocks.server.auth import check_csrf, csrf_token
from appblocks.server.problems import locale_of
from appblocks.server.runtime import Loaded, Runtime
from appblocks.views import display
from appblocks.workflows import approvals

LOCALES = ("en", "zh-CN")
#: The zones offered in the time zone menu (the user's own and the default are added).
TIME_ZONES = (
    "Asia/Shanghai",
    "Asia/Hong_Kong",
    "Asia/Taipei",
    "Asia/Tokyo",
    "Asia/Seoul",
    "Asia/Singapore",
    "Asia/Kolkata",
    "Asia/Dubai",
    "Europe/London",
    "Europe/Paris",
    "Europe/Berlin",
    "Europe/Moscow",
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
    "America/Sao_Paulo",
    "Australia/Sydney",
    "UTC",
)


class SignInRequired(Exception):
    """A page was asked for without a session: the handler sends the browser to /login."""

    def __init__(self, target: str) -> None:
        self.target = target


# --- translations ---------------------------------------------------------------------------


@cache
def catalog(locale: str) -> Mapping[str, str]:
    """msgid -> translation for `locale`, from every .po file of it (read once)."""
    folder = files("appblocks.ui").joinpath("translations", locale.replace("-", "_"), "LC_MESSAGES")
    out: dict[str, str] = {}
    if not folder.is_dir():
        return out
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".po"):
            continue
        with entry.open("rb") as handle:
            for message in read_po(handle, locale=locale.replace("-", "_")):
                if message.id and message.string and not message.fuzzy:
                    key = message.id if isinstance(message.id, str) else message.id[0]
                    value = message.string if isinstance(message.string, str) else message.string[0]
                    out[key] = value
    return out


def gettext_for(locale: str) -> Callable[..., str]:
    """`_("text", **params)` in `locale`: the catalog's translation, %-formatted with params."""
    table = catalog(locale) if locale != "en" else {}

    def gettext(message: str, **params: Any) -> str:
        text = table.get(message, message)
        return text % params if params else text

    return gettext


def ngettext_for(locale: str) -> Callable[..., str]:
    """Plural forms (zh-CN has one form; English two)."""
    gettext = gettext_for(locale)

    def ngettext(singular: str, plural: str, n: int, **params: Any) -> str:
        params.setdefault("num", n)
        return gettext(singular if n == 1 else plural, **params)

    return ngettext


def tr(request: Request, message: str, **params: Any) -> str:
    """UI text in the caller's language (the extraction keyword for Python code is `tr`)."""
    return gettext_for(locale_of(request))(message, **params)


# --- time zones -----------------------------------------------------------------------------


def default_zone_name(request: Request) -> str:
    """The deployment's zone ($APPBLOCKS_TIMEZONE, UTC when unset)."""
    settings = getattr(request.app.state, "settings", None)
    return str(getattr(settings, "time_zone", None) or "UTC")


def zone_name(request: Request) -> str:
    """The zone the caller reads and types datetimes in: their own setting, else the
    deployment's default (a stored name this machine does not know falls back too)."""
    identity = getattr(request.state, "identity", None)
    own = getattr(identity, "time_zone", None)
    if own and time_zone_problem(own) is None:
        return str(own)
    return default_zone_name(request)


def zone_of(request: Request) -> dt.tzinfo:
    """The caller's zone as a tzinfo (see `zone_name`)."""
    return display.zone(zone_name(request))


def zone_choices(current: str, default: str) -> list[tuple[str, str]]:
    """(name, label) of the zones the menu offers: the short list plus the current and the
    default one, each labelled with its offset now (`Asia/Shanghai (UTC+08:00)`)."""
    names = list(dict.fromkeys([*TIME_ZONES, default, current]))
    now = dt.datetime.now(dt.UTC)
    out = []
    for name in names:
        offset = now.astimezone(display.zone(name)).strftime("%z") or "+0000"
        out.append((name, f"{name} (UTC{offset[:3]}:{offset[3:]})"))
    return out


# --- templates ------------------------------------------------------------------------------

environment = Environment(
    loader=PackageLoader("appblocks.ui", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    extensions=["jinja2.ext.i18n"],
    trim_blocks=True,
    lstrip_blocks=True,
)
environment.policies["ext.i18n.trimmed"] = True
environment.filters["urlquote"] = lambda value: quote(str(value), safe="")


def is_htmx(request: Request) -> bool:
    """An htmx request that wants a fragment (not a boosted page load, nor a history restore
    after a cache miss, which needs the whole page)."""
    headers = request.headers
    return (
        headers.get("hx-request") == "true"
        and not headers.get("hx-boosted")
        and not headers.get("hx-history-restore-request")
    )


def page_context(request: Request, locale: str | None = None) -> dict[str, Any]:
    """What every template may use: locale, translations, CSRF token, user, formatting."""
    locale = locale or locale_of(request)
    gettext = gettext_for(locale)
    identity: Identity | None = getattr(request.state, "identity", None)
    zone = zone_name(request)
    tz = display.zone(zone)
    return {
        "request": request,
        "locale": locale,
        "locales": LOCALES,
        "csrf": csrf_token(request),
        "user": identity,
        "_": gettext,
        "gettext": gettext,
        "ngettext": ngettext_for(locale),
        "label": lambda value, fallback="": label_text(value, locale, fallback),
        "fmt_number": lambda value, digits=None: display.number(value, locale, digits),
        "fmt_date": lambda value: display.date(value, locale),
        "fmt_datetime": lambda value: display.datetime(value, locale, tz),
        "time_zone": zone,
        "time_zones": lambda: zone_choices(zone, default_zone_name(request)),
        "flashes": pop_flashes(request),
        "nav": getattr(request.state, "nav", None),
        "open_tasks": getattr(request.state, "open_tasks", 0),
    }


def render(
    request: Request,
    template: str | list[str],
    status: int = 200,
    *,
    block: str | None = None,
    headers: Mapping[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    """A page (or, with `block`, one named block of it) in the caller's language.

    `template` may be a list, most specific first (`list-srm-supplier.html`, `list.html`)."""
    ctx = page_context(request)
    ctx.update(context)
    chosen = environment.select_template(template if isinstance(template, list) else [template])
    if block is not None:
        html = render_block(environment, chosen.name or "", block, **ctx)
    else:
        html = chosen.render(ctx)
    return HTMLResponse(html, status_code=status, headers=dict(headers or {}))


async def with_form(request: Request, handler: Callable[..., Response], *args: Any) -> Response:
    """`handler(*args, form)` in a worker thread with the submitted form; an upload's spooled
    files are closed afterwards whatever happens."""
    data = await request.form()
    try:
        return await run_in_threadpool(handler, *args, data)
    finally:
        await data.close()


# --- flash messages -------------------------------------------------------------------------


def flash(request: Request, message: str, kind: str = "info") -> None:
    """A message shown once on the next page (kinds: info, success, error)."""
    request.session.setdefault("flashes", [])
    request.session["flashes"] = [*request.session["flashes"], [kind, message]][-5:]


def pop_flashes(request: Request) -> list[tuple[str, str]]:
    """The flash messages waiting for this session, removed as they are read."""
    if "flashes" not in request.session:
        return []
    items = request.session.pop("flashes") or []
    return [(str(k), str(m)) for k, m in items]


# --- the signed-in user ---------------------------------------------------------------------


async def page_identity(request: Request) -> Identity:
    """The user behind the session cookie; without one, the browser goes to /login first.

    Unsafe methods must carry the CSRF token (the cookie is sent by the browser on its own)."""
    runtime: Runtime = request.app.state.runtime
    name = request.session.get("user")
    identity, open_tasks = None, 0
    if name:
        # The database is read in a worker thread, never on the event loop.
        identity, open_tasks = await run_in_threadpool(_session_user, runtime, str(name))
    if identity is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequired(target if request.method == "GET" else "/")
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        await check_csrf(request)
    request.state.identity = identity
    # Modules that thread only the locale (list cells, cards, record pages) read the zone here.
    display.TIME_ZONE.set(zone_of(request))
    request.state.open_tasks = open_tasks
    request.state.nav = navigation(runtime.current(), identity, locale_of(request))
    return identity


PageUser = Annotated[Identity, Depends(page_identity)]


def _session_user(runtime: Runtime, name: str) -> tuple[Identity | None, int]:
    with reading(runtime.engine) as conn:
        identity = identity_of(conn, name)
        return identity, approvals.open_count(conn, identity) if identity is not None else 0


def navigation(loaded: Loaded, identity: Identity, locale: str) -> list[dict[str, Any]]:
    """Apps the user may open, each with its entities, views and dashboards."""
    return display.navigation(loaded.catalog, loaded.policy, identity, locale)


def form_values(form: Mapping[str, Any]) -> dict[str, Any]:
    """A submitted form as a plain dict without the CSRF field."""
    return {k: v for k, v in form.items() if k != "csrf_token"}


# --- errors on pages ------------------------------------------------------------------------


def install_page_errors(app: FastAPI) -> None:
    """Errors on pages as pages: the API keeps problem+json; a page gets an error page, an
    htmx request a short message (the toast shows it) with the same status."""
    app.add_exception_handler(SignInRequired, _sign_in)
    for kind, original in list(app.exception_handlers.items()):
        if kind in (SignInRequired,) or not isinstance(kind, type):
            continue
        app.add_exception_handler(kind, _for_pages(original))


def _sign_in(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SignInRequired)
    target = "/login?next=" + quote(exc.target, safe="/")
    if is_htmx(request):
        return Response(status_code=204, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


def _for_pages(original: Callable[..., Any]) -> Callable[..., Any]:
    async def handler(request: Request, exc: Exception) -> Response:
        result = original(request, exc)
        response: Response = await result if inspect.isawaitable(result) else result
        if request.url.path.startswith("/api/") or request.url.path == "/openapi.json":
            return response
        try:
            problem = json.loads(bytes(response.body))
        except ValueError:
            return response
        detail = str(problem.get("detail") or problem.get("title") or "")
        errors = problem.get("errors") or []
        if is_htmx(request):
            text = "; ".join([detail] + [str(e.get("message")) for e in errors if e.get("field")])
            return HTMLResponse(
                f'<p class="problem" role="alert">{escape(text)}</p>',
                status_code=response.status_code,
            )
        return render(
            request,
            "error.html",
            response.status_code,
            title=problem.get("title"),
            detail=detail,
            errors=errors,
            code=response.status_code,
        )

    return handler
