"""Business rules: refused saves from every channel, with the message on the named field."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from appblocks.engine.blueprints import install
from appblocks.engine.catalog import Catalog
from appblocks.engine.compute import build_store
from appblocks.engine.dataio import ImportFailed, import_file
from appblocks.engine.i18n import translate
from appblocks.engine.loader import load_blueprint_text
from appblocks.engine.records import RecordErrors, RecordStore
from appblocks.engine.rules import check_form_rules, check_rules, compile_rules, user_context

Conn = sa.Connection

SHOP = """
blueprint: shop
version: 1.0.0
entities:
  product:
    title: code
    fields:
      code: {type: text, required: true, unique: true}
  sales_order:
    title: ref
    fields:
      ref: {type: text, required: true}
      approver: {type: text}
      discount: {type: percent}
      lines: {type: lines, to: sales_order_line}
      total: {type: money, rollup: {over: lines, agg: sum, field: amount}}
    rules:
      - when: "total > 100000 and not approver"
        field: approver
        error: {en: "an order over 100,000 needs an approver", zh-CN: "超过 100,000 的订单需要审批人"}
      - when: "discount > 20 and 'manager' not in user.roles"
        field: discount
        error: only a manager gives more than 20% off
      - {when: "discount > 50", field: discount, error: {en: at most 50% off, zh-CN: 折扣最多 50%}}
  sales_order_line:
    fields:
      product: {type: link, to: product}
      quantity: {type: integer}
      unit_price: {type: money}
      amount: {type: money, formula: "quantity * unit_price"}
    rules:
      - when: "quantity <= 0"
        field: quantity
        error: {en: "must be more than zero", zh-CN: "必须大于零"}
