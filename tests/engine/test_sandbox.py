"""The expression sandbox: results, helpers, errors as messages, resource bombs, escapes."""

from __future__ import annotations

import decimal
import json
import os
import sys
import threading
import time
import types
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import IntEnum, StrEnum
from typing import Any

import pytest

from appblocks.engine.sandbox import (
    CompiledExpression,
    ExpressionError,
    LimitError,
    UserContext,
    compile_expression,
    eval_cli,
    evaluate,
    names_of,
)

from .sandbox_escapes import ESCAPES

D = Decimal
LINES = [
    {"item": "bolt", "quantity": 4, "unit_price": D("2.50"), "discount": None},
    {"item": "nut", "quantity": 10, "unit_price": D("0.15"), "discount": D("0.10")},
    {"item": "gear", "quantity": 1, "unit_price": D("19.99"), "discount": None},
]
ORDER = {
    "quantity": 3,
    "unit_price": D("9.99"),
    "amount": D("100.00"),
    "empty": None,
    "status": "approved",
    "due": date(2024, 3, 1),
    "lines": LINES,
    "supplier": {"name": "ACME", "country": {"code": "DE"}},
}
BUYER = UserContext("ann", frozenset({"buyer", "approver"}), {"region": "EU", "limit": D("5000")})


def run(source: str, **variables: Any) -> Any:
    return evaluate(source, {**ORDER, **variables}, user=BUYER, today=date(2024, 2, 15))


# --- compiling -------------------------------------------------------------------------------


def test_compile_expression_caches_by_source() -> None:
    first = compile_expression("quantity * unit_price")
    assert compile_expression("quantity * unit_price") is first
    assert isinstance(first, CompiledExpression)


@pytest.mark.parametrize(
    ("source", "names"),
    [
        ("quantity * unit_price", {"quantity", "unit_price"}),
        ("sum(l.amount for l in lines) + tax", {"lines", "tax"}),
        ("[x for x in x]", {"x"}),
        ("{k: v for k, v in pairs.items() if v > limit}", {"pairs", "limit"}),
        ("user.name == owner and today() > due", {"owner", "due"}),
        ("f'{total:.2f} {currency}'", {"total", "currency"}),
        ("coalesce(discount, 0) * round(price, 2)", {"discount", "price"}),
        ("date > today() and date(2024, 1, 1) < due", {"date", "due"}),
        ("[1 for _ in range(count)]", {"count"}),
    ],
)
def test_names_of_reports_free_fields(source: str, names: set[str]) -> None:
    assert names_of(source) == frozenset(names)


@pytest.mark.parametrize(
    ("source", "message", "position"),
    [
        ("a +* b", "syntax error", 3),
        ("x = 1", "assignments (`=`) are not allowed", 0),
        ("import os", "`import` is not allowed", 0),
        ("for x in y: pass", "not a statement (`for`)", 0),
        ("amount.__class__", "attributes starting with `_`", 0),
        ("a + _hidden", "names starting with `_`", 4),
        ("eval('1')", "`eval` is not available", 0),
        ("lambda: 1", "`lambda`", 0),
        ("(y := 2)", "`:=`", 1),
        ("2j * amount", "complex numbers", 0),
        ("1) + (2", "unbalanced parentheses", None),
        ("", "empty", None),
        ("1 + " * 2_000 + "1", "too long", None),
    ],
)
def test_compile_expression_refuses_with_message(
    source: str, message: str, position: int | None
) -> None:
    with pytest.raises(ExpressionError) as caught:
        compile_expression(source)
    assert message in caught.value.message
    assert caught.value.source == source
    if position is not None:
        assert caught.value.position == position


def test_compile_expression_accepts_several_lines() -> None:
    assert run("quantity\n  * unit_price  # a comment") == D("29.97")


