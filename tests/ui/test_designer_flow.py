"""The designer, end to end in Chromium, as an analyst would use it: a field type dragged into
purchase orders, the fields reordered, CRM's sales order dragged onto SRM's purchase order to
link them, the new fields placed on the form, then Plan & publish; afterwards the link works
through the REST API and on both record pages. The same key steps run in zh-CN on an app
made from nothing."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httpx
from playwright.sync_api import Locator, Page, expect

from appblocks.engine.db import reading
from appblocks.server.pages_designer_common import find_draft
from tests.server.conftest import PASSWORD, Live
from tests.ui.conftest import SCREENS, shot


def drag(page: Page, source: Locator, target: Locator, *, above: bool = True) -> None:
    """Drag with the mouse like a person: press on `source`, move in steps, release over the
    upper (or lower) part of `target`."""
    target.scroll_into_view_if_needed()
    source.scroll_into_view_if_needed()
    start = source.bounding_box()
    assert start is not None
    page.mouse.move(start["x"] + start["width"] / 2, start["y"] + start["height"] / 2)
    page.mouse.down()
    page.mouse.move(
        start["x"] + start["width"] / 2 + 8, start["y"] + start["height"] / 2 + 8, steps=4
    )
    end = target.bounding_box()
    assert end is not None
    y = end["y"] + end["height"] * (0.3 if above else 0.7)
    page.mouse.move(end["x"] + end["width"] / 2, y, steps=20)
    page.mouse.move(end["x"] + end["width"] / 2, y + 1, steps=2)
    page.mouse.up()


def screen(page: Page, name: str) -> None:
    """A screenshot of what the window shows (the board's columns scroll on their own, which
    a full-page picture would not show)."""
    SCREENS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENS / f"{name}.png"))


def draft_doc(live: Live, user: str, app: str, kind: str, name: str) -> Any:
    """A document of the user's open draft of `app`."""
    with reading(live.engine) as conn:
        draft = find_draft(conn, app, user)
        assert draft is not None, f"{user} has a draft of {app}"
        return draft.document(kind, name)


def field_names(page: Page) -> list[str]:
    """The field list's names, top to bottom."""
    return page.locator("#field-list > [data-name]").evaluate_all(
        "rows => rows.map(r => r.dataset.name)"
    )


def api(live: Live, user: str) -> httpx.Client:
    """A REST client with a bearer token."""
    client = httpx.Client(base_url=live.url, timeout=30)
    token = client.post("/api/v1/auth/token", data={"username": user, "password": PASSWORD})
    assert token.status_code == 200, token.text
    client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
    return client


