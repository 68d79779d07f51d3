"""The approval inbox: approve, reject (with a comment) and delegate in place, as a manager.

Purchase orders below 100,000 wait for the purchasing manager (`blueprints/srm/workflows.yaml`,
po_approval); each test raises and submits its own order as the buyer over the REST API.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

import httpx
from playwright.sync_api import expect

from tests.server.conftest import Live
from tests.ui.conftest import shot


def submitted_po(live: Live, requester: str = "buyer1", price: float = 12.5) -> dict[str, Any]:
    """A purchase order raised and submitted for approval by `requester`; the record."""
    with live.client(requester) as api:
        supplier = api.get("/api/v1/srm/supplier", params={"limit": 1}).json()["items"][0]
        material = api.get("/api/v1/srm/material", params={"limit": 1}).json()["items"][0]
        body = {
            "supplier": supplier["id"],
            "order_date": dt.date.today().isoformat(),
            "lines": [{"material": material["id"], "quantity": 4, "unit_price": price}],
        }
        created = api.post("/api/v1/srm/purchase_order", json=body)
        assert created.status_code == 201, created.text
        po = created.json()
        moved = api.post(f"/api/v1/srm/purchase_order/{po['id']}/transitions/submit", json={})
        assert moved.status_code == 200, moved.text
        return dict(moved.json())


def signed(client: httpx.Client) -> httpx.Client:
    """The client with the CSRF token of its signed-in session (signing in starts a new
    session, so the token read from the sign-in page is stale)."""
    token = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/tasks").text)
    assert token
    client.headers["X-CSRF-Token"] = token.group(1)
    return client


def task_of(live: Live, user: str, record_id: int) -> int:
    """The id of the open task of `user` on the purchase order."""
    with live.client(user) as api:
        items = api.get("/api/v1/tasks").json()["items"]
    found = [t["id"] for t in items if t["record_id"] == record_id]
    assert found, f"{user} has no task on purchase order {record_id}"
    return int(found[0])


def po_state(live: Live, record_id: int) -> str:
    with live.client("admin1") as api:
        return str(api.get(f"/api/v1/srm/purchase_order/{record_id}").json()["_state"])


# --- httpx ------------------------------------------------------------------------------------


def test_tasks_inbox_lists_the_order_with_its_summary(
    ui_live: Live, pages: Callable[..., httpx.Client]
) -> None:
    po = submitted_po(ui_live)
    page = pages("manager1").get("/tasks")
    assert page.status_code == 200
    row = re.search(
        rf'<li class="task task-open" id="task-\d+">(?:(?!</li>).)*{po["number"]}.*?</li>',
        page.text,
        re.S,
    )
    assert row, "the manager's inbox shows the order"
    text = row.group(0)
    assert f'href="/srm/purchase_order/{po["id"]}"' in text
    assert "Purchase order" in text and "Requested by buyer1" in text
    assert "CN¥50.00" in text or "¥50.00" in text  # the total: 4 × 12.50
    assert "Purchasing manager" in text  # the approval level


def test_tasks_decision_without_csrf_is_refused(
    ui_live: Live, pages: Callable[..., httpx.Client]
) -> None:
    po = submitted_po(ui_live)
    task = task_of(ui_live, "manager1", po["id"])
    client = pages("manager1")
    del client.headers["X-CSRF-Token"]
    answer = client.post(f"/tasks/{task}/approve")
    assert answer.status_code == 403
    assert po_state(ui_live, po["id"]) == "pending"


def test_tasks_someone_elses_task_is_not_there(
    ui_live: Live, pages: Callable[..., httpx.Client]
) -> None:
    po = submitted_po(ui_live)
    task = task_of(ui_live, "manager1", po["id"])
    answer = signed(pages("finance1")).post(
        f"/tasks/{task}/approve", headers={"HX-Request": "true"}
    )
    assert answer.status_code == 404, answer.text
    assert po_state(ui_live, po["id"]) == "pending"


def test_tasks_self_approval_is_refused_with_the_reason_in_chinese(
    ui_live: Live, pages: Callable[..., httpx.Client]
) -> None:
    po = submitted_po(ui_live, requester="manager1")
    task = task_of(ui_live, "manager1", po["id"])
    answer = signed(pages("manager1", "zh-CN")).post(
        f"/tasks/{task}/approve", headers={"HX-Request": "true"}
    )
    assert answer.status_code == 403
    assert f'id="task-{task}"' in answer.text and "不能审批自己提交的申请" in answer.text
    assert po_state(ui_live, po["id"]) == "pending"


def test_tasks_decided_tab_lists_what_the_user_decided(
    ui_live: Live, pages: Callable[..., httpx.Client]
) -> None:
    po = submitted_po(ui_live)
    task = task_of(ui_live, "manager1", po["id"])
    client = signed(pages("manager1"))
    assert client.post(f"/tasks/{task}/approve").status_code == 303  # without htmx: PRG
    approved = client.get("/tasks", params={"status": "approved"}).text
    assert po["number"] in approved and "Approved by manager1" in approved
    assert po["number"] not in client.get("/tasks").text
    assert client.get("/tasks", params={"status": "nonsense"}).status_code == 404


# --- the browser ------------------------------------------------------------------------------


def test_tasks_approve_in_place(ui_live: Live, signed_in: Callable[..., Any]) -> None:
    for locale, approved_text in (("en", "Approved by manager1"), ("zh-CN", "manager1 已批准")):
        po = submitted_po(ui_live)
        task = task_of(ui_live, "manager1", po["id"])
        page = signed_in("manager1", locale)
        page.goto("/tasks")
        row = page.locator(f"#task-{task}")
        expect(row).to_contain_text(po["number"])
        count = int(page.locator("#task-count").inner_text())
        shot(page, f"tasks-inbox-{locale}")
        row.locator("button.approve").click()
        expect(row.locator(".task-outcome")).to_contain_text(approved_text)
        expect(page.locator("#task-count")).to_have_text(str(count - 1))
        assert page.url.endswith("/tasks")  # no reload, no navigation
        assert po_state(ui_live, po["id"]) == "approved"
        shot(page, f"tasks-approved-{locale}")


def test_tasks_reject_needs_a_comment(ui_live: Live, signed_in: Callable[..., Any]) -> None:
    for locale, needed, rejected in (
        ("en", "Write a comment", "Rejected by manager1"),
        ("zh-CN", "请填写意见", "manager1 已驳回"),
    ):
        po = submitted_po(ui_live)
        task = task_of(ui_live, "manager1", po["id"])
        page = signed_in("manager1", locale)
        page.goto("/tasks")
        row = page.locator(f"#task-{task}")
        row.locator("details.task-more summary").first.click()
        row.locator(f"#reject-{task}").fill("   ")
        row.locator("button.danger").click()
        expect(row.locator(".problem")).to_contain_text(needed)
        assert po_state(ui_live, po["id"]) == "pending"
        shot(page, f"tasks-reject-refused-{locale}")
        row.locator(f"#reject-{task}").fill("Price too high / 价格太高")
        row.locator("button.danger").click()
        expect(row.locator(".task-outcome")).to_contain_text(rejected)
        expect(row.locator(".task-comment")).to_have_text("Price too high / 价格太高")
        assert po_state(ui_live, po["id"]) == "draft"


def test_tasks_delegate_to_another_user(ui_live: Live, signed_in: Callable[..., Any]) -> None:
    for locale, passed in (("en", "Passed on to admin1"), ("zh-CN", "已转交给 admin1")):
        po = submitted_po(ui_live)
        task = task_of(ui_live, "manager1", po["id"])
        page = signed_in("manager1", locale)
        page.goto("/tasks")
        row = page.locator(f"#task-{task}")
        row.locator("details.task-more summary").nth(1).click()
        row.locator(f"#delegate-to-{task}").fill("nobody-like-this")
        row.locator(f"#delegate-comment-{task}").fill("You know this supplier")
        row.locator(".task-form button").nth(1).click()
        expect(row.locator(".problem")).to_contain_text("nobody-like-this")
        row.locator(f"#delegate-to-{task}").fill("admin1")
        row.locator(".task-form button").nth(1).click()
        expect(row.locator(".task-outcome")).to_contain_text(passed)
        shot(page, f"tasks-delegated-{locale}")
        assert task_of(ui_live, "admin1", po["id"]) != task
