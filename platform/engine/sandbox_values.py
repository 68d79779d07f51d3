"""What the expression sandbox works with: limits, errors, the per-run budget, records, sizes."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as dtime
from decimal import Decimal
from typing import Any
from uuid import UUID

# Limits, chosen on purpose. A formula is a line of arithmetic over one record and its lines;
# each limit is far above that and far below what would hurt a server that serves others.
MAX_SOURCE = 5_000  # characters of source: formulas and rules are short
MAX_SIZE = 100_000  # characters of one text, elements of one list, range length, width
MAX_STEPS = 1_000_000  # iteration steps (and C-level scans) per evaluation
MAX_UNITS = 1_000_000  # elements and characters created per evaluation (the memory budget)
# 4,096 bits is about 10**1233: beyond any business number, cheap to compute with, and still
# printable under CPython's default 4,300-digit limit on int -> str conversion.
MAX_INT_BITS = 4_096
MAX_INT_DIGITS = 1_233  # decimal digits of a MAX_INT_BITS integer
MAX_ROUND_DIGITS = 1_000  # |ndigits| of round(): round(10**100, -10**9) would compute 10**10**9
TIME_LIMIT = 0.5  # seconds of wall time per evaluation
CHUNK = 256  # iteration steps between two deadline checks

NoneType = type(None)
# Exact types (not subclasses): a subclass could carry methods we have not reviewed.
SCALARS: frozenset[type] = frozenset(
    {NoneType, bool, int, float, Decimal, str, date, datetime, dtime, timedelta}
)
PLAIN_LEAVES: frozenset[type] = SCALARS | {UUID}


class ExpressionError(Exception):
    """An expression that cannot compile or evaluate, with a message an analyst understands."""

    def __init__(
        self, message: str, *, source: str | None = None, position: int | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.source = source
        # 0-based character offset into `source`, where known.
        self.position = position

    def __str__(self) -> str:
        return self.message


class LimitError(ExpressionError):
    """An evaluation stopped because it used too much time or memory."""


@dataclass(frozen=True, slots=True)
class UserContext:
    """Who is evaluating: expressions read `user.name`, `user.roles` and `user.attributes`."""

    name: str
    roles: frozenset[str] = frozenset()
    attributes: Mapping[str, Any] = field(default_factory=dict)


class Run:
    """The budget of one evaluation: steps, units, the deadline, and the clock it sees."""

    __slots__ = ("steps", "units", "deadline", "sites", "today", "now", "tripped")

    def __init__(
        self,
        sites: tuple[tuple[str, ...], ...],
        today: date | None = None,
        now: datetime | None = None,
        time_limit: float = TIME_LIMIT,
    ) -> None:
        self.steps = 0
        self.units = 0
        self.deadline = time.monotonic() + time_limit
        self.sites = sites
        self.today = today
        self.now = now
        # Set once a limit is hit, so that a swallowed limit error cannot let the run go on.
        self.tripped: LimitError | None = None

    def fail(self, message: str) -> LimitError:
        """Record and return the limit error that ends this run."""
        if self.tripped is None:
            self.tripped = LimitError(message)
        return self.tripped

    def tick(self, steps: int) -> None:
        """Count `steps` of work and check the step limit and the deadline."""
        self.steps += steps
        if self.steps > MAX_STEPS or self.tripped is not None:
            raise self.fail(f"the expression took too many steps (limit {MAX_STEPS:,} iterations)")
        if time.monotonic() > self.deadline:
            raise self.fail(f"the expression took too long (limit {TIME_LIMIT} s)")

    def charge_size(self, value: Any) -> None:
        """Charge what the container `value` holds, walking no further than the budget left."""
        self.charge(created_size(value, MAX_UNITS - self.units + 1))

    def charge(self, units: int) -> None:
        """Count `units` of memory (elements or characters) created."""
        self.units += units
        if self.units > MAX_UNITS or self.tripped is not None:
            raise self.fail(
                f"the expression used too much memory (limit {MAX_UNITS:,} elements and characters)"
            )

    def site(self, index: int, part: int) -> str:
        """The source text of part `part` of guarded operation `index`."""
        try:
            return self.sites[index][part]
        except IndexError:
            return "?"


RUN: ContextVar[Run] = ContextVar("appblocks_sandbox_run")


def current_run() -> Run:
    """The budget of the evaluation in progress."""
    return RUN.get()


def too_big(noun: str, size: float, limit: int = MAX_SIZE, unit: str = "characters") -> LimitError:
    """The error for a result that would exceed a size limit, raised before it is allocated."""
    run = RUN.get(None)
    message = (
        f"the expression used too much memory: {noun} of {size:,.0f} {unit} "
        f"(the limit is {limit:,})"
    )
    return run.fail(message) if run is not None else LimitError(message)


class Record(Mapping[str, Any]):
    """A read-only record (a dict of field values) whose fields read as `r.field` or `r['f']`."""

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[str, Any]) -> None:
        self._data = data

    def __getitem__(self, key: str) -> Any:
        return wrap(self._data[key])

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __eq__(self, other: object) -> bool:
        data = other._data if isinstance(other, Record) else other
        # Two views of one dict are equal without walking it (wrap makes a view per access).
        return self._data is data or self._data == data

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return repr(self._data)


CONTAINERS: frozenset[type] = frozenset({list, tuple, dict, set, frozenset, Record})


class Hidden:
    """Stands in for a caller's function, class or module: an expression reads data only."""

    __slots__ = ("kind",)

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise ExpressionError(f"{self.kind} cannot be called in expressions")

    def __repr__(self) -> str:
        return f"<{self.kind}>"


