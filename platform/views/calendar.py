"""Calendars: the records of one month by a date (or datetime) field, laid out in weeks.

One query per month under the caller's read scope (at most `MONTH_LIMIT` records); a datetime
falls on its day in the reader's zone and shows its clock time there, as the rest of the UI
shows it (the month's window is the reader's local month, as UTC moments).
"""

from __future__ import annotations

import calendar as stdlib_calendar
import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from babel import dates as babel_dates

from appblocks.engine.access import Scope
from appblocks.engine.records import RecordStore
from appblocks.views import display
from appblocks.views.boards import ScopeOf, card_texts

MONTH_LIMIT = 500  # records shown in one month
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


@dataclass
class Chip:
    """One record on its day."""

    id: int
    title: str
    day: dt.date
    time: str = ""


@dataclass
class Day:
    """One cell of the month grid."""

    date: dt.date
    in_month: bool
    today: bool
    chips: list[Chip] = field(default_factory=list)
    label: str = ""  # the day's number, with its month when it lies outside the one shown


@dataclass
class Month:
    """A month of records: weeks of days, the neighbours to link to, and its title."""

    year: int
    month: int
    title: str
    weeks: list[list[Day]]
    previous: str
    next: str
    truncated: bool = False

    @property
    def days_with_records(self) -> list[Day]:
        """Days of the month that hold a record (the phone layout lists only these)."""
        return [d for week in self.weeks for d in week if d.in_month and d.chips]


def parse_month(text: str | None, today: dt.date) -> tuple[int, int]:
    """`2026-11` -> (2026, 11); anything else is this month."""
    found = _MONTH.match(text or "")
    if found:
        year, month = int(found.group(1)), int(found.group(2))
        if 1 <= month <= 12 and 1900 <= year <= 9999:
            return year, month
    return today.year, today.month


def _shift(year: int, month: int, by: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + by
    return index // 12, index % 12 + 1


def bounds(year: int, month: int) -> tuple[dt.date, dt.date]:
    """The first day of the month and the first day of the next."""
    ny, nm = _shift(year, month, 1)
    return dt.date(year, month, 1), dt.date(ny, nm, 1)


def weekdays(locale: str) -> list[str]:
    """Short weekday names from Monday, in `locale`."""
    names = babel_dates.get_day_names("abbreviated", locale=display.babel_locale(locale))
    return [names[i] for i in range(7)]


def month_title(year: int, month: int, locale: str) -> str:
    """`November 2026` / `2026年11月`."""
    return babel_dates.format_skeleton(
        "yMMMM", dt.date(year, month, 1), locale=display.babel_locale(locale)
    )


def _day_label(day: dt.date, month: int, locale: str) -> str:
    if day.month == month:
        return str(day.day)
    return babel_dates.format_skeleton("MMMd", day, locale=display.babel_locale(locale))


def _day_of(value: Any, tz: dt.tzinfo = dt.UTC) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return display.local(value, tz).date()
    if isinstance(value, dt.date):
        return value
    return None


def load_month(
    conn: sa.Connection,
    store: RecordStore,
    entity: str,
    date_field: str,
    scope: Scope,
    scope_of: ScopeOf,
    *,
    year: int,
    month: int,
    today: dt.date,
    locale: str,
    filter: Mapping[str, Any] | None = None,
    tz: dt.tzinfo = dt.UTC,
) -> Month:
    """The month's records by `date_field`, under `scope`, as weeks from Monday (datetimes
    on their day and at their clock time in `tz`, the reader's zone)."""
    catalog = store.catalog
    spec = catalog.entity(entity)
    kind = spec.fields[date_field].type
    first, following = bounds(year, month)
    if kind == "datetime":
        # Local midnights (the first of each day that has two) as UTC moments.
        low: Any = dt.datetime.combine(first, dt.time(), tz).astimezone(dt.UTC).isoformat()
        high: Any = dt.datetime.combine(following, dt.time(), tz).astimezone(dt.UTC).isoformat()
    else:
        low, high = first.isoformat(), following.isoformat()
    window = {date_field: {"gte": low, "lt": high}}
    page = store.list(
        conn,
        entity,
        filter={"and": [dict(filter), window]} if filter else window,
        sort=f"{date_field},id",
        limit=MONTH_LIMIT,
        scope=scope.predicate,
    )
    title = spec.title if spec.title and spec.title not in scope.hidden else None
    texts = card_texts(
        conn, catalog, entity, page.items, [title] if title else [], scope_of, locale
    )
    by_day: dict[dt.date, list[Chip]] = {}
    for record, text in zip(page.items, texts, strict=True):
        day = _day_of(record.get(date_field), tz)
        if day is None:
            continue
        moment = record.get(date_field)
        clock = ""
        if isinstance(moment, dt.datetime):
            clock = display.local(moment, tz).strftime("%H:%M")
        chip = Chip(int(record["id"]), (text.get(title or "") or f"#{record['id']}"), day, clock)
        by_day.setdefault(day, []).append(chip)
    weeks = []
    for week in stdlib_calendar.Calendar(firstweekday=0).monthdatescalendar(year, month):
        weeks.append(
            [
                Day(
                    d, d.month == month, d == today, by_day.get(d, []), _day_label(d, month, locale)
                )
                for d in week
            ]
        )
    py, pm = _shift(year, month, -1)
    ny, nm = _shift(year, month, 1)
    return Month(
        year,
        month,
        month_title(year, month, locale),
        weeks,
        f"{py:04d}-{pm:02d}",
        f"{ny:04d}-{nm:02d}",
        truncated=page.next_cursor is not None,
    )
