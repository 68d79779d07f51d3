"""The portal: supplier and customer users see their own records only, and act on them.

`jinggong` and `huaxin` are supplier portal users of two suppliers; `haichuan` and `nanfang`
customer portal users of two accounts (`ROLE_USERS` in tests/server/conftest.py).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from typing import Any

import httpx
from playwright.sync_api import expect

from tests.server.conftest import ROLE_USERS, Live, module_db_url, shipped  # noqa: F401 (fixtures)
from tests.ui.conftest import page_session, shot
from tests.ui.test_tasks import po_state, signed, task_of


def records(live: Live, entity: str, filter_: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Every record of an entity, as the administrator reads it."""
    params: dict[str, Any] = {"limit": 200}
    if filter_:
        params["filter"] = json.dumps(filter_)
    with live.client("admin1") as api:
        answer = api.get(f"/api/v1/{entity}", params=params)
        assert answer.status_code == 200, answer.text
        return list(answer.json()["items"])


def company(user: str) -> str:
    attributes = ROLE_USERS[user][1]
    return attributes.get("supplier") or attributes["customer"]


def approved_po_for(live: Live, supplier_name: str) -> dict[str, Any]:
    """A purchase order for the supplier, submitted by the buyer and approved by the manager."""
    supplier = records(live, "srm/supplier", {"name": supplier_name})[0]
    with live.client("buyer1") as api:
        material = api.get("/api/v1/srm/material", params={"limit": 1}).json()["items"][0]
        body = {
            "supplier": supplier["id"],
            "order_date": dt.date.today().isoformat(),
            "lines": [{"material": material["id"], "quantity": 2, "unit_price": 8}],
        }
        po = api.post("/api/v1/srm/purchase_order", json=body).json()
        api.post(f"/api/v1/srm/purchase_order/{po['id']}/transitions/submit", json={})
    task = task_of(live, "manager1", po["id"])
    with live.client("manager1") as api:
        assert api.post(f"/api/v1/tasks/{task}/approve", json={}).status_code == 200
    assert po_state(live, po["id"]) == "approved"
    return dict(po)


def open_rfq_for(live: Live, supplier_name: str) -> dict[str, Any]:
    """An RFQ open for bids that invites the supplier."""
    supplier = records(live, "srm/supplier", {"name": supplier_name})[0]
    deadline = (dt.datetime.now(dt.UTC) + dt.timedelta(days=7)).isoformat()
    with live.client("buyer1") as api:
        material = api.get("/api/v1/srm/material", params={"limit": 1}).json()["items"][0]
        body = {
            "title": "Portal test RFQ",
            "material": material["id"],
            "quantity": 100,
            "invited_suppliers": [supplier["id"]],
            "deadline": deadline,
        }
        created = api.post("/api/v1/srm/rfq", json=body)
        assert created.status_code == 201, created.text
        rfq = created.json()
        moved = api.post(f"/api/v1/srm/rfq/{rfq['id']}/transitions/publish", json={})
        assert moved.status_code == 200, moved.text
    return dict(rfq)


UNRELEASED = ("draft", "pending")  # orders still with the buyer: not the supplier's business yet


def test_portal_supplier_sees_an_order_only_once_it_is_approved(shipped: Live) -> None:  # noqa: F811
    supplier = records(shipped, "srm/supplier", {"name": company("jinggong")})[0]
    with shipped.client("buyer1") as api:
        material = api.get("/api/v1/srm/material", params={"limit": 1}).json()["items"][0]
        body = {
            "supplier": supplier["id"],
            "order_date": dt.date.today().isoformat(),
            "lines": [{"material": material["id"], "quantity": 3, "unit_price": 9}],
        }
        po = api.post("/api/v1/srm/purchase_order", json=body).json()

    def seen() -> tuple[int, bool]:
        with shipped.client("jinggong") as api:
            status = api.get(f"/api/v1/srm/purchase_order/{po['id']}").status_code
        client = page_session(shipped, "jinggong")
        try:
            listed = f">{po['number']}<" in client.get("/portal").text
        finally:
            client.close()
        return status, listed

    assert seen() == (404, False)  # a draft
    with shipped.client("buyer1") as api:
        moved = api.post(f"/api/v1/srm/purchase_order/{po['id']}/transitions/submit", json={})
        assert moved.status_code == 200, moved.text
    assert seen() == (404, False)  # waiting for the manager's approval
    task = task_of(shipped, "manager1", po["id"])
    with shipped.client("manager1") as api:
        assert api.post(f"/api/v1/tasks/{task}/approve", json={}).status_code == 200
    assert seen() == (200, True)


def _numbers(entity: str, key: str, live: Live) -> set[str]:
    return {str(r[key]) for r in records(live, entity)}


