"""Browser tests: a real server with SRM and CRM and their demo data, driven by Debian's
chromium through Playwright, signing in like a person. Screenshots land in
`test-artifacts/screens/` (look at them: a test cannot tell whether a page reads well).

Page tests that need no browser use `pages` (httpx with a signed-in cookie session).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from appblocks.engine.blueprints import install
from appblocks.engine.db import create_engine
from appblocks.engine.loader import load_blueprint
from appblocks.engine.users import create_user
from appblocks.workflows.assembly import store_factory
from tests.conftest import fresh_database
from tests.server.conftest import BLUEPRINTS, PASSWORD, ROLE_USERS, Live, serve

CHROMIUM = os.environ.get("APPBLOCKS_CHROMIUM", "/usr/bin/chromium")
SCREENS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screens"


@pytest.fixture(scope="session")
def ui_live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """One server for the browser tests (SQLite): SRM + CRM with demo data, a user per role.
    Tests that change data make their own records, so they do not depend on each other."""
    with fresh_database("sqlite", tmp_path_factory.mktemp("uidb")) as url:
        engine = create_engine(url)
        # Seeded the way `make run` seeds (workflows start their records, automations stay
        # quiet), so the pages show what a user of the demo sees.
        for app in ("crm", "srm"):
            install(
                engine,
                load_blueprint(BLUEPRINTS / app),
                with_data=True,
                store_factory=store_factory(automations=False),
            )
        with engine.begin() as conn:
            for name, (roles, attrs) in ROLE_USERS.items():
                create_user(conn, name, password=PASSWORD, roles=roles, attributes=attrs)
        try:
            with serve(
                url, engine, max_body_bytes=1024 * 1024, max_upload_bytes=8 * 1024 * 1024
            ) as running:
                yield running
        finally:
            engine.dispose()


def page_session(live: Live, user: str, locale: str = "en") -> httpx.Client:
    """An httpx client signed in through the sign-in form (cookie session), sending the
    CSRF token on unsafe requests like the pages' htmx does."""
    client = httpx.Client(
        base_url=live.url, timeout=30, headers={"Accept-Language": locale}, follow_redirects=False
    )
    page = client.get("/login")
    token = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
    assert token, "the sign-in page carries a CSRF token"
    answer = client.post(
        "/login",
        data={"username": user, "password": PASSWORD, "csrf_token": token.group(1), "next": "/"},
    )
    assert answer.status_code == 303, answer.text
    # Signing in starts a new session with a new CSRF token: read it from a signed-in page.
    fresh = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/login").text)
    assert fresh, "a signed-in page carries the session's CSRF token"
    client.headers["X-CSRF-Token"] = fresh.group(1)
    return client


@pytest.fixture
def pages(ui_live: Live) -> Iterator[Callable[..., httpx.Client]]:
    """`pages(user, locale="en")`: a signed-in page client (closed after the test)."""
    made: list[httpx.Client] = []

    def open_as(user: str, locale: str = "en") -> httpx.Client:
        client = page_session(ui_live, user, locale)
        made.append(client)
        return client

    yield open_as
    for client in made:
        client.close()


# On a loaded CI machine a designer save (which validates the whole app) has taken over 5 s,
# Playwright's default: a person would wait that long too, so assertions wait up to 15 s.
EXPECT_TIMEOUT_MS = 15_000


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Debian chromium (Playwright cannot download its own browsers here)."""
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        pytest.skip(f"browser tests need chromium at {CHROMIUM} (apt-get install -y chromium)")
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=EXPECT_TIMEOUT_MS)

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        yield launched
        launched.close()


@pytest.fixture
def signed_in(ui_live: Live, browser: Any) -> Iterator[Callable[..., Any]]:
    """`signed_in(user, locale="en", phone=False)`: a Playwright page after signing in
    through the form, in that language."""
    contexts: list[Any] = []

    def open_as(user: str, locale: str = "en", phone: bool = False, time_zone: str = "UTC") -> Any:
        viewport = {"width": 390, "height": 844} if phone else {"width": 1366, "height": 860}
        context = browser.new_context(
            base_url=ui_live.url,
            locale=locale,
            timezone_id=time_zone,  # the browser's zone, which signing in may keep for the user
            viewport=viewport,
            extra_http_headers={"Accept-Language": locale},
        )
        context.set_default_timeout(20_000)
        contexts.append(context)
        page = context.new_page()
        page.goto("/login")
        page.fill("#username", user)
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(lambda url: "/login" not in url)
        return page

    yield open_as
    for context in contexts:
        context.close()


def shot(page: Any, name: str) -> Path:
    """A full-page screenshot under test-artifacts/screens/ (to look at, not to compare)."""
    SCREENS.mkdir(parents=True, exist_ok=True)
    path = SCREENS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
