"""Aggregate results as people and ECharts read them: values formatted per locale (money with
its sign, percentages, grouping), and the categories and series a chart draws."""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Any

from appblocks.views import display
from appblocks.views.aggregates import MAX_MONTHS, Result, month_label


def formatted(result: Result, value: Any, locale: str) -> str:
    """A measured value as people read it: money with its sign, percentages, grouping."""
    if value is None:
        return ""
    if result.kind == "money":
        return display.money(value, locale, None)
    if result.kind == "percent":
        return display.number(value, locale, 1) + "%"
    if result.kind == "date":
        return display.date(value, locale)
    if result.kind == "integer":
        return display.number(value, locale)
    return display.number(value, locale, result.digits)


def _plain(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _month_range(keys: list[str | None]) -> list[str | None]:
    """Every month from the first key to the last (gaps would squeeze a time axis), then the
    records without a date; the keys themselves when the range would be too long."""
    months = sorted(k for k in keys if k)
    if not months:
        return keys
    first, last = months[0], months[-1]
    try:
        year, month = int(first[:4]), int(first[5:7])
        end = (int(last[:4]), int(last[5:7]))
    except ValueError:
        return [*months, *[k for k in keys if not k]]
    out: list[str | None] = []
    while (year, month) <= end and len(out) <= MAX_MONTHS:
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    if len(out) > MAX_MONTHS:
        out = list(months)
    return [*out, *[k for k in keys if not k]]


def chart_data(chart: str, results: list[Result], locale: str) -> dict[str, Any]:
    """What the page hands ECharts: category labels and one list of values per series (the
    categories of all series merged: every month in order, other keys as the first series has
    them). A funnel counts each stage with every later one: what reached at least that stage."""
    keys: list[str | None] = []
    labels: dict[str | None, str] = {}
    for result in results:
        for bucket in result.buckets:
            if bucket.key not in labels:
                keys.append(bucket.key)
                labels[bucket.key] = bucket.label
    if results and all(r.grouping == "month" for r in results):
        keys = _month_range(keys)
        for key in keys:
            labels.setdefault(key, month_label(key or "", locale))
    series = []
    for result in results:
        by_key = {b.key: b.value for b in result.buckets}
        values = [by_key.get(k) for k in keys]
        if chart == "funnel" and result.kind != "date":
            running: Any = None
            for index in range(len(values) - 1, -1, -1):
                if values[index] is not None:
                    running = values[index] if running is None else running + values[index]
                values[index] = running
        series.append(
            {
                "name": result.name,
                "values": [_plain(v) for v in values],
                "texts": [formatted(result, v, locale) for v in values],
            }
        )
    first = results[0] if results else None
    return {
        "chart": chart,
        "keys": keys,
        "labels": [labels[k] for k in keys],
        "series": series,
        "kind": first.kind if first else "integer",
        "empty": not any(v is not None for s in series for v in s["values"]),
    }
