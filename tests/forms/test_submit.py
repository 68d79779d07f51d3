"""A submitted HTML form as the store's values: names, blanks, numbers, lines, refusals."""

from __future__ import annotations

import pytest

from appblocks.engine.record_errors import FieldError
from appblocks.engine.spec import AppSpecs
from appblocks.forms.layout import Form, default_form, resolve
from appblocks.forms.submit import (
    add_engine_errors,
    input_name,
    normalize_date,
    normalize_number,
    parse,
)


@pytest.fixture
def form(specs: AppSpecs) -> Form:
    order = specs.entity("shop.order")
    return resolve(default_form(order), order, specs)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("1,234.50", "1234.50"),
        ("  42 ", "42"),
        ("１２３４．５", "1234.5"),
        ("¥1 234", "1234"),
        ("12.5%", "12.5"),
        ("-3", "-3"),
        ("", ""),
        ("abc", None),
        ("1.2.3", None),
    ],
)
def test_submit_numbers_with_locale_separators(typed: str, expected: str | None) -> None:
    assert normalize_number(typed) == expected


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("2026-01-05", "2026-01-05"),
        ("2026/1/5", "2026-01-05"),
        ("2026年1月5日", "2026-01-05"),
        ("", ""),
        ("2026-02-30", None),
        ("next week", None),
    ],
)
def test_submit_dates_in_common_shapes(typed: str, expected: str | None) -> None:
    assert normalize_date(typed) == expected


def test_submit_flat_fields_coerce_and_blanks_are_empty(form: Form) -> None:
    sub = parse(form, [
        ("csrf_token", "t"), ("_version", "3"), ("customer", "7"), ("customer__label", "Acme"),
        ("placed_on", "2026/3/1"), ("due_at", "2026-03-01T09:30"), ("rush", "true"),
        ("status", ""), ("tags", "a"), ("tags", "c"), ("notes", "  "), ("discount", "7.5%"),
        ("meta", '{"x": [1]}'),
    ])  # fmt: skip
    assert sub.ok, (sub.errors, sub.forged)
    assert sub.version == 3
    values = sub.values
    assert values["customer"] == 7
    assert values["placed_on"] == "2026-03-01"
    assert values["due_at"] == "2026-03-01T09:30:00+00:00"  # typed in UTC (the default zone)
    assert values["rush"] is True
    assert values["status"] is None and values["notes"] is None
    assert values["tags"] == ["a", "c"]
    assert values["discount"] == "7.5"
    assert values["meta"] == {"x": [1]}
    assert sub.text("customer__label") == "Acme"


def test_submit_unchecked_boxes_are_false_and_unsent_fields_untouched(form: Form) -> None:
    sub = parse(form, [("customer", "1")])
    assert sub.values["rush"] is False and sub.values["tags"] == []
    assert "placed_on" not in sub.values and "notes" not in sub.values


def test_submit_lines_by_row_number_skipping_blank_rows(form: Form) -> None:
    sub = parse(form, [
        ("customer", "1"),
        ("lines-0-id", "11"), ("lines-0-product", "5"), ("lines-0-quantity", "2"),
        ("lines-0-unit_price", "1,000"),
        ("lines-4-id", ""), ("lines-4-product", ""), ("lines-4-quantity", ""),
        ("lines-4-unit_price", ""),
        ("lines-7-id", ""), ("lines-7-product", "6"), ("lines-7-quantity", "1.5"),
        ("lines-7-unit_price", ""),
    ])  # fmt: skip
    assert sub.ok
    assert sub.values["lines"] == [
        {"id": 11, "product": 5, "quantity": "2", "unit_price": "1000"},
        {"product": 6, "quantity": "1.5", "unit_price": None},
    ]
    assert sub.rows == {"lines": [0, 4, 7]}
    assert sub.kept == {"lines": [0, 7]}
    assert input_name(sub, "lines.1.quantity") == "lines-7-quantity"
    assert input_name(sub, "customer") == "customer"


def test_submit_no_rows_sent_clears_the_lines(form: Form) -> None:
    assert parse(form, [("customer", "1")]).values["lines"] == []


def test_submit_bad_input_gets_a_message_and_keeps_the_text(form: Form) -> None:
    sub = parse(form, [
        ("customer", ""), ("customer__label", "Acm"), ("placed_on", "soon"),
        ("discount", "ten"), ("meta", "{oops"), ("lines-2-product", "x"),
        ("lines-2-quantity", "lots"),
    ])  # fmt: skip
    assert not sub.ok
    assert sub.errors["customer"] == ["Choose a record from the suggestions."]
    assert sub.errors["placed_on"] == ["Enter a date as YYYY-MM-DD."]
    assert sub.errors["discount"] == ["Enter a number, e.g. 1234.56."]
    assert sub.errors["meta"][0].startswith("This is not valid JSON")
    assert sub.errors["lines-2-quantity"] == ["Enter a number, e.g. 1234.56."]
    assert sub.errors["lines-2-product"] == ["Choose a record from the suggestions."]
    assert "placed_on" not in sub.values and "discount" not in sub.values
    assert sub.text("placed_on") == "soon" and sub.text("lines-2-quantity") == "lots"


def test_submit_refuses_fields_the_form_does_not_offer(specs: AppSpecs) -> None:
    order = specs.entity("shop.order")
    form = resolve(default_form(order), order, specs, hidden=frozenset({"secret"}))
    sub = parse(form, [
        ("customer", "1"), ("secret", "x"), ("total", "5"), ("approved_at", "2026-01-01T00:00"),
        ("invented", "1"), ("lines-0-amount", "9"), ("_state", "approved"),
    ])  # fmt: skip
    assert sorted(sub.forged) == [
        "_state",
        "approved_at",
        "invented",
        "lines-0-amount",
        "secret",
        "total",
    ]
    assert not sub.ok


def test_submit_form_required_fields(specs: AppSpecs) -> None:
    from appblocks.forms.layout import find_form
    from tests.forms.conftest import SHOP

    order = specs.entity("shop.order")
    name, doc = find_form({"shop": SHOP}, order)
    form = resolve(doc, order, specs, name=name)
    sub = parse(form, [("customer", "1"), ("placed_on", "")])
    assert sub.errors == {"placed_on": ["This field is required."]}


def test_submit_engine_errors_land_at_their_inputs(form: Form) -> None:
    sub = parse(form, [
        ("customer", "1"), ("lines-3-product", "1"), ("lines-3-quantity", "-1"),
        ("lines-9-product", "2"), ("lines-9-quantity", "1"),
    ])  # fmt: skip
    errors = [
        FieldError("lines.1.quantity", "must be at least 0"),
        FieldError.of("required", "placed_on"),
        FieldError.of(
            "rule",
            "record",
            message="Not on Sundays",
            message_en="Not on Sundays",
            message_zh="周日不行",
        ),  # fmt: skip
        FieldError.of("required", "secret_hidden"),
    ]
    add_engine_errors(sub, form, errors, "zh-CN")
    assert sub.errors["lines-9-quantity"] == ["Must be at least 0."]
    assert sub.errors["placed_on"] == ["必填"]
    assert "周日不行" in sub.top
    assert any("必填" in m for m in sub.top)


def test_submit_a_coercion_message_is_not_doubled_by_the_engines(form: Form) -> None:
    sub = parse(form, [("customer", "1"), ("placed_on", "soon")])
    add_engine_errors(sub, form, [FieldError.of("required", "placed_on")], "en")
    assert sub.errors["placed_on"] == ["Enter a date as YYYY-MM-DD."]
