"""Relative dates in the filters of views and dashboards: `$today`, `$today+30d`, `$now-4h`.

A view document is stored once but read on many days, so "contracts ending within 30 days"
cannot hold a fixed date. These tokens are replaced by ISO dates (or UTC moments) when the
view runs, before the filter reaches the query compiler; everything else passes untouched.
`$today` is the reader's date: today in their time zone (Shanghai's Tuesday starts while
London is still on Monday); `$now` is the same moment everywhere.
Units: `d` days, `w` weeks, `m` months (clamped to the month's last day), `y` years, and `h`
hours for `$now` only.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

from appblocks.views import display

TOKEN = re.compile(r"^\$(today|now)(?:([+-])(\d{1,5})([hdwmy]))?$")


class RelativeDateError(ValueError):
    """A `$today…` / `$now…` value that is not one of the forms this module knows."""


def _add_months(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return day.replace(year=year, month=month + 1, day=min(day.day, last))


def _shift(start: dt.datetime, sign: str, amount: int, unit: str) -> dt.datetime:
    n = amount if sign == "+" else -amount
    if unit == "h":
        return start + dt.timedelta(hours=n)
    if unit == "d":
        return start + dt.timedelta(days=n)
    if unit == "w":
        return start + dt.timedelta(weeks=n)
    months = n * 12 if unit == "y" else n
    moved = _add_months(start.date(), months)
    return dt.datetime.combine(moved, start.timetz())


def resolve_value(value: Any, now: dt.datetime, tz: dt.tzinfo = dt.UTC) -> Any:
    """One filter value with a relative date replaced (`now` is an aware moment; `$today`
    is its date in `tz`, the reader's zone)."""
    if not isinstance(value, str) or not value.startswith(("$today", "$now")):
        return value
    found = TOKEN.match(value)
    if found is None:
        raise RelativeDateError(
            f"'{value}' is not a relative date: write $today, $today+30d, $today-1m or $now-4h"
        )
    base, sign, amount, unit = found.groups()
    if base == "today" and unit == "h":
        raise RelativeDateError(f"'{value}': $today moves by days (d, w, m, y), not hours")
    start = now.astimezone(dt.UTC)
    if base == "today":
        start = dt.datetime.combine(now.astimezone(tz).date(), dt.time(), dt.UTC)
    moved = _shift(start, sign, int(amount), unit) if sign else start
    return moved.date().isoformat() if base == "today" else moved.isoformat()


def resolve(filter: Any, now: dt.datetime | None = None, tz: dt.tzinfo | None = None) -> Any:
    """A copy of a filter document with every relative date resolved (None stays None);
    `$today` in `tz`, else the zone the page shell set for this request (UTC without one)."""
    moment = now or dt.datetime.now(dt.UTC)
    zone = display.current_zone(tz)
    if isinstance(filter, Mapping):
        return {key: resolve(value, moment, zone) for key, value in filter.items()}
    if isinstance(filter, list):
        return [resolve(value, moment, zone) for value in filter]
    return resolve_value(filter, moment, zone)
