"""Kanban boards and calendars in the browser, in English and Chinese: a dragged card stays
where it was dropped after a reload, a refused move snaps back with the reason, the keyboard
moves cards too, and the month calendar shows the records on their days."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.server.conftest import Live
from tests.ui.conftest import shot

REFUSED = {
    "en": "Say why the opportunity was lost.",
    "zh-CN": "输单时请填写输单原因。",
}


def _opportunity(live: Live, owner: str, name: str) -> dict[str, Any]:
    """A new opportunity of `owner`, read back (automations may have touched it)."""
    with live.client(owner) as api:
        account = api.get("/api/v1/crm/account", params={"limit": 1}).json()["items"][0]
        made = api.post(
            "/api/v1/crm/opportunity",
            json={
                "name": name,
                "account": account["id"],
                "stage": "prospecting",
                "expected_amount": 12345,
            },
        )
        assert made.status_code == 201, made.text
        return dict(api.get(f"/api/v1/crm/opportunity/{made.json()['id']}").json())


def _stage(live: Live, owner: str, record_id: int) -> str:
    with live.client(owner) as api:
        return str(api.get(f"/api/v1/crm/opportunity/{record_id}").json()["stage"])


def _column(page: Any, value: str) -> Any:
    return page.locator(f'.board-cards[data-group="{value}"]')


def _drag(page: Any, card: Any, target: Any) -> None:
    """Drag with the mouse in small steps, as a person would (SortableJS follows the pointer)."""
    card.scroll_into_view_if_needed()
    start = card.bounding_box()
    end = target.bounding_box()
    assert start and end
    page.mouse.move(start["x"] + start["width"] / 2, start["y"] + 12)
    page.mouse.down()
    page.mouse.move(start["x"] + start["width"] / 2 + 20, start["y"] + 30, steps=5)
    page.mouse.move(end["x"] + end["width"] / 2, end["y"] + 30, steps=20)
    page.mouse.move(end["x"] + end["width"] / 2, end["y"] + 36, steps=3)
    page.mouse.up()


@pytest.mark.parametrize("locale", ["en", "zh-CN"])
def test_boards_dragged_card_stays_after_reload(
    ui_live: Live, signed_in: Callable[..., Any], locale: str
) -> None:
    record = _opportunity(ui_live, "sun.hao", f"Drag test {locale}")
    page = signed_in("sun.hao", locale)
    page.goto("/crm/views/pipeline")
    card = page.locator(f'.board-card[data-id="{record["id"]}"]')
    expect(card).to_be_visible()
    before = int(page.locator('[data-count="qualification"]').inner_text())
    shot(page, f"board-pipeline-{locale}")
    _drag(page, card, _column(page, "qualification"))
    expect(page.locator('[data-count="qualification"]')).to_have_text(str(before + 1))
    expect(page.locator(".toast").last).to_contain_text(
        "已移至" if locale == "zh-CN" else "Moved to"
    )
    assert _stage(ui_live, "sun.hao", record["id"]) == "qualification"
    page.reload()
    expect(_column(page, "qualification").locator(f'[data-id="{record["id"]}"]')).to_be_visible()


@pytest.mark.parametrize("locale", ["en", "zh-CN"])
def test_boards_refused_move_snaps_back_with_the_reason(
    ui_live: Live, signed_in: Callable[..., Any], locale: str
) -> None:
    record = _opportunity(ui_live, "sun.hao", f"Refused drag {locale}")
    page = signed_in("sun.hao", locale)
    page.set_viewport_size({"width": 2000, "height": 900})  # every column in view at once
    page.goto("/crm/views/pipeline")
    card = page.locator(f'.board-card[data-id="{record["id"]}"]')
    _drag(page, card, _column(page, "closed_lost"))
    expect(page.locator(".toast.error")).to_have_text(REFUSED[locale])
    expect(_column(page, "prospecting").locator(f'[data-id="{record["id"]}"]')).to_be_visible()
    shot(page, f"board-refused-{locale}")
    assert _stage(ui_live, "sun.hao", record["id"]) == "prospecting"


def test_boards_state_board_refuses_a_step_the_workflow_lacks(
    ui_live: Live, signed_in: Callable[..., Any]
) -> None:
    with ui_live.client("buyer1") as api:
        supplier = api.get("/api/v1/srm/supplier", params={"limit": 1}).json()["items"][0]
        material = api.get("/api/v1/srm/material", params={"limit": 1}).json()["items"][0]
        po = api.post(
            "/api/v1/srm/purchase_order",
            json={
                "supplier": supplier["id"],
                "order_date": "2026-11-24",
                "lines": [{"material": material["id"], "quantity": 3, "unit_price": 7}],
            },
        ).json()
    page = signed_in("buyer1", "zh-CN")
    page.goto("/srm/views/po_board")
    card = page.locator(f'.board-card[data-id="{po["id"]}"]')
    expect(card).to_be_visible()
    _drag(page, card, _column(page, "approved"))
    expect(page.locator(".toast.error")).to_have_text("流程中没有从“草稿”到“已批准”的流转。")
    expect(_column(page, "draft").locator(f'[data-id="{po["id"]}"]')).to_be_visible()
    # Submitting for approval is a step the buyer may take: the card moves to "pending".
    _drag(page, card, _column(page, "pending"))
    expect(_column(page, "pending").locator(f'[data-id="{po["id"]}"]')).to_be_visible()
    expect(page.locator(".toast").last).to_contain_text("已移至")
    shot(page, "board-po-zh-CN")
    page.set_viewport_size({"width": 1366, "height": 860})
    page.goto("/srm/views/po_board?lang=en")
    shot(page, "board-po-en")


def test_boards_cancelling_asks_for_a_comment_first(
    ui_live: Live, signed_in: Callable[..., Any]
) -> None:
    with ui_live.client("buyer1") as api:
        supplier = api.get("/api/v1/srm/supplier", params={"limit": 1}).json()["items"][0]
        po = api.post(
            "/api/v1/srm/purchase_order",
            json={"supplier": supplier["id"], "order_date": "2026-11-24"},
        ).json()
    page = signed_in("buyer1", "en")
    page.goto("/srm/views/po_board")
    card = page.locator(f'.board-card[data-id="{po["id"]}"]')
    # The keyboard way: the card's own "Move to" menu.
    card.get_by_label(f"Move {po['number']} to").select_option("cancelled")
    card.get_by_role("button", name="Move").click()
    dialog = page.locator("#board-comment")
    expect(dialog).to_be_visible()
    shot(page, "board-comment-en")
    dialog.get_by_label("Comment").fill("Ordered twice by mistake")
    dialog.get_by_role("button", name="Move").click()
    expect(_column(page, "cancelled").locator(f'[data-id="{po["id"]}"]')).to_be_visible()
    with ui_live.client("buyer1") as api:
        assert api.get(f"/api/v1/srm/purchase_order/{po['id']}").json()["_state"] == "cancelled"


@pytest.mark.parametrize("locale", ["en", "zh-CN"])
def test_boards_calendar_shows_the_month(
    ui_live: Live, signed_in: Callable[..., Any], locale: str
) -> None:
    with httpx.Client(base_url=ui_live.url) as client:
        token = ui_live.token("manager1")
        orders = client.get(
            "/api/v1/srm/purchase_order",
            params={
                "limit": 200,
                "filter": '{"expected_date": {"gte": "2026-09-01", "lt": "2026-10-01"}}',
            },
            headers={"Authorization": f"Bearer {token}"},
        ).json()["items"]
    assert orders
    page = signed_in("manager1", locale)
    page.goto("/srm/views/po_deliveries?month=2026-09")
    expect(page.locator(".cal-title")).to_have_text(
        "2026年9月" if locale == "zh-CN" else "September 2026"
    )
    expect(page.locator(".cal-chip")).to_have_count(len(orders))
    shot(page, f"calendar-{locale}")
    page.get_by_role("link", name="下个月" if locale == "zh-CN" else "Next month").click()
    expect(page).to_have_url(re.compile(r"month=2026-10$"))
    page.get_by_role("link", name="本月" if locale == "zh-CN" else "This month").click()
    expect(page.locator('[aria-current="date"]')).to_have_count(1)
    phone = signed_in("manager1", locale, phone=True)
    phone.goto("/srm/views/po_deliveries?month=2026-09")
    expect(phone.locator(".cal-chip").first).to_be_visible()
    shot(phone, f"calendar-phone-{locale}")
