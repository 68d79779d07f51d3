"""The record store: create, get, update, delete, lines, links, audit, events, errors."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from appblocks.engine.audit import history
from appblocks.engine.catalog import Catalog
from appblocks.engine.events import RECORD_CREATED, RECORD_DELETED, RECORD_UPDATED, Event, EventBus
from appblocks.engine.records import (
    MissingVersion,
    NotFound,
    RecordErrors,
    RecordStore,
    Restricted,
    VersionConflict,
)
from appblocks.engine.spec import EntitySpec

Conn = sa.Connection


def supplier(store: RecordStore, conn: Conn, name: str = "Acme", **values: Any) -> dict[str, Any]:
    return store.create(conn, "srm.supplier", {"name": name, **values}, actor="ann")


def material(store: RecordStore, conn: Conn, code: str) -> dict[str, Any]:
    return store.create(conn, "srm.material", {"code": code, "name": f"Material {code}"})


def order(store: RecordStore, conn: Conn, supplier_id: int, **values: Any) -> dict[str, Any]:
    return store.create(
        conn, "srm.purchase_order", {"supplier": supplier_id, **values}, actor="ann"
    )


def errors_of(exc: pytest.ExceptionInfo[RecordErrors]) -> dict[str, str]:
    return {e.field: e.message for e in exc.value.errors}


def count(conn: Conn, table: str) -> int:
    return int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())  # noqa: S608


# --- create and get --------------------------------------------------------------------------


def test_create_returns_the_stored_record(store: RecordStore, conn: Conn) -> None:
    record = supplier(store, conn, "Acme", since="2024-01-02", rating="4", tags=["local"])
    assert record["id"] > 0
    assert record["name"] == "Acme"
    assert record["since"] == dt.date(2024, 1, 2)
    assert record["rating"] == 4
    assert record["tags"] == ["local"]
    assert record["_version"] == 1
    assert record["_created_by"] == record["_updated_by"] == "ann"
    assert record["_created_at"].tzinfo is not None
    assert store.get(conn, "srm.supplier", record["id"]) == record


def test_create_applies_defaults_only_when_absent(store: RecordStore, conn: Conn) -> None:
    assert supplier(store, conn, "A")["risk"] == "low"
    assert supplier(store, conn, "B", risk="high")["risk"] == "high"
    assert supplier(store, conn, "C", risk=None)["risk"] is None


def test_create_coerces_money_and_decimal(store: RecordStore, conn: Conn) -> None:
    s = supplier(store, conn)
    m = material(store, conn, "M-1")
    po = order(store, conn, s["id"], amount="12.5", lines=[{"material": m["id"], "quantity": 3}])
    got = store.get(conn, "srm.purchase_order", po["id"])
    assert got["amount"] == Decimal("12.50")
    assert got["lines"][0]["quantity"] == Decimal("3.0000")


def test_get_unknown_record_raises_not_found(store: RecordStore, conn: Conn) -> None:
    with pytest.raises(NotFound, match="srm.supplier 999 does not exist"):
        store.get(conn, "srm.supplier", 999)
    with pytest.raises(NotFound):
        store.get(conn, "srm.supplier", "abc")  # type: ignore[arg-type]
    with pytest.raises(NotFound, match="no entity srm.nothing"):
        store.get(conn, "srm.nothing", 1)


def test_get_expands_links_and_lines(store: RecordStore, conn: Conn) -> None:
    s = supplier(store, conn)
    m1, m2 = material(store, conn, "M-1"), material(store, conn, "M-2")
    po = order(
        store,
        conn,
        s["id"],
        materials=[m2["id"], m1["id"]],
        lines=[{"material": m1["id"], "quantity": 1}],
    )
    plain = store.get(conn, "srm.purchase_order", po["id"])
    assert plain["supplier"] == s["id"]
    assert plain["materials"] == [m2["id"], m1["id"]]  # the order given is kept
    assert [line["material"] for line in plain["lines"]] == [m1["id"]]  # lines always on get
    full = store.get(conn, "srm.purchase_order", po["id"], expand=["supplier", "materials"])
    assert full["supplier"]["name"] == "Acme"
    assert full["supplier"]["id"] == s["id"]
    assert [m["code"] for m in full["materials"]] == ["M-2", "M-1"]


def test_to_json_converts_each_field_by_its_type(store: RecordStore, conn: Conn) -> None:
    s = supplier(store, conn, since="2024-01-02")
    po = order(store, conn, s["id"], amount="10.25", order_date="2024-05-06")
    data = store.to_json("srm.purchase_order", store.get(conn, "srm.purchase_order", po["id"]))
    assert data["amount"] == 10.25
    assert data["order_date"] == "2024-05-06"
    assert isinstance(data["_created_at"], str)
    assert data["lines"] == []
    expanded = store.get(conn, "srm.purchase_order", po["id"], expand=["supplier"])
    assert store.to_json("srm.purchase_order", expanded)["supplier"]["since"] == "2024-01-02"


# --- validation ------------------------------------------------------------------------------


def test_create_reports_every_error_at_once(store: RecordStore, conn: Conn) -> None:
    with pytest.raises(RecordErrors) as exc:
        store.create(
            conn,
            "srm.purchase_order",
            {
                "colour": "red",
                "number": "PO-1",
                "total": 5,
                "_state": "sent",
                "amount": "lots",
                "order_date": "yesterday",
                "supplier": 999,
            },
        )
    errors = errors_of(exc)
    assert errors == {
        "colour": "'colour' is not a field of srm.purchase_order",
        "number": "is computed and cannot be set",
        "total": "is computed and cannot be set",
        "_state": "is set by workflow transitions and cannot be set",
        "amount": "'lots' is not a number",
        "order_date": "'yesterday' is not a date (use YYYY-MM-DD)",
        "supplier": "no srm.supplier record has id 999",
    }


def test_create_requires_required_fields(store: RecordStore, conn: Conn) -> None:
    with pytest.raises(RecordErrors) as exc:
        store.create(conn, "srm.supplier", {"email": "not-an-email", "rating": 9})
    errors = errors_of(exc)
    assert errors["name"] == "is required"
    assert "not a valid e-mail address" in errors["email"]
    assert errors["rating"] == "must be at most 5"
    assert [e.code for e in exc.value.errors if e.field == "name"] == ["required"]


def test_update_refuses_clearing_a_required_field(store: RecordStore, conn: Conn) -> None:
    s = supplier(store, conn)
    with pytest.raises(RecordErrors) as exc:
        store.update(conn, "srm.supplier", s["id"], {"name": None}, version=1)
    assert errors_of(exc) == {"name": "is required"}
    with pytest.raises(RecordErrors):
        store.update(conn, "srm.supplier", s["id"], {"name": "  "}, version=1)


def test_unique_violation_is_a_field_error_and_the_transaction_lives(
    store: RecordStore, conn: Conn
) -> None:
    supplier(store, conn, "Acme")
    with pytest.raises(RecordErrors) as exc:
        supplier(store, conn, "Acme")
    assert errors_of(exc) == {"name": "another record already has this value"}
    assert exc.value.errors[0].code == "unique"
    other = supplier(store, conn, "Beta")  # the connection's transaction still works
    with pytest.raises(RecordErrors) as exc:
        store.update(conn, "srm.supplier", other["id"], {"name": "Acme"}, version=1)
    assert errors_of(exc) == {"name": "another record already has this value"}
    assert count(conn, "srm_supplier") == 2


def test_read_only_keys_of_a_record_read_back_are_ignored(store: RecordStore, conn: Conn) -> None:
    s = supplier(store, conn)
    edited = {**s, "notes": "checked"}
    updated = store.update(conn, "srm.supplier", s["id"], edited, version=None)
    assert updated["notes"] == "checked"
    assert updated["_version"] == 2
    with pytest.raises(RecordErrors) as exc:
        store.create(conn, "srm.supplier", {"id": 5, "name": "Other"})
    assert errors_of(exc) == {"id": "is set by the platform and cannot be set"}


# --- update and optimistic locking -----------------------------------------------------------


def test_update_changes_only_the_given_fields(store: RecordStore, conn: Conn) -> None:
    s = supplier(store, conn, rating=2, notes="old")
    updated = store.update(conn, "srm.supplier", s["id"], {"rating": 3}, version=1, actor="bob")
    assert updated["rating"] == 3
    assert updated["notes"] == "old"
    assert updated["_version"] == 2
    assert updated["_updated_by"] == "bob"
    assert updated["_created_by"] == "ann"
    assert store.get(conn, "srm.supplier", s["id"]) == updated


def test_update_needs_the_version(store: RecordStore, conn: Conn) -> None:
    s = supplier(store, conn)
    with pytest.raises(MissingVersion):
        store.update(conn, "srm.supplier", s["id"], {"rating": 3}, version=None)
    assert store.update(conn, "srm.supplier", s["id"], {"rating": 3, "_version": 1}, version=None)


def test_update_with_a_stale_version_conflicts(store: RecordStore, conn: Conn) -> None:
    s = supplier(store, conn)
    store.update(conn, "srm.supplier", s["id"], {"rating": 3}, version=1)
    with pytest.raises(VersionConflict) as exc:
        store.update(conn, "srm.supplier", s["id"], {"rating": 4}, version=1)
    assert exc.value.current_version == 2
    assert store.get(conn, "srm.supplier", s["id"])["rating"] == 3


def test_update_without_a_change_keeps_the_version(store: RecordStore, conn: Conn) -> None:
    s = supplier(store, conn, rating=2)
    same = store.update(conn, "srm.supplier", s["id"], {"rating": "2"}, version=1)
    assert same["_version"] == 1
    assert [h["action"] for h in history(conn, "srm.supplier", s["id"])] == ["create"]


def test_update_of_a_missing_record_raises_not_found(store: RecordStore, conn: Conn) -> None:
    with pytest.raises(NotFound):
        store.update(conn, "srm.supplier", 42, {"rating": 1}, version=1)


# --- lines and links -------------------------------------------------------------------------


def test_lines_are_created_nested_in_order(store: RecordStore, conn: Conn) -> None:
    s = supplier(store, conn)
    m1, m2 = material(store, conn, "M-1"), material(store, conn, "M-2")
    po = order(
        store,
        conn,
        s["id"],
        lines=[{"material": m2["id"], "quantity": 2}, {"material": m1["id"], "quantity": 1}],
    )
    lines = store.get(conn, "srm.purchase_order", po["id"])["lines"]
    assert [(x["material"], x["_position"]) for x in lines] == [(m2["id"], 0), (m1["id"], 1)]
    assert [x["id"] for x in po["lines"]] == [x["id"] for x in lines]


def test_lines_update_adds_removes_and_modifies(store: RecordStore, conn: Conn) -> None:
    s = supplier(store, conn)
    m = material(store, conn, "M-1")
    po = order(
        store,
        conn,
        s["id"],
        lines=[
            {"material": m["id"], "quantity": 1, "note": "a"},
            {"material": m["id"], "quantity": 2, "note": "b"},
            {"material": m["id"], "quantity": 3, "note": "c"},
        ],
    )
    a, b, c = (line["id"] for line in po["lines"])
    updated = store.update(
        conn,
        "srm.purchase_order",
        po["id"],
        {"lines": [{"id": c, "quantity": 30}, {"material": m["id"], "note": "new"}, {"id": a}]},
        version=1,
    )
    assert updated["_version"] == 2  # the parent's version moves with its lines
    lines = store.get(conn, "srm.purchase_order", po["id"])["lines"]
    assert [x["note"] for x in lines] == ["c", "new", "a"]
    assert [x["id"] for x in lines][0::2] == [c, a]
    assert lines[0]["quantity"] == Decimal("30")
    assert [x["_position"] for x in lines] == [0, 1, 2]
    assert updated["lines"] == lines
    assert count(conn, "srm_purchase_order_line") == 3  # b is gone
    assert b not in [x["id"] for x in lines]


def test_lines_refuse_a_line_of_another_record(store: RecordStore, conn: Conn) -> None:
    s = supplier(store, conn)
    m = material(store, conn, "M-1")
    first = order(store, conn, s["id"], lines=[{"material": m["id"]}])
    second = order(store, conn, s["id"], lines=[{"material": m["id"]}])
    foreign = first["lines"][0]["id"]
    with pytest.raises(RecordErrors) as exc:
        store.update(
            conn, "srm.purchase_order", second["id"], {"lines": [{"id": foreign}]}, version=1
        )
    assert errors_of(exc) == {"lines.0.id": f"line {foreign} does not belong to this record"}
    with pytest.raises(RecordErrors):
        order(store, conn, s["id"], lines=[{"id": foreign, "material": m["id"]}])


def test_lines_errors_name_the_line_and_field(store: RecordStore, conn: Conn) -> None:
    s = supplier(store, conn)
    m = material(store, conn, "M-1")
    with pytest.raises(RecordErrors) as exc:
        order(
            store,
            conn,
            s["id"],
            lines=[{"material": m["id"]}, {"material": m["id"]}, {"quantity": -1, "bad": 1}],
        )
    assert errors_of(exc) == {
        "lines.2.quantity": "must be at least 0",
        "lines.2.bad": "'bad' is not a field of srm.purchase_order_line",
        "lines.2.material": "is required",
    }


def test_lines_unchanged_keep_the_version(store: RecordStore, conn: Conn) -> None:
    s = supplier(store, conn)
    m = material(store, conn, "M-1")
    po = order(store, conn, s["id"], lines=[{"material": m["id"], "quantity": 1}])
    same = store.update(conn, "srm.purchase_order", po["id"], {"lines": po["lines"]}, version=1)
    assert same["_version"] == 1


def test_links_replace_the_set(store: RecordStore, conn: Conn) -> None:
    s = supplier(store, conn)
    m1, m2, m3 = (material(store, conn, c) for c in ("M-1", "M-2", "M-3"))
    po = order(store, conn, s["id"], materials=[m1["id"], m2["id"]])
    updated = store.update(
        conn, "srm.purchase_order", po["id"], {"materials": [m3["id"], m1["id"]]}, version=1
    )
    assert updated["materials"] == [m3["id"], m1["id"]]
    assert store.get(conn, "srm.purchase_order", po["id"])["materials"] == [m3["id"], m1["id"]]
    with pytest.raises(RecordErrors) as exc:
        store.update(conn, "srm.purchase_order", po["id"], {"materials": [m1["id"], 77]}, version=2)
    assert errors_of(exc) == {"materials": "no srm.material record has id 77"}


def test_line_item_created_directly_needs_its_parent(store: RecordStore, conn: Conn) -> None:
    s = supplier(store, conn)
    m = material(store, conn, "M-1")
    po = order(store, conn, s["id"])
    with pytest.raises(RecordErrors) as exc:
        store.create(conn, "srm.purchase_order_line", {"material": m["id"]})
    assert errors_of(exc) == {"_parent_id": "is required"}
    line = store.create(
        conn, "srm.purchase_order_line", {"material": m["id"], "_parent_id": po["id"]}
    )
    assert store.get(conn, "srm.purchase_order", po["id"])["lines"][0]["id"] == line["id"]


# --- delete ----------------------------------------------------------------------------------


def test_delete_restrict_refuses_with_the_reason(store: RecordStore, conn: Conn) -> None:
    s = supplier(store, conn)
    order(store, conn, s["id"])
    order(store, conn, s["id"])
    with pytest.raises(Restricted) as exc:
        store.delete(conn, "srm.supplier", s["id"])
    assert exc.value.by_entity == "srm.purchase_order"
    assert exc.value.by_field == "supplier"
    assert exc.value.count == 2
    assert str(exc.value) == (
        f"cannot delete srm.supplier {s['id']}: 2 srm.purchase_order record(s) "
        "still point at it through 'supplier'"
    )
    assert store.get(conn, "srm.supplier", s["id"])


def test_delete_cascades_to_children_and_link_rows(store: RecordStore, conn: Conn) -> None:
    s = supplier(store, conn)
    m = material(store, conn, "M-1")
    po = order(store, conn, s["id"], materials=[m["id"]], lines=[{"material": m["id"]}] * 2)
    receipt = store.create(conn, "srm.goods_receipt", {"purchase_order": po["id"], "quantity": 1})
    keep = order(store, conn, s["id"], materials=[m["id"]])
    store.delete(conn, "srm.purchase_order", po["id"], actor="ann")
    with pytest.raises(NotFound):
        store.get(conn, "srm.purchase_order", po["id"])
    with pytest.raises(NotFound):
        store.get(conn, "srm.goods_receipt", receipt["id"])  # cascade
    assert count(conn, "srm_purchase_order_line") == 0
    assert count(conn, "srm_purchase_order__materials") == 1
    assert store.get(conn, "srm.purchase_order", keep["id"])["materials"] == [m["id"]]
    actions = [h["action"] for h in history(conn, "srm.goods_receipt", receipt["id"])]
    assert actions == ["delete", "create"]


def test_delete_cascade_through_a_link(store: RecordStore, conn: Conn) -> None:
    s = supplier(store, conn)
    contacts = [store.create(conn, "srm.contact", {"name": n, "supplier": s["id"]}) for n in "ab"]
    store.delete(conn, "srm.supplier", s["id"], actor="ann")
    assert count(conn, "srm_contact") == 0
    entry = history(conn, "srm.contact", contacts[0]["id"])[0]
    assert entry["action"] == "delete"
    assert entry["before"]["name"] == "a"
    assert entry["actor"] == "ann"


def test_delete_set_null_clears_the_link_as_an_update(store: RecordStore, conn: Conn) -> None:
    s = supplier(store, conn)
    contact = store.create(conn, "srm.contact", {"name": "Ann"})
    po = order(store, conn, s["id"], contact=contact["id"])
    store.delete(conn, "srm.contact", contact["id"], actor="bob")
    after = store.get(conn, "srm.purchase_order", po["id"])
    assert after["contact"] is None
    assert after["_version"] == 2
    entry = history(conn, "srm.purchase_order", po["id"])[0]
    assert (entry["action"], entry["before"], entry["after"]) == (
        "update",
        {"contact": contact["id"]},
        {"contact": None},
    )


def test_delete_removes_the_record_from_links_lists(store: RecordStore, conn: Conn) -> None:
    s = supplier(store, conn)
    m1, m2 = material(store, conn, "M-1"), material(store, conn, "M-2")
    po = order(store, conn, s["id"], materials=[m1["id"], m2["id"]])
    store.delete(conn, "srm.material", m1["id"])
    after = store.get(conn, "srm.purchase_order", po["id"])
    assert after["materials"] == [m2["id"]]
    assert after["_version"] == 2
    entry = history(conn, "srm.purchase_order", po["id"])[0]
    assert entry["after"] == {"materials": [m2["id"]]}


def test_delete_with_a_stale_version_conflicts(store: RecordStore, conn: Conn) -> None:
    s = supplier(store, conn)
    store.update(conn, "srm.supplier", s["id"], {"rating": 1}, version=1)
    with pytest.raises(VersionConflict):
        store.delete(conn, "srm.supplier", s["id"], version=1)
    store.delete(conn, "srm.supplier", s["id"], version=2)
    with pytest.raises(NotFound):
        store.delete(conn, "srm.supplier", s["id"])


def test_delete_of_a_line_restricted_elsewhere_is_refused(store: RecordStore, conn: Conn) -> None:
    s = supplier(store, conn)
    m = material(store, conn, "M-1")
    order(store, conn, s["id"], lines=[{"material": m["id"]}])
    with pytest.raises(Restricted) as exc:
        store.delete(conn, "srm.material", m["id"])  # a line item still uses it
    assert (exc.value.by_entity, exc.value.by_field) == ("srm.purchase_order_line", "material")


# --- audit and events ------------------------------------------------------------------------


def test_audit_records_each_change(store: RecordStore, conn: Conn) -> None:
    s = supplier(store, conn, "Acme", rating=2)
    store.update(conn, "srm.supplier", s["id"], {"rating": 3, "notes": "x"}, version=1, actor="bob")
    store.delete(conn, "srm.supplier", s["id"], actor="cy")
    entries = store.history(conn, "srm.supplier", s["id"])
    assert [(e["action"], e["actor"]) for e in entries] == [
        ("delete", "cy"),
        ("update", "bob"),
        ("create", "ann"),
    ]
    deleted, updated, created = entries
    assert created["before"] is None
    assert created["after"]["name"] == "Acme"
    assert "_created_at" not in created["after"]  # the audit row itself says when and who
    assert updated["before"] == {"rating": 2, "notes": None}
    assert updated["after"] == {"rating": 3, "notes": "x"}
    assert deleted["before"]["rating"] == 3
    assert deleted["after"] is None
    assert isinstance(created["at"], dt.datetime)


def test_audit_of_lines_changes_is_on_the_parent(store: RecordStore, conn: Conn) -> None:
    s = supplier(store, conn)
    m = material(store, conn, "M-1")
    po = order(store, conn, s["id"], lines=[{"material": m["id"], "quantity": 1}])
    line = {"id": po["lines"][0]["id"], "quantity": 5}
    store.update(conn, "srm.purchase_order", po["id"], {"lines": [line]}, version=1)
    entry = history(conn, "srm.purchase_order", po["id"])[0]
    assert entry["before"]["lines"][0]["quantity"] == 1.0
    assert entry["after"]["lines"][0]["quantity"] == 5.0


def test_events_are_emitted_inside_the_transaction(
    store: RecordStore, bus: EventBus, conn: Conn
) -> None:
    seen: list[Event] = []
    bus.subscribe("*", seen.append)

    def follow_up(event: Event) -> None:  # a subscriber writes in the same transaction
        event.connection.execute(sa.text("UPDATE srm_supplier SET notes = 'seen'"))

    bus.subscribe(RECORD_CREATED, follow_up)
    s = supplier(store, conn)
    store.update(conn, "srm.supplier", s["id"], {"rating": 1}, version=1, actor="bob")
    store.delete(conn, "srm.supplier", s["id"], actor="bob")
    assert [(e.name, e.entity, e.id) for e in seen] == [
        (RECORD_CREATED, "srm.supplier", s["id"]),
        (RECORD_UPDATED, "srm.supplier", s["id"]),
        (RECORD_DELETED, "srm.supplier", s["id"]),
    ]
    created, updated, deleted = seen
    assert created.before is None and created.after is not None
    assert updated.before is not None and updated.before["rating"] is None
    assert updated.after is not None and updated.after["rating"] == 1
    assert updated.actor == "bob"
    assert deleted.after is None
    assert created.connection is conn


def test_event_subscriber_failure_undoes_the_save(
    store: RecordStore, bus: EventBus, db: sa.Engine
) -> None:
    def refuse(event: Event) -> None:
        raise RuntimeError("automation failed")

    bus.subscribe(RECORD_CREATED, refuse)
    with pytest.raises(RuntimeError), db.begin() as conn:
        supplier(store, conn)
    with db.connect() as conn:
        assert count(conn, "srm_supplier") == 0
        assert count(conn, "ab_audit") == 0


# --- the compute hook ------------------------------------------------------------------------


def test_compute_hook_fills_computed_fields_children_first(catalog: Catalog, conn: Conn) -> None:
    calls: list[str] = []

    def computer(
        c: sa.Connection, entity: EntitySpec, values: dict[str, Any], old: dict[str, Any] | None
    ) -> dict[str, Any]:
        calls.append(entity.name)
        if entity.name == "purchase_order_line":
            return {"amount": (values.get("quantity") or 0) * (values.get("unit_price") or 0)}
        if entity.name == "purchase_order":
            return {"total": sum(line["amount"] for line in values.get("lines") or [])}
        return {}

    store = RecordStore(catalog, computer=computer)
    s = store.create(conn, "srm.supplier", {"name": "Acme"})
    m = store.create(conn, "srm.material", {"code": "M-1"})
    lines = [
        {"material": m["id"], "quantity": 2, "unit_price": "1.50"},
        {"material": m["id"], "quantity": 1, "unit_price": "4"},
    ]
    po = store.create(conn, "srm.purchase_order", {"supplier": s["id"], "lines": lines})
    assert calls[-3:] == ["purchase_order_line", "purchase_order_line", "purchase_order"]
    assert po["total"] == Decimal("7.00")
    assert [x["amount"] for x in po["lines"]] == [Decimal("3.00"), Decimal("4.00")]
    first = {"id": po["lines"][0]["id"], "quantity": 4}
    updated = store.update(conn, "srm.purchase_order", po["id"], {"lines": [first]}, version=1)
    assert updated["total"] == Decimal("6.00")
    assert store.get(conn, "srm.purchase_order", po["id"])["total"] == Decimal("6.00")


def test_set_state_moves_a_workflow_record(store: RecordStore, conn: Conn) -> None:
    s = supplier(store, conn)
    po = order(store, conn, s["id"])
    assert po["_state"] is None
    sent = store.set_state(conn, "srm.purchase_order", po["id"], "sent", version=1, comment="ok")
    assert (sent["_state"], sent["_version"]) == ("sent", 2)
    entry = history(conn, "srm.purchase_order", po["id"])[0]
    assert (entry["before"], entry["after"], entry["comment"]) == (
        {"_state": None},
        {"_state": "sent"},
        "ok",
    )


# --- batches ---------------------------------------------------------------------------------


def test_create_many_creates_all_with_audit(store: RecordStore, conn: Conn) -> None:
    rows = [{"name": f"S{i}", "rating": i % 5, "since": "2024-01-01"} for i in range(50)]
    ids = store.create_many(conn, "srm.supplier", rows, actor="imp")
    assert len(ids) == len(set(ids)) == 50
    assert [store.get(conn, "srm.supplier", i)["name"] for i in ids[:3]] == ["S0", "S1", "S2"]
    assert store.get(conn, "srm.supplier", ids[-1])["name"] == "S49"
    assert count(conn, "ab_audit") == 50
    assert history(conn, "srm.supplier", ids[7])[0]["after"]["name"] == "S7"


def test_create_many_with_lines_and_links(store: RecordStore, conn: Conn) -> None:
    s = supplier(store, conn)
    m = material(store, conn, "M-1")
    rows = [
        {"supplier": s["id"], "materials": [m["id"]], "lines": [{"material": m["id"]}] * i}
        for i in range(30)
    ]
    ids = store.create_many(conn, "srm.purchase_order", rows)
    got = [store.get(conn, "srm.purchase_order", i) for i in ids]
    assert [len(po["lines"]) for po in got] == list(range(30))
    assert all(po["materials"] == [m["id"]] for po in got)
    numbers = [po["number"] for po in got]
    assert len(set(numbers)) == 30 and numbers == sorted(numbers)


def test_create_many_reports_every_bad_row(store: RecordStore, conn: Conn) -> None:
    supplier(store, conn, "Taken")
    rows: list[dict[str, Any]] = [{"name": f"S{i}"} for i in range(30)]
    rows[3] = {"rating": 1}
    rows[11] = {"name": "X", "parent": 999}
    rows[20] = {"name": "Y", "rating": "many"}
    with pytest.raises(RecordErrors) as exc:
        store.create_many(conn, "srm.supplier", rows)
    assert [(e.index, e.field) for e in exc.value.errors] == [
        (3, "name"),
        (11, "parent"),
        (20, "rating"),
    ]
    rows = [{"name": "A"}, {"name": "Taken"}, {"name": "B"}, {"name": "A"}]
    with pytest.raises(RecordErrors) as exc:
        store.create_many(conn, "srm.supplier", rows)
    assert [(e.index, e.field, e.code) for e in exc.value.errors] == [
        (1, "name", "unique"),
        (3, "name", "unique"),
    ]
    assert count(conn, "srm_supplier") == 1  # all or none, and the transaction lives on


def test_create_many_of_nothing_is_fine(store: RecordStore, conn: Conn) -> None:
    assert store.create_many(conn, "srm.supplier", []) == []


# --- record rules (scope) and delete rules across entities -------------------------------------


def test_scope_hides_records_outside_the_rule(
    store: RecordStore, catalog: Catalog, conn: Conn
) -> None:
    mine = supplier(store, conn, "Mine", risk="low")
    other = supplier(store, conn, "Other", risk="high")
    table = catalog.table("srm.supplier")
    scope = table.c.risk == "low"
    page = store.list(conn, "srm.supplier", scope=scope, count=True)
    assert [r["id"] for r in page.items] == [mine["id"]]
    assert page.total == 1
    assert store.get(conn, "srm.supplier", mine["id"], scope=scope)["name"] == "Mine"
    with pytest.raises(NotFound):
        store.get(conn, "srm.supplier", other["id"], scope=scope)
    with pytest.raises(NotFound):
        store.update(conn, "srm.supplier", other["id"], {"rating": 1}, version=1, scope=scope)
    with pytest.raises(NotFound):
        store.delete(conn, "srm.supplier", other["id"], scope=scope)
    assert store.get(conn, "srm.supplier", other["id"])["_version"] == 1


CHAIN: dict[str, Any] = {
    "blueprint": "ops",
    "version": "1.0.0",
    "entities": {
        "site": {"title": "name", "fields": {"name": {"type": "text"}}},
        "machine": {
            "title": "name",
            "fields": {
                "name": {"type": "text"},
                "site": {"type": "link", "to": "site", "on_delete": "cascade"},
            },
        },
        "repair": {
            "fields": {
                "machine": {"type": "link", "to": "machine", "on_delete": "restrict"},
            },
        },
    },
}


def test_delete_refused_when_a_cascaded_record_is_restricted(db: sa.Engine) -> None:
    catalog = Catalog({"ops": CHAIN})
    store = RecordStore(catalog)
    with db.begin() as conn:
        catalog.metadata.create_all(conn)
        site = store.create(conn, "ops.site", {"name": "North"})
        machine = store.create(conn, "ops.machine", {"name": "Press", "site": site["id"]})
        store.create(conn, "ops.repair", {"machine": machine["id"]})
        with pytest.raises(Restricted) as exc:
            store.delete(conn, "ops.site", site["id"])
        assert exc.value.code == "restricted_cascade"
        assert "1 ops.repair record(s) still point through 'machine'" in str(exc.value)
        assert store.get(conn, "ops.machine", machine["id"])
        other = store.create(conn, "ops.site", {"name": "South"})
        store.create(conn, "ops.machine", {"name": "Lathe", "site": other["id"]})
        store.delete(conn, "ops.site", other["id"])
        assert store.list(conn, "ops.machine", count=True).total == 1


def test_create_many_emits_an_event_per_record(
    store: RecordStore, bus: EventBus, conn: Conn
) -> None:
    seen: list[Event] = []
    bus.subscribe(RECORD_CREATED, seen.append)
    ids = store.create_many(conn, "srm.supplier", [{"name": "A"}, {"name": "B"}], actor="imp")
    assert [(e.id, e.actor) for e in seen] == [(ids[0], "imp"), (ids[1], "imp")]
