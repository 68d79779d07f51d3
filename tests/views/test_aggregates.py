"""Dashboard aggregates on SQLite and PostgreSQL: the numbers equal an independent
computation from the API, record rules apply (a portal user or a sales rep gets only their
own numbers), and hidden or unknown fields are refused with a clear error."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from typing import Any

import pytest

from appblocks.engine.db import reading
from appblocks.engine.users import Identity, identity_of
from appblocks.views.aggregates import AggregateError, Aggregator, Series
from appblocks.views.charts import chart_data
from tests.server.conftest import Live


def _identity(live: Live, user: str) -> Identity:
    with reading(live.engine) as conn:
        found = identity_of(conn, user)
    assert found is not None
    return found


def _run(live: Live, user: str, series: Series, locale: str = "en") -> Any:
    loaded = live.runtime.current()
    identity = _identity(live, user)
    aggregator = Aggregator(
        loaded.catalog,
        lambda e: loaded.scope(identity, e, "read"),
        locale,
        now=dt.datetime(2026, 11, 25, tzinfo=dt.UTC),
    )
    with reading(live.engine) as conn:
        return aggregator.run(conn, series)


def _all(live: Live, user: str, path: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    with live.client(user) as client:
        while True:
            params: dict[str, Any] = {"limit": 200}
            if cursor:
                params["cursor"] = cursor
            page = client.get(path, params=params).json()
            items += page["items"]
            cursor = page["next_cursor"]
            if not cursor:
                return items


def _money(value: Any) -> Decimal:
    return Decimal(str(value or 0)).quantize(Decimal("0.01"))


SPEND = Series("srm.purchase_order", "supplier", "sum", "total", {"_state": {"nin": ["cancelled"]}})


def test_aggregates_spend_by_supplier_equals_the_api(shipped: Live) -> None:
    orders = _all(shipped, "manager1", "/api/v1/srm/purchase_order")
    expected: dict[str, Decimal] = defaultdict(Decimal)
    for order in orders:
        if order["_state"] != "cancelled":
            expected[str(order["supplier"])] += _money(order["total"])
    names = {str(s["id"]): s["name"] for s in _all(shipped, "manager1", "/api/v1/srm/supplier")}
    result = _run(shipped, "manager1", SPEND)
    got = {b.key: b.value for b in result.buckets}
    assert got == dict(expected)
    assert [b.label for b in result.buckets] == [names[b.key] for b in result.buckets]
    values = [b.value for b in result.buckets]
    assert values == sorted(values, reverse=True), "the largest spend first"
    assert result.kind == "money"


def test_aggregates_portal_supplier_gets_only_their_own_numbers(shipped: Live) -> None:
    own = _all(shipped, "jinggong", "/api/v1/srm/purchase_order")
    assert own, "the demo supplier has orders"
    result = _run(shipped, "jinggong", SPEND)
    assert [b.label for b in result.buckets] == ["苏州精工五金制品有限公司"]
    assert result.buckets[0].value == sum(
        (_money(o["total"]) for o in own if o["_state"] != "cancelled"), Decimal("0.00")
    )
    count = _run(shipped, "jinggong", Series("srm.purchase_order", None, "count", None, None))
    assert count.value == len(own)


def test_aggregates_sales_rep_funnel_counts_only_their_opportunities(shipped: Live) -> None:
    every = _all(shipped, "salesmgr1", "/api/v1/crm/opportunity")
    mine = _all(shipped, "zhao.min", "/api/v1/crm/opportunity")
    assert 0 < len(mine) < len(every)
    funnel = Series("crm.opportunity", "stage", "sum", "expected_amount", None)
    for user, records in (("zhao.min", mine), ("salesmgr1", every)):
        expected: dict[str, Decimal] = defaultdict(Decimal)
        for record in records:
            expected[record["stage"]] += _money(record["expected_amount"])
        result = _run(shipped, user, funnel, "zh-CN")
        assert {b.key: b.value for b in result.buckets} == dict(expected)
        stages = [
            "prospecting",
            "qualification",
            "proposal",
            "negotiation",
            "closed_won",
            "closed_lost",
        ]
        keys = [b.key for b in result.buckets]
        assert keys == [s for s in stages if s in keys], "in the order of the options"
    labels = {b.key: b.label for b in _run(shipped, "salesmgr1", funnel, "zh-CN").buckets}
    assert labels["negotiation"] == "商务谈判"


def test_aggregates_by_month_and_by_state(shipped: Live) -> None:
    forecasts = _all(shipped, "salesmgr1", "/api/v1/crm/sales_forecast")
    expected: dict[str, Decimal] = defaultdict(Decimal)
    for item in forecasts:
        expected[item["period_start"][:7]] += _money(item["amount"])
    by_month = _run(
        shipped, "salesmgr1", Series("crm.sales_forecast", "period_start", "sum", "amount", None)
    )
    assert [b.key for b in by_month.buckets] == sorted(expected)
    assert {b.key: b.value for b in by_month.buckets} == dict(expected)
    assert by_month.buckets[0].label == "Dec 2026"
    orders = Series(
        "crm.sales_order", "order_date", "sum", "total", {"status": {"ne": "cancelled"}}
    )
    actual = _run(shipped, "salesmgr1", orders)
    chart = chart_data("line", [by_month, actual], "en")
    assert chart["keys"] == sorted(chart["keys"]), "months in order, of both series"
    assert set(chart["keys"]) >= {b.key for b in by_month.buckets} | {b.key for b in actual.buckets}
    assert len(chart["keys"]) == len(set(chart["keys"])), "every month once, gaps filled"
    assert len(chart["series"]) == 2
    assert all(len(s["values"]) == len(chart["labels"]) for s in chart["series"])
    leads = _all(shipped, "marketing1", "/api/v1/crm/lead")
    states = _run(shipped, "marketing1", Series("crm.lead", "_state", "count", None, None), "zh-CN")
    assert sum(b.value for b in states.buckets) == len(leads)
    everything = _run(shipped, "marketing1", Series("crm.lead", None, "count", None, None))
    assert everything.value == len(leads), "a count with no filter and no rule counts them all"
    assert states.buckets[0].label == "新线索"


def test_aggregates_average_and_relative_dates(shipped: Live) -> None:
    cards = _all(shipped, "manager1", "/api/v1/srm/scorecard")
    rates = [Decimal(str(c["on_time_rate"])) for c in cards if c["on_time_rate"] is not None]
    result = _run(shipped, "manager1", Series("srm.scorecard", None, "avg", "on_time_rate", None))
    assert result.value == (sum(rates) / len(rates)).quantize(Decimal("0.01"))
    contracts = _all(shipped, "manager1", "/api/v1/srm/contract")
    soon = [c for c in contracts if c["end_date"] and "2026-11-25" <= c["end_date"] <= "2027-01-24"]
    window = {"end_date": {"gte": "$today", "lte": "$today+60d"}}
    counted = _run(shipped, "manager1", Series("srm.contract", None, "count", None, window))
    assert counted.value == len(soon) == 1


@pytest.mark.parametrize(
    ("user", "series", "message"),
    [
        (
            "quality1",
            Series("srm.purchase_order", "supplier", "sum", "total", None),
            "This chart measures 'total', a field you may not see",
        ),
        (
            "quality1",
            Series("srm.purchase_order", None, "count", None, {"total": {"gt": 5}}),
            "This chart filters on 'total', a field you may not see",
        ),
        (
            "haichuan",
            Series("crm.ticket", "sla_status", "count", None, None),
            "This chart is grouped by 'sla_status', a field you may not see",
        ),
        (
            "jinggong",
            Series("srm.purchase_order", None, "count", None, {"supplier.risk_level": "low"}),
            "This chart filters on 'supplier.risk_level', a field you may not see",
        ),
        (
            "manager1",
            Series("srm.purchase_order", "nope", "count", None, None),
            "'nope' is not a field of Purchase order",
        ),
        (
            "manager1",
            Series("srm.purchase_order", None, "sum", "notes", None),
            "sum needs a number field; 'notes' is a long_text field",
        ),
        (
            "manager1",
            Series("srm.purchase_order", None, "count", None, {"nope": 1}),
            "'nope' is not a field of srm.purchase_order",
        ),
        (
            "zhao.min",
            Series("srm.purchase_order", None, "count", None, None),
            "You may not read Purchase order",
        ),
    ],
)
def test_aggregates_refuse_hidden_and_unknown_fields(
    shipped: Live, user: str, series: Series, message: str
) -> None:
    with pytest.raises(AggregateError) as caught:
        _run(shipped, user, series)
    assert str(caught.value) == message
