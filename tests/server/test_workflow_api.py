"""Transitions, computed fields, rules and the approval inbox through the REST API."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import sqlalchemy as sa

from appblocks.engine.blueprints import install
from appblocks.engine.db import create_engine
from appblocks.engine.loader import load_blueprint_text
from appblocks.engine.users import create_user
from tests.server.conftest import PASSWORD, Live, serve

BUY = """
blueprint: buy
version: 1.0.0
entities:
  vendor:
    title: name
    fields:
      name: {type: text, required: true}
      orders_seen: {type: integer}
  po:
    title: number
    fields:
      number: {type: autonumber, format: "PO-{seq:04}"}
      vendor: {type: link, to: vendor, required: true}
      vendor_orders_seen: {type: lookup, via: vendor, field: orders_seen}
      lines: {type: lines, to: po_line}
      total: {type: money, rollup: {over: lines, agg: sum, field: amount}}
      approved_at: {type: datetime}
      urgent: {type: boolean}
      due: {type: date}
    rules:
      - when: "urgent and not due"
        field: due
        error: {en: An urgent order needs a due date, zh-CN: 紧急订单必须填写交期}
  receipt:
    title: note
    fields:
      note: {type: text}
      po: {type: link, to: po}
  po_line:
    fields:
      quantity: {type: decimal, min: 0}
      unit_price: {type: money}
      amount: {type: money, formula: "(quantity or 0) * (unit_price or 0)"}
workflows:
  approval:
    entity: po
    initial: draft
    states: [draft, pending, approved]
    transitions:
      submit: {from: draft, to: pending, roles: [buyer]}
    approvals:
      pending:
        approve_to: approved
        reject_to: draft
        levels:
          - {name: manager, approvers: [{role: manager}], when: "total < 100000"}
          - {name: board, approvers: [{role: manager}, {role: cfo}], mode: all, when: "total >= 100000"}
    on_enter:
      approved: [{set: {approved_at: "now()"}}]
automations:
  expect_goods:
    on: {entity: po, events: [state_entered], states: [approved]}
    do: [{create: {entity: receipt, values: {note: "'expected for ' + number", po: "id"}}}]
  count_orders:
    on: {entity: po, events: [created, deleted]}
    do: [{update: {record: vendor, values: {orders_seen: "(vendor_orders_seen or 0) + 1"}}}]
  urgent_flag:
    on: {entity: po, events: [field_changed], fields: [urgent]}
    when: "urgent"
    do: [{notify: {roles: [manager], subject: "PO {number} is urgent"}}]
roles:
  buyer: {permissions: {vendor: [read, create], po: [read, create, update, submit], po_line: [read, create, update]}}
  manager: {permissions: {vendor: [read], po: [read], receipt: [read]}}
  cfo: {permissions: {vendor: [read], po: [read]}}
data:
  vendor: [{name: Acme}]
