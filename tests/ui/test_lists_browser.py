"""List pages in a real browser: search, the filter builder, sorting, load more, columns,
saved views, CSV export, bulk transitions and bulk delete, in English and Chinese, and on a
phone. Every test makes its own purchase orders (marked by a unique word in their notes)."""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections.abc import Callable
from typing import Any

from playwright.sync_api import expect

from tests.server.conftest import Live
from tests.ui.conftest import SCREENS, shot


def make_orders(live: Live, count: int, *, user: str = "admin1") -> str:
    """`count` draft purchase orders whose notes carry a fresh marker; the marker. Order i
    has total 10 * (i + 1) and an order date that grows with i."""
    marker = "m" + uuid.uuid4().hex[:10]
    rows = [
        {
            "supplier": 1 + i % 3,
            "order_date": f"2026-03-{1 + i % 28:02d}",
            "notes": f"{marker} order {i}",
            "lines": [{"material": 1, "quantity": i + 1, "unit_price": 10}],
        }
        for i in range(count)
    ]
    with live.client(user) as client:
        answer = client.post("/api/v1/srm/purchase_order/batch", json=rows)
        assert answer.status_code == 201, answer.text
    return marker


def screen(page: Any, name: str) -> None:
    """A screenshot of what the window shows (a phone's whole list is too long to read)."""
    SCREENS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENS / f"{name}.png"))


def numbers_on_page(page: Any) -> list[str]:
    """The order numbers in the table, top to bottom."""
    return [t.strip() for t in page.locator("#list-rows a.record-link").all_inner_texts()]


def search(page: Any, text: str) -> None:
    page.fill("#list-q", text)
    page.press("#list-q", "Enter")
    expect(page).to_have_url(re.compile(r"q=" + re.escape(text)))


def test_lists_search_filter_sort_more_columns_view_export(
    ui_live: Live, signed_in: Callable[..., Any]
) -> None:
    marker = make_orders(ui_live, 30)
    page = signed_in("buyer1")
    page.goto("/srm/purchase_order")
    expect(page.locator("h1")).to_have_text("Purchase order")
    search(page, marker)
    expect(page.locator("#list-count")).to_have_text("30 records")
    expect(page.locator("#list-rows tr")).to_have_count(25)

    # Load more appends the next page in place.
    page.get_by_role("link", name="Load more").click()
    expect(page.locator("#list-rows tr")).to_have_count(30)
    expect(page.get_by_role("link", name="Load more")).to_have_count(0)

    # The filter builder: Total >= 200 (orders 19..29 have totals 200..300).
    page.locator("summary", has_text="Filters").click()
    page.select_option("#f-0", "total")
    # The blank row offers every operator: wait for the number row htmx swaps in.
    expect(page.locator("#filter-row-0[data-kind=number]")).to_have_count(1)
    page.select_option("#op-0", "gte")
    page.wait_for_load_state("networkidle")  # the row may reload for the operator
    page.fill("#v-0", "200")
    expect(page.locator("#op-0")).to_have_value("gte")
    page.get_by_role("button", name="Apply filters").click()
    expect(page.locator("#list-count")).to_have_text("11 records")
    expect(page).to_have_url(re.compile(r"filter="))
    assert '"total":{"gte":200}' in page.url.replace("%22", '"').replace("%3A", ":").replace(
        "%7B", "{"
    ).replace("%7D", "}").replace("%2C", ",")

    # Sort by a column header, then the other way round.
    page.get_by_role("link", name=re.compile("^Number")).click()
    expect(page.locator("th[aria-sort]")).to_have_attribute("aria-sort", "ascending")
    ascending = numbers_on_page(page)
    assert ascending == sorted(ascending)
    page.get_by_role("link", name=re.compile("^Number")).click()
    expect(page.locator("th[aria-sort]")).to_have_attribute("aria-sort", "descending")
    assert numbers_on_page(page) == sorted(ascending, reverse=True)

    # Columns: show Total.
    page.locator("summary", has_text="Columns").click()
    page.check("#col-total")
    page.get_by_role("button", name="Apply columns").click()
    expect(page.locator("th", has_text="Total")).to_have_count(1)
    shot(page, "lists-filtered-en")

    # Save the view, leave it, open it again from the menu.
    page.locator("summary", has_text="Save view").click()
    page.fill("#view-name", f"Big {marker}")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".flash.success")).to_contain_text(f"Big {marker}")
    page.goto("/srm/purchase_order")
    expect(page.locator("th", has_text="Total")).to_have_count(0)
    page.select_option("#view-select", label=f"Big {marker}")
    expect(page.locator("#list-count")).to_have_text("11 records")
    expect(page.locator("th", has_text="Total")).to_have_count(1)
    shown = numbers_on_page(page)

    # The CSV export holds exactly the filtered rows, in the page's columns.
    with page.expect_download() as download:
        page.get_by_role("link", name="CSV").click()
    text = download.value.path().read_text(encoding="utf-8-sig")
    table = list(csv.reader(io.StringIO(text)))
    assert table[0][0] == "Number" and "Total" in table[0]
    assert sorted(r[0] for r in table[1:]) == sorted(shown)


