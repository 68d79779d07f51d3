"""The expression sandbox that formulas, rules, workflow guards and automation values run in.

Expressions (never statements) are compiled once with RestrictedPython plus our own guards and
cached by source; each evaluation gets a budget of time, iteration steps and memory, so that
`10**10**10`, `'a' * 10**10` or `[0] * 10**9` stop with a clear error and the server goes on.
Errors are `ExpressionError` values whose message an analyst can act on.

Limits (see `sandbox_values`): 0.5 s of wall time, 1,000,000 iteration steps and 1,000,000
created elements or characters per evaluation; 100,000 characters or elements in one text,
list or range; integers of 4,096 bits; 5,000 characters of source.

Variables are a record's fields: dicts (a line, a linked record, `user.attributes`) read as
records, `line.amount` or `line['amount']`. Helpers: abs, all, any, bool, int, float, str,
len, min, max, sum, round, sorted, range, list, set, Decimal, date, today, now, add_days,
days_between, coalesce, and `user`. sum, min and max skip empty values (None) as SQL does;
round rounds half away from zero as spreadsheets do; Decimal and float mix (the float is read
as the decimal it prints as).
"""

from __future__ import annotations

import builtins
import decimal
import difflib
import functools
import json
import math
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from datetime import time as dtime
from decimal import Decimal
from types import CodeType
from typing import Any
from uuid import UUID

from appblocks.engine.sandbox_builtins import BUILTIN_NAMES, SANDBOX_BUILTINS
from appblocks.engine.sandbox_compile import compile_source
from appblocks.engine.sandbox_values import (
    RUN,
    ExpressionError,
    LimitError,
    Run,
    UserContext,
    plain,
    wrap,
)

__all__ = [
    "CompiledExpression",
    "ExpressionError",
    "LimitError",
    "UserContext",
    "compile_expression",
    "eval_cli",
    "evaluate",
    "names_of",
]

CACHE_SIZE = 4_096
# Decimal arithmetic must not depend on whatever context the calling thread set: a precision
# of 10**6 would make `amount / 3` a memory bomb. 28 digits is Python's default, and money's.
DECIMAL_CONTEXT = decimal.Context(
    prec=28,
    rounding=decimal.ROUND_HALF_EVEN,
    Emax=999_999,
    Emin=-999_999,
    traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow],
)


class CompiledExpression:
    """An expression compiled once; `evaluate` runs it against a record's values."""

    __slots__ = ("source", "names", "_code", "_sites")

    def __init__(
        self,
        source: str,
        names: frozenset[str],
        code: CodeType,
        sites: tuple[tuple[str, ...], ...],
    ) -> None:
        self.source = source
        # Free names the expression reads (fields), without helpers and comprehension variables.
        self.names = names
        self._code = code
        self._sites = sites

    def __repr__(self) -> str:
        return f"CompiledExpression({self.source!r})"

    def evaluate(
        self,
        variables: Mapping[str, Any] | None = None,
        *,
        user: UserContext | None = None,
        today: date | None = None,
        now: datetime | None = None,
    ) -> Any:
        """The value of the expression for `variables`; raises ExpressionError."""
        if user is not None and not isinstance(user, UserContext):
            raise TypeError("user must be a UserContext")
        run = Run(self._sites, today, now)
        scope: dict[str, Any] = {"__builtins__": SANDBOX_BUILTINS}
        token = RUN.set(run)
        try:
            with decimal.localcontext(DECIMAL_CONTEXT):
                if variables:
                    for key, value in variables.items():
                        # `_` names are the guards' and system columns': no expression names them.
                        if type(key) is str and not key.startswith("_"):
                            scope[key] = wrap(value)
                if user is not None:
                    scope["user"] = user
                result = eval(self._code, scope)  # noqa: S307 - compiled by the sandbox policy
                if run.tripped is not None:
                    raise run.tripped
                return plain(result, run)
        except ExpressionError as exc:
            raise self._located(exc) from None
        except Exception as exc:
            raise self._located(_explain(exc, scope)) from None
        finally:
            RUN.reset(token)

    def _located(self, exc: ExpressionError) -> ExpressionError:
        if exc.source is None:
            exc.source = self.source
        return exc