def test_designer_links_sales_orders_to_purchase_orders_end_to_end(
    ui_live: Live, signed_in: Callable[..., Page]
) -> None:
    page = signed_in("admin1", "en")
    page.goto("/designer")
    expect(page.locator("h1")).to_have_text("Designer")
    shot(page, "designer-home-en")
    page.click("a.app-card-link[href='/designer/srm/entities']")
    page.click("a[href='/designer/srm/entities/purchase_order']")
    expect(page.locator("h1")).to_contain_text("Purchase order")
    before = field_names(page)

    # 1. A text field dragged from the palette to the third place of the field list.
    drag(
        page,
        page.locator(".palette-item[data-type='text']"),
        page.locator("#field-list > [data-name]").nth(2),
    )
    panel = page.locator("#field-form")
    expect(panel).to_be_visible()
    expect(page.locator("#field-list .placeholder")).to_have_count(1)
    page.fill("#f-label-en", "Customer reference")
    page.fill("#f-label-zh", "客户参考号")
    expect(page.locator("#f-name")).to_have_value("customer_reference")
    page.fill("#f-max-length", "60")
    shot(page, "designer-entity-panel-en")
    page.click("#save-field")
    expect(page.locator(".saved-note")).to_be_visible()
    assert field_names(page) == [*before[:2], "customer_reference", *before[2:]]
    doc = draft_doc(ui_live, "admin1", "srm", "entity", "purchase_order")
    assert doc["fields"]["customer_reference"] == {
        "type": "text", "label": {"en": "Customer reference", "zh-CN": "客户参考号"}, "max_length": 60,
    }  # fmt: skip
    expect(page.locator("#draft-bar")).to_contain_text("1 unpublished change")

    # 2. Reorder: the new field dragged to the top.
    drag(page, page.locator("#field-list > [data-name='customer_reference'] .drag-handle"),
         page.locator("#field-list > [data-name]").first)  # fmt: skip
    expect(page.locator("#field-list > [data-name]").first).to_have_attribute(
        "data-name", "customer_reference"
    )
    expect(page.locator("#draft-bar")).to_contain_text("2 unpublished changes")
    doc = draft_doc(ui_live, "admin1", "srm", "entity", "purchase_order")
    assert list(doc["fields"])[0] == "customer_reference"
    expect(
        page.locator("#field-list > [data-name='customer_reference'] .tag.custom")
    ).to_be_visible()
    # Undo and redo from the draft bar (it came back with the edit) stay on this page.
    page.click("#undo")
    expect(page.locator("#draft-bar")).to_contain_text("1 unpublished change")
    assert field_names(page)[2] == "customer_reference"
    page.click("#redo")
    expect(page.locator("#field-list > [data-name]").first).to_have_attribute(
        "data-name", "customer_reference"
    )

    # 3. The relation board: CRM's sales order dropped onto SRM's purchase order.
    page.click(".designer-sections a[href='/designer/srm/relations']")
    so = page.locator(".rel-card[data-entity='crm.sales_order']")
    po = page.locator(".rel-card[data-entity='srm.purchase_order']")
    drag(page, so.locator(".rel-card-head"), po)
    dialog = page.locator("#link-dialog")
    expect(dialog).to_be_visible()
    expect(page.locator("#link-holder")).to_have_value("srm.purchase_order")
    expect(page.locator("#link-target")).to_have_value("crm.sales_order")
    expect(page.locator("#link-name")).to_have_value("sales_order")
    expect(dialog.locator("input[name=kind][value=link]")).to_be_checked()
    screen(page, "designer-relations-dialog-en")
    page.click("#create-link")
    expect(po.locator(".rel-field[data-field='sales_order']")).to_contain_text("Sales order")
    screen(page, "designer-relations-after-en")
    doc = draft_doc(ui_live, "admin1", "srm", "entity", "purchase_order")
    assert doc["fields"]["sales_order"]["type"] == "link"
    assert doc["fields"]["sales_order"]["to"] == "crm.sales_order"
    manifest = draft_doc(ui_live, "admin1", "srm", "blueprint", "srm")
    assert manifest["requires"] == {"crm": ">=1.2"}

    # 4. The form: the new field dragged into the first section, the link placed by keyboard.
    page.goto("/designer/srm/forms/purchase_order")
    unplaced = page.locator("#unplaced > [data-name]")
    expect(unplaced).to_have_count(2)
    first_section = page.locator("#sections [data-section]").first.locator("[data-form-list]")
    drag(page, page.locator("#unplaced > [data-name='customer_reference']"),
         first_section.locator("[data-name]").first)  # fmt: skip
    expect(page.locator("#form-preview [data-field='customer_reference']")).to_be_visible()
    link_chip = page.locator("#unplaced > [data-name='sales_order'] [data-to-section]")
    link_chip.select_option(index=1)
    expect(page.locator("#form-preview [data-field='sales_order']")).to_be_visible()
    shot(page, "designer-form-en")
    form = draft_doc(ui_live, "admin1", "srm", "form", "purchase_order")
    placed = [f for s in form["sections"] for f in s["fields"]]
    assert "customer_reference" in placed and "sales_order" in placed

    # 5. Plan & publish.
    page.click("#plan-publish")
    expect(page.locator(".plan-steps")).to_contain_text(
        "Add “Customer reference” to “Purchase order”"
    )
    expect(page.locator(".plan-steps")).to_contain_text("Add “Sales order” to “Purchase order”")
    expect(page.locator(".plan-list")).to_contain_text(
        "The app now uses CRM (version 1.2 or later)"
    )
    shot(page, "designer-plan-en")
    page.fill("#publish-note", "Purchase orders link to sales orders")
    page.click("#publish")
    expect(page.locator(".flash.success")).to_contain_text("Published")
    expect(page.locator("table.versions")).to_contain_text("Purchase orders link to sales orders")

    # 6. The REST API: a purchase order that serves a sales order, read back.
    client = api(ui_live, "admin1")
    try:
        so_item = client.get("/api/v1/crm/sales_order", params={"limit": 1}).json()["items"][0]
        supplier = client.get("/api/v1/srm/supplier", params={"limit": 1}).json()["items"][0]
        made = client.post(
            "/api/v1/srm/purchase_order",
            json={"supplier": supplier["id"], "order_date": "2025-03-01",
                  "sales_order": so_item["id"], "customer_reference": "CR-7781"},
        )  # fmt: skip
        assert made.status_code == 201, made.text
        po_id = made.json()["id"]
        read = client.get(f"/api/v1/srm/purchase_order/{po_id}").json()
        assert read["sales_order"] == so_item["id"]
        assert read["customer_reference"] == "CR-7781"
        number = read["number"]
    finally:
        client.close()
    so_title = str(so_item.get("number") or so_item.get("name"))

    # 7. The pages: the PO shows its sales order; the sales order lists its POs.
    page.goto(f"/srm/purchase_order/{po_id}")
    expect(page.locator("main")).to_contain_text("Sales order")
    expect(page.locator("main")).to_contain_text(so_title)
    expect(page.locator("main")).to_contain_text("CR-7781")
    page.goto(f"/crm/sales_order/{so_item['id']}")
    expect(page.locator("main")).to_contain_text(number)
    shot(page, "designer-linked-sales-order-en")


