"""A shipped blueprint installed with its demo data and the whole of its logic, and its people.

`installed(engine, "srm", PEOPLE)` installs `blueprints/srm` as `make run` does (seed data
through the assembled store, automations off), adds a user per person and assembles the
logic (computed fields, rules, workflows, automations) that the server and worker run.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from appblocks.engine.blueprints import install
from appblocks.engine.catalog import Catalog
from appblocks.engine.i18n import translate
from appblocks.engine.loader import load_blueprint
from appblocks.engine.models import Notification, Task, utcnow
from appblocks.engine.record_errors import RecordErrors
from appblocks.engine.users import Identity, create_user
from appblocks.workflows import approvals
from appblocks.workflows.assembly import Logic, LogicCache, assemble, job_handlers, store_factory
from appblocks.workflows.worker import run_once

BLUEPRINTS = Path(__file__).resolve().parents[2] / "blueprints"

#: person -> (roles, attributes)
People = Mapping[str, tuple[list[str], dict[str, str]]]


def later(**delta: float) -> dt.datetime:
    """A moment from now (for the worker's clock)."""
    return utcnow() + dt.timedelta(**delta)


def rule_messages(caught: RecordErrors) -> list[tuple[str, str, str]]:
    """(field, English, Chinese) of each business rule that refused a save."""
    return [
        (e.field, translate(e.code, e.params, "en"), translate(e.code, e.params, "zh-CN"))
        for e in caught.errors
        if e.code == "rule"
    ]


@dataclass
class App:
    """An installed app: its database, its logic and its people."""

    db: sa.Engine
    logic: Logic
    people: People

    def who(self, name: str) -> Identity:
        roles, attrs = self.people[name]
        return Identity(name, roles=frozenset(roles), attributes=attrs)

    def create(self, entity: str, values: Mapping[str, Any], by: str) -> dict[str, Any]:
        with self.db.begin() as conn:
            record = self.logic.store.create(conn, entity, values, actor=by)
            return self.logic.store.get(conn, entity, record["id"])  # as automations left it

    def update(self, entity: str, id: int, values: Mapping[str, Any], by: str) -> dict[str, Any]:
        with self.db.begin() as conn:
            store = self.logic.store
            version = store.get(conn, entity, id)["_version"]
            store.update(conn, entity, id, values, version=version, actor=by)
            return store.get(conn, entity, id)

    def delete(self, entity: str, id: int, by: str) -> None:
        with self.db.begin() as conn:
            self.logic.store.delete(conn, entity, id, actor=by)

    def get(self, entity: str, id: int) -> dict[str, Any]:
        with self.db.connect() as conn:
            return self.logic.store.get(conn, entity, id)

    def list(self, entity: str, **query: Any) -> list[dict[str, Any]]:
        with self.db.connect() as conn:
            return self.logic.store.list(conn, entity, limit=200, **query).items

    def run(
        self, entity: str, id: int, name: str, by: str, comment: str | None = None
    ) -> dict[str, Any]:
        """Run a transition as `by`; the record as it is afterwards."""
        with self.db.begin() as conn:
            self.logic.workflows.transition(
                conn, self.logic.store, entity, id, name, self.who(by), comment=comment
            )
            return self.logic.store.get(conn, entity, id)

    def tasks(self, entity: str, id: int, status: str = "open") -> list[Any]:
        query = (
            sa.select(Task)
            .where(Task.entity == entity, Task.record_id == id, Task.status == status)
            .order_by(Task.id)
        )
        with self.db.connect() as conn:
            return list(conn.execute(query))

    def decide(
        self, task_id: int, by: str, decision: str = "approve", comment: str | None = None
    ) -> dict[str, Any]:
        with self.db.begin() as conn:
            return approvals.decide(
                conn, self.logic.store, self.logic.workflows, task_id, self.who(by), decision,
                comment,
            )  # fmt: skip

    def notices(self, user: str, entity: str, id: int) -> list[str]:
        query = sa.select(Notification.subject).where(
            Notification.user_name == user,
            Notification.entity == entity,
            Notification.record_id == id,
        )
        with self.db.connect() as conn:
            return list(conn.execute(query.order_by(Notification.id)).scalars())

    def work(self, at: dt.datetime) -> int:
        """Run the worker once, as if it were `at`; how many jobs ran."""
        return run_once(self.db, job_handlers(LogicCache(), self.db), "w", now=at, limit=500)


def installed(engine: sa.Engine, app: str, people: People) -> App:
    """Install a shipped blueprint with its demo data, add `people`, assemble the logic."""
    result = install(
        engine,
        load_blueprint(BLUEPRINTS / app),
        with_data=True,
        store_factory=store_factory(automations=False),
    )
    assert result.applied and sum(result.records.values()) > 50
    with engine.begin() as conn:
        for name, (roles, attrs) in people.items():
            create_user(conn, name, password=None, roles=roles, attributes=attrs)
        logic = assemble(Catalog.load(conn))
    return App(engine, logic, people)