# --- evaluating ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("quantity * unit_price", D("29.97")),
        ("amount * 0.19", D("19.0000")),
        ("amount + 0.5 - 0.25", D("100.25")),
        ("amount / 3", D("33.33333333333333333333333333")),
        ("round(amount / 3, 2)", D("33.33")),
        ("amount // 7, amount % 7", (D("14"), D("2.00"))),
        ("amount > 99.99 and amount <= 100", True),
        ("-amount", D("-100.00")),
        ("abs(-amount)", D("100.00")),
        ("2 ** 10", 1024),
        ("10 ** 100 > 10 ** 99", True),
        ("Decimal('0.1') + Decimal('0.2')", D("0.3")),
        ("round(2.675, 2)", 2.68),
        ("round(D('2.5')) if False else round(Decimal('2.5'))", 3),
        ("round(-2.5)", -3),
        ("int('42') + float('0.5')", 42.5),
        ("str(quantity) + ' pcs'", "3 pcs"),
        ("status == 'approved' and status in ('approved', 'closed')", True),
        ("'high' if amount > 50 else 'low'", "high"),
    ],
)
def test_evaluate_computes_with_decimals(source: str, expected: Any) -> None:
    result = run(source)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("sum(l.quantity * l.unit_price for l in lines)", D("31.49")),
        ("sum(l['quantity'] for l in lines)", 15),
        ("len([l for l in lines if l.quantity > 2])", 2),
        ("max(l.unit_price for l in lines)", D("19.99")),
        ("min(lines, key='unit_price').item", "nut"),
        ("[l.item for l in sorted(lines, key='quantity', reverse=True)]", ["nut", "bolt", "gear"]),
        ("sum(l.discount for l in lines)", D("0.10")),
        ("sum(coalesce(l.discount, 0) * l.quantity for l in lines)", D("1.00")),
        ("{l.item: l.quantity for l in lines if l.quantity < 5}", {"bolt": 4, "gear": 1}),
        ("sorted({l.item[0] for l in lines})", ["b", "g", "n"]),
        ("any(l.quantity > 5 for l in lines) and not all(l.discount for l in lines)", True),
        ("lines[0]", LINES[0]),
        ("lines[-1].item", "gear"),
        ("supplier.country.code + '/' + supplier['name']", "DE/ACME"),
        ("[(i, l.item) for i, l in [(1, lines[0])]]", [(1, "bolt")]),
        ("list(range(3)) + [3]", [0, 1, 2, 3]),
        ("', '.join(l.item.upper() for l in lines)", "BOLT, NUT, GEAR"),
        ("f'{amount:,.2f} EUR for {len(lines)} lines'", "100.00 EUR for 3 lines"),
        ("'%s-%05d' % (status[:3].upper(), quantity)", "APP-00003"),
    ],
)
def test_evaluate_reads_lines_and_links(source: str, expected: Any) -> None:
    assert run(source) == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("today()", date(2024, 2, 15)),
        ("add_days(due, 30)", date(2024, 3, 31)),
        ("add_days('2024-01-31', -1)", date(2024, 1, 30)),
        ("days_between(today(), due)", 15),
        ("days_between('2024-01-01', '2024-12-31T23:00:00')", 365),
        ("date(2024, 2, 29).weekday()", 3),
        ("date('2024-05-01').year", 2024),
        ("coalesce(empty, None, 'fallback')", "fallback"),
        ("coalesce(empty)", None),
        ("min(3, empty, 1)", 1),
        ("max([], default=0)", 0),
        ("sorted([3, None, 1])", [1, 3, None]),
        ("bool(''), bool('x')", (False, True)),
        ("len('abc') + len([1, 2])", 5),
        ("sum([0.5, Decimal('0.25')])", D("0.75")),
        ("set([1, 1, 2]) == {1, 2}", True),
    ],
)
def test_helpers_work_as_documented(source: str, expected: Any) -> None:
    assert run(source) == expected


def test_decimal_context_of_the_caller_does_not_leak_in() -> None:
    with decimal.localcontext(decimal.Context(prec=5, traps=[])):
        assert evaluate("Decimal(1) / 3", {}) == D("0.3333333333333333333333333333")
        with pytest.raises(ExpressionError, match="division by zero"):
            evaluate("Decimal(1) / 0", {})


def test_now_is_timezone_aware_utc() -> None:
    result = run("now()")
    assert result.tzinfo is not None and result.utcoffset() == timedelta(0)
    fixed = datetime(2024, 1, 1, 12, tzinfo=UTC)
    assert evaluate("now()", {}, now=fixed) == fixed
    assert evaluate("today()", {}, now=fixed) == date(2024, 1, 1)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("user.name", "ann"),
        ("'buyer' in user.roles", True),
        ("'admin' in user.roles", False),
        ("user.attributes.region == 'EU' and user.attributes['limit'] >= amount", True),
        ("sorted(user.roles)", ["approver", "buyer"]),
    ],
)
def test_user_context_is_readable(source: str, expected: Any) -> None:
    assert run(source) == expected


def test_user_is_missing_without_a_user() -> None:
    with pytest.raises(ExpressionError, match="no signed-in user"):
        evaluate("user.name", {})


class _Status(StrEnum):
    APPROVED = "approved"


class _Priority(IntEnum):
    HIGH = 3


