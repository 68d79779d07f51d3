"""A real server on a free loopback port, with a blueprint installed and users per role."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import uvicorn

from appblocks.engine.blueprints import install
from appblocks.engine.db import create_engine
from appblocks.engine.loader import load_blueprint, load_blueprint_text
from appblocks.engine.users import create_user
from appblocks.server.app import create_app
from appblocks.server.runtime import Runtime
from appblocks.server.settings import Settings
from tests.conftest import fresh_database

PASSWORD = "a long enough password"

SHOP = """
blueprint: shop
version: 1.0.0
title: {en: Shop, zh-CN: 商店}
entities:
  customer:
    label: {en: Customer, zh-CN: 客户}
    title: name
    fields:
      name: {type: text, required: true, unique: true, label: {en: Name, zh-CN: 名称}}
      owner: {type: user}
      secret_note: {type: text}
  sale:
    title: number
    fields:
      number: {type: autonumber, format: "O-{seq:04}"}
      customer: {type: link, to: customer, required: true}
      amount: {type: money, min: 0}
      placed_on: {type: date}
      lines: {type: lines, to: sale_line}
  sale_line:
    fields:
      item: {type: text, required: true}
      quantity: {type: integer, min: 1}
roles:
  clerk:
    permissions:
      customer: [read, create, update, delete]
      sale: [read, create, update, delete]
      sale_line: [read, create, update, delete]
  viewer:
    permissions:
      customer: {actions: [read], fields: {secret_note: hidden}}
      sale: [read]
  rep:
    permissions:
      customer: {actions: [read, create, update], where: {owner: "$user"}}
  portal_customer:
    portal: true
    permissions:
      customer: {actions: [read], where: {name: "$user.customer"}}
      sale: {actions: [read], where: {customer.name: "$user.customer"}}
data:
  customer:
    - {name: Acme, owner: rep1}
    - {name: Globex, owner: rep2}
  sale:
    - {customer: Acme, amount: 120.5, placed_on: "2026-01-05", lines: [{item: bolts, quantity: 3}]}
    - {customer: Globex, amount: 80, placed_on: "2026-02-01"}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Live:
    """A running server and ways to talk to it as each user."""

    url: str
    engine: sa.Engine
    runtime: Runtime
    tokens: dict[str, str] = field(default_factory=dict)

    def client(self, user: str | None = None, **kw: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.token(user)}"} if user else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30, **kw)

    def token(self, user: str) -> str:
        if user not in self.tokens:
            with httpx.Client(base_url=self.url) as c:
                r = c.post("/api/v1/auth/token", data={"username": user, "password": PASSWORD})
                r.raise_for_status()
                self.tokens[user] = r.json()["access_token"]
        return self.tokens[user]


USERS: dict[str, tuple[list[str], dict[str, str]]] = {
    "admin1": (["admin"], {}),
    "clerk1": (["clerk"], {}),
    "viewer1": (["viewer"], {}),
    "rep1": (["rep"], {}),
    "rep2": (["rep"], {}),
    "acme": (["portal_customer"], {"customer": "Acme"}),
    "nobody": ([], {}),
}


@pytest.fixture
def live(db_url: str, tmp_path: Path) -> Iterator[Live]:
    engine = create_engine(db_url)
    install(engine, load_blueprint_text(SHOP, "shop.yaml"), with_data=True)
    with engine.begin() as conn:
        for name, (roles, attrs) in USERS.items():
            create_user(conn, name, password=PASSWORD, roles=roles, attributes=attrs)
    try:
        with serve(db_url, engine) as running:
            yield running
    finally:
        engine.dispose()


@contextmanager
def serve(
    db_url: str, engine: sa.Engine, max_body_bytes: int = 64 * 1024, max_upload_bytes: int = 0
) -> Iterator[Live]:
    """A real server for `engine` on a free loopback port, stopped on exit."""
    settings = Settings(
        db_url=db_url,
        secret_key="test-secret-" + "x" * 32,
        max_body_bytes=max_body_bytes,
        max_upload_bytes=max_upload_bytes or max_body_bytes,
    )
    runtime = Runtime(settings, engine)
    app = create_app(settings, runtime)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "the server did not start"
    try:
        yield Live(f"http://127.0.0.1:{port}", engine, runtime)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


# --- the shipped blueprints (SRM and CRM with their demo data) and one user per role ---------

BLUEPRINTS = Path(__file__).resolve().parents[2] / "blueprints"

#: user -> (roles, attributes); sales reps carry the names that own the CRM demo records
ROLE_USERS: dict[str, tuple[list[str], dict[str, str]]] = {
    "admin1": (["admin"], {}),
    "buyer1": (["buyer"], {}),
    "manager1": (["purchasing_manager"], {}),
    "quality1": (["quality_engineer"], {}),
    "finance1": (["finance"], {}),
    "jinggong": (["supplier_portal"], {"supplier": "苏州精工五金制品有限公司"}),
    "huaxin": (["supplier_portal"], {"supplier": "深圳华芯电子科技有限公司"}),
    "zhao.min": (["sales_rep"], {}),
    "sun.hao": (["sales_rep"], {}),
    "salesmgr1": (["sales_manager"], {}),
    "marketing1": (["marketing"], {}),
    "agent1": (["service_agent"], {}),
    "haichuan": (["customer_portal"], {"customer": "青岛海川智能装备有限公司"}),
    "nanfang": (["customer_portal"], {"customer": "广州南方汽车零部件股份有限公司"}),
}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def module_db_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """Like `db_url`, but shared by the tests of one module (installs and argon2 are slow)."""
    with fresh_database(request.param, tmp_path_factory.mktemp("db")) as url:
        yield url


@pytest.fixture(scope="module")
def shipped(module_db_url: str) -> Iterator[Live]:
    """A server with the shipped CRM and SRM blueprints, their demo data and `ROLE_USERS`."""
    engine = create_engine(module_db_url)
    for app in ("crm", "srm"):
        install(engine, load_blueprint(BLUEPRINTS / app), with_data=True)
    with engine.begin() as conn:
        for name, (roles, attrs) in ROLE_USERS.items():
            create_user(conn, name, password=PASSWORD, roles=roles, attributes=attrs)
    try:
        with serve(module_db_url, engine) as running:
            yield running
    finally:
        engine.dispose()
