"""The names an expression can call: safe builtins and analyst helpers, all sized and counted."""

from __future__ import annotations

import builtins
import math
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation
from typing import Any

from RestrictedPython.Guards import guarded_iter_unpack_sequence

from appblocks.engine import sandbox_access as access
from appblocks.engine import sandbox_format as fmt
from appblocks.engine import sandbox_guards as g
from appblocks.engine.sandbox_values import (
    MAX_INT_BITS,
    MAX_INT_DIGITS,
    MAX_ROUND_DIGITS,
    MAX_SIZE,
    RUN,
    ExpressionError,
    Record,
    kind_of,
    too_big,
)

_MISSING: Any = object()


def _values(iterable: Any) -> list[Any]:
    """The elements of `iterable`, counted, without empty values (as SQL aggregates do)."""
    return [v for v in g.g_iter(iterable) if v is not None]


def _field_key(key: Any, helper: str) -> Callable[[Any], Any] | None:
    if key is None:
        return None
    if type(key) is not str or len(key) > 100:
        raise ExpressionError(f"`{helper}(..., key=...)` takes a field name such as key='amount'")

    def by_field(item: Any) -> Any:
        if type(item) is Record or type(item) is dict:
            try:
                return item[key]
            except KeyError:
                raise ExpressionError(f"`{helper}`: a record has no field `{key}`") from None
        raise ExpressionError(f"`{helper}(..., key='{key}')` needs records, not {kind_of(item)}")

    return by_field


def _decimal_safe(items: list[Any]) -> list[Any]:
    # Money (Decimal) mixed with floats: the floats become Decimals rather than failing.
    if any(type(v) is Decimal for v in items) and any(type(v) is float for v in items):
        return [Decimal(repr(v)) if type(v) is float else v for v in items]
    return items


def sum_(iterable: Any, start: Any = 0) -> Any:
    """Sum of the values, skipping empty ones (None); Decimals and floats mix."""
    if type(start) not in (int, float, Decimal):
        raise ExpressionError("`sum` adds numbers; its start value must be a number")
    items = _values(iterable)
    try:
        return builtins.sum(items, start)
    except TypeError:
        pass  # mixed Decimal and float (rare): coerce, then try once more
    items = _decimal_safe([start, *items])
    try:
        return builtins.sum(items[1:], items[0])
    except TypeError:
        odd = next((v for v in items if type(v) not in (int, float, Decimal, bool)), None)
        raise ExpressionError(f"`sum` adds numbers, but one value is {kind_of(odd)}") from None


def _extreme(name: str, pick: Callable[..., Any], args: tuple[Any, ...], key: Any, default: Any):
    items = _values(args[0]) if len(args) == 1 else [a for a in args if a is not None]
    if not items:
        if default is _MISSING:
            raise ExpressionError(
                f"`{name}` got no values; give a default, e.g. {name}(..., default=0)"
            )
        return default
    by = _field_key(key, name)
    if by is not None:
        items = [item for item in items if by(item) is not None]
        if not items:
            return None if default is _MISSING else default
    try:
        return pick(items, key=by) if by else pick(items)
    except TypeError:
        pass
    try:
        return pick(_decimal_safe(items))
    except TypeError:
        raise ExpressionError(f"`{name}` cannot compare these values: {_kinds(items)}") from None


def _kinds(items: list[Any]) -> str:
    return ", ".join(sorted({kind_of(v) for v in items}))


def min_(*args: Any, key: Any = None, default: Any = _MISSING) -> Any:
    """The smallest value, skipping empty ones; key='field' compares records by a field."""
    if not args:
        raise ExpressionError("`min` needs values")
    return _extreme("min", builtins.min, args, key, default)


def max_(*args: Any, key: Any = None, default: Any = _MISSING) -> Any:
    """The largest value, skipping empty ones; key='field' compares records by a field."""
    if not args:
        raise ExpressionError("`max` needs values")
    return _extreme("max", builtins.max, args, key, default)


def sorted_(iterable: Any, key: Any = None, reverse: bool = False) -> list[Any]:
    """A sorted list; empty values (None) sort last; key='field' sorts records by a field."""
    items = list(g.g_iter(iterable))
    RUN.get().charge(len(items))
    by = _field_key(key, "sorted")

    def none_last(item: Any) -> tuple[bool, Any]:
        value = by(item) if by else item
        return (value is None, value) if not reverse else (value is not None, value)

    try:
        return builtins.sorted(items, key=none_last, reverse=bool(reverse))
    except TypeError:
        raise ExpressionError(f"`sorted` cannot compare these values: {_kinds(items)}") from None


