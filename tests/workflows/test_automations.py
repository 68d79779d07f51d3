"""Automations: every trigger and action on SQLite and PostgreSQL, with a real SMTP server, a
real HTTP receiver and the worker; the loop guard; failures that undo the triggering save."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import json
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa

from appblocks.engine.catalog import Catalog
from appblocks.engine.events import EventBus
from appblocks.engine.loader import load_blueprint_text
from appblocks.engine.models import Notification, utcnow
from appblocks.engine.records import RecordStore
from appblocks.engine.users import create_user
from appblocks.engine.validate import validate_blueprint
from appblocks.workflows.automation_spec import AutomationConfigError
from appblocks.workflows.automations import JOB_KIND, AutomationError, Automations
from appblocks.workflows.jobs import JOBS, PENDING, JobHandlers
from appblocks.workflows.outbox import MailSettings, register_outbox, verify_signature
from appblocks.workflows.schedule import ScheduleError, parse_schedule
from appblocks.workflows.worker import run_once

from .conftest import HookServer, SmtpSink

CRM = """
blueprint: crm
version: 1.0.0
entities:
  sales_forecast:
    title: period
    fields:
      period: {type: text, required: true}
      quantity: {type: decimal, scale: 2}
      note: {type: text}
      owner: {type: user}
"""

SRM = """
blueprint: srm
version: 1.0.0
requires: {crm: ">=1.0"}
entities:
  supplier:
    title: name
    fields:
      name: {type: text, required: true}
      risk_level: {type: choice, options: [low, high], default: low}
      needs_review: {type: boolean, default: false}
      rating: {type: integer}
  purchase_requisition:
    fields:
      quantity: {type: decimal, scale: 2, min: 0}
      reason: {type: text, required: true}
      forecast: {type: link, to: crm.sales_forecast}
      supplier: {type: link, to: supplier}
  contract:
    title: name
    fields:
      name: {type: text}
      total: {type: money}
workflows:
  contract_flow:
    entity: contract
    initial: draft
    states: [draft, active]
    transitions: {activate: {from: draft, to: active}, reopen: {from: active, to: draft}}
roles:
  purchasing_manager: {permissions: {purchase_requisition: [read]}}
"""

FORECAST, REQUISITION = "crm.sales_forecast", "srm.purchase_requisition"
SUPPLIER, CONTRACT = "srm.supplier", "srm.contract"
SOON = dt.timedelta(minutes=1)  # run_once "now": past every job queued during the test


def _doc(text: str, installed: dict[str, Any]) -> dict[str, Any]:
    loaded = load_blueprint_text(text, "test.yaml")
    assert not loaded.errors
    # Every blueprint here must pass the validator: the runtime never sees anything else.
    assert [str(e) for e in validate_blueprint(loaded, installed)] == []
    return loaded.doc


@dataclass
class World:
    """Two installed apps on one database, their store, and their automations."""

    engine: sa.Engine
    catalog: Catalog
    store: RecordStore
    automations: Automations
    handlers: JobHandlers

    def write(self, fn: Callable[[sa.Connection], Any]) -> Any:
        with self.engine.begin() as conn:
            return fn(conn)

    def create(self, entity: str, values: dict[str, Any], actor: str | None = "ann") -> Any:
        return self.write(lambda c: self.store.create(c, entity, values, actor=actor))

    def update(self, entity: str, record: dict[str, Any], values: dict[str, Any]) -> Any:
        return self.write(
            lambda c: self.store.update(
                c, entity, record["id"], values, version=self.version(c, entity, record["id"]),
                actor="ann",
            )
        )  # fmt: skip

    def version(self, conn: sa.Connection, entity: str, id: int) -> int:
        return int(self.store.get(conn, entity, id)["_version"])

    def rows(self, entity: str) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return self.store.list(conn, entity, sort="id", limit=5000).items

    def jobs(self, kind: str | None = None) -> list[Any]:
        query = sa.select(JOBS).order_by(JOBS.c.id)
        if kind:
            query = query.where(JOBS.c.kind == kind)
        with self.engine.connect() as conn:
            return list(conn.execute(query))

    def notifications(self) -> list[tuple[str, str, str | None]]:
        table = Notification.__table__
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(table.c.user_name, table.c.subject, table.c.body).order_by(table.c.id)
            )
            return [tuple(r) for r in rows]


def world(
    engine: sa.Engine, srm: str = "", crm: str = "", *, smtp_port: int = 1, **kw: Any
) -> World:
    crm_doc = _doc(CRM + textwrap.dedent(crm), {})
    srm_doc = _doc(SRM + textwrap.dedent(srm), {"crm": crm_doc})
    catalog = Catalog({"crm": crm_doc, "srm": srm_doc})
    catalog.metadata.create_all(engine)
    bus = EventBus()
    store = RecordStore(catalog, bus)
    automations = Automations(catalog, **kw)
    automations.subscribe(bus, lambda: store)
    settings = MailSettings(host="127.0.0.1", port=smtp_port, mail_from="ab@example.org")
    handlers = register_outbox(JobHandlers(), settings, webhook_timeout=5)
    automations.register_jobs(handlers, lambda: store)
    return World(engine, catalog, store, automations, handlers)


FORECAST_DEMAND = """
automations:
  forecast_demand:
    on: {entity: crm.sales_forecast, events: [created]}
    when: "quantity > 0"
    do:
      - create:
          entity: purchase_requisition
          values: {quantity: "quantity * 1.1", reason: "'Forecast ' + period", forecast: id}
