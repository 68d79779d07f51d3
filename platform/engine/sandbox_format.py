"""Text formatting inside expressions: str(), f-strings and %-formatting with sizes checked.

`format` and `%` take widths and precisions from the expression (`f'{x:>10000000000}'`), so
each is read and refused before Python allocates the text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import date
from datetime import time as dtime
from decimal import Decimal
from typing import Any

from appblocks.engine.sandbox_values import (
    MAX_INT_DIGITS,
    MAX_SIZE,
    RUN,
    SCALARS,
    ExpressionError,
    Record,
    kind_of,
    text_size,
    too_big,
)


def to_text(value: Any, conversion: Callable[[Any], str] = str) -> str:
    """`str(value)` (or repr/ascii), refused before rendering if it would be too long."""
    if type(value) is str and conversion is str:
        return value
    kind = type(value)
    if kind not in SCALARS:
        estimate = text_size(value, MAX_SIZE)
        if estimate > MAX_SIZE:
            raise too_big("a text", estimate)
    try:
        text = conversion(value)
    except ValueError as exc:  # e.g. an int past CPython's digit limit
        raise ExpressionError(f"cannot turn {kind_of(value)} into text: {exc}") from None
    if len(text) > MAX_SIZE:
        raise too_big("a text", len(text))
    RUN.get().charge(len(text))
    return text


# [[fill]align][sign][z][#][0][width][grouping][.precision][type]
_SPEC = re.compile(r"(?:.?[<>=^])?[+\- ]?z?#?0?(\d*)[_,]?(?:\.(\d+))?[a-zA-Z%]?", re.DOTALL)
_CONVERSIONS: dict[int, Callable[[Any], str]] = {115: str, 114: repr, 97: ascii}


def g_fmt(value: Any, conversion: int, spec: str) -> str:
    """One `{value!conv:spec}` of an f-string, with widths and precisions checked first."""
    if conversion in _CONVERSIONS:
        value = to_text(value, _CONVERSIONS[conversion])
    if spec == "":
        return to_text(value)
    if type(spec) is not str:
        raise ExpressionError("an f-string format must be text")
    if isinstance(value, (date, dtime)):
        if len(spec) > 1_000:
            raise too_big("a date format", len(spec), 1_000)
    else:
        match = _SPEC.fullmatch(spec)
        if match:
            width = int(match.group(1) or 0)
            precision = int(match.group(2) or 0)
            size = width + precision
            if type(value) is Decimal and value.is_finite():
                # 'f' writes every zero of 1E+999999 and of 1E-999999
                size += abs(value.adjusted()) + len(value.as_tuple().digits)
            if size > MAX_SIZE:
                raise too_big("a formatted text", size)
        elif type(value) not in SCALARS:
            raise ExpressionError(f"cannot format {kind_of(value)} with `{spec[:40]}`")
    try:
        text = format(value, spec)
    except (ValueError, TypeError) as exc:
        raise ExpressionError(
            f"cannot format {kind_of(value)} with `:{spec[:40]}`: {str(exc)[:200]}"
        ) from None
    if len(text) > MAX_SIZE:
        raise too_big("a text", len(text))
    RUN.get().charge(len(text))
    return text


def g_fstr(parts: tuple[str, ...]) -> str:
    """An f-string: the already formatted parts joined, refused if the whole is too long."""
    size = sum(len(p) for p in parts)
    if size > MAX_SIZE:
        raise too_big("a text", size)
    RUN.get().charge(size)
    return "".join(parts)


# %[(key)][flags][width][.precision][length]type
_PERCENT = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?(.)", re.DOTALL)


def percent_format(template: str, args: Any) -> str:
    """`template % args`, with widths, precisions and values checked before formatting."""
    size = len(template)
    for match in _PERCENT.finditer(template):
        width, precision, conversion = match.groups()
        if width == "*" or precision == "*":
            raise ExpressionError("`*` widths in %-formatting are not supported; use an f-string")
        size += int(width or 0) + int(precision or 0)
    if size > MAX_SIZE:
        raise too_big("a formatted text", size)
    values: Iterable[Any] = args if type(args) is tuple else (args,)
    if type(args) in (dict, Record):
        values = [args[k] for k in args]
    for value in values:
        # %d turns a Decimal into an int: int(Decimal('1E+999999')) takes many seconds.
        if type(value) is Decimal and value.is_finite() and value.adjusted() > MAX_INT_DIGITS:
            raise too_big("a number", value.adjusted(), MAX_INT_DIGITS, "digits")
        if type(value) not in SCALARS:
            estimate = text_size(value, MAX_SIZE)
            if estimate > MAX_SIZE:
                raise too_big("a text", estimate)
    try:
        text = template % args
    except (TypeError, ValueError, KeyError) as exc:
        raise ExpressionError(f"cannot %-format the text: {str(exc)[:200]}") from None
    if len(text) > MAX_SIZE:
        raise too_big("a text", len(text))
    RUN.get().charge(len(text))
    return text