def _explain(exc: Exception, scope: Mapping[str, Any]) -> ExpressionError:
    """An analyst's message for a Python error raised while evaluating."""
    if isinstance(exc, NameError):
        name = getattr(exc, "name", None) or "?"
        if name == "user":
            return ExpressionError("`user` is not available here: no signed-in user was given")
        if hasattr(builtins, name):
            return ExpressionError(f"`{name}` is not available in expressions")
        known = [k for k in scope if k != "__builtins__"] + sorted(BUILTIN_NAMES)
        close = difflib.get_close_matches(name, known, n=1)
        hint = f"; did you mean `{close[0]}`?" if close else ""
        return ExpressionError(f"name `{name}` is not defined{hint}")
    if isinstance(exc, ZeroDivisionError):
        return ExpressionError("division by zero")
    if isinstance(exc, (OverflowError, decimal.Overflow)):
        return ExpressionError("a number is too large (or a date out of range)")
    if isinstance(exc, decimal.InvalidOperation):
        return ExpressionError("invalid calculation with decimal numbers (for example 0/0)")
    if isinstance(exc, RecursionError):
        return ExpressionError("the expression is nested too deeply")
    if isinstance(exc, MemoryError):
        return LimitError("the expression used too much memory")
    message = str(exc)[:200]  # Python's own messages can quote a huge value
    if isinstance(exc, TypeError) and "NoneType" in message:
        if "not supported between" in message:
            return ExpressionError(
                "an empty value (None) cannot be compared; give it a default with "
                "coalesce(field, 0)"
            )
        return ExpressionError(f"an empty value (None) cannot be used here ({message})")
    return ExpressionError(f"cannot evaluate the expression: {message}")


@functools.lru_cache(maxsize=CACHE_SIZE)
def _compile_cached(source: str) -> CompiledExpression:
    compiled = compile_source(source, BUILTIN_NAMES)
    return CompiledExpression(source, compiled.names, compiled.code, compiled.sites)


def compile_expression(source: str) -> CompiledExpression:
    """Compile `source` once (cached by source); raises ExpressionError."""
    if not isinstance(source, str):
        raise ExpressionError("an expression must be text")
    return _compile_cached(source)


def evaluate(source: str, variables: Mapping[str, Any] | None = None, **kw: Any) -> Any:
    """Compile (cached) and evaluate `source`; keywords as for CompiledExpression.evaluate."""
    return compile_expression(source).evaluate(variables, **kw)


def names_of(source: str) -> frozenset[str]:
    """The free names (fields) that `source` reads; raises ExpressionError if it is invalid."""
    return compile_expression(source).names


def eval_cli(expr: str, vars_json: str | None) -> tuple[int, str]:
    """`appblocks eval EXPR --vars JSON`: (exit code, JSON result or error message)."""
    try:
        # Numbers with a fraction become Decimals: the CLI is for trying money formulas.
        variables = json.loads(vars_json, parse_float=Decimal) if vars_json else {}
    except json.JSONDecodeError as exc:
        return 2, f"--vars is not valid JSON: {exc}"
    if not isinstance(variables, dict):
        return 2, "--vars must be a JSON object, such as '{\"quantity\": 3}'"
    try:
        result = evaluate(expr, variables)
    except ExpressionError as exc:
        return 1, _pointed(exc)
    return 0, json.dumps(_jsonable(result), ensure_ascii=False)


def _pointed(exc: ExpressionError) -> str:
    """The message, and for a one-line source a caret under the position."""
    source, position = exc.source, exc.position
    if source is None or position is None or "\n" in source:
        return exc.message
    return f"{exc.message}\n  {source}\n  {' ' * position}^"


def _jsonable(value: Any) -> Any:
    """`value` made JSON-ready: exact Decimals as numbers, dates as ISO texts."""
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Decimal):
        if value.is_finite():
            if value == value.to_integral_value() and abs(value.adjusted()) < 300:
                return int(value)
            as_float = float(value)
            if Decimal(repr(as_float)) == value:
                return as_float
        return str(value)
    if isinstance(value, (date, datetime, dtime)):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (set, frozenset)):
        items = [_jsonable(v) for v in value]
        try:
            return sorted(items)
        except TypeError:
            return items
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return str(value)