"""


@pytest.fixture
def buy(db_url: str) -> Iterator[Live]:
    engine = create_engine(db_url)
    install(engine, load_blueprint_text(BUY, "buy.yaml"), with_data=True)
    with engine.begin() as conn:
        for name, roles in {"b1": ["buyer"], "m1": ["manager"], "c1": ["cfo"]}.items():
            create_user(conn, name, password=PASSWORD, roles=roles)
    try:
        with serve(db_url, engine) as running:
            yield running
    finally:
        engine.dispose()


def _po(c: httpx.Client, price: float) -> dict:
    body = {"vendor": 1, "lines": [{"quantity": 10, "unit_price": price}]}
    r = c.post("/api/v1/buy/po", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def test_computed_fields_and_initial_state_on_create(buy: Live) -> None:
    with buy.client("b1") as c:
        po = _po(c, 12.5)
    assert po["lines"][0]["amount"] == 125.0 and po["total"] == 125.0
    assert po["_state"] == "draft" and po["number"] == "PO-0001"


def test_rule_message_in_the_callers_language(buy: Live) -> None:
    with buy.client("b1") as c:
        en = c.post("/api/v1/buy/po", json={"vendor": 1, "urgent": True})
        zh = c.post(
            "/api/v1/buy/po",
            json={"vendor": 1, "urgent": True},
            headers={"Accept-Language": "zh-CN"},
        )
    assert en.status_code == 422
    assert {"field": "due", "message": "An urgent order needs a due date"} in en.json()["errors"]
    assert any(e["message"] == "紧急订单必须填写交期" for e in zh.json()["errors"])


def test_transition_roles_state_and_inbox_approval(buy: Live) -> None:
    with buy.client("b1") as c:
        po = _po(c, 100)
        url = f"/api/v1/buy/po/{po['id']}"
        options = c.get(f"{url}/transitions").json()
        assert options["state"] == "draft" and options["items"][0]["name"] == "submit"
        assert (
            c.post(f"{url}/transitions/submit", json={"comment": "please"}).json()["_state"]
            == "pending"
        )
        again = c.post(f"{url}/transitions/submit")
        assert again.status_code == 409  # no longer in draft
    with buy.client("m1") as c:
        assert c.post(f"{url}/transitions/submit").status_code == 403  # not a buyer
        tasks = c.get("/api/v1/tasks").json()["items"]
        assert [t["record_id"] for t in tasks] == [po["id"]]
        decided = c.post(f"/api/v1/tasks/{tasks[0]['id']}/approve", json={"comment": "ok"})
        assert decided.status_code == 200, decided.text
        record = c.get(url).json()
        assert record["_state"] == "approved" and record["approved_at"]
        history = c.get(f"{url}/history").json()["items"]
        assert any(h.get("comment") == "ok" for h in history)
    with buy.client("c1") as c:
        assert c.get("/api/v1/tasks").json()["items"] == []


def test_big_order_needs_the_cfo_too_and_rejection_needs_a_comment(buy: Live) -> None:
    with buy.client("b1") as c:
        po = _po(c, 20000)  # 200,000
        c.post(f"/api/v1/buy/po/{po['id']}/transitions/submit")
    with buy.client("m1") as c:
        task = c.get("/api/v1/tasks").json()["items"][0]
        assert c.post(f"/api/v1/tasks/{task['id']}/approve").status_code == 200
        assert c.get(f"/api/v1/buy/po/{po['id']}").json()["_state"] == "pending"
    with buy.client("c1") as c:
        task = c.get("/api/v1/tasks").json()["items"][0]
        assert c.post(f"/api/v1/tasks/{task['id']}/reject").status_code == 422
        r = c.post(f"/api/v1/tasks/{task['id']}/reject", json={"comment": "over budget"})
        assert r.status_code == 200
        assert c.get(f"/api/v1/buy/po/{po['id']}").json()["_state"] == "draft"
    with buy.engine.connect() as conn:
        assert (
            conn.execute(sa.text("SELECT count(*) FROM ab_task WHERE status = 'open'")).scalar()
            == 0
        )


def test_automations_run_from_api_saves(buy: Live) -> None:
    with buy.client("b1") as c:
        po = _po(c, 10)
        url = f"/api/v1/buy/po/{po['id']}"
        changed = c.patch(
            url, json={"urgent": True, "due": "2026-12-24", "_version": po["_version"]}
        )
        assert changed.status_code == 200, changed.text
        c.post(f"{url}/transitions/submit")
    with buy.engine.connect() as conn:
        notes = conn.execute(sa.text("SELECT user_name, subject FROM ab_notification")).all()
    assert ("m1", f"PO {po['number']} is urgent") in [tuple(n) for n in notes]
    with buy.client("m1") as c:
        task = c.get("/api/v1/tasks").json()["items"][0]
        c.post(f"/api/v1/tasks/{task['id']}/approve")
        receipts = c.get("/api/v1/buy/receipt").json()["items"]
    assert [(r["note"], r["po"]) for r in receipts] == [(f"expected for {po['number']}", po["id"])]


def test_delegation_through_the_inbox(buy: Live) -> None:
    with buy.engine.begin() as conn:
        create_user(conn, "m2", password=PASSWORD, roles=["manager"])
    with buy.client("b1") as c:
        po = _po(c, 10)
        c.post(f"/api/v1/buy/po/{po['id']}/transitions/submit")
    with buy.client("m1") as c:
        task = c.get("/api/v1/tasks").json()["items"][0]
        bad = c.post(f"/api/v1/tasks/{task['id']}/delegate", json={"comment": "no target"})
        assert bad.status_code == 422
        moved = c.post(f"/api/v1/tasks/{task['id']}/delegate", json={"to": "m2", "comment": "away"})
        assert moved.status_code == 200, moved.text
    with buy.client("m2") as c:
        mine = c.get("/api/v1/tasks").json()["items"]
        assert len(mine) == 1 and mine[0]["assignee_user"] == "m2"
        assert c.post(f"/api/v1/tasks/{mine[0]['id']}/approve").status_code == 200
        assert c.get(f"/api/v1/buy/po/{po['id']}").json()["_state"] == "approved"


def test_created_and_deleted_triggers_update_the_linked_record(buy: Live) -> None:
    with buy.client("b1") as c:
        first = _po(c, 1)
        _po(c, 2)
        assert c.get("/api/v1/buy/vendor/1").json()["orders_seen"] == 2
    with buy.engine.begin() as conn:
        create_user(conn, "root", password=PASSWORD, roles=["admin"])
    with buy.client("root") as c:
        assert c.delete(f"/api/v1/buy/po/{first['id']}").status_code == 204
        assert c.get("/api/v1/buy/vendor/1").json()["orders_seen"] == 3
