"""Values as people read them: numbers, money, dates and choices per locale, and the menu.

Pure functions over specs and values (Babel for the locale data); templates call them through
`server/web.py`. Nothing here touches a request or the database.

Datetimes are stored as UTC moments and shown in the reader's time zone. Callers that know
it pass `zone`; the rest (list cells, cards, record pages built in modules that only thread
the locale) get the zone the page shell set for the request in `TIME_ZONE`, UTC otherwise.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from contextvars import ContextVar
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from babel import dates as babel_dates

from appblocks.engine.access import AccessPolicy
from appblocks.engine.catalog import Catalog
from appblocks.engine.spec import FieldSpec, label_text, qualify
from appblocks.engine.users import Identity

# Numbers and amounts are formatted in numbers.py (fast, checked against Babel); re-exported.
from appblocks.views.numbers import DEFAULT_CURRENCY as DEFAULT_CURRENCY
from appblocks.views.numbers import babel_locale as babel_locale
from appblocks.views.numbers import money as money
from appblocks.views.numbers import number as number

#: The reader's zone for this request (set by the page shell; UTC where nobody set it).
TIME_ZONE: ContextVar[dt.tzinfo] = ContextVar("appblocks_time_zone", default=dt.UTC)


@cache
def zone(name: str | None) -> dt.tzinfo:
    """The tzinfo of an IANA name (UTC for None or ''); raises for an unknown name."""
    if not name or name == "UTC":
        return dt.UTC
    return ZoneInfo(name)


def current_zone(given: dt.tzinfo | None = None) -> dt.tzinfo:
    """`given`, else the zone the page shell set for this request, else UTC."""
    return given if given is not None else TIME_ZONE.get()


def local(value: dt.datetime, tz: dt.tzinfo | None = None) -> dt.datetime:
    """A stored moment in the reader's zone (a naive value is taken as UTC, as stored)."""
    moment = value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
    return moment.astimezone(current_zone(tz))


def percent(value: Any, locale: str) -> str:
    """A percentage stored as a number of percent (12.5 -> 12.5%)."""
    if value is None or value == "":
        return ""
    return number(value, locale) + "%"


def date(value: Any, locale: str) -> str:
    """A date in the locale's medium format."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        value = dt.date.fromisoformat(value[:10])
    if isinstance(value, dt.datetime):
        value = value.date()
    return babel_dates.format_date(value, format="medium", locale=babel_locale(locale))


def datetime(value: Any, locale: str, tz: dt.tzinfo | None = None) -> str:
    """A moment in the locale's medium format, in the reader's zone (`tz`, else the
    request's)."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if isinstance(value, dt.datetime) and value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)  # stored moments are UTC
    return babel_dates.format_datetime(
        value, format="medium", tzinfo=current_zone(tz), locale=babel_locale(locale)
    )


def choice_label(field: FieldSpec, value: Any, locale: str) -> str:
    """The label of one option of a choice field (options may carry labels by locale)."""
    for option in field.get("options") or []:
        if isinstance(option, Mapping):
            if option.get("value") == value:
                return label_text(option.get("label"), locale, str(value))
        elif option == value:
            return str(value)
    return "" if value is None else str(value)


def options(field: FieldSpec, locale: str) -> list[tuple[str, str]]:
    """(value, label) of every option of a choice or multi_choice field."""
    out = []
    for option in field.get("options") or []:
        if isinstance(option, Mapping):
            value = str(option.get("value"))
            out.append((value, label_text(option.get("label"), locale, value)))
        else:
            out.append((str(option), str(option)))
    return out


def value(field: FieldSpec, raw: Any, locale: str, tz: dt.tzinfo | None = None) -> str:
    """A field's value as text for a list cell or a record page (links show their title
    when the caller resolved them to `{"id", "title"}`; datetimes in `tz`, else the
    request's zone)."""
    if raw is None or raw == "" or raw == []:
        return ""
    kind = field.type
    if kind == "lookup" and field.resolved_lookup is not None:
        kind = field.resolved_lookup.type
        field = field.resolved_lookup
    if kind == "money":
        return money(raw, locale, field.get("currency"))
    if kind in ("decimal",):
        scale = field.get("scale")
        return number(raw, locale, int(scale) if scale is not None else None)
    if kind == "integer":
        return number(raw, locale)
    if kind == "percent":
        return percent(raw, locale)
    if kind == "date":
        return date(raw, locale)
    if kind == "datetime":
        return datetime(raw, locale, tz)
    if kind == "boolean":
        return ("是" if raw else "否") if locale == "zh-CN" else ("Yes" if raw else "No")
    if kind == "choice":
        return choice_label(field, raw, locale)
    if kind == "multi_choice" and isinstance(raw, list):
        return ", ".join(choice_label(field, v, locale) for v in raw)
    if isinstance(raw, Mapping):
        return str(raw.get("title") or raw.get("id") or "")
    if isinstance(raw, list):
        return ", ".join(
            str(v.get("title") or v.get("id")) if isinstance(v, Mapping) else str(v) for v in raw
        )
    return str(raw)


def navigation(
    catalog: Catalog, policy: AccessPolicy, identity: Identity, locale: str
) -> list[dict[str, Any]]:
    """Apps the user may open, each with the entities, views and dashboards it may read.

    Line-item entities are left out: they are edited inside their parent's form."""
    readable = set(policy.entities(identity, "read"))
    out = []
    for app, blueprint in catalog.blueprints.items():
        entities = [
            {"name": e.name, "label": e.label(locale), "url": f"/{app}/{e.name}"}
            for e in catalog.specs.entities.values()
            if e.app == app and e.qualified in readable and e.parent is None
        ]
        views = [
            {
                "name": name,
                "label": label_text(doc.get("label"), locale, name.replace("_", " ").capitalize()),
                "type": doc.get("type", "list"),
                "url": f"/{app}/views/{name}",
            }
            for name, doc in (blueprint.get("views") or {}).items()
            if qualify(app, str(doc.get("entity"))) in readable
        ]
        dashboards = [
            {
                "name": name,
                "label": label_text(doc.get("label"), locale, name.replace("_", " ").capitalize()),
                "url": f"/{app}/dashboards/{name}",
            }
            for name, doc in (blueprint.get("dashboards") or {}).items()
            if any(qualify(app, str(w.get("entity"))) in readable for w in doc.get("widgets", []))
        ]
        if entities or views or dashboards:
            out.append(
                {
                    "app": app,
                    "title": label_text(blueprint.get("title"), locale, app.upper()),
                    "entities": entities,
                    "views": views,
                    "dashboards": dashboards,
                    "url": f"/{app}",
                }
            )
    return out