"""

APPROVER_EN = "an order over 100,000 needs an approver"
APPROVER_ZH = "超过 100,000 的订单需要审批人"


@pytest.fixture
def shop(engine: sa.Engine) -> sa.Engine:
    install(engine, load_blueprint_text(SHOP, "shop.yaml"))
    return engine


@pytest.fixture
def store(shop: sa.Engine) -> RecordStore:
    with shop.connect() as conn:
        return build_store(Catalog.load(conn))


@pytest.fixture
def conn(shop: sa.Engine) -> Iterator[Conn]:
    with shop.connect() as connection, connection.begin():
        yield connection


def big(ref: str = "A-1", **values: Any) -> dict[str, Any]:
    return {"ref": ref, "lines": [{"quantity": 1000, "unit_price": 200}], **values}


def fields(exc: pytest.ExceptionInfo[RecordErrors]) -> list[tuple[int | None, str, str]]:
    return [(e.index, e.field, e.message) for e in exc.value.errors]


def test_rules_refuse_create_with_the_message_on_the_field(store: RecordStore, conn: Conn) -> None:
    with pytest.raises(RecordErrors) as refused:
        store.create(conn, "shop.sales_order", big())
    assert fields(refused) == [(None, "approver", APPROVER_EN)]
    assert store.create(conn, "shop.sales_order", big(approver="Ann"))["total"] == 200000


def test_rules_messages_in_both_languages(store: RecordStore, conn: Conn) -> None:
    with pytest.raises(RecordErrors) as refused:
        store.create(conn, "shop.sales_order", big())
    error = refused.value.errors[0]
    assert error.code == "rule"
    params = {"field": error.field, **error.params}
    assert translate(error.code, params, "zh-CN") == APPROVER_ZH
    assert translate(error.code, params, "en") == APPROVER_EN
    spec = Catalog.load(conn).entity("shop.sales_order")
    zh = check_rules(spec, {"total": 200000, "approver": None}, locale="zh-CN")
    assert [(e.field, e.message) for e in zh] == [("approver", APPROVER_ZH)]


def test_rules_plain_message_serves_both_languages(store: RecordStore, conn: Conn) -> None:
    with pytest.raises(RecordErrors) as refused:
        store.create(conn, "shop.sales_order", {"ref": "A", "discount": 30}, actor="bob")
    error = refused.value.errors[0]
    assert (error.field, error.message) == ("discount", "only a manager gives more than 20% off")
    assert (
        translate("rule", dict(error.params), "zh-CN") == "only a manager gives more than 20% off"
    )


def test_rules_read_the_acting_user(store: RecordStore, conn: Conn) -> None:
    manager = user_context("ann", ["manager"])
    order = store.create(conn, "shop.sales_order", {"ref": "A", "discount": 30}, user=manager)
    assert order["discount"] == 30
    # The platform itself (no user at all) is not refused by a rule about users.
    assert store.create(conn, "shop.sales_order", {"ref": "B", "discount": 30})["ref"] == "B"


def test_rules_refuse_update(store: RecordStore, conn: Conn) -> None:
    order = store.create(conn, "shop.sales_order", {"ref": "A-1"})
    with pytest.raises(RecordErrors) as refused:
        store.update(conn, "shop.sales_order", order["id"], {"lines": big()["lines"]}, version=1)
    assert fields(refused) == [(None, "approver", APPROVER_EN)]


def test_rules_refuse_create_many_by_row(store: RecordStore, conn: Conn) -> None:
    rows = [{"ref": "ok"}, big("bad"), {"ref": "x", "lines": [{"quantity": 0, "unit_price": 1}]}]
    with pytest.raises(RecordErrors) as refused:
        store.create_many(conn, "shop.sales_order", rows)
    assert fields(refused) == [
        (1, "approver", APPROVER_EN),
        (2, "lines.0.quantity", "must be more than zero"),
    ]


def test_rules_are_checked_with_other_field_errors(store: RecordStore, conn: Conn) -> None:
    with pytest.raises(RecordErrors) as refused:
        store.create(conn, "shop.sales_order", {**big(), "ref": None})
    assert [e.field for e in refused.value.errors] == ["ref", "approver"]


def test_rules_hold_in_a_plain_store(shop: sa.Engine, conn: Conn) -> None:
    plain = RecordStore(Catalog.load(conn))
    with pytest.raises(RecordErrors) as refused:
        plain.create(conn, "shop.sales_order", {"ref": "A", "lines": [{"quantity": -1}]})
    assert fields(refused) == [(None, "lines.0.quantity", "must be more than zero")]


def test_rules_refuse_csv_import(shop: sa.Engine, tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    path.write_text("ref,approver,discount\nA-1,,5\nA-2,,60\n", encoding="utf-8")
    with pytest.raises(ImportFailed) as refused:
        import_file(shop, "shop.sales_order", path)
    assert refused.value.problems == ["row 3, column discount: at most 50% off"]
    with shop.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM shop_sales_order")).scalar_one() == 0


def test_rules_skip_empty_fields_and_report_broken_ones() -> None:
    rules = compile_rules(
        [
            {"when": "total > 100", "field": "total", "error": "too much"},
            {"when": "total / count > 1", "field": "count", "error": "too high"},
        ]
    )
    assert check_rules(rules, {"total": None, "count": 2}) == []
    broken = check_rules(rules, {"total": 5, "count": 0})
    assert [(e.field, e.code, e.params["detail"]) for e in broken] == [
        ("count", "rule_failed", "division by zero in `total / count`")
    ]
    assert broken[0].message.startswith("too high (the rule could not be checked: division")


def test_rules_without_a_field_or_message_name_the_record() -> None:
    [error] = check_rules([{"when": "a > b"}], {"a": 2, "b": 1}, prefix="lines.0.", index=3)
    assert (error.field, error.index, error.message) == ("lines.0", 3, "breaks the rule: a > b")


def test_form_rules_add_to_entity_rules() -> None:
    form = {"entity": "sales_order", "rules": [{"when": "not ref.startswith('SO-')", "field": "ref",
                                          "error": {"en": "starts with SO-", "zh-CN": "以 SO- 开头"}}]}  # fmt: skip
    assert check_form_rules(form, {"ref": "SO-1"}) == []
    [error] = check_form_rules(form, {"ref": "X"}, locale="zh-CN")
    assert (error.field, error.message) == ("ref", "以 SO- 开头")