def test_lists_bulk_transition_reports_refusals_and_runs_all_or_none(
    ui_live: Live, signed_in: Callable[..., Any]
) -> None:
    marker = make_orders(ui_live, 3)
    page = signed_in("buyer1")
    page.goto("/srm/purchase_order")
    search(page, marker)
    expect(page.locator("#list-rows tr")).to_have_count(3)
    boxes = page.locator('#list-rows input[name="id"]')
    boxes.nth(0).check()
    expect(page.locator("#bulk-count")).to_have_text("1 selected")
    page.select_option("#bulk-transition", "submit")
    page.get_by_role("button", name="Run on selected").click()
    expect(page.locator(".flash.success")).to_contain_text("Submit for approval")
    expect(page.locator("#list-rows tr").first.locator("td").last).to_have_text("Pending approval")

    # Submitting again fails for the one already pending: nothing moves, the reason shows.
    page.locator("[data-select-all]").check()
    expect(page.locator("#bulk-count")).to_have_text("3 selected")
    page.select_option("#bulk-transition", "submit")
    page.get_by_role("button", name="Run on selected").click()
    expect(page.locator(".bulk-failures")).to_contain_text("Pending approval")
    expect(page.locator(".bulk-failures li")).to_have_count(1)
    shot(page, "lists-bulk-refused-en")
    page.reload()
    states = page.locator("#list-rows tr td:last-child").all_inner_texts()
    assert sorted(s.strip() for s in states) == ["Draft", "Draft", "Pending approval"]


def test_lists_bulk_delete_asks_then_deletes(ui_live: Live, signed_in: Callable[..., Any]) -> None:
    marker = make_orders(ui_live, 4)
    page = signed_in("manager1")
    page.goto("/srm/purchase_order")
    search(page, marker)
    expect(page.locator("#list-count")).to_have_text("4 records")
    boxes = page.locator('#list-rows input[name="id"]')
    boxes.nth(0).check()
    boxes.nth(1).check()
    page.get_by_role("button", name="Delete selected").click()
    dialog = page.locator("#bulk-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.locator("h2")).to_have_text("Delete 2 records?")
    shot(page, "lists-delete-dialog-en")
    dialog.get_by_role("button", name="Delete").click()
    expect(page.locator(".flash.success")).to_have_text("Deleted 2 records.")
    expect(page.locator("#list-count")).to_have_text("2 records")


def test_lists_in_chinese_and_on_a_phone(ui_live: Live, signed_in: Callable[..., Any]) -> None:
    marker = make_orders(ui_live, 6)
    page = signed_in("buyer1", "zh-CN")
    page.goto("/srm/purchase_order")
    expect(page.locator("h1")).to_have_text("采购订单")
    search(page, marker)
    expect(page.locator("#list-count")).to_have_text("6 条记录")
    page.locator("summary", has_text="筛选").click()
    page.select_option("#f-0", "supplier")
    # Wait for the row htmx reloads for a link field before typing into it: the blank row's
    # operators include "是" too, and a value typed there is lost when the row is replaced.
    expect(page.locator("#filter-row-0[data-kind=link]")).to_have_count(1)
    expect(page.locator("#op-0 option[value=eq]")).to_have_text("是")
    page.fill("#v-0", "苏州精工五金制品有限公司")
    page.get_by_role("button", name="应用筛选").click()
    expect(page.locator("#list-count")).to_have_text("2 条记录")
    shot(page, "lists-filtered-zh-CN")

    phone = signed_in("buyer1", "zh-CN", phone=True)
    phone.goto("/srm/purchase_order")
    expect(phone.locator("#list-rows tr").first).to_be_visible()
    screen(phone, "lists-phone-zh-CN")
    phone.locator("summary", has_text="筛选").click()
    phone.select_option("#f-0", "order_date")
    # The row reloads for the date field's operators: choose one only once they are there.
    expect(phone.locator("#filter-row-0[data-kind=date]")).to_have_count(1)
    phone.select_option("#op-0", "between")
    expect(phone.locator("#w-0")).to_be_visible()
    screen(phone, "lists-phone-filter-zh-CN")
