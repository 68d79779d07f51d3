"""What a form's inputs show: a stored record, or a refused submission exactly as typed."""

from __future__ import annotations

import decimal
from typing import Any

from appblocks.engine.spec import AppSpecs
from appblocks.forms.layout import default_form, resolve
from appblocks.forms.state import from_record, from_submission
from appblocks.forms.submit import parse


def titles(target: str | None, value: Any) -> str:
    return f"{target}#{value}"


def test_state_from_a_record_fills_inputs_rows_and_outputs(specs: AppSpecs) -> None:
    order = specs.entity("shop.order")
    form = resolve(default_form(order), order, specs)
    record = {
        "_version": 4, "number": "O-0001", "customer": 3, "rush": True,
        "total": decimal.Decimal("12.50"), "count": 2,
        "lines": [
            {"id": 8, "product": 5, "quantity": decimal.Decimal("2.0000"),
             "unit_price": decimal.Decimal("6.25"), "amount": decimal.Decimal("12.50")},
            {"id": 9, "product": 6, "quantity": None, "unit_price": None, "amount": None},
        ],
    }  # fmt: skip
    state = from_record(form, record, titles, blank_rows=1)
    assert state.version == 4
    assert state.value("customer") == "3" and state.labels["customer"] == "shop.customer#3"
    assert state.value("rush") == "true"
    assert state.rows["lines"] == [0, 1, 2]
    assert state.value("lines-0-id") == "8" and state.value("lines-0-quantity") == "2"
    assert state.labels["lines-0-product"] == "shop.product#5"
    assert state.computed["lines-0-amount"] == decimal.Decimal("12.50")
    assert state.computed["number"] == "O-0001" and state.computed["total"] == decimal.Decimal(
        "12.50"
    )
    assert state.next_row("lines") == 3


def test_state_from_a_submission_keeps_every_text(specs: AppSpecs) -> None:
    order = specs.entity("shop.order")
    form = resolve(default_form(order), order, specs)
    sub = parse(form, [
        ("customer", "3"), ("customer__label", "Acme"), ("placed_on", "soon"), ("tags", "a"),
        ("tags", "b"), ("lines-2-product", "5"), ("lines-2-quantity", "1,5"),
        ("lines-6-product", ""), ("lines-6-quantity", ""),
    ])  # fmt: skip
    shown = {"total": decimal.Decimal("1"), "lines": [{"amount": decimal.Decimal("7")}]}
    state = from_submission(form, sub, titles, shown)
    assert state.value("placed_on") == "soon" and state.errors["placed_on"]
    assert state.labels["customer"] == "Acme"
    assert state.many("tags") == ["a", "b"]
    assert state.rows["lines"] == [2, 6]
    assert state.value("lines-2-quantity") == "1,5"
    assert state.computed["lines-2-amount"] == decimal.Decimal("7")
    assert "lines-6-amount" not in state.computed  # a blank row has nothing computed
    assert state.label_of(form, "lines-6-quantity") == "Lines #2 · Quantity"