def test_evaluate_reads_enums_as_plain_values_and_hides_objects() -> None:
    values = {"status": _Status.APPROVED, "priority": _Priority.HIGH, "doc": object()}
    assert evaluate("status == 'approved' and priority > 2", values) is True
    assert type(evaluate("status", values)) is str
    with pytest.raises(ExpressionError, match="is an object and has no `x`"):
        evaluate("doc.x", values)


def test_evaluate_skips_underscore_variables() -> None:
    # System columns (`_version`) are not names an expression can read, so not guards either.
    assert evaluate("x", {"x": 1, "_getattr_": None, "_version": 3}) == 1
    assert evaluate("r['_version']", {"r": {"_version": 3}}) == 3


def test_evaluate_returns_plain_python() -> None:
    result = run("[l for l in lines if l.quantity == 1] + [supplier]")
    assert result == [LINES[2], ORDER["supplier"]]
    assert all(type(r) is dict for r in result)
    assert type(result[1]["country"]) is dict


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("amount / (quantity - 3)", "division by zero in `amount / (quantity - 3)`"),
        ("amount % 0", "division by zero in `amount % 0`"),
        ("empty * 2", "`empty` is empty (None) and cannot be multiplied"),
        ("1 + empty", "`empty` is empty (None) and cannot be added"),
        ("status - 1", "cannot subtract a text and a number in `status - 1`"),
        ("foo + 1", "name `foo` is not defined"),
        ("amout * 2", "did you mean `amount`?"),
        ("supplier.nme", "`supplier` has no field `nme`; did you mean `name`?"),
        ("lines[7]", "position 7 is outside `lines` (3 items)"),
        ("empty.name", "`empty` is empty (None) and has no field `name`"),
        ("empty > 3", "an empty value (None) cannot be compared"),
        ("status.format(1)", "use an f-string"),
        ("quantity.real", "`quantity` is a number and has no `real`"),
        ("int('abc')", "cannot turn 'abc' into a whole number"),
        ("max([])", "give a default"),
        ("sum(['a'])", "`sum` adds numbers, but one value is a text"),
        ("date(2024, 2, 30)", "`date` needs a year, a month and a day"),
        ("open('x')", "`open` is not available in expressions"),
        ("sum", "not a value"),
    ],
)
def test_errors_are_messages_for_analysts(source: str, message: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        run(source)
    assert message in str(caught.value)
    assert caught.value.source == source


# --- resource bombs --------------------------------------------------------------------------


def _fan_out(levels: int, width: int) -> str:
    """`[n6 for n0 in [[0]] for n1 in [[n0, n0, ...]] ...]`: width**levels elements, shared."""
    clauses = " ".join(
        f"for n{i} in [[{', '.join([f'n{i - 1}'] * width)}]]" for i in range(1, levels + 1)
    )
    return f"[n{levels} for n0 in [[0]] {clauses}]"


# Under the step limit (900,000 steps) but each step does 24 guarded multiplications: seconds.
SLOW = f"sum(1 for x in range(100000) for y in range(9) if {'*'.join(['x'] * 24)} > -1)"

BOMBS = [
    ("10**10**10", "too much memory"),
    ("'a' * 10**10", "too much memory"),
    ("[0] * 10**9", "too much memory"),
    ("sum(range(10**12))", "too much memory"),
    ("max(iter(int, 1))", "not available"),
    ("2 << 10**9", "too much memory"),
    ("(10**4000) * (10**4000)", "too much memory"),
    ("'a'.ljust(10**10)", "too much memory"),
    ("'a'.center(10**10)", "too much memory"),
    ("'1'.zfill(10**10)", "too much memory"),
    ("'\\t'.expandtabs(10**9)", "too much memory"),
    ("('a' * 100000).replace('a', 'a' * 100000)", "too much memory"),
    ("''.join('a' * 100000 for x in range(100000))", "too much memory"),
    ("f'{1:>10000000000}'", "too much memory"),
    ("f'{1.0:.10000000000f}'", "too much memory"),
    ("f\"{Decimal('1e999999'):f}\"", "too much memory"),
    ("'%.100000000f' % 1.0", "too much memory"),
    ("'%*d' % (10**9, 1)", "not supported"),
    ("'%d' % Decimal('1e999999')", "too much memory"),
    ("int(Decimal(10) ** 999999)", "too much memory"),
    ("round(10**100, -10**9)", "digits between"),
    ("[x for x in range(100000) for y in range(100000)]", "too many steps"),
    ("sum(1 for x in range(100000) for y in range(100000))", "too many steps"),
    ("max(x for x in range(100000) for y in range(100000))", "too many steps"),
    ("[[0] * 100000 for x in range(100000)]", "too much memory"),
    ("str([[0] * 1000] * 1000)", "too much memory"),
    ("str([['a' * 100000] * 1000])", "too much memory"),
    ("[('a' * 100000).count('b') for i in range(100000)]", "too many steps"),
    ("[0 in y for y in [list(range(100000))] for i in range(100000)]", "too many steps"),
    ("[d for d in [{'a': 'x' * 99999}] for i in range(100000)]", "too large to return"),
    (_fan_out(levels=6, width=10), "too much memory"),
    ("{(a, a) for a in [(i, i, i, i, i, i, i, i) for i in range(100000)]}", "too much memory"),
    (SLOW, "took too long"),
]


@pytest.mark.parametrize(("source", "message"), BOMBS)
def test_bomb_stops_within_a_second(source: str, message: str) -> None:
    start = time.monotonic()
    with pytest.raises(ExpressionError) as caught:
        evaluate(source, {})
    elapsed = time.monotonic() - start
    assert elapsed < 1.0, f"{source} took {elapsed:.2f} s"
    assert message in str(caught.value)
    assert evaluate("quantity * unit_price", ORDER) == D("29.97")  # the next one still works


def test_limits_are_limit_errors() -> None:
    with pytest.raises(LimitError):
        evaluate("'a' * 10**10", {})


def test_bomb_in_a_worker_thread_stops_and_others_keep_serving() -> None:
    # No signals: a web server evaluates in worker threads, where signal.alarm cannot be used.
    errors: list[BaseException] = []

    def bomb() -> None:
        try:
            evaluate(SLOW, {})
        except ExpressionError as exc:
            errors.append(exc)

    worker = threading.Thread(target=bomb)
    worker.start()
    for _ in range(100):
        assert evaluate("quantity * unit_price", ORDER) == D("29.97")
    worker.join(timeout=5)
    assert not worker.is_alive()
    assert len(errors) == 1 and isinstance(errors[0], LimitError)


# --- escapes ---------------------------------------------------------------------------------

CALLED: list[str] = []


class _Doc:
    """A Frappe-style document: data plus methods that must never run."""

    name = "PO-1"

    def get_doc(self, *args: Any) -> Any:
        CALLED.append("get_doc")
        return os

    def save(self) -> None:
        CALLED.append("save")


def _fn(*args: Any) -> Any:
    CALLED.append("fn")
    return os


HOSTILE = {
    "doc": _Doc(),
    "fn": _fn,
    "frappe": types.SimpleNamespace(
        os=os, sys=sys, get_doc=_fn, utils=types.SimpleNamespace(os=os)
    ),
    "string": __import__("string"),
    "operator": __import__("operator"),
    "x": 1,
    "lines": LINES,
}


def test_escape_corpus_is_large_enough() -> None:
    assert len(ESCAPES) >= 40
    assert len({name for name, _ in ESCAPES}) == len(ESCAPES)


@pytest.mark.parametrize(("name", "source"), ESCAPES, ids=[n for n, _ in ESCAPES])
def test_escape_is_refused(name: str, source: str) -> None:
    CALLED.clear()
    try:
        result = evaluate(source, HOSTILE, user=BUYER)
    except ExpressionError as exc:
        assert exc.message  # a message, not a traceback
    else:
        pytest.fail(f"{name}: returned {type(result).__name__} {result!r:.80}")
    assert CALLED == []


# --- the command line ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "vars_json", "code", "output"),
    [
        ("quantity * unit_price", '{"quantity": 3, "unit_price": 9.99}', 0, "29.97"),
        ("[l.qty for l in lines]", '{"lines": [{"qty": 1}, {"qty": 2.5}]}', 0, "[1, 2.5]"),
        ("add_days('2024-01-31', 1)", None, 0, '"2024-02-01"'),
        ("Decimal('1.000000000000000000001')", None, 0, '"1.000000000000000000001"'),
        ("{'a': None, 'b': True}", None, 0, '{"a": null, "b": true}'),
        ("a / b", '{"a": 1, "b": 0}', 1, "division by zero in `a / b`"),
        ("a +* b", None, 1, "syntax error: invalid syntax\n  a +* b\n     ^"),
        ("1", "{not json", 2, "--vars is not valid JSON"),
        ("1", "[1]", 2, "--vars must be a JSON object"),
    ],
)
def test_eval_cli_prints_json_or_message(
    expr: str, vars_json: str | None, code: int, output: str
) -> None:
    got_code, got = eval_cli(expr, vars_json)
    assert got_code == code
    assert got.startswith(output) if code else got == output
    if code == 0:
        json.loads(got)
