"""Field types: coercion from JSON and from text, JSON Schema, and their SQL types."""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Any

import jsonschema
import pytest
import sqlalchemy as sa

from appblocks.engine.fieldtypes import FieldValueError, registry
from appblocks.engine.spec import FieldSpec

CONTRACT_TYPES = (
    "text long_text integer decimal money percent boolean date datetime choice multi_choice "
    "email phone url link links lines autonumber lookup user file json"
).split()

RISK = {"options": ["low", {"value": "high", "label": {"en": "High", "zh-CN": "高"}}]}


def field(type_: str, **doc: Any) -> FieldSpec:
    return FieldSpec("f", type_, {"type": type_, **doc}, "app.entity")


def test_registry_covers_every_contract_type() -> None:
    assert set(CONTRACT_TYPES) <= set(registry.names())


def test_registry_refuses_a_second_type_of_the_same_name() -> None:
    with pytest.raises(ValueError, match="registered twice"):
        registry.register(type(registry.get("text")))


@pytest.mark.parametrize(
    ("type_", "doc", "value", "expected"),
    [
        ("text", {}, "  Acme  ", "Acme"),
        ("text", {}, "", None),
        ("integer", {}, 12, 12),
        ("integer", {}, "1,200", 1200),
        ("integer", {}, 3.0, 3),
        ("decimal", {"scale": 2}, "2.345", decimal.Decimal("2.34")),
        ("money", {}, 19.999, decimal.Decimal("20.00")),
        ("percent", {}, "95.5", decimal.Decimal("95.50")),
        ("boolean", {}, True, True),
        ("date", {}, "2026-03-01", dt.date(2026, 3, 1)),
        ("date", {}, "2026/03/01", dt.date(2026, 3, 1)),
        ("datetime", {}, "2026-03-01T08:00:00+08:00", dt.datetime(2026, 3, 1, 0, 0, tzinfo=dt.UTC)),
        ("datetime", {}, "2026-03-01T08:00", dt.datetime(2026, 3, 1, 8, 0, tzinfo=dt.UTC)),
        ("choice", RISK, "low", "low"),
        ("choice", RISK, "高", "high"),
        ("multi_choice", RISK, ["low", "high", "low"], ["low", "high"]),
        ("email", {}, "buyer@acme.example", "buyer@acme.example"),
        ("phone", {}, "+86 21 5555-0101", "+86 21 5555-0101"),
        ("url", {}, "https://acme.example/p", "https://acme.example/p"),
        ("link", {"to": "x"}, 7, 7),
        ("link", {"to": "x"}, "7", 7),
        ("links", {"to": "x"}, [3, "4", 3], [3, 4]),
        ("json", {}, {"a": [1, 2]}, {"a": [1, 2]}),
        ("user", {}, "alice", "alice"),
    ],
)
def test_from_json_coerces(type_: str, doc: dict[str, Any], value: Any, expected: Any) -> None:
    assert registry.get(type_).from_json(value, field(type_, **doc)) == expected


@pytest.mark.parametrize(
    ("type_", "doc", "value", "message"),
    [
        ("text", {"max_length": 3}, "abcd", "at most 3"),
        ("integer", {}, "1.5", "not a whole number"),
        ("integer", {}, True, "true/false"),
        ("integer", {"min": 1}, 0, "at least 1"),
        ("decimal", {"max": 10}, "11", "at most 10"),
        ("money", {}, "abc", "not a number"),
        ("money", {}, "NaN", "not a number"),
        ("money", {}, "1e30", "too large"),
        ("date", {}, "31/02/2026", "not a date"),
        ("date", {"min": "2026-01-01"}, "2025-12-31", "on or after"),
        ("datetime", {}, "yesterday", "not a date and time"),
        ("choice", RISK, "medium", "not one of the options"),
        ("email", {}, "not-an-email", "not a valid e-mail"),
        ("url", {}, "ftp://x", "not a valid web address"),
        ("link", {"to": "x"}, "abc", "not a record id"),
        ("link", {"to": "x"}, 0, "id of a record"),
        ("boolean", {}, "maybe", "true or false"),
    ],
)
def test_from_json_refuses_with_a_message(
    type_: str, doc: dict[str, Any], value: Any, message: str
) -> None:
    with pytest.raises(FieldValueError, match=message):
        registry.get(type_).from_json(value, field(type_, **doc))


@pytest.mark.parametrize(
    ("type_", "doc", "text", "expected"),
    [
        ("boolean", {}, "是", True),
        ("boolean", {}, "no", False),
        ("percent", {}, "12.5%", decimal.Decimal("12.50")),
        ("multi_choice", RISK, "low; high", ["low", "high"]),
        ("links", {"to": "x"}, "1;2", [1, 2]),
        ("json", {}, '{"k": 1}', {"k": 1}),
        ("integer", {}, "", None),
    ],
)
def test_from_text_coerces(type_: str, doc: dict[str, Any], text: str, expected: Any) -> None:
    assert registry.get(type_).from_text(text, field(type_, **doc)) == expected


@pytest.mark.parametrize(
    ("type_", "doc", "good", "bad"),
    [
        ("integer", {"min": 0}, 5, -1),
        ("choice", RISK, "low", "medium"),
        ("multi_choice", RISK, ["high"], ["nope"]),
        ("text", {"max_length": 2}, "ab", "abc"),
        ("boolean", {}, False, "no"),
    ],
)
def test_value_schema_matches_coercion(
    type_: str, doc: dict[str, Any], good: Any, bad: Any
) -> None:
    schema = registry.get(type_).value_schema(field(type_, **doc))
    jsonschema.validate(good, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)


@pytest.mark.parametrize(
    ("type_", "sql"),
    [
        ("text", sa.String),
        ("long_text", sa.Text),
        ("integer", sa.BigInteger),
        ("boolean", sa.Boolean),
        ("date", sa.Date),
        ("json", sa.JSON),
        ("multi_choice", sa.JSON),
    ],
)
def test_column_types(type_: str, sql: type) -> None:
    assert isinstance(registry.get(type_).column_type(field(type_, **RISK)), sql)


@pytest.mark.parametrize("type_", ["links", "lines"])
def test_relation_types_have_no_column_of_their_own(type_: str) -> None:
    assert registry.get(type_).has_column is False


def test_every_type_names_a_widget() -> None:
    for name in registry.names():
        assert registry.get(name).widget


@pytest.mark.parametrize("text", ["a\x00b", "\udbe5x"])
def test_text_that_no_database_can_store_is_refused(text: str) -> None:
    with pytest.raises(FieldValueError, match="cannot be stored"):
        registry.get("text").from_json(text, field("text"))
