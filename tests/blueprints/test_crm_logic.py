"""The CRM blueprint's business logic, configured in YAML only, on SQLite and PostgreSQL.

Leads through conversion into an account, a contact and an opportunity; opportunity stages
with their probability and weighted amount; quote totals; the rule that refuses a P1 ticket
without a due date; the ticket SLA timers. Seed ids are positions in `blueprints/crm/data.yaml`.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
import sqlalchemy as sa

from appblocks.engine.record_errors import RecordErrors
from appblocks.workflows.states import CommentRequired, TransitionConflict, TransitionForbidden

from .logic_kit import App, installed, later, rule_messages

LEAD, ACCOUNT, CONTACT, OPP = "crm.lead", "crm.account", "crm.contact", "crm.opportunity"
QUOTE, TICKET = "crm.quote", "crm.ticket"
HAICHUAN = "青岛海川智能装备有限公司"  # account 1

PEOPLE = {
    "zhao.min": (["sales_rep"], {}),
    "chen.mgr": (["sales_manager"], {}),
    "mkt": (["marketing"], {}),
    "huang.tao": (["service_agent"], {}),
    "lin.xiao": (["service_agent"], {}),
    "haichuan": (["customer_portal"], {"customer": HAICHUAN}),
}
P1_EN, P1_ZH = "A P1 ticket needs a due date.", "P1 紧急工单必须填写解决时限。"


@pytest.fixture
def crm(engine: sa.Engine) -> App:
    return installed(engine, "crm", PEOPLE)


def test_seed_data_keeps_its_values(crm: App) -> None:
    assert {x["_state"] for x in crm.list(LEAD) + crm.list(TICKET)} == {"new"}
    vantage = crm.list(OPP, filter={"name": {"startswith": "Vantage"}})[0]
    assert (vantage["stage"], vantage["probability"]) == ("proposal", 60)  # as the data says
    assert vantage["weighted_amount"] == Decimal("588000.00")
    assert crm.get(ACCOUNT, 1)["open_tickets"] == 1  # tickets 1 and 2 are resolved, 11 is not


def test_lead_is_converted_into_account_contact_and_opportunity(crm: App) -> None:
    values = {"name": "顾明", "company": "无锡新测科技有限公司", "job_title": "采购经理",
              "email": "gu.ming@xince.cn", "owner": "zhao.min", "campaign": 1}  # fmt: skip
    lead = crm.create(LEAD, values, by="zhao.min")
    assert lead["_state"] == "new"
    assert crm.run(LEAD, lead["id"], "start", "mkt")["_state"] == "working"
    assert crm.run(LEAD, lead["id"], "qualify", "zhao.min")["_state"] == "qualified"
    with pytest.raises(TransitionForbidden):  # marketing hands over; sales converts
        crm.run(LEAD, lead["id"], "convert", "mkt")
    lead = crm.run(LEAD, lead["id"], "convert", "zhao.min")
    assert lead["_state"] == "converted" and lead["converted_on"] is not None
    account = crm.get(ACCOUNT, lead["converted_account"])
    assert (account["name"], account["owner"], account["lead"]) == (
        "无锡新测科技有限公司", "zhao.min", lead["id"],
    )  # fmt: skip
    contact = crm.get(CONTACT, lead["converted_contact"])
    assert (contact["account"], contact["name"], contact["email"], contact["is_primary"]) == (
        account["id"], "顾明", "gu.ming@xince.cn", True,
    )  # fmt: skip
    opp = crm.get(OPP, lead["converted_opportunity"])
    assert (opp["account"], opp["contact"], opp["lead"], opp["campaign"], opp["owner"]) == (
        account["id"], contact["id"], lead["id"], 1, "zhao.min",
    )  # fmt: skip
    assert (opp["stage"], opp["probability"]) == ("qualification", 30)
    assert len(crm.list(OPP, filter={"lead": lead["id"]})) == 1
    # a lead without a company has nothing to convert into; dropping one needs a reason
    person = crm.create(LEAD, {"name": "路人", "owner": "zhao.min"}, by="zhao.min")
    crm.run(LEAD, person["id"], "qualify", "zhao.min")
    with pytest.raises(TransitionConflict):
        crm.run(LEAD, person["id"], "convert", "zhao.min")
    with pytest.raises(CommentRequired):
        crm.run(LEAD, person["id"], "disqualify", "zhao.min")
    assert crm.run(LEAD, person["id"], "disqualify", "zhao.min", "无预算")["_state"] == (
        "disqualified"
    )


def test_opportunity_stage_sets_probability_and_weighted_amount(crm: App) -> None:
    values = {"name": "海川 备件", "account": 1, "stage": "proposal",
              "expected_amount": 100000, "owner": "zhao.min"}  # fmt: skip
    opp = crm.create(OPP, values, by="zhao.min")
    assert (opp["probability"], opp["weighted_amount"]) == (50, Decimal("50000.00"))
    opp = crm.update(OPP, opp["id"], {"probability": 55}, by="zhao.min")  # the rep's estimate
    assert opp["weighted_amount"] == Decimal("55000.00")
    opp = crm.update(OPP, opp["id"], {"stage": "negotiation"}, by="zhao.min")
    assert (opp["probability"], opp["weighted_amount"]) == (75, Decimal("75000.00"))
    with pytest.raises(RecordErrors) as caught:
        crm.update(OPP, opp["id"], {"stage": "closed_lost"}, by="zhao.min")
    assert rule_messages(caught.value) == [
        ("lost_reason", "Say why the opportunity was lost.", "输单时请填写输单原因。")
    ]
    lost = crm.update(
        OPP, opp["id"], {"stage": "closed_lost", "lost_reason": "价格"}, by="zhao.min"
    )
    assert (lost["probability"], lost["weighted_amount"]) == (0, 0)
    given = crm.create(OPP, {**values, "stage": "prospecting", "probability": 20}, by="zhao.min")
    assert given["probability"] == 20  # a probability given on creation is kept


def test_quote_total_and_acceptance_wins_the_opportunity(crm: App) -> None:
    opp = crm.create(OPP, {"name": "海川 HMI", "account": 1, "owner": "zhao.min"}, by="zhao.min")
    assert (opp["stage"], opp["probability"]) == ("prospecting", 10)
    values = {"account": 1, "opportunity": opp["id"], "owner": "zhao.min",
              "quote_date": "2026-12-01", "valid_until": "2026-12-31", "lines": [
                  {"product": 1, "quantity": 10, "unit_price": 100, "discount": 10},
                  {"product": 2, "quantity": 1, "unit_price": 999.99}]}  # fmt: skip
    quote = crm.create(QUOTE, values, by="zhao.min")
    assert [x["amount"] for x in quote["lines"]] == [Decimal("900.00"), Decimal("999.99")]
    assert quote["total"] == Decimal("1899.99") and quote["lines"][0]["list_price"] is not None
    with pytest.raises(RecordErrors):
        crm.update(QUOTE, quote["id"], {"valid_until": "2026-11-30"}, by="zhao.min")
    crm.update(QUOTE, quote["id"], {"status": "sent"}, by="zhao.min")
    crm.update(QUOTE, quote["id"], {"status": "accepted"}, by="zhao.min")
    won = crm.get(OPP, opp["id"])
    assert (won["stage"], won["probability"], won["expected_amount"], won["weighted_amount"]) == (
        "closed_won", 100, Decimal("1899.99"), Decimal("1899.99"),
    )  # fmt: skip


def test_p1_ticket_without_a_due_date_is_refused_in_both_languages(crm: App) -> None:
    ticket = {"subject": "产线停机", "account": 1, "priority": "p1"}
    with pytest.raises(RecordErrors) as caught:
        crm.create(TICKET, ticket, by="huang.tao")
    assert rule_messages(caught.value) == [("due_at", P1_EN, P1_ZH)]
    due = later(hours=4).isoformat()
    assert crm.create(TICKET, {**ticket, "due_at": due}, by="huang.tao")["priority"] == "p1"
    seed = crm.list(TICKET, filter={"priority": "p4", "due_at": {"isnull": False}})[0]
    with pytest.raises(RecordErrors) as caught:  # also on an update, from any channel
        crm.update(TICKET, seed["id"], {"priority": "p1", "due_at": None}, by="huang.tao")
    assert rule_messages(caught.value) == [("due_at", P1_EN, P1_ZH)]


def test_ticket_sla_timers_escalate_and_breach(crm: App) -> None:
    waiting = crm.create(TICKET, {"subject": "SD-750 异响", "account": 1}, by="haichuan")
    assert waiting["_state"] == "new" and waiting["opened_at"] is not None
    answered = crm.create(TICKET, {"subject": "TS-200 校准", "account": 1}, by="huang.tao")
    crm.run(TICKET, answered["id"], "start", "huang.tao")
    number, id = waiting["number"], waiting["id"]
    crm.work(later(hours=3))
    assert crm.get(TICKET, id)["sla_status"] == "on_track"
    crm.work(later(hours=4, minutes=5))
    assert crm.get(TICKET, id)["sla_status"] == "at_risk"
    at_risk = f"Ticket {number} has waited 4 hours for a first response"
    assert crm.notices("lin.xiao", TICKET, id) == [at_risk]
    assert crm.notices("chen.mgr", TICKET, id) == []
    crm.work(later(hours=8, minutes=5))
    assert crm.get(TICKET, id)["sla_status"] == "breached"
    breached = f"SLA breached: ticket {number} has no first response after 8 hours"
    assert crm.notices("chen.mgr", TICKET, id) == [breached]
    assert crm.notices("huang.tao", TICKET, id) == [at_risk, breached]
    # the ticket that got its first response in time left `new`: its clock stopped
    answered = crm.get(TICKET, answered["id"])
    assert answered["sla_status"] == "on_track" and answered["first_response_at"] is not None
    assert answered["assigned_to"] == "huang.tao"
    assert crm.notices("huang.tao", TICKET, answered["id"]) == []


def test_ticket_resolution_due_time_and_customer_closing(crm: App) -> None:
    due = later(hours=2).isoformat()
    late = crm.create(TICKET, {"subject": "通讯中断", "account": 1, "priority": "p1",
                               "due_at": due}, by="lin.xiao")  # fmt: skip
    crm.run(TICKET, late["id"], "start", "lin.xiao")
    crm.work(later(hours=3))
    assert crm.get(TICKET, late["id"])["sla_status"] == "breached"
    assert crm.notices("lin.xiao", TICKET, late["id"]) == [
        f"SLA breached: ticket {late['number']} is past its due time"
    ]
    before = crm.get(ACCOUNT, 1)["open_tickets"]
    ok = crm.create(TICKET, {"subject": "咨询", "account": 1,
                             "due_at": later(days=2).isoformat()}, by="lin.xiao")  # fmt: skip
    assert crm.get(ACCOUNT, 1)["open_tickets"] == before + 1
    crm.run(TICKET, ok["id"], "start", "lin.xiao")
    crm.run(TICKET, ok["id"], "wait_for_customer", "lin.xiao")
    assert crm.run(TICKET, ok["id"], "reply", "haichuan")["_state"] == "open"
    with pytest.raises(TransitionForbidden):  # only agents resolve
        crm.run(TICKET, ok["id"], "resolve", "haichuan")
    resolved = crm.run(TICKET, ok["id"], "resolve", "lin.xiao")
    assert (resolved["sla_status"], resolved["resolved_at"] is not None) == ("met", True)
    assert crm.get(ACCOUNT, 1)["open_tickets"] == before
    with pytest.raises(CommentRequired):
        crm.run(TICKET, ok["id"], "reopen", "haichuan")
    reopened = crm.run(TICKET, ok["id"], "reopen", "haichuan", "问题复现")
    assert (reopened["_state"], reopened["resolved_at"], reopened["sla_status"]) == (
        "open", None, "on_track",
    )  # fmt: skip
    crm.run(TICKET, ok["id"], "resolve", "lin.xiao")
    assert crm.run(TICKET, ok["id"], "close", "haichuan")["_state"] == "closed"