def any_(iterable: Any) -> bool:
    """True if any value is true."""
    return builtins.any(g.g_iter(iterable))


def all_(iterable: Any) -> bool:
    """True if every value is true."""
    return builtins.all(g.g_iter(iterable))


def list_(iterable: Any = ()) -> list[Any]:
    """A list of the values."""
    items = list(g.g_iter(iterable))
    RUN.get().charge_size(items)
    return items


def set_(iterable: Any = ()) -> set[Any]:
    """A set of the values (duplicates removed)."""
    items = list(g.g_iter(iterable))
    RUN.get().charge_size(items)
    try:
        return set(items)
    except TypeError:
        raise ExpressionError("`set` takes simple values (numbers, texts, dates)") from None


def range_(*args: Any) -> range:
    """`range(...)` of at most MAX_SIZE numbers."""
    if not 1 <= len(args) <= 3 or any(type(a) not in (int, bool) for a in args):
        raise ExpressionError("`range` takes one to three whole numbers")
    result = range(*args)
    if len(result) > MAX_SIZE:
        raise too_big("a range", len(result), unit="numbers")
    return result


def int_(value: Any = 0, base: Any = _MISSING) -> int:
    """A whole number from a number or a text."""
    if type(value) is Decimal and value.is_finite() and value.adjusted() > MAX_INT_DIGITS:
        # int(Decimal('1E+999999')) alone takes over twenty seconds.
        raise too_big("a number", value.adjusted(), MAX_INT_DIGITS, "digits")
    if type(value) is str and len(value) > MAX_INT_DIGITS + 100:
        raise too_big("a number", len(value), MAX_INT_DIGITS, "digits")
    try:
        result = int(value) if base is _MISSING else int(value, base)
    except (ValueError, TypeError):
        raise ExpressionError(f"cannot turn {_show(value)} into a whole number") from None
    if result.bit_length() > MAX_INT_BITS:
        raise too_big("a number", result.bit_length(), MAX_INT_BITS, "bits")
    return result


def float_(value: Any = 0.0) -> float:
    """A number with decimals (binary float) from a number or a text."""
    try:
        return float(value)
    except (ValueError, TypeError):
        raise ExpressionError(f"cannot turn {_show(value)} into a number") from None


def decimal_(value: Any = "0") -> Decimal:
    """An exact decimal number (money) from a number or a text; floats via their short form."""
    if type(value) is float:
        value = repr(value)
    if type(value) is str and len(value) > 1_000:
        raise too_big("a number", len(value), 1_000, "characters")
    if type(value) not in (str, int, Decimal, bool):
        raise ExpressionError(f"cannot turn {kind_of(value)} into a decimal number")
    try:
        return Decimal(value.strip() if type(value) is str else value)
    except InvalidOperation:
        raise ExpressionError(f"cannot turn {_show(value)} into a decimal number") from None


def str_(value: Any = "") -> str:
    """The value as text."""
    return fmt.to_text(value)


def _show(value: Any) -> str:
    if type(value) is str:
        return repr(value[:40] + ("..." if len(value) > 40 else ""))
    return kind_of(value)


def round_(value: Any, ndigits: Any = None) -> Any:
    """Round half away from zero (as spreadsheets do) to `ndigits` decimals (default 0)."""
    if ndigits is not None and (type(ndigits) is not int or abs(ndigits) > MAX_ROUND_DIGITS):
        raise ExpressionError(
            f"`round` takes a whole number of digits between -{MAX_ROUND_DIGITS} "
            f"and {MAX_ROUND_DIGITS}"
        )
    kind = type(value)
    if kind not in (int, float, Decimal, bool):
        raise ExpressionError(f"`round` needs a number, not {kind_of(value)}")
    if (kind is float and not math.isfinite(value)) or (kind is Decimal and not value.is_finite()):
        if ndigits is not None:
            return value
        raise ExpressionError("cannot round an infinite or undefined number to a whole number")
    exact = Decimal(repr(value)) if kind is float else Decimal(value)
    if exact.adjusted() > MAX_INT_DIGITS:
        raise too_big("a number", exact.adjusted(), MAX_INT_DIGITS, "digits")
    digits = 0 if ndigits is None else ndigits
    # Enough precision for the integer part and the kept decimals: quantize must not overflow.
    context = Context(prec=max(28, exact.adjusted() + max(digits, 0) + 2))
    rounded = exact.quantize(Decimal((0, (1,), -digits)), rounding=ROUND_HALF_UP, context=context)
    if ndigits is None or kind in (int, bool):
        return int(rounded)
    return float(rounded) if kind is float else rounded


