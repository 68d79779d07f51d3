"""Time zones: a user reads and types datetimes in their own zone (their setting, else the
deployment's default), while the engine and the API keep UTC moments. The preference in the
page shell, the browser's zone taken at sign-in, forms, record pages, exports, calendars and
`$today`."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.sync_api import expect

from appblocks.engine.users import create_user, identity_of, set_time_zone
from appblocks.forms.submit import to_utc
from appblocks.views import calendar, display, relative
from tests.server.conftest import PASSWORD, Live

SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")


@pytest.fixture
def user(ui_live: Live) -> Iterator[Callable[..., str]]:
    """`user(name, role, zone)`: a user of this file's own (created once), with `zone` set."""

    def make(name: str, role: str = "purchasing_manager", zone: str | None = None) -> str:
        with ui_live.engine.begin() as conn:
            if identity_of(conn, name) is None:
                create_user(conn, name, password=PASSWORD, roles=[role])
            set_time_zone(conn, name, zone)
        return name

    yield make


def csrf(client: httpx.Client) -> str:
    """The session's current CSRF token, as the pages carry it."""
    found = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/login").text)
    assert found is not None
    client.headers["X-CSRF-Token"] = found.group(1)
    return found.group(1)


def new_rfq(live: Live, deadline: str, title: str) -> dict[str, Any]:
    """An RFQ made through the API (as admin1) with `deadline` as its UTC moment."""
    with live.client("admin1") as client:
        material = client.get("/api/v1/srm/material", params={"limit": 1}).json()["items"][0]
        made = client.post(
            "/api/v1/srm/rfq",
            json={"title": title, "material": material["id"], "deadline": deadline},
        )
    assert made.status_code == 201, made.text
    return dict(made.json())


def api_deadline(live: Live, record_id: int) -> dt.datetime:
    with live.client("admin1") as client:
        text = client.get(f"/api/v1/srm/rfq/{record_id}").json()["deadline"]
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def sign_in(live: Live, name: str, zone: str) -> httpx.Client:
    """Sign in through the form as app.js does, sending the browser's zone."""
    client = httpx.Client(base_url=live.url, timeout=30)
    token = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/login").text)
    assert token is not None
    answer = client.post(
        "/login",
        data={"username": name, "password": PASSWORD, "csrf_token": token.group(1),
              "next": "/", "time_zone": zone},
    )  # fmt: skip
    assert answer.status_code == 303, answer.text
    return client


# --- the preference -------------------------------------------------------------------------


@pytest.mark.parametrize(("locale", "label", "changed"), [
    ("en", "Time zone", "Time zone changed to Asia/Shanghai."),
    ("zh-CN", "时区", "时区已改为 Asia/Shanghai。"),
])  # fmt: skip
def test_time_zone_menu_changes_what_a_record_page_reads(
    pages: Callable[..., httpx.Client],
    user: Callable[..., str],
    ui_live: Live,
    locale: str,
    label: str,
    changed: str,
) -> None:
    name = user(f"tz.menu.{locale.lower()}")
    rfq = new_rfq(ui_live, "2026-03-10T01:00:00Z", f"TZ menu {locale}")
    client = pages(name, locale)
    csrf(client)
    before = client.get(f"/srm/rfq/{rfq['id']}").text
    assert '<label class="sr-only" for="tz-select">' + label in before
    assert '<option value="UTC" selected>' in before  # the deployment's default
    moment = dt.datetime(2026, 3, 10, 1, 0, tzinfo=dt.UTC)
    in_utc, in_shanghai = (
        display.datetime(moment, locale, dt.UTC),
        display.datetime(moment, locale, SHANGHAI),
    )
    assert in_utc in before and in_shanghai not in before
    answer = client.post(
        "/preferences/time-zone",
        data={"time_zone": "Asia/Shanghai", "next": f"/srm/rfq/{rfq['id']}"},
    )
    assert answer.status_code == 303 and answer.headers["location"] == f"/srm/rfq/{rfq['id']}"
    after = client.get(f"/srm/rfq/{rfq['id']}").text
    assert changed in after
    assert '<option value="Asia/Shanghai" selected>' in after
    assert in_shanghai in after and in_utc not in after
    form = client.get(f"/srm/rfq/{rfq['id']}/edit").text
    assert re.search(r'value="2026-03-10T09:00"', form), "the input holds Shanghai's clock time"


