"""The SRM blueprint's business logic, configured in YAML only, on SQLite and PostgreSQL.

Purchase orders (amounts, approval by amount, the approved total, supplier confirmation),
goods receipts filling in the order lines, the RFQ from draft to award, contracts with their
expiry warning, supplier invoices from submission to payment. Seed ids are positions in
`blueprints/srm/data.yaml`.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import sqlalchemy as sa

from appblocks.engine.record_errors import RecordErrors
from appblocks.workflows.approvals import CommentRequired as RejectNeedsComment
from appblocks.workflows.states import CommentRequired, TransitionConflict, TransitionForbidden

from .logic_kit import App, installed, later, rule_messages

PO, LINE, GR = "srm.purchase_order", "srm.purchase_order_line", "srm.goods_receipt"
RFQ, BID, CONTRACT, INVOICE = "srm.rfq", "srm.bid", "srm.contract", "srm.supplier_invoice"
JINGGONG = "苏州精工五金制品有限公司"  # supplier 1

PEOPLE = {
    "li.na": (["buyer"], {}),
    "zhang.wei": (["purchasing_manager"], {}),
    "wu.qiang": (["purchasing_manager"], {}),
    "chen.cfo": (["cfo"], {}),
    "liu.fin": (["finance"], {}),
    "ma.jun": (["quality_engineer"], {}),
    "jg": (["supplier_portal"], {"supplier": JINGGONG}),
}


@pytest.fixture
def srm(engine: sa.Engine) -> App:
    return installed(engine, "srm", PEOPLE)


def order(srm: App, *lines: tuple[int, float, float], supplier: int = 3) -> dict:
    values = {
        "supplier": supplier,
        "buyer": "li.na",
        "order_date": "2026-12-01",
        "lines": [{"material": m, "quantity": q, "unit_price": p} for m, q, p in lines],
    }
    return srm.create(PO, values, by="li.na")


def approved_order(srm: App, *lines: tuple[int, float, float]) -> dict:
    po = order(srm, *lines)
    srm.run(PO, po["id"], "submit", "li.na")
    (task,) = srm.tasks(PO, po["id"])
    srm.decide(task.id, "zhang.wei")
    return srm.get(PO, po["id"])


def test_seed_data_loads_with_computed_receipts_and_variances(srm: App) -> None:
    # Seed records start in `initial` unless the data gives the state their story is in.
    states = {po["number"]: po["_state"] for po in srm.list(PO)}
    assert set(states.values()) == {"draft", "approved", "closed"}
    assert (srm.get(PO, 1)["_state"], srm.get(PO, 8)["_state"]) == ("closed", "approved")
    assert srm.get(PO, 10)["_state"] == "draft"  # no state given: the workflow's initial
    po1 = srm.get(PO, 1)  # its receipt accepted 1990 of 2000 housings
    assert [x["received_quantity"] for x in po1["lines"]] == [1990, 20000, 1000]
    assert po1["lines"][0]["item"] == "M-1001 × 2000" and po1["lines"][0]["open_quantity"] == 10
    assert (po1["received_quantity"], po1["received_amount"]) == (22990, Decimal("78135.00"))
    variances = {i["number"]: i["variance"] for i in srm.list(INVOICE)}
    assert variances["JG-INV-20260921"] == 0 and variances["XY-FP-88216"] == Decimal("2400.00")
    contract = srm.list(CONTRACT, sort="number")[1]  # SRM-C-2026-004, warned 45 days ahead
    assert contract["expiry_warning_on"] == dt.date(2027, 1, 14)
    assert srm.get(RFQ, 1)["bid_count"] == 3


def test_po_below_100000_needs_one_purchasing_manager(srm: App) -> None:
    po = order(srm, (1, 100, 36.5), (3, 1000, 0.08))
    assert [x["amount"] for x in po["lines"]] == [Decimal("3650.00"), Decimal("80.00")]
    assert (po["total"], po["_state"]) == (Decimal("3730.00"), "draft")
    with pytest.raises(TransitionForbidden):
        srm.run(PO, po["id"], "submit", "jg")
    pending = srm.run(PO, po["id"], "submit", "li.na")
    assert pending["_state"] == "pending" and pending["submitted_at"] is not None
    (task,) = srm.tasks(PO, po["id"])
    assert (task.assignee_role, task.requested_by) == ("purchasing_manager", "li.na")
    after = srm.decide(task.id, "zhang.wei")
    assert after["_state"] == "approved"
    po = srm.get(PO, po["id"])
    assert isinstance(po["approved_at"], dt.datetime) and po["approved_total"] == po["total"]
    assert srm.notices("li.na", PO, po["id"]) == [f"PO {po['number']} approved"]
    # an approved order may shrink, never grow past what was approved
    lines = [{**x, "quantity": 200} if x["material"] == 1 else x for x in po["lines"]]
    with pytest.raises(RecordErrors) as caught:
        srm.update(PO, po["id"], {"lines": lines}, by="li.na")
    assert [m[0] for m in rule_messages(caught.value)] == ["total"]
    # the supplier confirms it: the date is stamped and the buyer told
    confirmed = srm.update(PO, po["id"], {"supplier_confirmed": True}, by="jg")
    assert confirmed["confirmed_on"] is not None
    assert f"Supplier confirmed PO {po['number']}" in srm.notices("li.na", PO, po["id"])
    draft = order(srm, (1, 10, 36.5))
    with pytest.raises(RecordErrors):  # not before it is approved
        srm.update(PO, draft["id"], {"supplier_confirmed": True}, by="jg")


def test_po_of_100000_or_more_needs_manager_and_cfo(srm: App) -> None:
    po = order(srm, (1, 4000, 36.5))  # 146,000
    srm.run(PO, po["id"], "submit", "li.na")
    tasks = srm.tasks(PO, po["id"])
    assert sorted(t.assignee_role for t in tasks) == ["cfo", "purchasing_manager"]
    by_role = {t.assignee_role: t for t in tasks}
    assert srm.decide(by_role["purchasing_manager"].id, "zhang.wei")["_state"] == "pending"
    assert srm.decide(by_role["cfo"].id, "chen.cfo")["_state"] == "approved"
    assert srm.get(PO, po["id"])["approved_at"] is not None
    # a rejection, at any level, needs a comment and sends the order back to draft
    po = order(srm, (1, 4000, 36.5))
    srm.run(PO, po["id"], "submit", "li.na")
    cfo_task = next(t for t in srm.tasks(PO, po["id"]) if t.assignee_role == "cfo")
    with pytest.raises(RejectNeedsComment):
        srm.decide(cfo_task.id, "chen.cfo", "reject")
    after = srm.decide(cfo_task.id, "chen.cfo", "reject", "Split the order by quarter")
    assert after["_state"] == "draft" and srm.tasks(PO, po["id"]) == []
    assert srm.get(PO, po["id"])["approved_at"] is None
    assert f"PO {po['number']} was sent back" in srm.notices("li.na", PO, po["id"])
    with pytest.raises(CommentRequired):
        srm.run(PO, po["id"], "cancel", "li.na")
    assert srm.run(PO, po["id"], "cancel", "li.na", "replaced")["_state"] == "cancelled"


def test_goods_receipts_fill_in_the_order_lines(srm: App) -> None:
    draft = order(srm, (1, 100, 36.5))
    receipt = {"received_on": "2026-12-10", "received_by": "ma.jun"}
    with pytest.raises(RecordErrors) as caught:  # nothing is received against a draft
        srm.create(GR, {**receipt, "purchase_order": draft["id"], "lines": []}, by="ma.jun")
    (refusal,) = rule_messages(caught.value)
    assert refusal[0] == "purchase_order" and refusal[2] == "只能按已批准的采购订单收货。"
    po = approved_order(srm, (1, 100, 36.5), (3, 1000, 0.08))
    housing, screws = (x["id"] for x in po["lines"])
    with pytest.raises(RecordErrors):  # a line for the wrong material
        srm.create(GR, {**receipt, "purchase_order": po["id"], "lines": [
            {"po_line": housing, "material": 3, "received_quantity": 5, "accepted_quantity": 5}
        ]}, by="ma.jun")  # fmt: skip
    first = srm.create(GR, {**receipt, "purchase_order": po["id"], "lines": [
        {"po_line": housing, "material": 1, "received_quantity": 60, "accepted_quantity": 58,
         "rejected_quantity": 2},
        {"po_line": screws, "material": 3, "received_quantity": 1000, "accepted_quantity": 1000},
    ]}, by="ma.jun")  # fmt: skip
    po = srm.get(PO, po["id"])
    assert [x["received_quantity"] for x in po["lines"]] == [58, 1000]
    assert (po["received_quantity"], po["received_amount"]) == (1058, Decimal("2197.00"))
    with pytest.raises(TransitionConflict):  # 42 housings still to come
        srm.run(PO, po["id"], "close", "li.na")
    lines = [{**first["lines"][0], "accepted_quantity": 60, "rejected_quantity": 0},
             first["lines"][1]]  # fmt: skip
    srm.update(GR, first["id"], {"lines": lines}, by="ma.jun")  # re-inspected: all good
    assert srm.get(LINE, housing)["received_quantity"] == 60
    rest = {**receipt, "purchase_order": po["id"], "lines": [
        {"po_line": housing, "material": 1, "received_quantity": 40, "accepted_quantity": 40},
    ]}  # fmt: skip
    wrong = srm.create(GR, rest, by="ma.jun")
    assert srm.get(PO, po["id"])["received_quantity"] == 1100
    srm.delete(GR, wrong["id"], by="ma.jun")  # booked against the wrong order after all
    assert srm.get(LINE, housing)["received_quantity"] == 60
    srm.create(GR, rest, by="ma.jun")
    assert srm.run(PO, po["id"], "close", "li.na")["_state"] == "closed"


def test_rfq_from_draft_to_award(srm: App) -> None:
    values = {"title": "编码器询价", "material": 8, "quantity": 500, "invited_suppliers": [1, 8]}
    rfq = srm.create(RFQ, values, by="li.na")
    assert rfq["_state"] == "draft"
    assert srm.run(RFQ, rfq["id"], "publish", "li.na")["_state"] == "open"
    assert srm.run(RFQ, rfq["id"], "close", "li.na")["_state"] == "closed"
    with pytest.raises(TransitionConflict) as caught:  # nobody bid
        srm.run(RFQ, rfq["id"], "award", "zhang.wei")
    assert "bid_count > 0" in caught.value.message
    srm.run(RFQ, rfq["id"], "reopen", "li.na", "extend for Kaiyo")
    bid = srm.create(BID, {"rfq": rfq["id"], "supplier": 1, "unit_price": 76.9}, by="jg")
    assert bid["submitted_at"] is not None and bid["status"] == "submitted"
    srm.create(BID, {"rfq": rfq["id"], "supplier": 8, "unit_price": 78.2}, by="li.na")
    srm.update(RFQ, rfq["id"], {"awarded_supplier": 1}, by="li.na")
    srm.run(RFQ, rfq["id"], "close", "li.na")
    with pytest.raises(TransitionForbidden):  # the award is the manager's
        srm.run(RFQ, rfq["id"], "award", "li.na")
    awarded = srm.run(RFQ, rfq["id"], "award", "zhang.wei")
    assert (awarded["_state"], awarded["bid_count"]) == ("awarded", 2)
    assert awarded["lowest_price"] == Decimal("76.9")
    bids = srm.list(BID, filter={"rfq": rfq["id"]}, sort="supplier")
    assert [b["status"] for b in bids] == ["awarded", "rejected"]


def test_rfq_closes_itself_at_the_deadline(srm: App) -> None:
    deadline = later(hours=2).isoformat()
    rfq = srm.create(RFQ, {"title": "x", "material": 8, "deadline": deadline}, by="li.na")
    srm.run(RFQ, rfq["id"], "publish", "li.na")
    srm.work(later(hours=1))
    assert srm.get(RFQ, rfq["id"])["_state"] == "open"
    srm.work(later(hours=2, minutes=5))
    assert srm.get(RFQ, rfq["id"])["_state"] == "closed"
    assert srm.notices("li.na", RFQ, rfq["id"]) == [f"RFQ {rfq['number']} closed for bids"]


def test_contract_activation_expiry_warning_and_expiry(srm: App) -> None:
    today = later().date()  # timers run at 00:00 UTC of their day
    end = today + dt.timedelta(days=40)
    values = {"number": "C-T-1", "title": "测试合同", "supplier": 1, "owner": "zhang.wei",
              "start_date": today.isoformat(), "end_date": end.isoformat()}  # fmt: skip
    contract = srm.create(CONTRACT, values, by="zhang.wei")
    assert contract["expiry_warning_on"] == end - dt.timedelta(days=30)
    srm.run(CONTRACT, contract["id"], "submit", "li.na")
    with pytest.raises(TransitionConflict):  # not signed yet
        srm.run(CONTRACT, contract["id"], "activate", "zhang.wei")
    srm.update(CONTRACT, contract["id"], {"signature_status": "completed"}, by="zhang.wei")
    active = srm.run(CONTRACT, contract["id"], "activate", "zhang.wei")
    assert (active["_state"], active["signed"]) == ("active", True)
    subject = f"Contract C-T-1 expires on {end.isoformat()}"
    srm.work(later(days=9))
    assert srm.notices("zhang.wei", CONTRACT, contract["id"]) == []
    srm.work(later(days=11))
    for person in ("zhang.wei", "wu.qiang"):  # the owner and the purchasing managers
        assert srm.notices(person, CONTRACT, contract["id"]) == [subject]
    srm.work(later(days=42))
    assert srm.get(CONTRACT, contract["id"])["_state"] == "expired"
    # a contract activated inside its warning period is warned at once
    soon = {**values, "number": "C-T-2", "end_date": (end - dt.timedelta(days=25)).isoformat(),
            "signature_status": "completed"}  # fmt: skip
    late = srm.create(CONTRACT, soon, by="zhang.wei")
    srm.run(CONTRACT, late["id"], "submit", "zhang.wei")
    srm.run(CONTRACT, late["id"], "activate", "zhang.wei")
    assert srm.notices("wu.qiang", CONTRACT, late["id"]) == [
        f"Contract C-T-2 expires on {soon['end_date']}"
    ]


def test_invoice_from_submission_to_payment(srm: App) -> None:
    invoice = srm.list(INVOICE, filter={"number": "JG-INV-20260921"})[0]  # Jinggong's, matched
    assert (invoice["_state"], invoice["variance"]) == ("draft", 0)
    with pytest.raises(TransitionForbidden):  # quality engineers have no say in invoices
        srm.run(INVOICE, invoice["id"], "submit", "ma.jun")
    assert srm.run(INVOICE, invoice["id"], "submit", "jg")["_state"] == "submitted"
    with pytest.raises(TransitionForbidden):  # suppliers submit, finance approves
        srm.run(INVOICE, invoice["id"], "approve", "jg")
    assert srm.run(INVOICE, invoice["id"], "approve", "liu.fin")["_state"] == "approved"
    paid = srm.run(INVOICE, invoice["id"], "pay", "liu.fin")
    assert paid["_state"] == "paid" and paid["paid_on"] is not None
    unchecked = srm.list(INVOICE, filter={"number": "NW-RE-2026-4471"})[0]
    srm.run(INVOICE, unchecked["id"], "submit", "liu.fin")
    with pytest.raises(TransitionConflict):  # not 3-way matched yet
        srm.run(INVOICE, unchecked["id"], "approve", "liu.fin")
    srm.update(INVOICE, unchecked["id"], {"match_status": "matched"}, by="liu.fin")
    assert srm.run(INVOICE, unchecked["id"], "approve", "liu.fin")["_state"] == "approved"
    # the aluminium invoice is billed 2,400 above what was received: disputed, then corrected
    disputed = srm.list(INVOICE, filter={"number": "XY-FP-88216"})[0]
    assert disputed["variance"] == Decimal("2400.00")
    srm.run(INVOICE, disputed["id"], "submit", "liu.fin")
    with pytest.raises(CommentRequired):
        srm.run(INVOICE, disputed["id"], "dispute", "liu.fin")
    srm.run(INVOICE, disputed["id"], "dispute", "liu.fin", "单价应为 20.80")
    assert srm.get(INVOICE, disputed["id"])["_state"] == "disputed"
    assert srm.notices("liu.fin", INVOICE, disputed["id"]) == ["Invoice XY-FP-88216 is disputed"]
    back = srm.run(INVOICE, disputed["id"], "resubmit", "liu.fin", "红冲后重开")
    assert back["_state"] == "submitted"
