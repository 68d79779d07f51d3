"""Run-time guards the compiled expression calls instead of `*`, `**`, `.attr`, `[i]`, `for`.

Each guard checks the size of a result before it is allocated and counts work against the
evaluation's budget (see `sandbox_values.Run`); fast paths keep plain arithmetic cheap.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal, InvalidOperation
from itertools import chain, islice
from typing import Any

from appblocks.engine.sandbox_format import percent_format
from appblocks.engine.sandbox_values import (
    CHUNK,
    CONTAINERS,
    MAX_INT_BITS,
    MAX_SIZE,
    MAX_UNITS,
    RUN,
    SCALARS,
    ExpressionError,
    Hidden,
    Record,
    created_size,
    kind_of,
    too_big,
)

_SEQUENCES = (str, list, tuple)


# --- arithmetic -------------------------------------------------------------------------------

# op symbol -> (verb for an empty operand, verb phrase for two operands)
_VERBS = {
    "+": ("added", "add"),
    "-": ("subtracted", "subtract"),
    "*": ("multiplied", "multiply"),
    "/": ("divided", "divide"),
    "//": ("divided", "divide"),
    "%": ("divided", "take the remainder of"),
    "**": ("raised to a power", "raise to a power"),
    "<<": ("shifted", "shift"),
    "|": ("combined", "combine"),
    "^": ("combined", "combine"),
}


def _site(site: int, part: int) -> str:
    return RUN.get().site(site, part)


def _type_error(op: str, a: Any, b: Any, site: int) -> ExpressionError:
    empty, verb = _VERBS[op]
    if a is None or b is None:
        name = _site(site, 0 if a is None else 1)
        return ExpressionError(f"`{name}` is empty (None) and cannot be {empty}")
    return ExpressionError(f"cannot {verb} {kind_of(a)} and {kind_of(b)} in `{_site(site, 2)}`")


def _zero(site: int) -> ExpressionError:
    return ExpressionError(f"division by zero in `{_site(site, 2)}`")


def _coerce(a: Any, b: Any) -> tuple[Any, Any]:
    # Money is Decimal and analysts type 0.19: Python refuses Decimal op float, so the float
    # becomes the Decimal of its shortest repr (0.19, not 0.190000000000000002220446...).
    if type(a) is Decimal and type(b) is float:
        return a, Decimal(repr(b))
    if type(a) is float and type(b) is Decimal:
        return Decimal(repr(a)), b
    return a, b


def _too_long(kind: type, size: int) -> Exception:
    return too_big(
        "a text" if kind is str else "a list",
        size,
        unit="characters" if kind is str else "elements",
    )


def _too_large(bits: float) -> Exception:
    return too_big("a number", bits, MAX_INT_BITS, "bits")


def _int_bits(value: Any) -> int | None:
    if type(value) is int or type(value) is bool:
        return int(value).bit_length()
    return None


def _apply(op: str, fn: Callable[[Any, Any], Any], a: Any, b: Any, site: int) -> Any:
    a, b = _coerce(a, b)
    try:
        return fn(a, b)
    except ZeroDivisionError:
        raise _zero(site) from None
    except InvalidOperation:
        if b == 0:  # Decimal's 0/0 and x % 0 signal InvalidOperation, not ZeroDivisionError
            raise _zero(site) from None
        raise
    except TypeError:
        raise _type_error(op, a, b, site) from None


def g_add(a: Any, b: Any, site: int) -> Any:
    """`a + b`, refusing texts and lists over the size limit."""
    ta = type(a)
    if (ta is int or ta is float or ta is Decimal) and ta is type(b):
        return a + b
    if (ta is str or ta is list or ta is tuple) and ta is type(b):
        size = len(a) + len(b)
        if size > MAX_SIZE:
            raise _too_long(ta, size)
        run = RUN.get()
        if ta is str:
            run.charge(size)
        else:
            run.charge_size(a)
            run.charge_size(b)
        return a + b
    return _apply("+", lambda x, y: x + y, a, b, site)


def g_sub(a: Any, b: Any, site: int) -> Any:
    """`a - b`, mixing Decimal and float."""
    ta = type(a)
    if (ta is int or ta is float or ta is Decimal) and ta is type(b):
        return a - b
    return _apply("-", lambda x, y: x - y, a, b, site)


def g_mul(a: Any, b: Any, site: int) -> Any:
    """`a * b`, refusing huge integers and repeated texts or lists before they exist."""
    ta, tb = type(a), type(b)
    if (ta is float or ta is Decimal) and ta is tb:
        return a * b
    if ta is int and tb is int:
        if a.bit_length() + b.bit_length() > MAX_INT_BITS:
            raise _too_large(a.bit_length() + b.bit_length())
        return a * b
    if tb in _SEQUENCES and _int_bits(a) is not None:
        a, b, ta, tb = b, a, tb, ta
    if ta in _SEQUENCES and _int_bits(b) is not None:
        count = max(int(b), 0)
        size = len(a) * count
        if size > MAX_SIZE:
            raise _too_long(ta, size)
        run = RUN.get()
        if ta is str:
            run.charge(size)
        elif count:
            # [x] * n holds n references to all that x holds: charge the whole, walk it once.
            run.charge(created_size(a, (MAX_UNITS - run.units) // count + 1) * count)
        return a * count
    ba, bb = _int_bits(a), _int_bits(b)
    if ba is not None and bb is not None and ba + bb > MAX_INT_BITS:
        raise _too_large(ba + bb)
    return _apply("*", lambda x, y: x * y, a, b, site)


def g_truediv(a: Any, b: Any, site: int) -> Any:
    """`a / b` with a readable division-by-zero error."""
    return _apply("/", lambda x, y: x / y, a, b, site)


def g_floordiv(a: Any, b: Any, site: int) -> Any:
    """`a // b` with a readable division-by-zero error."""
    return _apply("//", lambda x, y: x // y, a, b, site)


def g_mod(a: Any, b: Any, site: int) -> Any:
    """`a % b`: remainder, or %-formatting of a text with its widths checked first."""
    if type(a) is str:
        return percent_format(a, b)
    if type(a) is bytes:
        raise ExpressionError("bytes are not supported in expressions")
    return _apply("%", lambda x, y: x % y, a, b, site)


def g_pow(a: Any, b: Any, site: int) -> Any:
    """`a ** b`, refusing integer results over the size limit (10**10**10) before computing."""
    ba, bb = _int_bits(a), _int_bits(b)
    if ba is not None and bb is not None and b > 0 and a not in (0, 1, -1):
        # a**b has b * log2(|a|) bits: known, and refused, before the power is computed.
        bits = b * math.log2(abs(a))
        if bits > MAX_INT_BITS:
            raise _too_large(bits)
    return _apply("**", lambda x, y: x**y, a, b, site)


def g_lshift(a: Any, b: Any, site: int) -> Any:
    """`a << b`, refusing results over the integer size limit."""
    ba, bb = _int_bits(a), _int_bits(b)
    if ba is not None and bb is not None and a != 0 and ba + b > MAX_INT_BITS:
        raise _too_large(ba + b)
    return _apply("<<", lambda x, y: x << y, a, b, site)


def g_or(a: Any, b: Any, site: int) -> Any:
    """`a | b`; unions of sets and dicts are charged for what they hold."""
    result = _apply("|", lambda x, y: x | y, a, b, site)
    if type(result) in CONTAINERS:
        RUN.get().charge_size(result)
    return result


def g_xor(a: Any, b: Any, site: int) -> Any:
    """`a ^ b`; symmetric differences of sets are charged for what they hold."""
    result = _apply("^", lambda x, y: x ^ y, a, b, site)
    if type(result) in CONTAINERS:
        RUN.get().charge_size(result)
    return result


# --- iteration and comparison -------------------------------------------------------------------


def _chunks(seq: Any) -> Iterator[Any]:
    run = RUN.get()
    if isinstance(seq, (list, tuple, str, range)):
        for start in range(0, len(seq), CHUNK):
            run.tick(0)  # the steps were counted up front; this checks the deadline
            yield seq[start : start + CHUNK]
        return
    it = iter(seq)
    while chunk := list(islice(it, CHUNK)):
        run.tick(0)
        yield chunk


def _counted(iterable: Iterable[Any]) -> Iterator[Any]:
    run = RUN.get()
    n = 0
    for item in iterable:
        n += 1
        if n == CHUNK:
            run.tick(n)
            n = 0
        yield item
    run.tick(n)


_GENERATOR = type(_ for _ in ())
EXPRESSION_FILE = "<expression>"  # the file name compiled expressions carry
_SIZED = frozenset({list, tuple, str, range, dict, set, frozenset})
_VIEWS: tuple[type, ...] = (type({}.keys()), type({}.values()), type({}.items()))


def g_iter(obj: Any) -> Iterator[Any]:
    """`iter(obj)` for comprehensions and helpers: every element is a counted step."""
    kind = type(obj)
    if kind is Record:
        obj = obj._data
        kind = type(obj)
    if kind in _SIZED or isinstance(obj, _VIEWS):
        n = len(obj)
        RUN.get().tick(n)
        if n <= CHUNK:
            return iter(obj)
        # Chunks keep the per-element loop in C and still check the deadline every CHUNK steps.
        return chain.from_iterable(_chunks(obj))
    if kind is _GENERATOR and obj.gi_code.co_filename == EXPRESSION_FILE:
        return obj  # a generator expression of ours: its own loop counts every step
    if obj is None:
        raise ExpressionError("cannot go through an empty value (None); it is not a list")
    if kind in SCALARS or kind is Hidden:
        raise ExpressionError(f"cannot go through {kind_of(obj)}; it is not a list")
    return _counted(obj)


def g_cmp(value: Any) -> Any:
    """An operand of `==`, `<`, `in`: comparing containers is counted work."""
    if type(value) in _SCANNED:
        RUN.get().tick(len(value))
    return value


_SCANNED = CONTAINERS | {str}


def g_elt(value: Any) -> Any:
    """An element of a list, set or dict comprehension: nested containers are charged."""
    if type(value) in _NESTED:
        RUN.get().charge_size(value)
    return value


_NESTED = frozenset({list, tuple, dict, set, frozenset})


def g_lit(value: Any) -> Any:
    """A list, tuple or dict display the expression built: charged for all it holds."""
    RUN.get().charge_size(value)
    return value


def g_set(items: list[Any]) -> set[Any]:
    """A set display: charged before hashing, since hashing a nested tuple walks all of it."""
    RUN.get().charge_size(items)
    return set(items)


def g_dict(pairs: list[tuple[Any, Any]]) -> dict[Any, Any]:
    """A dict display: charged before its keys are hashed."""
    RUN.get().charge_size(pairs)
    return dict(pairs)