def coalesce(*values: Any) -> Any:
    """The first value that is not empty (None), or None."""
    for value in values:
        if value is not None:
            return value
    return None


def today() -> date:
    """Today's date (UTC, or the date the caller fixed)."""
    run = RUN.get()
    if run.today is not None:
        return run.today
    return (run.now or datetime.now(UTC)).date()


def now() -> datetime:
    """The current date and time, timezone-aware UTC (or the time the caller fixed)."""
    run = RUN.get()
    return run.now if run.now is not None else datetime.now(UTC)


def _as_date(value: Any, helper: str) -> date:
    if type(value) is datetime:
        return value.date()
    if type(value) is date:
        return value
    if type(value) is str:
        try:
            return datetime.fromisoformat(value.strip()).date()
        except ValueError:
            pass
    raise ExpressionError(
        f"`{helper}` needs a date (or a text like '2024-12-31'), not {_show(value)}"
    )


def date_(year: Any, month: Any = None, day: Any = None) -> date:
    """A date from year, month, day, or from a text like '2024-12-31'."""
    if month is None and day is None:
        return _as_date(year, "date")
    try:
        return date(year, month, day)
    except (TypeError, ValueError) as exc:
        raise ExpressionError(f"`date` needs a year, a month and a day: {exc}") from None


def add_days(value: Any, days: Any) -> Any:
    """The date (or date and time) `days` days later; negative days go back."""
    if value is None:
        raise ExpressionError("`add_days` got an empty date (None)")
    if type(value) not in (date, datetime):
        value = _as_date(value, "add_days")
    if type(days) not in (int, float, Decimal, bool):
        raise ExpressionError(f"`add_days` needs a number of days, not {kind_of(days)}")
    try:
        return value + timedelta(days=float(days) if type(days) is Decimal else days)
    except OverflowError:
        raise ExpressionError("`add_days` goes past the last (or first) possible date") from None


def days_between(start: Any, end: Any) -> int:
    """Calendar days from `start` to `end` (end - start); accepts dates, datetimes, ISO texts."""
    if start is None or end is None:
        raise ExpressionError("`days_between` got an empty date (None)")
    return (_as_date(end, "days_between") - _as_date(start, "days_between")).days


HELPERS: dict[str, Any] = {
    "abs": abs,
    "all": all_,
    "any": any_,
    "bool": bool,
    "int": int_,
    "float": float_,
    "str": str_,
    "len": len,
    "min": min_,
    "max": max_,
    "sum": sum_,
    "round": round_,
    "sorted": sorted_,
    "range": range_,
    "list": list_,
    "set": set_,
    "Decimal": decimal_,
    "date": date_,
    "today": today,
    "now": now,
    "add_days": add_days,
    "days_between": days_between,
    "coalesce": coalesce,
}

# The hooks the compiled code calls (see sandbox_compile); no expression can name them.
GUARDS: dict[str, Any] = {
    "_getattr_": access.g_getattr,
    "_getitem_": access.g_getitem,
    "_getiter_": g.g_iter,
    "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
    "_add_": g.g_add,
    "_sub_": g.g_sub,
    "_mul_": g.g_mul,
    "_truediv_": g.g_truediv,
    "_floordiv_": g.g_floordiv,
    "_mod_": g.g_mod,
    "_pow_": g.g_pow,
    "_lshift_": g.g_lshift,
    "_or_": g.g_or,
    "_xor_": g.g_xor,
    "_cmp_": g.g_cmp,
    "_elt_": g.g_elt,
    "_lit_": g.g_lit,
    "_set_": g.g_set,
    "_dict_": g.g_dict,
    "_fmt_": fmt.g_fmt,
    "_fstr_": fmt.g_fstr,
}

# `user` is bound per evaluation; it is listed so that `names` does not report it as a field.
BUILTIN_NAMES: frozenset[str] = frozenset(HELPERS) | {"user"}
# Shared by every evaluation: the compiled code only reads it, and nothing hands it out.
SANDBOX_BUILTINS: dict[str, Any] = {**HELPERS, **GUARDS}
