"""The record page and the generated form in a browser, in English and Chinese: a supplier's
related lists, a purchase order typed in with link lookups and line items (amounts and
totals following the typing), a refused save that keeps everything, the approval with a
rejection comment, attachments."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from appblocks.engine.users import create_user, identity_of
from tests.server.conftest import PASSWORD, Live
from tests.ui.conftest import shot as full_shot

JINGGONG = "苏州精工五金制品有限公司"

TEXT = {
    "en": {
        "purchase_orders": "Purchase order",
        "contacts": "Supplier contact",
        "not_saved": "The record was not saved.",
        "rule": "Delivery cannot be expected before the order date.",
        "saved": "Saved.",
        "submit": "Submit for approval",
        "pending": "Pending approval",
        "reject": "Reject",
        "draft": "Draft",
        "upload": "Upload",
        "attached": "Attached: drawing.txt",
    },
    "zh-CN": {
        "purchase_orders": "采购订单",
        "contacts": "供应商联系人",
        "not_saved": "记录未保存。",
        "rule": "预计到货日期不能早于下单日期。",
        "saved": "已保存。",
        "submit": "提交审批",
        "pending": "待审批",
        "reject": "驳回",
        "draft": "草稿",
        "upload": "上传",
        "attached": "已上传附件：drawing.txt",
    },
}


@pytest.fixture
def user(ui_live: Live) -> Iterator[Callable[[str, str], str]]:
    """`user(role, locale)`: a user of its own for this file's tests (no language setting, so
    the browser's decides), created once."""

    def make(role: str, locale: str) -> str:
        name = f"rec.{role}.{locale.lower()}"
        with ui_live.engine.begin() as conn:
            if identity_of(conn, name) is None:
                create_user(conn, name, password=PASSWORD, roles=[role])
        return name

    yield make


def shot(page: Any, name: str) -> None:
    """A screenshot from the top of the page (the sticky bar stays where it belongs)."""
    page.evaluate("window.scrollTo(0, 0)")
    full_shot(page, name)


def pick(page: Any, input_id: str, typed: str, expected: str) -> None:
    """Type into a link lookup, wait for the suggestion, choose it with the keyboard."""
    box = page.locator(f"#{input_id}")
    box.click()
    box.press_sequentially(typed, delay=20)
    listbox = page.locator(f"#lb-{input_id.removeprefix('f-')}")
    expect(listbox.locator("[role=option]").first).to_contain_text(expected)
    expect(listbox.locator("[role=option]")).to_have_count(1)
    box.press("ArrowDown")
    expect(listbox.locator("[role=option][aria-selected=true]")).to_contain_text(expected)
    box.press("Enter")
    expect(listbox).to_be_hidden()
    expect(box).to_have_value(re.compile(re.escape(expected)))


def supplier_id(live: Live, name: str) -> int:
    """The id of the supplier called `name`."""
    with live.client("admin1") as client:
        found = client.get("/api/v1/srm/supplier", params={"filter": f'{{"name": "{name}"}}'})
    return int(found.json()["items"][0]["id"])


@pytest.mark.parametrize("locale", ["en", "zh-CN"])
def test_records_supplier_page_lists_what_points_at_it(
    signed_in: Callable[..., Any], user: Callable[[str, str], str], ui_live: Live, locale: str
) -> None:
    text = TEXT[locale]
    page = signed_in(user("buyer", locale), locale)
    page.goto(f"/srm/supplier/{supplier_id(ui_live, JINGGONG)}")
    expect(page.locator("h1")).to_contain_text(JINGGONG)
    orders = page.locator(
        "section.related", has=page.locator("h2", has_text=text["purchase_orders"])
    )
    expect(orders.first).to_be_visible()
    expect(orders.first.locator("tbody tr").first).to_contain_text("PO-")
    expect(page.locator("section.related h2", has_text=text["contacts"])).to_be_visible()
    shot(page, f"records-supplier-{locale}")