def test_designer_key_steps_in_chinese(ui_live: Live, signed_in: Callable[..., Page]) -> None:
    page = signed_in("admin1", "zh-CN")
    page.goto("/designer")
    expect(page.locator("h1")).to_have_text("设计器")
    shot(page, "designer-home-zh")
    page.fill("#app-label-zh", "设备维护")
    page.fill("#app-label-en", "Equipment care")
    expect(page.locator("#app-name")).to_have_value("equipment_care")
    page.click("text=创建应用")
    expect(page.locator("h1")).to_have_text("实体")
    shot(page, "designer-entities-zh")
    page.fill("#entity-label-zh", "设备")
    page.fill("#entity-label-en", "Machine")
    page.click("text=创建实体")
    expect(page.locator("h1")).to_contain_text("设备")
    drag(page, page.locator(".palette-item[data-type='integer']"), page.locator("#field-list > [data-name]").first,
         above=False)  # fmt: skip
    expect(page.locator("#field-form")).to_be_visible()
    page.fill("#f-label-zh", "功率")
    page.fill("#f-label-en", "Power")
    shot(page, "designer-entity-panel-zh")
    page.click("#save-field")
    expect(page.locator(".saved-note")).to_contain_text("已保存到草稿")
    assert field_names(page) == ["name", "power"]

    page.goto("/designer/equipment_care/relations")
    drag(page, page.locator(".rel-card[data-entity='srm.supplier'] .rel-card-head"),
         page.locator(".rel-card[data-entity='equipment_care.machine']"))  # fmt: skip
    expect(page.locator("#link-name")).to_have_value("supplier")
    screen(page, "designer-relations-dialog-zh")
    page.click("#create-link")
    expect(
        page.locator(".rel-card[data-entity='equipment_care.machine'] .rel-field")
    ).to_have_count(1)
    screen(page, "designer-relations-after-zh")
    # The keyboard's way: the card's "Link to…" button, then the target chosen in a select.
    page.locator(".rel-card[data-entity='equipment_care.machine'] .link-to").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#link-holder")).to_have_value("equipment_care.machine")
    expect(page.locator("#link-target")).to_be_focused()
    page.select_option("#link-target", "crm.account")
    expect(page.locator("#link-name")).to_have_value("account")
    expect(page.locator("#link-label-zh")).to_have_value("客户")
    page.keyboard.press("Escape")
    expect(page.locator("#link-dialog")).to_be_hidden()

    page.goto("/designer/equipment_care/forms/machine")
    expect(page.locator("#form-preview .pv-field")).to_have_count(3)
    shot(page, "designer-form-zh")
    page.click("#plan-publish")
    expect(page.locator(".plan-steps")).to_contain_text("为“设备”新建数据表")
    expect(page.locator(".plan-list")).to_contain_text("SRM")
    shot(page, "designer-plan-zh")
    page.click("#publish")
    expect(page.locator(".flash.success")).to_contain_text("已发布")
    assert re.search(r"/designer/equipment_care/versions$", page.url)
    assert "equipment_care.machine" in ui_live.runtime.current().catalog.specs.entities


def test_designer_plan_asks_to_confirm_data_loss_in_both_languages(
    ui_live: Live, signed_in: Callable[..., Page]
) -> None:
    from appblocks.engine.users import create_user
    from tests.ui.test_designer_pages import add_field, new_app, signed

    with ui_live.engine.begin() as conn:
        create_user(conn, "lee.designer", password=PASSWORD, roles=["designer"])
    client = signed(ui_live, "lee.designer")
    try:
        new_app(client, "crate_app")
        add_field(client, "crate_app", "item", type="decimal", name="weight", label_en="Weight",
                  label_zh="重量")  # fmt: skip
        page = signed_in("lee.designer", "en")
        page.goto("/designer/crate_app/publish")
        page.click("#publish")
        expect(page.locator(".flash.success")).to_be_visible()
        rest = api(ui_live, "admin1")
        made = rest.post("/api/v1/crate_app/item", json={"name": "Crate", "weight": 12.5})
        rest.close()
        assert made.status_code == 201, made.text
        assert (
            client.post("/designer/crate_app/entities/item/fields/weight/delete").status_code == 303
        )
    finally:
        client.close()

    page.goto("/designer/crate_app/publish")
    warning = page.locator(".loss-warning")
    expect(warning).to_be_visible()
    expect(page.locator(".plan-steps .loss")).to_contain_text("stored values deleted: 1")
    page.click("#publish")  # the box is not ticked: the browser keeps the form
    assert page.locator("#confirm-data-loss").evaluate("box => !box.validity.valid")
    assert "weight" in ui_live.runtime.current().catalog.entity("crate_app.item").fields
    shot(page, "designer-plan-data-loss-en")
    chinese = signed_in("lee.designer", "zh-CN")
    chinese.goto("/designer/crate_app/publish")
    expect(chinese.locator(".loss-warning")).to_contain_text("我了解这些已存储的数据将被删除")
    shot(chinese, "designer-plan-data-loss-zh")
    chinese.check("#confirm-data-loss")
    chinese.click("#publish")
    expect(chinese.locator(".flash.success")).to_contain_text("已发布")
    assert "weight" not in ui_live.runtime.current().catalog.entity("crate_app.item").fields
