"""The worked example of docs/workflows.md, installed on a test database with its users."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml

from appblocks.engine.catalog import Catalog
from appblocks.engine.events import EventBus
from appblocks.engine.models import Notification, Task
from appblocks.engine.records import RecordStore
from appblocks.engine.users import Identity, create_user, identity_of
from appblocks.workflows import timers
from appblocks.workflows.jobs import JobHandlers
from appblocks.workflows.states import WorkflowEngine

DOC = Path(__file__).resolve().parents[2] / "docs" / "workflows.md"
PO = "purchasing.purchase_order"
CONTRACT = "purchasing.contract"

#: user -> roles
PEOPLE: dict[str, list[str]] = {
    "bob": ["buyer"],
    "bea": ["buyer"],
    "mia": ["purchasing_manager"],
    "max": ["purchasing_manager"],
    "carl": ["cfo"],
    "cora": ["cfo"],
    "dora": ["director"],
    "olga": [],
    "sam": ["buyer", "purchasing_manager"],
    "duo": ["purchasing_manager", "cfo"],
    "lena": ["legal"],
    "root": ["admin"],
}


def doc_blueprints() -> dict[str, dict[str, Any]]:
    """The blueprints of the worked example, by app, read from the docs page."""
    text = DOC.read_text("utf-8")
    blocks = re.findall(r"```yaml\n(.*?)```", text, re.S)
    found = [yaml.safe_load(b) for b in blocks if b.startswith("blueprint:")]
    return {str(bp["blueprint"]): bp for bp in found}


@dataclass
class World:
    """An installed example: database, catalog, workflow engine, store and people."""

    db: sa.Engine
    catalog: Catalog
    wf: WorkflowEngine
    store: RecordStore
    handlers: JobHandlers

    def who(self, name: str) -> Identity:
        with self.db.connect() as conn:
            identity = identity_of(conn, name)
        assert identity is not None
        return identity

    def create(self, entity: str, values: Mapping[str, Any], by: str = "bob") -> dict[str, Any]:
        with self.db.begin() as conn:
            return self.store.create(conn, entity, values, actor=by)

    def po(self, total: float, by: str = "bob", **extra: Any) -> dict[str, Any]:
        return self.create(PO, {"number": f"PO-{total:g}", "total": total, **extra}, by)

    def run(self, entity: str, id: int, name: str, by: str, comment: str | None = None) -> Any:
        identity = self.who(by)
        with self.db.begin() as conn:
            return self.wf.transition(conn, self.store, entity, id, name, identity, comment=comment)

    def get(self, entity: str, id: int) -> dict[str, Any]:
        with self.db.connect() as conn:
            return self.store.get(conn, entity, id)

    def tasks(self, record_id: int, status: str | None = None) -> list[Any]:
        query = sa.select(Task).where(Task.record_id == record_id).order_by(Task.id)
        if status:
            query = query.where(Task.status == status)
        with self.db.connect() as conn:
            return list(conn.execute(query))

    def notices(self, user: str) -> list[str]:
        query = sa.select(Notification.subject).where(Notification.user_name == user)
        with self.db.connect() as conn:
            return list(conn.execute(query.order_by(Notification.id)).scalars())

    def history(self, entity: str, id: int) -> list[dict[str, Any]]:
        with self.db.connect() as conn:
            return self.store.history(conn, entity, id)


def make_world(
    db: sa.Engine, change: Callable[[dict[str, dict[str, Any]]], None] | None = None
) -> World:
    """Install the example (after `change` edits the blueprints) with every person of PEOPLE."""
    blueprints = copy.deepcopy(doc_blueprints())
    if change is not None:
        change(blueprints)
    catalog = Catalog(blueprints)
    catalog.metadata.create_all(db)
    wf = WorkflowEngine(catalog)
    bus = EventBus()
    store = RecordStore(catalog, bus, computer=wf.initial_computer)
    timers.subscribe(bus, wf)
    handlers = JobHandlers()
    timers.register(handlers, lambda conn: (wf, store))
    with db.begin() as conn:
        for name, roles in PEOPLE.items():
            create_user(conn, name, password=None, roles=roles)
    return World(db, catalog, wf, store, handlers)