@pytest.mark.parametrize("locale", ["en", "zh-CN"])
def test_records_purchase_order_from_form_to_approval(
    signed_in: Callable[..., Any], user: Callable[[str, str], str], locale: str
) -> None:
    text = TEXT[locale]

    def money(amount: str) -> str:
        return ("¥" if locale == "zh-CN" else "CN¥") + amount

    page = signed_in(user("buyer", locale), locale)
    page.goto("/srm/purchase_order/new")
    pick(page, "f-supplier", "精工", JINGGONG)
    page.fill("#f-order_date", "2026-06-01")
    pick(page, "f-lines-0-material", "M-1003", "M-1003")
    page.fill("#f-lines-0-quantity", "4")
    page.fill("#f-lines-0-unit_price", "2.5")
    expect(page.locator("#o-lines-0-amount")).to_have_text(money("10.00"))
    expect(page.locator("#o-foot-total")).to_have_text(money("10.00"))

    page.click("[data-add-line=lines]")
    expect(page.locator("#f-lines-1-material")).to_be_focused()
    pick(page, "f-lines-1-material", "M-1001", "M-1001")
    page.fill("#f-lines-1-quantity", "3")
    page.fill("#f-lines-1-unit_price", "1,000")
    expect(page.locator("#o-lines-1-amount")).to_have_text(money("3,000.00"))
    expect(page.locator("#o-foot-total")).to_have_text(money("3,010.00"))

    # a third line, removed again from the keyboard: the total follows
    page.click("[data-add-line=lines]")
    page.keyboard.type("junk")
    page.fill("#f-lines-2-quantity", "100")
    page.fill("#f-lines-2-unit_price", "1")
    expect(page.locator("#o-foot-total")).to_have_text(money("3,110.00"))
    page.locator("tr[data-row='2'] [data-remove-line]").focus()
    page.keyboard.press("Enter")
    expect(page.locator("table[data-lines=lines] tbody tr")).to_have_count(2)
    expect(page.locator("#o-foot-total")).to_have_text(money("3,010.00"))
    shot(page, f"records-form-{locale}")

    # refused: the delivery is expected before the order date (an entity rule)
    page.fill("#f-expected_date", "2026-05-01")
    page.fill("#f-notes", "deliver to gate 3")
    page.click("[data-save]")
    expect(page.locator("#error-summary")).to_contain_text(text["not_saved"])
    expect(page.locator("#e-expected_date")).to_have_text(text["rule"])
    expect(page.locator("#f-expected_date")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#f-supplier")).to_have_value(JINGGONG)
    expect(page.locator("#f-order_date")).to_have_value("2026-06-01")
    expect(page.locator("#f-expected_date")).to_have_value("2026-05-01")
    expect(page.locator("#f-notes")).to_have_value("deliver to gate 3")
    expect(page.locator("table[data-lines=lines] tbody tr")).to_have_count(2)
    expect(page.locator("#f-lines-0-material")).to_have_value("M-1003")
    expect(page.locator("#f-lines-1-unit_price")).to_have_value("1,000")
    expect(page.locator("#o-foot-total")).to_have_text(money("3,010.00"))
    shot(page, f"records-form-refused-{locale}")

    page.fill("#f-expected_date", "2026-07-01")
    page.click("[data-save]")
    expect(page.locator(".flash.success")).to_have_text(text["saved"])
    expect(page).to_have_url(re.compile(r"/srm/purchase_order/[0-9]+$"))
    lines = page.locator(".lines-table tbody tr")
    expect(lines).to_have_count(2)
    expect(lines.nth(0)).to_contain_text("M-1003")
    expect(lines.nth(1)).to_contain_text("M-1001")
    expect(page.locator(".lines-table tfoot")).to_contain_text(money("3,010.00"))
    record_url = page.url

    # an attachment: upload, then download it
    page.set_input_files("#attach-file", files=[
        {"name": "drawing.txt", "mimeType": "text/plain", "buffer": b"rev C"},
    ])  # fmt: skip
    page.get_by_role("button", name=text["upload"]).click()
    expect(page.locator(".flash.success")).to_have_text(text["attached"])
    with page.expect_download() as download:
        page.locator("#attachments a", has_text="drawing.txt").click()
    assert download.value.suggested_filename == "drawing.txt"
    shot(page, f"records-record-{locale}")

    page.get_by_role("button", name=text["submit"]).click()
    expect(page.locator("h1 .badge")).to_have_text(text["pending"])

    manager = signed_in(user("purchasing_manager", locale), locale)
    manager.goto(record_url)
    manager.get_by_role("button", name=re.compile("^" + text["reject"])).first.click()
    dialog = manager.locator("dialog[open]")
    expect(dialog.locator("textarea")).to_be_focused()
    manager.keyboard.type("Price of M-1001 is above the contract")
    dialog.get_by_role("button", name=text["reject"], exact=True).click()
    expect(manager.locator("h1 .badge")).to_have_text(text["draft"])
    expect(manager.locator(".timeline .comment").first).to_have_text(
        "Price of M-1001 is above the contract"
    )
    shot(manager, f"records-rejected-{locale}")


def test_records_transition_needing_a_comment_opens_a_dialog(
    signed_in: Callable[..., Any], user: Callable[[str, str], str], ui_live: Live
) -> None:
    page = signed_in(user("buyer", "en"), "en")
    page.goto("/srm/purchase_order/new")
    pick(page, "f-supplier", "精工", JINGGONG)
    page.fill("#f-order_date", "2026-06-01")
    page.click("[data-save]")
    expect(page.locator(".flash.success")).to_be_visible()
    page.get_by_role("button", name="Cancel…").click()
    dialog = page.locator("dialog[open]")
    expect(dialog.locator("textarea")).to_be_focused()
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)
    page.get_by_role("button", name="Cancel…").click()
    page.keyboard.type("Raised twice by mistake")
    page.locator("dialog[open]").get_by_role("button", name="Cancel", exact=True).click()
    expect(page.locator("h1 .badge")).to_have_text("Cancelled")
    expect(page.locator(".timeline .comment").first).to_have_text("Raised twice by mistake")


def test_records_form_on_a_phone(
    signed_in: Callable[..., Any], user: Callable[[str, str], str]
) -> None:
    page = signed_in(user("buyer", "zh-CN"), "zh-CN", phone=True)
    page.goto("/srm/purchase_order/new")
    expect(page.locator("#f-supplier")).to_be_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390 + 1, width  # nothing but the line table scrolls sideways
    shot(page, "records-form-phone-zh-CN")
