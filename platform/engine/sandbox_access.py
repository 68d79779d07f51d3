"""Attribute and item access inside expressions: record fields and an allow-list of methods.

Records answer `r.field` and `r['field']`. Plain values (texts, lists, dates, decimals) expose
only the methods listed in `_ALLOWED`; the ones that can make large results are wrapped so the
size is checked before the text or list exists. Everything else has no attributes at all.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from datetime import date, datetime, timedelta
from datetime import time as dtime
from decimal import Decimal
from typing import Any

from appblocks.engine.sandbox_guards import g_iter
from appblocks.engine.sandbox_values import (
    CONTAINERS,
    MAX_SIZE,
    RUN,
    SCALARS,
    ExpressionError,
    Record,
    UserContext,
    kind_of,
    short,
    too_big,
    wrap,
)

_NONE = object()


def _site(site: int, part: int) -> str:
    return RUN.get().site(site, part)


_STR_READ = frozenset(
    "count endswith find index isalnum isalpha isascii isdecimal isdigit isidentifier islower "
    "isnumeric isprintable isspace istitle isupper rfind rindex startswith".split()
)
_STR_MAKE = frozenset(
    "capitalize casefold lower lstrip partition removeprefix removesuffix rpartition rsplit "
    "rstrip split splitlines strip swapcase title upper".split()
)
_DATE = frozenset("year month day weekday isoweekday isoformat toordinal replace".split())
_TIME = frozenset("hour minute second microsecond".split())
_ALLOWED: dict[type, frozenset[str]] = {
    str: _STR_READ
    | _STR_MAKE
    | {"center", "ljust", "rjust", "zfill", "expandtabs", "replace"}
    | {"join"},
    list: frozenset({"count", "index"}),
    tuple: frozenset({"count", "index"}),
    dict: frozenset({"get", "keys", "values", "items"}),
    set: frozenset(
        "union intersection difference symmetric_difference issubset issuperset isdisjoint".split()
    ),
    date: _DATE | {"strftime"},
    datetime: _DATE | _TIME | {"strftime", "date", "time", "timestamp"},
    dtime: _TIME | {"isoformat", "strftime"},
    timedelta: frozenset({"days", "seconds", "microseconds", "total_seconds"}),
    Decimal: frozenset({"quantize", "normalize", "is_signed", "is_zero", "copy_abs", "adjusted"}),
    float: frozenset({"is_integer"}),
    UserContext: frozenset({"name", "roles", "attributes"}),
}
_ALLOWED[frozenset] = _ALLOWED[set]


def _made(result: Any) -> Any:
    kind = type(result)
    if kind is str or kind is list or kind is tuple or kind is set or kind is frozenset:
        RUN.get().charge(len(result))
    return result


def _checked(method: Callable[..., Any]) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        return _made(method(*args, **kwargs))

    return call


def _width(method: Callable[..., Any]) -> Callable[..., Any]:
    def call(width: Any, *args: Any) -> Any:
        if type(width) is int and width > MAX_SIZE:
            raise too_big("a text", width)
        return _made(method(width, *args))

    return call


def _replace(text: str) -> Callable[..., Any]:
    def call(old: Any, new: Any, count: Any = -1) -> Any:
        if type(old) is str and type(new) is str and type(count) is int:
            hits = text.count(old) if old else len(text) + 1
            if count >= 0:
                hits = min(hits, count)
            size = len(text) + hits * (len(new) - len(old))
            if size > MAX_SIZE:
                raise too_big("a text", size)
        return _made(text.replace(old, new, count))

    return call


def _expandtabs(text: str) -> Callable[..., Any]:
    def call(tabsize: Any = 8) -> Any:
        if type(tabsize) is int:
            size = len(text) + text.count("\t") * max(tabsize, 0)
            if size > MAX_SIZE:
                raise too_big("a text", size)
        return _made(text.expandtabs(tabsize))

    return call


def _join(sep: str) -> Callable[..., Any]:
    def call(iterable: Any) -> Any:
        items = list(g_iter(iterable))
        odd = next((item for item in items if type(item) is not str), _NONE)
        if odd is not _NONE:
            raise ExpressionError(f"`join` needs texts, not {kind_of(odd)}; use str(...)")
        size = len(sep) * max(len(items) - 1, 0)
        size += sum(len(s) for s in items if type(s) is str)
        if size > MAX_SIZE:
            raise too_big("a text", size)
        return _made(sep.join(items))

    return call


def _strftime(method: Callable[..., Any]) -> Callable[..., Any]:
    def call(fmt: Any) -> Any:
        if type(fmt) is str and len(fmt) > 1_000:
            raise too_big("a date format", len(fmt), 1_000)
        return _made(method(fmt))

    return call


def _attr_error(obj: Any, name: str, site: int) -> ExpressionError:
    where = _site(site, 0)
    if obj is None:
        return ExpressionError(f"`{where}` is empty (None) and has no field `{name}`")
    if type(obj) is str and name in ("format", "format_map"):
        return ExpressionError(
            "`str.format` is not available in expressions; use an f-string such as f'{amount} EUR'"
        )
    return ExpressionError(f"`{where}` is {kind_of(obj)} and has no `{name}` usable in expressions")


def g_getattr(obj: Any, name: str, site: int = -1) -> Any:
    """`obj.name`: fields of records and an allow-list of methods of plain types."""
    kind = type(obj)
    if kind is Record:
        try:
            value = obj._data[name]
        except KeyError:
            raise _missing_field(obj, name, site) from None
        return value if type(value) in SCALARS else wrap(value)
    allowed = _ALLOWED.get(kind)
    if allowed is None or name not in allowed or name.startswith("_"):
        raise _attr_error(obj, name, site)
    if kind is UserContext:
        return wrap(getattr(obj, name))
    value = getattr(obj, name)
    if kind is str:
        RUN.get().tick(len(obj))  # str methods scan the text in C
        if name in _STR_READ:
            return value
        if name in ("center", "ljust", "rjust", "zfill"):
            return _width(value)
        if name == "replace":
            return _replace(obj)
        if name == "expandtabs":
            return _expandtabs(obj)
        if name == "join":
            return _join(obj)
        return _checked(value)
    if kind in CONTAINERS:
        RUN.get().tick(len(obj))
        return _checked(value) if callable(value) else value
    if name == "strftime":
        return _strftime(value)
    return value


def _missing_field(obj: Record, name: Any, site: int) -> ExpressionError:
    where = _site(site, 0)
    if type(name) is not str:
        return ExpressionError(f"`{where}` has no field {short(name)}")
    close = difflib.get_close_matches(name[:100], [str(k) for k in obj._data], n=1)
    hint = f"; did you mean `{close[0]}`?" if close else ""
    return ExpressionError(f"`{where}` has no field `{name[:100]}`{hint}")


def g_getitem(obj: Any, key: Any, site: int = -1) -> Any:
    """`obj[key]` on records, dicts, lists, tuples, texts and ranges."""
    kind = type(obj)
    try:
        if kind is Record:
            try:
                return wrap(obj._data[key])
            except KeyError:
                raise _missing_field(obj, key, site) from None
        if kind is list or kind is tuple or kind is str or kind is range:
            if type(key) is slice:
                RUN.get().tick(len(obj))
            return obj[key]
        if kind is dict:
            if type(key) is tuple:
                RUN.get().tick(1)  # hashing a tuple key walks it: keep the deadline close
            return obj[key]
    except IndexError:
        raise ExpressionError(
            f"position {short(key)} is outside `{_site(site, 0)}` ({len(obj)} items)"
        ) from None
    except KeyError:
        raise ExpressionError(f"`{_site(site, 0)}` has no key {short(key)}") from None
    except TypeError:
        raise ExpressionError(f"cannot look up {kind_of(key)} in `{_site(site, 1)}`") from None
    if obj is None:
        raise ExpressionError(f"`{_site(site, 0)}` is empty (None) and has no item {short(key)}")
    raise ExpressionError(f"cannot take an item of {kind_of(obj)} in `{_site(site, 1)}`")