def test_unknown_zone_or_missing_csrf_is_refused_and_changes_nothing(
    pages: Callable[..., httpx.Client], user: Callable[..., str], ui_live: Live
) -> None:
    name = user("tz.refused", zone="Asia/Tokyo")
    client = pages(name, "zh-CN")
    csrf(client)
    bad = client.post("/preferences/time-zone", data={"time_zone": "Mars/Olympus"})
    assert bad.status_code == 422 and "未知的时区：Mars/Olympus" in bad.text
    forged = client.post(
        "/preferences/time-zone", data={"time_zone": "UTC"}, headers={"X-CSRF-Token": "forged"}
    )
    assert forged.status_code == 403
    with ui_live.engine.connect() as conn:
        assert identity_of(conn, name).time_zone == "Asia/Tokyo"  # type: ignore[union-attr]


def test_sign_in_takes_the_browsers_zone_only_when_the_user_has_none(
    user: Callable[..., str], ui_live: Live
) -> None:
    fresh, bogus = user("tz.fresh"), user("tz.bogus")
    sign_in(ui_live, fresh, "Asia/Hong_Kong").close()
    sign_in(ui_live, fresh, "Europe/London").close()  # the setting, once made, wins
    sign_in(ui_live, bogus, "Mars/Olympus").close()  # not a zone: ignored
    with ui_live.engine.connect() as conn:
        assert identity_of(conn, fresh).time_zone == "Asia/Hong_Kong"  # type: ignore[union-attr]
        assert identity_of(conn, bogus).time_zone is None  # type: ignore[union-attr]


# --- forms, exports -------------------------------------------------------------------------


def test_typed_datetime_is_the_users_clock_time_and_stored_as_utc(
    pages: Callable[..., httpx.Client], user: Callable[..., str], ui_live: Live
) -> None:
    rfq = new_rfq(ui_live, "2026-01-01T00:00:00Z", "TZ typed")
    client = pages(user("tz.typed", zone="America/New_York"))
    csrf(client)
    form = client.get(f"/srm/rfq/{rfq['id']}/edit").text
    version = re.search(r'name="_version" value="(\d+)"', form)
    assert version is not None
    saved = client.post(
        f"/srm/rfq/{rfq['id']}/edit",
        data={"_version": version.group(1), "deadline": "2026-07-01T09:00"},
    )
    assert saved.status_code == 303, saved.text
    # 09:00 in New York in July is 13:00 UTC (summer time, UTC-4).
    assert api_deadline(ui_live, rfq["id"]) == dt.datetime(2026, 7, 1, 13, 0, tzinfo=dt.UTC)


def test_export_writes_the_readers_zone_and_says_which(
    pages: Callable[..., httpx.Client], user: Callable[..., str], ui_live: Live
) -> None:
    new_rfq(ui_live, "2026-03-10T20:30:00Z", "TZ export marker")
    client = pages(user("tz.export", zone="Asia/Shanghai"))
    answer = client.get("/srm/rfq/export.csv?q=TZ export marker&columns=title,deadline")
    assert answer.status_code == 200, answer.text
    lines = answer.content.decode("utf-8-sig").splitlines()
    assert lines[0] == "Title,Bid deadline (Asia/Shanghai)"
    assert lines[1] == "TZ export marker,2026-03-11 04:30:00+08:00"


# --- the pieces, on their own ---------------------------------------------------------------


