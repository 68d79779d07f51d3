"""The runtime's caches: token identities (short-lived, revocation honoured) and scopes."""

from __future__ import annotations

import datetime as dt
import time

import sqlalchemy as sa

from appblocks.engine.blueprints import install
from appblocks.engine.db import create_engine
from appblocks.engine.loader import load_blueprint_text
from appblocks.engine.users import Identity, create_user, issue_token, revoke_token
from appblocks.server.runtime import Runtime
from appblocks.server.settings import Settings
from tests.server.conftest import SHOP


def _runtime(db_url: str, ttl: float) -> Runtime:
    engine = create_engine(db_url)
    install(engine, load_blueprint_text(SHOP, "shop.yaml"))
    with engine.begin() as conn:
        create_user(conn, "rep1", password=None, roles=["rep"], attributes={"region": "north"})
    settings = Settings(db_url=db_url, secret_key="test-secret-" + "x" * 32)
    return Runtime(settings, engine, identity_ttl=ttl)


def test_token_identity_is_cached_for_the_ttl_only(db_url: str) -> None:
    runtime = _runtime(db_url, ttl=0.3)
    with runtime.engine.begin() as conn:
        token = issue_token(conn, "rep1")
    assert runtime.cached_identity(token) is None  # not looked up yet
    first = runtime.token_identity(token)
    assert first is not None and first.name == "rep1" and first.roles == {"rep"}
    assert first.attributes == {"region": "north"}
    assert runtime.cached_identity(token) is first
    with runtime.engine.begin() as conn:
        revoke_token(conn, token)  # elsewhere: another server, the CLI
    assert runtime.token_identity(token) is first  # still within the TTL
    time.sleep(0.35)
    assert runtime.cached_identity(token) is None
    assert runtime.token_identity(token) is None
    assert runtime.token_identity("no such token") is None
    runtime.engine.dispose()


def test_token_revoked_here_is_forgotten_at_once(db_url: str) -> None:
    runtime = _runtime(db_url, ttl=60)
    with runtime.engine.begin() as conn:
        token = issue_token(conn, "rep1")
    assert runtime.token_identity(token) is not None
    with runtime.engine.begin() as conn:
        revoke_token(conn, token)
    runtime.forget_token(token)
    assert runtime.token_identity(token) is None
    runtime.engine.dispose()


def test_cached_identity_never_outlives_the_token(db_url: str) -> None:
    runtime = _runtime(db_url, ttl=60)
    with runtime.engine.begin() as conn:
        token = issue_token(conn, "rep1", lifetime=dt.timedelta(seconds=1))
    assert runtime.token_identity(token) is not None
    time.sleep(1.1)
    assert runtime.cached_identity(token) is None
    assert runtime.token_identity(token) is None
    runtime.engine.dispose()


def test_deactivated_user_loses_access_within_the_ttl(db_url: str) -> None:
    runtime = _runtime(db_url, ttl=0.2)
    with runtime.engine.begin() as conn:
        token = issue_token(conn, "rep1")
    assert runtime.token_identity(token) is not None
    with runtime.engine.begin() as conn:
        conn.execute(sa.text("UPDATE ab_user SET active = false WHERE name = 'rep1'"))
    time.sleep(0.25)
    assert runtime.token_identity(token) is None
    runtime.engine.dispose()


def test_scope_is_compiled_once_per_identity(db_url: str) -> None:
    runtime = _runtime(db_url, ttl=60)
    loaded = runtime.current()
    rep = Identity("rep1", frozenset({"rep"}))
    scope = loaded.scope(rep, "shop.customer", "read")
    assert scope is not None and scope.predicate is not None
    assert loaded.scope(rep, "shop.customer", "read") is scope
    assert loaded.scope(rep, "shop.customer", "create") is not scope
    other = loaded.scope(Identity("rep2", frozenset({"rep"})), "shop.customer", "read")
    assert other is not None and other is not scope
    with runtime.engine.connect() as conn:
        sql = str(other.predicate.compile(conn, compile_kwargs={"literal_binds": True}))
    assert "rep2" in sql
    assert loaded.scope(Identity("nobody"), "shop.customer", "read") is None
    runtime.engine.dispose()
