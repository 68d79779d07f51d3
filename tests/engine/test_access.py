"""Access policy: grants per role, record rules with $user, field rules, demo attributes."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from appblocks.engine.access import AccessPolicy, sample_attributes
from appblocks.engine.catalog import Catalog
from appblocks.engine.records import RecordStore
from appblocks.engine.users import Identity

BP: dict[str, Any] = {
    "blueprint": "p",
    "version": "1.0.0",
    "entities": {
        "firm": {"title": "name", "fields": {"name": {"type": "text"}}},
        "deal": {
            "title": "code",
            "fields": {
                "code": {"type": "text"},
                "firm": {"type": "link", "to": "firm"},
                "owner": {"type": "user"},
                "margin": {"type": "money"},
            },
        },
    },
    "roles": {
        "rep": {
            "permissions": {"deal": {"actions": ["read", "create"], "where": {"owner": "$user"}}}
        },
        "partner": {
            "portal": True,
            "permissions": {
                "deal": {
                    "actions": ["read"],
                    "where": {"firm.name": "$user.firm"},
                    "fields": {"margin": "hidden", "code": "read"},
                }
            },
        },
    },
}


def _setup(engine: sa.Engine) -> tuple[Catalog, AccessPolicy]:
    catalog = Catalog({"p": BP})
    store = RecordStore(catalog)
    with engine.begin() as conn:
        catalog.metadata.create_all(conn)
        a = store.create(conn, "p.firm", {"name": "Acme"})["id"]
        b = store.create(conn, "p.firm", {"name": "Globex"})["id"]
        for code, firm, owner in [("D1", a, "ann"), ("D2", b, "bob"), ("D3", a, "bob")]:
            store.create(conn, "p.deal", {"code": code, "firm": firm, "owner": owner, "margin": 9})
    return catalog, AccessPolicy(catalog)


def _codes(engine: sa.Engine, catalog: Catalog, predicate: Any) -> list[str]:
    with engine.connect() as conn:
        page = RecordStore(catalog).list(conn, "p.deal", sort="code", scope=predicate)
    return [r["code"] for r in page.items]


def test_user_rule_and_owner_fields(engine: sa.Engine) -> None:
    catalog, policy = _setup(engine)
    scope = policy.scope(Identity("bob", frozenset({"rep"})), "p.deal")
    assert scope is not None and scope.owner_fields == {"owner"}
    assert _codes(engine, catalog, scope.predicate) == ["D2", "D3"]
    assert policy.scope(Identity("bob", frozenset({"rep"})), "p.firm") is None


def test_attribute_rule_hidden_and_read_only_fields(engine: sa.Engine) -> None:
    catalog, policy = _setup(engine)
    who = Identity("x", frozenset({"partner"}), {"firm": "Acme"})
    scope = policy.scope(who, "p.deal")
    assert scope is not None
    assert _codes(engine, catalog, scope.predicate) == ["D1", "D3"]
    assert scope.hidden == {"margin"} and "code" in scope.read_only
    assert policy.is_portal(who)


def test_missing_attribute_sees_nothing(engine: sa.Engine) -> None:
    catalog, policy = _setup(engine)
    scope = policy.scope(Identity("x", frozenset({"partner"})), "p.deal")
    assert scope is not None and _codes(engine, catalog, scope.predicate) == []


def test_admin_sees_everything_and_demo_attributes_come_from_the_data(engine: sa.Engine) -> None:
    catalog, policy = _setup(engine)
    scope = policy.scope(Identity("root", frozenset({"admin"})), "p.deal")
    assert scope is not None and scope.predicate is None
    with engine.connect() as conn:
        assert sample_attributes(conn, catalog, policy, "partner") == {"firm": "Acme"}