def test_clock_times_summer_time_repeats_or_skips_are_read_one_way() -> None:
    # 01:30 happens twice in New York on 2026-11-01: the first one (still summer time).
    assert to_utc(dt.datetime(2026, 11, 1, 1, 30), NEW_YORK) == dt.datetime(
        2026, 11, 1, 5, 30, tzinfo=dt.UTC
    )
    # 02:30 never happens on 2026-03-08: read with the winter offset, it lands at 03:30 EDT.
    moment = to_utc(dt.datetime(2026, 3, 8, 2, 30), NEW_YORK)
    assert moment == dt.datetime(2026, 3, 8, 7, 30, tzinfo=dt.UTC)
    assert moment.astimezone(NEW_YORK).strftime("%H:%M") == "03:30"
    # A value that names its own offset keeps it.
    assert to_utc(dt.datetime(2026, 1, 5, 9, 0, tzinfo=SHANGHAI), NEW_YORK).hour == 1


def test_display_and_today_follow_the_zone() -> None:
    moment = dt.datetime(2026, 3, 10, 20, 0, tzinfo=dt.UTC)
    assert display.datetime(moment, "en", SHANGHAI) == "Mar 11, 2026, 4:00:00\u202fAM"
    assert display.datetime(moment, "en") == "Mar 10, 2026, 8:00:00\u202fPM"  # no zone set: UTC
    assert relative.resolve({"gte": "$today"}, moment, SHANGHAI) == {"gte": "2026-03-11"}
    assert relative.resolve({"gte": "$today"}, moment, dt.UTC) == {"gte": "2026-03-10"}


def test_calendar_puts_a_datetime_on_the_readers_day(
    ui_live: Live, user: Callable[..., str]
) -> None:
    rfq = new_rfq(ui_live, "2026-04-30T18:15:00Z", "TZ calendar")  # May 1st, 02:15 in Shanghai
    loaded = ui_live.runtime.current()
    with ui_live.engine.connect() as conn:
        identity = identity_of(conn, user("tz.calendar"))
        assert identity is not None
        scope = loaded.scope(identity, "srm.rfq", "read")
        assert scope is not None

        def month(number: int, tz: dt.tzinfo) -> calendar.Month:
            return calendar.load_month(
                conn, loaded.store, "srm.rfq", "deadline", scope,
                lambda e: loaded.scope(identity, e, "read"),
                year=2026, month=number, today=dt.date(2026, 5, 1), locale="en", tz=tz,
            )  # fmt: skip

        def chips(shown: calendar.Month) -> dict[int, tuple[dt.date, str]]:
            return {c.id: (c.day, c.time) for d in shown.days_with_records for c in d.chips}

        assert chips(month(5, SHANGHAI))[rfq["id"]] == (dt.date(2026, 5, 1), "02:15")
        assert rfq["id"] not in chips(month(4, SHANGHAI))
        assert chips(month(4, dt.UTC))[rfq["id"]] == (dt.date(2026, 4, 30), "18:15")


# --- in a browser ---------------------------------------------------------------------------


def test_browser_datetime_typed_in_shanghai_reads_back_the_same(
    signed_in: Callable[..., Any], user: Callable[..., str], ui_live: Live
) -> None:
    rfq = new_rfq(ui_live, "2026-01-01T00:00:00Z", "TZ browser")
    page = signed_in(user("tz.browser", zone="Asia/Shanghai"))
    page.goto(f"/srm/rfq/{rfq['id']}/edit")
    page.fill("#f-deadline", "2026-05-20T09:00")
    page.locator("#f-deadline").press("Enter")
    page.wait_for_url(re.compile(rf"/srm/rfq/{rfq['id']}$"))
    expect(page.locator("main")).to_contain_text("May 20, 2026, 9:00:00")
    assert api_deadline(ui_live, rfq["id"]) == dt.datetime(2026, 5, 20, 1, 0, tzinfo=dt.UTC)