"""


# --- triggers -------------------------------------------------------------------------------


def test_automation_created_creates_a_record_in_another_app(engine: sa.Engine) -> None:
    w = world(engine, FORECAST_DEMAND)
    forecast = w.create(FORECAST, {"period": "2026-Q1", "quantity": 100})
    [req] = w.rows(REQUISITION)
    assert req["quantity"] == pytest.approx(110)
    assert req["reason"] == "Forecast 2026-Q1"
    assert req["forecast"] == forecast["id"]
    assert req["_created_by"] == "ann"  # written on behalf of whoever triggered it


def test_automation_when_guard_skips_the_actions(engine: sa.Engine) -> None:
    w = world(engine, FORECAST_DEMAND)
    w.create(FORECAST, {"period": "2026-Q1", "quantity": 0})
    assert w.rows(REQUISITION) == []


def test_automation_updated_sees_old_values(engine: sa.Engine) -> None:
    w = world(
        engine,
        """
        automations:
          demand_delta:
            on: {entity: crm.sales_forecast, events: [updated]}
            when: "quantity > old.quantity"
            do:
              - create:
                  entity: purchase_requisition
                  values: {quantity: "quantity - old.quantity", reason: "'More for ' + period"}
        """,
    )
    forecast = w.create(FORECAST, {"period": "P1", "quantity": 10})
    assert w.rows(REQUISITION) == []  # created is not updated
    forecast = w.update(FORECAST, forecast, {"quantity": 25})
    w.update(FORECAST, forecast, {"quantity": 5})  # less: the guard says no
    assert [(r["quantity"], r["reason"]) for r in w.rows(REQUISITION)] == [(15, "More for P1")]


def test_automation_deleted_sees_the_record_as_it_was(engine: sa.Engine) -> None:
    w = world(
        engine,
        """
        automations:
          forecast_dropped:
            on: {entity: crm.sales_forecast, events: [deleted]}
            do: [{create: {entity: purchase_requisition, values: {quantity: 0, reason: "'Dropped ' + period"}}}]
        """,
    )
    forecast = w.create(FORECAST, {"period": "P9", "quantity": 1})
    w.write(lambda c: w.store.delete(c, FORECAST, forecast["id"], actor="ann"))
    assert [r["reason"] for r in w.rows(REQUISITION)] == ["Dropped P9"]


def test_automation_field_changed_fires_only_for_the_listed_fields(engine: sa.Engine) -> None:
    w = world(
        engine,
        """
        automations:
          quantity_changed:
            on: {entity: crm.sales_forecast, events: [field_changed], fields: [quantity]}
            do: [{create: {entity: purchase_requisition, values: {quantity: quantity, reason: "'Changed'"}}}]
        """,
    )
    forecast = w.create(FORECAST, {"period": "P1", "quantity": 10})
    forecast = w.update(FORECAST, forecast, {"note": "just a note"})
    assert w.rows(REQUISITION) == []
    w.update(FORECAST, forecast, {"quantity": 12})
    assert [r["quantity"] for r in w.rows(REQUISITION)] == [12]


def test_automation_state_entered_fires_on_entering_the_state(engine: sa.Engine) -> None:
    w = world(
        engine,
        """
        automations:
          contract_signed:
            on: {entity: contract, events: [state_entered], states: [active]}
            do: [{notify: {users: [bob], subject: "Contract {name} is active"}}]
        """,
    )
    contract = w.create(CONTRACT, {"name": "C-1", "total": 5})

    def move(state: str) -> None:
        w.write(lambda c: w.store.set_state(c, CONTRACT, contract["id"], state, actor="ann"))

    move("draft")
    w.update(CONTRACT, contract, {"total": 6})  # a change, but no state entered
    assert w.notifications() == []
    move("active")
    move("draft")
    assert w.notifications() == [("bob", "Contract C-1 is active", None)]


def test_automation_schedule_runs_from_the_worker_and_queues_the_next_run(
    engine: sa.Engine,
) -> None:
    w = world(
        engine,
        """
        automations:
          weekly_review:
            on: {schedule: "weekly on monday at 08:00"}
            do: [{update: {entity: supplier, filter: {risk_level: high}, values: {needs_review: "True"}}}]
        """,
    )
    w.create(SUPPLIER, {"name": "Risky", "risk_level": "high"})
    w.create(SUPPLIER, {"name": "Safe", "risk_level": "low"})
    sunday = dt.datetime(2031, 1, 5, 12, 0, tzinfo=dt.UTC)
    assert w.write(lambda c: w.automations.ensure_schedules(c, sunday)) == 1
    assert w.write(lambda c: w.automations.ensure_schedules(c, sunday)) == 0  # idempotent
    [job] = w.jobs(JOB_KIND)
    monday = dt.datetime(2031, 1, 6, 8, 0, tzinfo=dt.UTC)
    assert job.due_at.replace(tzinfo=dt.UTC) == monday
    assert run_once(engine, w.handlers, "w", now=monday - SOON) == 0  # not due yet
    assert run_once(engine, w.handlers, "w", now=monday) == 1
    assert {r["name"]: r["needs_review"] for r in w.rows(SUPPLIER)} == {
        "Risky": True,
        "Safe": False,
    }
    done, following = w.jobs(JOB_KIND)
    assert done.status == "done" and following.status == PENDING
    assert following.due_at.replace(tzinfo=dt.UTC) == monday + dt.timedelta(weeks=1)


def test_automation_schedule_change_cancels_the_old_runs(engine: sa.Engine) -> None:
    daily = "automations: {tick: {on: {schedule: daily}, do: [{notify: {users: [bob]}}]}}"
    w = world(engine, daily)
    w.write(lambda c: w.automations.ensure_schedules(c))
    changed = Automations(w.catalog.with_blueprint(_srm(daily.replace("daily", "hourly"))))
    w.write(lambda c: changed.ensure_schedules(c))
    gone = Automations(w.catalog.with_blueprint(_srm("")))
    assert [(j.status, j.payload["_schedule"]["schedule"]) for j in w.jobs(JOB_KIND)] == [
        ("cancelled", "daily"),
        (PENDING, "hourly"),
    ]
    w.write(lambda c: gone.ensure_schedules(c))
    assert [j.status for j in w.jobs(JOB_KIND)] == ["cancelled", "cancelled"]


def test_automation_schedule_removed_since_queued_neither_runs_nor_recurs(
    engine: sa.Engine,
) -> None:
    w = world(
        engine,
        "automations: {tick: {on: {schedule: hourly}, do: [{notify: {users: [bob]}}]}}",
    )
    w.write(lambda c: w.automations.ensure_schedules(c))
    w.store.catalog = w.catalog.with_blueprint(_srm(""))  # the worker's catalog moved on
    assert run_once(engine, w.handlers, "w", now=utcnow() + dt.timedelta(hours=2)) == 1
    assert [j.status for j in w.jobs(JOB_KIND)] == ["done"]
    assert w.notifications() == []


def _srm(automations: str) -> dict[str, Any]:
    return load_blueprint_text(SRM + automations).doc


# --- actions --------------------------------------------------------------------------------


def test_automation_update_of_a_linked_record_cascades(engine: sa.Engine) -> None:
    w = world(
        engine,
        FORECAST_DEMAND
        + """
  flag_supplier:
    on: {entity: purchase_requisition, events: [created]}
    do: [{update: {record: supplier, values: {needs_review: "quantity > 100", rating: "int(quantity)"}}}]
        """,
    )
    acme = w.create(SUPPLIER, {"name": "Acme"})
    w.create(REQUISITION, {"quantity": 150, "reason": "r", "supplier": acme["id"]})
    w.create(REQUISITION, {"quantity": 1, "reason": "no supplier"})  # empty link: nothing to do
    [supplier] = w.rows(SUPPLIER)
    assert (supplier["needs_review"], supplier["rating"]) == (True, 150)


def test_automation_update_by_filter_reads_the_record(engine: sa.Engine) -> None:
    w = world(
        engine,
        """
        automations:
          rate_all:
            on: {entity: purchase_requisition, events: [created]}
            do: [{update: {entity: supplier, filter: {name: {startswith: "$record.reason"}}, values: {rating: "int(quantity)"}}}]
        """,
    )
    for name in ("Acme", "Acme East", "Other"):
        w.create(SUPPLIER, {"name": name})
    w.create(REQUISITION, {"quantity": 7, "reason": "Acme"})
    assert {r["name"]: r["rating"] for r in w.rows(SUPPLIER)} == {
        "Acme": 7,
        "Acme East": 7,
        "Other": None,
    }


def test_automation_update_by_filter_refuses_more_than_1000_records(engine: sa.Engine) -> None:
    w = world(
        engine,
        """
        automations:
          review_all:
            on: {entity: purchase_requisition, events: [created]}
            do: [{update: {entity: supplier, filter: {risk_level: high}, values: {needs_review: "True"}}}]
        """,
    )
    rows = [{"name": f"S{i}", "risk_level": "high"} for i in range(1001)]
    w.write(lambda c: w.store.create_many(c, SUPPLIER, rows))
    with pytest.raises(AutomationError, match="srm.review_all failed: update would change more "
                       "than 1,000 srm.supplier records"):  # fmt: skip
        w.create(REQUISITION, {"quantity": 1, "reason": "r"})
    assert w.rows(REQUISITION) == []
    with engine.connect() as conn:
        table = w.catalog.table(SUPPLIER)
        reviewed = conn.execute(sa.select(sa.func.count()).where(table.c.needs_review.is_(True)))
        assert reviewed.scalar() == 0


def test_automation_notify_users_roles_and_mail(engine: sa.Engine, smtp_server: SmtpSink) -> None:
    w = world(
        engine,
        """
        automations:
          tell_people:
            on: {entity: crm.sales_forecast, events: [created]}
            do:
              - notify:
                  users: [carl, $record.owner, $user]
                  roles: [purchasing_manager]
                  subject: "Forecast {period}: {quantity}"
                  body: "By {_created_by}; {not a placeholder}"
                  email: true
        """,
        smtp_port=smtp_server.port,
    )

    def users(conn: sa.Connection) -> None:
        create_user(conn, "pm", password=None, roles=["purchasing_manager"], email="pm@example.org")
        create_user(conn, "pm2", password=None, roles=["other", "purchasing_manager"])
        create_user(conn, "olga", password=None, email="olga@example.org")
        create_user(conn, "carl", password=None, roles=["other"])

    w.write(users)
    w.create(FORECAST, {"period": "P1", "quantity": "12.5", "owner": "olga"})
    subject = "Forecast P1: 12.50"
    body = "By ann; {not a placeholder}"
    assert sorted(w.notifications()) == [
        (u, subject, body) for u in ("ann", "carl", "olga", "pm", "pm2")
    ]
    assert [j.payload["to"] for j in w.jobs("mail")] == [["olga@example.org"], ["pm@example.org"]]
    assert run_once(engine, w.handlers, "w", now=utcnow() + SOON) == 2
    received = sorted(e.rcpt_tos[0] for e in smtp_server.envelopes)
    assert received == ["olga@example.org", "pm@example.org"]
    message = email.message_from_bytes(
        smtp_server.envelopes[0].content, policy=email.policy.default
    )
    assert message["Subject"] == subject


def test_automation_webhook_is_signed_with_the_secret_from_the_environment(
    engine: sa.Engine, hook_server: HookServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ERP_HOOK_SECRET", "s3cret-from-env")
    w = world(
        engine,
        f"""
        automations:
          contract_signed:
            on: {{entity: contract, events: [state_entered], states: [active]}}
            do: [{{webhook: {{url: "{hook_server.url}", secret_env: ERP_HOOK_SECRET}}}}]
        """,
    )
    contract = w.create(CONTRACT, {"name": "C-7", "total": "99.50"})
    w.write(lambda c: w.store.set_state(c, CONTRACT, contract["id"], "active", actor="ann"))
    assert run_once(engine, w.handlers, "w", now=utcnow() + SOON) == 1
    [request] = hook_server.requests
    headers = {k.lower(): v for k, v in request.headers.items()}
    assert verify_signature(
        "s3cret-from-env",
        headers["x-appblocks-timestamp"],
        request.body,
        headers["x-appblocks-signature"],
    )
    assert headers["x-appblocks-event"] == "record.updated"
    payload = json.loads(request.body)
    assert payload["automation"] == "srm.contract_signed"
    assert (payload["entity"], payload["id"], payload["event"]) == (
        CONTRACT,
        contract["id"],
        "record.updated",
    )
    assert payload["before"]["_state"] is None and payload["after"]["_state"] == "active"
    assert payload["after"]["name"] == "C-7"


def test_automation_webhook_without_its_secret_fails_the_save(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NO_SUCH_SECRET", raising=False)
    w = world(
        engine,
        """
        automations:
          hook:
            on: {entity: contract, events: [created]}
            do: [{webhook: {url: "https://erp.example/hook", secret_env: NO_SUCH_SECRET}}]
        """,
    )
    with pytest.raises(AutomationError, match="NO_SUCH_SECRET is not set"):
        w.create(CONTRACT, {"name": "C-1"})
    assert w.rows(CONTRACT) == [] and w.jobs() == []


def test_automation_set_changes_the_triggering_record(engine: sa.Engine) -> None:
    w = world(
        engine,
        """
        automations:
          stamp:
            on: {entity: crm.sales_forecast, events: [created, updated]}
            do: [{set: {note: "'checked by ' + user.name"}}]
        """,
    )
    w.write(lambda c: create_user(c, "ann", password=None))
    forecast = w.create(FORECAST, {"period": "P1"})
    w.update(FORECAST, forecast, {"quantity": 3})
    [row] = w.rows(FORECAST)
    # The set's own update fires `updated` again; the second set changes nothing, so it stops.
    assert (row["note"], row["quantity"]) == ("checked by ann", 3)


def test_automation_failure_rolls_back_the_save_and_its_outbox(engine: sa.Engine) -> None:
    w = world(
        engine,
        """
        automations:
          noisy_then_broken:
            on: {entity: crm.sales_forecast, events: [created]}
            do:
              - notify: {users: [bob], subject: "new {period}", email: true}
              - webhook: {url: "https://erp.example/hook"}
              - create: {entity: purchase_requisition, values: {quantity: "quantity * -1", reason: "'x'"}}
        """,
    )
    w.write(lambda c: create_user(c, "bob", password=None, email="bob@example.org"))
    with pytest.raises(AutomationError) as caught:
        w.create(FORECAST, {"period": "P1", "quantity": 5})
    assert "automation srm.noisy_then_broken failed" in str(caught.value)
    assert "quantity" in str(caught.value)
    assert w.rows(FORECAST) == [] and w.rows(REQUISITION) == []
    assert w.notifications() == [] and w.jobs() == []


def test_automation_expression_error_names_the_automation(engine: sa.Engine) -> None:
    w = world(
        engine,
        """
        automations:
          divide:
            on: {entity: crm.sales_forecast, events: [created]}
            do: [{create: {entity: purchase_requisition, values: {quantity: "1 / quantity", reason: "'x'"}}}]
        """,
    )
    with pytest.raises(AutomationError, match="srm.divide failed: division by zero"):
        w.create(FORECAST, {"period": "P1", "quantity": 0})
    assert w.rows(FORECAST) == []


def test_automation_loop_guard_names_the_chain(engine: sa.Engine) -> None:
    w = world(
        engine,
        """
        automations:
          ping:
            on: {entity: crm.sales_forecast, events: [created]}
            do: [{create: {entity: purchase_requisition, values: {quantity: quantity, reason: "'ping'"}}}]
          pong:
            on: {entity: purchase_requisition, events: [created]}
            do: [{create: {entity: crm.sales_forecast, values: {period: "'pong'", quantity: quantity}}}]
        """,
    )
    with pytest.raises(AutomationError) as caught:
        w.create(FORECAST, {"period": "P1", "quantity": 1})
    message = str(caught.value)
    assert "more than 5 deep" in message
    assert message.count("srm.ping on crm.sales_forecast") == 3
    assert "srm.pong on srm.purchase_requisition 1 -> srm.ping" in message
    assert w.rows(FORECAST) == [] and w.rows(REQUISITION) == []
    with engine.connect() as conn:  # the chain does not outlive the failed save
        assert "appblocks.automation_chain" not in conn.info


def test_automation_cascade_within_the_depth_is_allowed(engine: sa.Engine) -> None:
    w = world(engine, FORECAST_DEMAND, max_depth=2)
    w.create(FORECAST, {"period": "P1", "quantity": 1})
    assert len(w.rows(REQUISITION)) == 1


# --- compiling and validating ---------------------------------------------------------------


def test_automations_compile_errors_name_the_automation() -> None:
    crm = load_blueprint_text(CRM).doc
    srm = load_blueprint_text(
        SRM + "automations: {bad: {on: {entity: contract, events: [created]}, when: 'x +', "
        "do: [{set: {name: \"'n'\"}}]}}"
    ).doc
    with pytest.raises(AutomationConfigError, match="automation srm.bad: when"):
        Automations(Catalog({"crm": crm, "srm": srm}))


SCHEDULES = [
    "hourly",
    "daily",
    "daily at 07:30",
    "Weekly on Friday at 16:00",
    "weekly on mon",
    "30 7 * * 1-5",
    "0 8 * * MON",
    "every day",
    "daily at 25:00",
    "weekly on funday",
    "monthly",
    "61 * * * *",
    "* * * *",
    "0 0 * * * *",
]


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_automation_validator_and_scheduler_agree_on_schedules(schedule: str) -> None:
    try:
        parse_schedule(schedule)
        parses = True
    except ScheduleError:
        parses = False
    text = (
        SRM
        + f"automations: {{a: {{on: {{schedule: '{schedule}'}}, do: [{{notify: {{users: [bob]}}}}]}}}}"
    )
    errors = validate_blueprint(load_blueprint_text(text), {"crm": load_blueprint_text(CRM).doc})
    assert (not errors) == parses, errors


AUTO = SRM + "automations:\n  a: "
CASES = [
    ("{on: {entity: contract, events: [created]}, do: [{webhook: {url: 'https://x.example', secret: abc}}]}",
     "do.0.webhook.secret", "never holds a secret"),
    ("{on: {entity: contract, events: [created]}, do: [{webhook: {url: 'ftp://x.example'}}]}",
     "do.0.webhook.url", "is not an http:// or https:// URL"),
    ("{on: {entity: contract, events: [created]}, do: [{notify: {users: [$record.name]}}]}",
     "do.0.notify.users.0", "is a text field, not a user field"),
    ("{on: {entity: contract, events: [created]}, do: [{notify: {roles: [boss]}}]}",
     "do.0.notify.roles.0", "'boss' is not a role of srm"),
    ("{on: {entity: contract, events: [created]}, do: [{notify: {users: [x], subject: 'A {zz}'}}]}",
     "do.0.notify.subject", "placeholder '{zz}': not a field of contract"),
    ("{on: {schedule: daily}, do: [{notify: {users: [$user]}}]}",
     "do.0.notify.users.0", "a scheduled automation has none"),
    ("{on: {entity: purchase_requisition, events: [created]}, do: [{update: {record: reason, values: {rating: 1}}}]}",
     "do.0.update.record", "'reason' is not a link field of purchase_requisition"),
    ("{on: {entity: purchase_requisition, events: [created]}, do: [{update: {entity: supplier, values: {rating: 1}}}]}",
     "do.0.update", "give either 'record'"),
    ("{on: {entity: purchase_requisition, events: [created]}, do: [{update: {entity: supplier, filter: {name: $record.zz}, values: {rating: 1}}}]}",
     "do.0.update.filter.name", "'zz' is not a field of purchase_requisition"),
    ("{on: {entity: purchase_requisition, events: [created]}, do: [{update: {record: supplier, values: {rating: old.zz + nope}}}]}",
     "do.0.update.values.rating", "value names 'nope'"),
    ("{on: {entity: contract, events: [deleted]}, do: [{set: {name: \"'x'\"}}]}",
     "do.0.set", "set cannot change a deleted record"),
    ("{on: {schedule: daily, entity: contract}, do: [{notify: {users: [x]}}]}",
     "on", "not both"),
    ("{on: {entity: contract, events: [created], fields: [name]}, do: [{notify: {users: [x]}}]}",
     "on.fields", "only read for field_changed"),
    ("{on: {entity: contract, events: [field_changed], fields: [name, zz]}, do: [{notify: {users: [x]}}]}",
     "on.fields.1", "'zz' is not a field of contract"),
    ("{on: {entity: contract, events: [state_entered], states: [gone]}, do: [{notify: {users: [x]}}]}",
     "on.states.0", "'gone' is not a state of a workflow on contract"),
    ("{on: {schedule: daily, timezone: Mars/Olympus}, do: [{notify: {users: [x]}}]}",
     "on.timezone", "is not a time zone"),
    ("{on: {schedule: daily}, do: [{notify: {users: [x]}, webhook: {url: 'https://x.example'}}]}",
     "do.0", "give exactly one of"),
]  # fmt: skip


@pytest.mark.parametrize(("body", "path", "message"), CASES)
def test_automation_validator_reports_path_and_message(body: str, path: str, message: str) -> None:
    crm = load_blueprint_text(CRM).doc
    errors = validate_blueprint(load_blueprint_text(AUTO + body), {"crm": crm})
    found = [(e.path, e.message) for e in errors]
    assert [m for p, m in found if p == f"automations.a.{path}" and message in m], found
