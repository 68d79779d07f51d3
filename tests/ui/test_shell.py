"""The shell: sign-in, the launcher, the menu, the language switch, errors as pages."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from appblocks.engine.models import User
from tests.server.conftest import Live
from tests.ui.conftest import shot


def test_shell_page_without_session_goes_to_sign_in(ui_live: Live) -> None:
    with httpx.Client(base_url=ui_live.url) as client:
        answer = client.get("/srm?from=menu")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=/srm%3Ffrom%3Dmenu"


def test_shell_unknown_app_is_an_error_page_in_the_users_language(
    pages: Callable[..., httpx.Client],
) -> None:
    answer = pages("buyer1", "zh-CN").get("/nosuchapp")
    assert answer.status_code == 404
    assert "text/html" in answer.headers["content-type"]
    assert "没有这个应用" in answer.text


def test_shell_launcher_shows_only_the_apps_a_role_may_open(
    pages: Callable[..., httpx.Client],
) -> None:
    buyer = pages("buyer1").get("/").text
    assert "Supplier Relationship Management" in buyer or "SRM" in buyer
    assert 'href="/srm"' in buyer and 'href="/crm"' not in buyer
    rep = pages("zhao.min").get("/").text
    assert 'href="/crm"' in rep and 'href="/srm"' not in rep


def test_shell_portal_user_lands_on_the_portal(pages: Callable[..., httpx.Client]) -> None:
    answer = pages("jinggong").get("/")
    assert answer.status_code == 303 and answer.headers["location"] == "/portal"


def test_shell_forged_language_change_is_refused(pages: Callable[..., httpx.Client]) -> None:
    client = pages("buyer1")
    del client.headers["X-CSRF-Token"]
    answer = client.post("/preferences/language", data={"locale": "zh-CN"})
    assert answer.status_code == 403
    assert 'lang="en"' in client.get("/").text


@pytest.fixture
def forget_language(ui_live: Live) -> Iterator[None]:
    """buyer1's saved language is put back to none afterwards: other tests read buyer1 in the
    browser's language."""
    yield
    with ui_live.engine.begin() as conn:
        conn.execute(sa.update(User).where(User.name == "buyer1").values(locale=None))


def test_shell_sign_in_switch_language_and_phone_menu(
    signed_in: Callable[..., Any], forget_language: None
) -> None:
    page = signed_in("buyer1", "en")
    expect(page.locator("h1")).to_have_text("Apps")
    shot(page, "shell-launcher-en")
    # The switch keeps the user's choice: it outlives the browser's Accept-Language.
    # The switch posts a form and the server redirects back: wait for that page, not the old one.
    with page.expect_navigation():
        page.select_option("#lang-select", "zh-CN")
    expect(page.locator("h1")).to_have_text("应用")
    expect(page.locator(".flash.success")).to_have_text("语言已切换。")
    page.goto("/srm")
    expect(page.locator("#sidenav").get_by_role("link", name="供应商").first).to_be_visible()
    shot(page, "shell-app-zh-CN")
    with page.expect_navigation():
        page.select_option("#lang-select", "en")
    # Back where the switch was used, in English.
    expect(page.locator("h1")).to_have_text("Supplier Relationship Management")
    expect(page.locator("html")).to_have_attribute("lang", "en")

    phone = signed_in("zhao.min", "zh-CN", phone=True)
    expect(phone.locator("#sidenav")).to_be_hidden()
    phone.click(".menu-toggle")
    expect(phone.locator("#sidenav")).to_be_visible()
    shot(phone, "shell-phone-menu-zh-CN")


def test_shell_uploads_may_be_larger_than_api_bodies_but_not_unlimited(
    ui_live: Live, pages: Callable[..., httpx.Client]
) -> None:
    settings = ui_live.runtime.settings
    assert settings.max_upload_bytes > settings.max_body_bytes
    client = pages("buyer1")
    # An API body over the JSON limit: problem+json, nothing read past the limit.
    api = client.post(
        "/api/v1/srm/supplier",
        content=b"x" * (settings.max_body_bytes + 1),
        headers={"content-type": "application/json"},
    )
    assert api.status_code == 413 and api.headers["content-type"] == "application/problem+json"
    # A page upload over the upload limit: a short page in both languages.
    page = client.post(
        "/srm/supplier/import",
        files={"file": ("big.csv", b"a" * (settings.max_upload_bytes + 1))},
        headers={"accept": "text/html"},
    )
    assert page.status_code == 413 and "上传内容过大" in page.text and "too large" in page.text


def test_shell_designer_link_only_for_admins_and_designers(
    pages: Callable[..., httpx.Client],
) -> None:
    assert 'href="/designer"' in pages("admin1").get("/").text
    assert 'href="/designer"' not in pages("buyer1").get("/").text
    assert pages("buyer1").get("/designer").status_code == 404
