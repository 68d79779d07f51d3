"""Dashboards in the browser, in English and Chinese: ECharts draws every chart, a number card
shows the value computed here from the API (under the reader's record rules), and every
dashboard of both shipped blueprints renders for a reader; screenshots of each."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from babel.numbers import format_currency
from playwright.sync_api import expect

from tests.server.conftest import Live
from tests.ui.conftest import shot
from tests.ui.test_portal import approved_po_for


def _orders(live: Live, user: str) -> list[dict[str, Any]]:
    with live.client(user) as api:
        return list(api.get("/api/v1/srm/purchase_order", params={"limit": 200}).json()["items"])


def _spend(orders: list[dict[str, Any]]) -> Decimal:
    return sum(
        (Decimal(str(o["total"] or 0)) for o in orders if o["_state"] != "cancelled"), Decimal(0)
    )


def _card(page: Any, title: str) -> Any:
    return page.locator(".widget", has=page.get_by_role("heading", name=title, exact=True))


@pytest.mark.parametrize("locale", ["en", "zh-CN"])
def test_dashboards_spend_draws_charts_and_the_right_total(
    ui_live: Live, signed_in: Callable[..., Any], locale: str
) -> None:
    page = signed_in("manager1", locale)
    page.emulate_media(reduced_motion="reduce")
    page.goto("/srm/dashboards/spend")
    charts = page.locator(".widget-chart")
    assert charts.count() >= 3
    for index in range(charts.count()):
        expect(charts.nth(index)).to_have_attribute("data-rendered", "true")
        expect(charts.nth(index).locator("canvas")).to_have_count(1)
    # Read after the charts are drawn: other tests may add orders to the shared server.
    expected = _spend(_orders(ui_live, "manager1"))
    babel_locale = "zh_CN" if locale == "zh-CN" else "en_US"
    title = "采购总额" if locale == "zh-CN" else "Total spend"
    number = _card(page, title).locator(".widget-number")
    expect(number).to_have_text(format_currency(expected, "CNY", locale=babel_locale))
    shot(page, f"dashboard-srm-spend-{locale}")


def test_dashboards_portal_supplier_sees_only_their_own_spend(
    ui_live: Live, signed_in: Callable[..., Any]
) -> None:
    # The demo's orders are drafts, which a supplier does not see: approve one of its own.
    approved_po_for(ui_live, "苏州精工五金制品有限公司")
    own = _orders(ui_live, "jinggong")
    everyone = _orders(ui_live, "manager1")
    assert 0 < len(own) < len(everyone)
    page = signed_in("jinggong", "zh-CN")
    page.goto("/srm/dashboards/spend")
    number = _card(page, "采购总额").locator(".widget-number")
    expect(number).to_have_text(format_currency(_spend(own), "CNY", locale="zh_CN"))
    bars = _card(page, "各供应商采购额")
    bars.locator("summary").click()
    expect(bars.locator("tbody tr")).to_have_count(1)
    expect(bars.locator("tbody th")).to_have_text("苏州精工五金制品有限公司")


def test_dashboards_hidden_measure_says_so_instead_of_numbers(
    signed_in: Callable[..., Any],
) -> None:
    page = signed_in("quality1", "en")
    page.goto("/srm/dashboards/spend")
    expect(_card(page, "Total spend").locator(".widget-error")).to_have_text(
        "This chart measures 'total', a field you may not see"
    )
    expect(_card(page, "Open orders").locator(".widget-number")).to_be_visible()


DASHBOARDS = [
    ("manager1", "/srm/dashboards/supplier_scorecard", "srm-scorecard"),
    ("salesmgr1", "/crm/dashboards/sales", "crm-sales"),
    ("salesmgr1", "/crm/dashboards/service", "crm-service"),
    ("marketing1", "/crm/dashboards/leads", "crm-leads"),
]


@pytest.mark.parametrize("locale", ["en", "zh-CN"])
@pytest.mark.parametrize(("user", "path", "name"), DASHBOARDS)
def test_dashboards_of_both_blueprints_render(
    signed_in: Callable[..., Any], user: str, path: str, name: str, locale: str
) -> None:
    page = signed_in(user, locale)
    page.emulate_media(reduced_motion="reduce")  # charts drawn at once, for the screenshot
    page.goto(path)
    expect(page.locator(".widget").first).to_be_visible()
    charts = page.locator(".widget-chart")
    for index in range(charts.count()):
        expect(charts.nth(index).locator("canvas")).to_have_count(1)
    assert page.locator(".widget-error").count() == 0
    shot(page, f"dashboard-{name}-{locale}")


def test_dashboards_resize_with_the_window_and_fit_a_phone(signed_in: Callable[..., Any]) -> None:
    page = signed_in("salesmgr1", "zh-CN")
    page.goto("/crm/dashboards/sales")
    chart = page.locator(".widget-chart canvas").first
    expect(chart).to_be_visible()
    wide = chart.bounding_box()
    page.set_viewport_size({"width": 700, "height": 900})
    expect(page.locator(".widget-chart").first).to_have_attribute("data-rendered", "true")
    page.wait_for_function(
        "w => document.querySelector('.widget-chart canvas').getBoundingClientRect().width != w",
        arg=wide["width"] if wide else 0,
    )
    phone = signed_in("salesmgr1", "zh-CN", phone=True)
    phone.emulate_media(reduced_motion="reduce")
    phone.goto("/crm/dashboards/sales")
    expect(phone.locator(".widget-chart canvas").first).to_be_visible()
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, "nothing runs off a phone's screen"
    shot(phone, "dashboard-crm-sales-phone-zh-CN")