_DATA = SCALARS | {UUID, set, frozenset, range, bytes}


def wrap(value: Any) -> Any:
    """The sandbox view of a caller's value: dicts become Records, non-data objects Hidden."""
    kind = type(value)
    if kind in _DATA or kind is Record or kind is Hidden:
        return value
    if kind is dict:
        return Record(value)
    if kind is list or kind is tuple:
        run = RUN.get(None)
        if run is not None:
            run.tick(len(value))  # a fresh view per access: count it, it may sit in a loop
        items = [
            Record(v) if type(v) is dict else v if type(v) in SCALARS else wrap(v) for v in value
        ]
        return items if kind is list else tuple(items)
    if isinstance(value, Mapping):
        return Record(value)
    # Subclasses of plain types (StrEnum, IntEnum) read as the plain value they hold.
    for base in (str, int, float, Decimal):
        if isinstance(value, base):
            return base(value)
    # Anything else (a "doc" with save(), a function, a module) is opaque: an expression reads
    # data and must never call, or walk the attributes of, an object it was handed.
    return Hidden(_a(kind.__name__))


def kind_of(value: Any) -> str:
    """How an analyst would name the kind of `value`."""
    kind = type(value)
    if value is None:
        return "an empty value (None)"
    if kind is bool:
        return "a yes/no value"
    if kind in (int, float, Decimal):
        return "a number"
    if kind is str:
        return "a text"
    if kind is datetime:
        return "a date and time"
    if kind is date:
        return "a date"
    if kind is dtime:
        return "a time of day"
    if kind is timedelta:
        return "a duration"
    if kind in (list, tuple, range):
        return "a list"
    if kind in (dict, Record):
        return "a record"
    if kind in (set, frozenset):
        return "a set"
    if kind is UserContext:
        return "the user"
    if kind is Hidden:
        return value.kind
    return _a(kind.__name__)


def short(value: Any) -> str:
    """`value` for an error message: a short repr of a scalar, else its kind."""
    if type(value) not in SCALARS:
        return kind_of(value)
    text = repr(value[:60] if type(value) is str else value)
    return text if len(text) <= 60 else text[:57] + "..."


def _a(noun: str) -> str:
    return f"an {noun}" if noun[:1].lower() in "aeiou" else f"a {noun}"


def created_size(value: Any, limit: int) -> int:
    """Elements in a container the sandbox built, shared parts counted each time (to limit)."""
    # Sharing lets `[y, y]` nest exponentially many elements behind a few references; counting
    # every reference bounds the cost of comparing, hashing and printing what was built.
    # Texts and Records count as one: texts were charged when made, Records are caller data.
    total = 0
    stack = [value]
    while stack:
        item = stack.pop()
        total += 1
        if total > limit:
            return total
        kind = type(item)
        if kind is list or kind is tuple or kind is set or kind is frozenset:
            stack.extend(item)
        elif kind is dict:
            stack.extend(item.keys())
            stack.extend(item.values())
    return total


def text_size(value: Any, limit: int) -> int:
    """A lower bound of the length of `str(value)`, walking records too (stops past limit)."""
    total = 0
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is str:
            total += len(item) + 4
        elif kind is list or kind is tuple or kind is set or kind is frozenset:
            total += 2
            stack.extend(item)
        elif kind is dict or kind is Record:
            data = item._data if kind is Record else item
            total += 2
            stack.extend(data.keys())
            stack.extend(data.values())
        else:
            total += 4
        if total > limit:
            return total
    return total


def plain(value: Any, run: Run) -> Any:
    """The result as plain Python data (Records become dicts); refuses anything else."""
    if type(value) in PLAIN_LEAVES:
        return value
    budget = [MAX_UNITS]
    return _plain(value, budget, run)


def _plain(value: Any, budget: list[int], run: Run) -> Any:
    kind = type(value)
    # Texts count by length: a list of 100,000 references to one long text is 10**10 to print.
    budget[0] -= len(value) if kind is str or kind is range else 1
    if budget[0] < 0:
        raise run.fail(
            f"the result is too large to return (limit {MAX_UNITS:,} elements and characters)"
        )
    if kind in PLAIN_LEAVES:
        return value
    if kind is Record:
        return {k: _plain(wrap(v), budget, run) for k, v in value._data.items()}
    if kind is list:
        return [_plain(v, budget, run) for v in value]
    if kind is tuple:
        return tuple(_plain(v, budget, run) for v in value)
    if kind is dict:
        return {_plain(k, budget, run): _plain(v, budget, run) for k, v in value.items()}
    if kind is set or kind is frozenset:
        return kind(_plain(v, budget, run) for v in value)
    if kind is range:
        return list(value)
    if kind is UserContext:
        return {"name": value.name, "roles": sorted(value.roles)}
    raise ExpressionError(
        f"the expression gives {kind_of(value)}, not a value; "
        "return a number, text, date, yes/no, list or record"
    )
