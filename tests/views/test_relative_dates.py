"""Relative dates in view and dashboard filters (`$today+30d`), resolved when a view runs, and
the blueprint checks of boards, charts and relative dates."""

from __future__ import annotations

import datetime as dt
import textwrap
from typing import Any

import pytest

from appblocks.engine.loader import load_blueprint_text
from appblocks.engine.validate import validate_blueprint
from appblocks.views.relative import RelativeDateError, resolve

NOW = dt.datetime(2026, 1, 31, 15, 30, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("$today", "2026-01-31"),
        ("$today+30d", "2026-03-02"),
        ("$today-1d", "2026-01-30"),
        ("$today+2w", "2026-02-14"),
        ("$today+1m", "2026-02-28"),
        ("$today-13m", "2024-12-31"),
        ("$today+1y", "2027-01-31"),
        ("$now", "2026-01-31T15:30:00+00:00"),
        ("$now-4h", "2026-01-31T11:30:00+00:00"),
        ("today", "today"),
        (30, 30),
    ],
)
def test_relative_dates_resolve_against_the_moment_given(value: Any, expected: Any) -> None:
    assert resolve({"end_date": {"lte": value}}, NOW) == {"end_date": {"lte": expected}}


def test_relative_dates_resolve_inside_and_or_and_lists() -> None:
    doc = {"or": [{"d": {"in": ["$today", "$today+1d"]}}, {"n": "x"}], "e": None}
    assert resolve(doc, NOW) == {
        "or": [{"d": {"in": ["2026-01-31", "2026-02-01"]}}, {"n": "x"}],
        "e": None,
    }
    assert resolve(None, NOW) is None


@pytest.mark.parametrize("value", ["$today+30", "$today+1h", "$todays", "$now+1q", "$today +1d"])
def test_relative_dates_refuse_what_they_cannot_read(value: str) -> None:
    with pytest.raises(RelativeDateError):
        resolve({"d": value}, NOW)


HEAD = "blueprint: srm\nversion: 1.0.0\n"
ENTITY = (
    "entities:\n  s:\n    title: n\n    fields:\n      n: {type: text}\n"
    "      d: {type: date}\n      k: {type: choice, options: [a, b]}\n"
    "      x: {type: integer}\n      t: {type: long_text}\n      r: {type: link, to: s}\n"
)
FLOW = (
    "workflows: {w: {entity: s, initial: a, states: [a, b], transitions: {go: {from: a, to: b}}}}\n"
)


def _errors(body: str) -> list[tuple[str, str]]:
    text = HEAD + ENTITY + textwrap.dedent(body)
    loaded = load_blueprint_text(text, "t.yaml")
    assert loaded.errors == []
    return [(e.path, e.message) for e in validate_blueprint(loaded, None)]


@pytest.mark.parametrize(
    ("body", "path", "message"),
    [
        (
            "views: {v: {entity: s, type: kanban, group_by: n}}",
            "views.v.group_by",
            "a board groups by a choice field or _state; 'n' is a text field",
        ),
        (
            "views: {v: {entity: s, type: kanban, group_by: _state}}",
            "views.v.group_by",
            "s has no workflow, so no _state to group by",
        ),
        (
            "views: {v: {entity: s, type: kanban, group_by: r.k}}",
            "views.v.group_by",
            "a board groups by a field of its own entity, not a path ('r.k')",
        ),
        (
            "views: {v: {entity: s, filter: {d: {lte: $today+30}}}}",
            "views.v.filter.d.lte",
            "'$today+30' is not a relative date: write $today, $today+30d, $today-1m or $now-4h",
        ),
        (
            "dashboards: {d: {widgets: [{chart: bar, entity: s, group_by: t}]}}",
            "dashboards.d.widgets.0.group_by",
            "a chart cannot be grouped by 't', a long_text field",
        ),
        (
            "dashboards: {d: {widgets: [{chart: number, entity: s, group_by: k}]}}",
            "dashboards.d.widgets.0.group_by",
            "a number shows one value: leave out group_by",
        ),
        (
            "dashboards: {d: {widgets: [{chart: bar, entity: s, group_by: r.k}]}}",
            "dashboards.d.widgets.0.group_by",
            "a chart groups by a field of its own entity, not a path ('r.k')",
        ),
        (
            "dashboards: {d: {widgets: [{chart: bar, entity: s, measure: {max: n}}]}}",
            "dashboards.d.widgets.0.measure.max",
            "max needs a number or date field; 'n' is a text field",
        ),
        (
            "dashboards: {d: {widgets: [{chart: pie, entity: s, group_by: k,"
            " series: [{entity: s, group_by: k}]}]}}",
            "dashboards.d.widgets.0.series",
            "only bar and line charts take more series, not pie",
        ),
        (
            "dashboards: {d: {widgets: [{chart: line, entity: s, group_by: d,"
            " series: [{entity: s, group_by: d, measure: {sum: n}}]}]}}",
            "dashboards.d.widgets.0.series.0.measure.sum",
            "sum needs a number field; 'n' is a text field",
        ),
        (
            "dashboards: {d: {widgets: [{chart: number, entity: s, filter: {d: $now+1x}}]}}",
            "dashboards.d.widgets.0.filter.d",
            "'$now+1x' is not a relative date: write $today, $today+30d, $today-1m or $now-4h",
        ),
    ],
)
def test_relative_dates_and_chart_checks_in_blueprints(body: str, path: str, message: str) -> None:
    assert (path, message) in _errors(body)


def test_relative_dates_valid_boards_and_charts_pass() -> None:
    body = FLOW + textwrap.dedent(
        """\
        views:
          b1: {entity: s, type: kanban, group_by: k}
          b2: {entity: s, type: kanban, group_by: _state}
          soon: {entity: s, filter: {d: {gte: $today, lte: $today+60d}}}
        dashboards:
          d:
            widgets:
              - {chart: bar, entity: s, group_by: r, measure: {max: d}, limit: 5}
              - {chart: line, entity: s, group_by: d, measure: {sum: x}, label: A,
                 series: [{entity: s, group_by: d, measure: {avg: x}, label: B}]}
              - {chart: gauge, entity: s, measure: {avg: x}, max: 10}
              - {chart: pie, entity: s, group_by: _state}
        """
    )
    assert _errors(body) == []