def test_portal_supplier_sees_only_its_orders_and_rfqs(shipped: Live) -> None:  # noqa: F811
    for user, other in (("jinggong", "huaxin"), ("huaxin", "jinggong")):
        supplier = records(shipped, "srm/supplier", {"name": company(user)})[0]
        all_pos = records(shipped, "srm/purchase_order")
        own = [p for p in all_pos if p["supplier"] == supplier["id"]]
        mine = {p["number"] for p in own if p["_state"] not in UNRELEASED}
        unreleased = {p["number"] for p in own if p["_state"] in UNRELEASED}
        theirs = {p["number"] for p in all_pos if p["supplier"] != supplier["id"]}
        assert mine and theirs, "the demo data has orders of several suppliers"
        client = page_session(shipped, user)
        try:
            page = client.get("/portal")
        finally:
            client.close()
        assert page.status_code == 200
        assert company(user) in page.text
        assert all(n in page.text for n in mine)
        assert not any(n in page.text for n in theirs), f"{user} sees another supplier's order"
        assert not any(n in page.text for n in unreleased), f"{user} sees an unapproved order"
        assert company(other) not in page.text


def test_portal_customer_sees_only_its_tickets_and_orders(shipped: Live) -> None:  # noqa: F811
    for user in ("haichuan", "nanfang"):
        account = records(shipped, "crm/account", {"name": company(user)})[0]
        tickets = records(shipped, "crm/ticket")
        orders = records(shipped, "crm/sales_order")
        client = page_session(shipped, user, "zh-CN")
        try:
            page = client.get("/portal").text
        finally:
            client.close()
        assert "服务工单" in page and "订单" in page
        for record in tickets + orders:
            number = str(record["number"])
            shown = re.search(rf">{re.escape(number)}<", page) is not None
            assert shown == (record["account"] == account["id"]), (user, number)


def test_portal_is_not_for_staff(pages: Callable[..., httpx.Client]) -> None:
    assert pages("buyer1").get("/portal").status_code == 404
    assert pages("agent1").get("/portal").status_code == 404
    preview = pages("admin1").get("/portal", params={"role": "customer_portal"})
    assert preview.status_code == 200 and "Service tickets" in preview.text


def test_portal_supplier_confirms_an_approved_order(
    ui_live: Live, pages: Callable[..., httpx.Client]
) -> None:
    po = approved_po_for(ui_live, company("jinggong"))
    url = f"/portal/confirm/srm/purchase_order/{po['id']}"
    version = records(ui_live, "srm/purchase_order", {"id": po["id"]})[0]["_version"]
    forged = pages("jinggong")
    del forged.headers["X-CSRF-Token"]
    assert forged.post(url, data={"version": version}).status_code == 403
    other = signed(pages("huaxin"))
    assert other.post(url, data={"version": version}).status_code == 404  # not theirs
    client = signed(pages("jinggong"))
    page = client.get("/portal").text
    assert f'id="row-srm-purchase_order-{po["id"]}"' in page and "Confirm the order" in page
    answer = client.post(
        url + "?list=srm-purchase_order",
        data={"version": version},
        headers={"HX-Request": "true"},
    )
    assert answer.status_code == 200 and "Confirmed. Thank you!" in answer.text
    confirmed = records(ui_live, "srm/purchase_order", {"id": po["id"]})[0]
    assert confirmed["supplier_confirmed"] is True and confirmed["confirmed_on"]


def test_portal_supplier_and_customer_in_the_browser(
    ui_live: Live, signed_in: Callable[..., Any]
) -> None:
    rfq = open_rfq_for(ui_live, company("jinggong"))
    po = approved_po_for(ui_live, company("jinggong"))
    page = signed_in("jinggong", "en")
    page.goto("/portal")
    expect(page.locator("h1")).to_have_text(company("jinggong"))
    rfqs = page.get_by_role("region", name="Requests for quotation to bid on")
    expect(rfqs.locator(f"#row-srm-rfq-{rfq['id']}")).to_contain_text(rfq["number"])
    bid = rfqs.locator(f"#row-srm-rfq-{rfq['id']}").get_by_role("link", name="New Bid / quotation")
    assert f"rfq={rfq['id']}" in (bid.get_attribute("href") or "")
    to_confirm = page.get_by_role("region", name="Orders waiting for your confirmation")
    row = to_confirm.locator(f"#row-srm-purchase_order-{po['id']}")
    shot(page, "portal-supplier-en")
    row.get_by_role("button", name="Confirm the order").click()
    expect(row).to_contain_text("Confirmed. Thank you!")
    expect(row.get_by_role("button", name="Confirm the order")).to_have_count(0)

    other = signed_in("huaxin", "zh-CN")
    other.goto("/portal")
    expect(other.locator("h1")).to_have_text(company("huaxin"))
    expect(other.locator(f"#row-srm-rfq-{rfq['id']}")).to_have_count(0)
    expect(other.locator(f"#row-srm-purchase_order-{po['id']}")).to_have_count(0)
    shot(other, "portal-supplier-zh-CN")

    customer = signed_in("haichuan", "zh-CN")
    customer.goto("/portal")
    expect(customer.locator("h1")).to_have_text(company("haichuan"))
    tickets = customer.get_by_role("region", name="服务工单")
    expect(tickets).to_be_visible()
    new_ticket = tickets.locator(".portal-list-head").get_by_role("link", name="新建服务工单")
    assert "account=" in (new_ticket.get_attribute("href") or "")
    shot(customer, "portal-customer-zh-CN")
    customer_en = signed_in("nanfang", "en", phone=True)
    customer_en.goto("/portal")
    expect(customer_en.get_by_role("region", name="Service tickets")).to_be_visible()
    shot(customer_en, "portal-customer-phone-en")
