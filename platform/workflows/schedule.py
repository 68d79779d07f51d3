"""Schedules of scheduled automations, and the jobs that run them.

A schedule is `hourly`, `daily` or `daily at 07:30`, `weekly`, `weekly on monday` or
`weekly on friday at 16:00`, or a 5-field cron expression (`30 7 * * 1-5`). The friendly forms
are translated to cron, and cronsim evaluates every schedule: one evaluator, with cron's
day-of-month/day-of-week rules and DST handled by a library that is tested for them. Times
are UTC unless a time zone is given.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from cronsim import CronSim, CronSimError

from appblocks.engine.models import utcnow
from appblocks.workflows.jobs import JobHandler, cancel, enqueue

SCHEDULE_KIND = "schedule"
META = "_schedule"  # the payload key where a scheduled job keeps what it needs to recur
USAGE = (
    "use 'hourly', 'daily [at HH:MM]', 'weekly [on DAY] [at HH:MM]' "
    "or a 5-field cron expression such as '30 7 * * 1-5'"
)
_DAYS = {
    name: index
    for index, name in enumerate(
        ["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"]
    )
}
_DAILY = re.compile(r"daily(?: at (?P<at>\S+))?")
_WEEKLY = re.compile(r"weekly(?: on (?P<day>\S+))?(?: at (?P<at>\S+))?")
_TIME = re.compile(r"(?P<h>\d{1,2}):(?P<m>\d{2})")


class ScheduleError(ValueError):
    """A schedule that cannot be understood; the message says why and what would work."""


@dataclass(frozen=True)
class Schedule:
    """A parsed schedule: its text as written and the cron expression it means."""

    text: str
    cron: str

    def next_run(self, after: dt.datetime, tz: str = "UTC") -> dt.datetime:
        """The first run strictly after `after`, in UTC (a naive `after` is taken as UTC)."""
        if after.tzinfo is None:
            after = after.replace(tzinfo=dt.UTC)
        try:
            when = next(CronSim(self.cron, after.astimezone(_zone(tz))))
        except StopIteration:
            raise ScheduleError(f"schedule {self.text!r} never comes round") from None
        return when.astimezone(dt.UTC)


def _zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(f"{tz!r} is not a known time zone (e.g. 'Europe/Berlin')") from None


def _time_of_day(text: str | None) -> tuple[int, int]:
    if text is None:
        return 0, 0
    match = _TIME.fullmatch(text)
    if not match or int(match["h"]) > 23 or int(match["m"]) > 59:
        raise ScheduleError(f"{text!r} is not a time of day: use HH:MM from 00:00 to 23:59")
    return int(match["h"]), int(match["m"])


def _weekday(text: str | None) -> int:
    if text is None:
        return _DAYS["monday"]
    for name, index in _DAYS.items():
        if text in (name, name[:3]):
            return index
    raise ScheduleError(f"{text!r} is not a day of the week: use monday to sunday")


@lru_cache(maxsize=512)
def parse_schedule(text: str) -> Schedule:
    """Parse a schedule once (cached); ScheduleError with a clear message if it is bad."""
    words = " ".join(str(text).lower().split())
    if not words:
        raise ScheduleError(f"a schedule is empty: {USAGE}")
    if words == "hourly":
        cron = "0 * * * *"
    elif match := _DAILY.fullmatch(words):
        hour, minute = _time_of_day(match["at"])
        cron = f"{minute} {hour} * * *"
    elif match := _WEEKLY.fullmatch(words):
        hour, minute = _time_of_day(match["at"])
        cron = f"{minute} {hour} * * {_weekday(match['day'])}"
    elif words.split()[0] in {"hourly", "daily", "weekly"}:
        raise ScheduleError(f"{text!r} is not a schedule: {USAGE}")
    else:
        cron = " ".join(text.split())
        fields = len(cron.split())
        if re.fullmatch(r"[a-z ]+", words) and fields != 5:
            raise ScheduleError(f"{text!r} is not a schedule: {USAGE}")
        if fields != 5:
            # cronsim also takes a leading seconds field; a worker polling every second
            # cannot keep such a schedule, so only cron's classic five fields are allowed.
            raise ScheduleError(
                f"{text!r} is not a valid cron expression (it has {fields} fields, not 5: "
                "minute hour day-of-month month day-of-week)"
            )
        try:
            CronSim(cron, dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
        except CronSimError as exc:
            raise ScheduleError(
                f"{text!r} is not a valid cron expression ({exc}): {USAGE}"
            ) from None
    return Schedule(text=str(text), cron=cron)


def next_run(schedule: str, after: dt.datetime, *, tz: str = "UTC") -> dt.datetime:
    """When `schedule` runs next, strictly after `after`, as an aware UTC datetime."""
    return parse_schedule(schedule).next_run(after, tz)


def _iso(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def schedule_job(
    conn: sa.Connection,
    name: str,
    schedule: str,
    now: dt.datetime,
    *,
    kind: str = SCHEDULE_KIND,
    payload: dict[str, Any] | None = None,
    tz: str = "UTC",
) -> int | None:
    """Queue the next run of schedule `name` after `now`; None if that run is already queued.

    The dedupe key names the run (`schedule:<name>:<UTC time>`), so calling this again (at
    every worker start, after every run) never queues one run twice.
    """
    at = next_run(schedule, now, tz=tz)
    body = dict(payload or {})
    body[META] = {"name": name, "schedule": schedule, "tz": tz, "kind": kind, "at": _iso(at)}
    return enqueue(conn, kind, body, due_at=at, dedupe_key=f"schedule:{name}:{_iso(at)}")


def unschedule(conn: sa.Connection, name: str) -> int:
    """Cancel the pending runs of schedule `name` (it was removed or its schedule changed)."""
    return cancel(conn, dedupe_prefix=f"schedule:{name}:")


def recurring(fn: JobHandler, *, clock: Callable[[], dt.datetime] = utcnow) -> JobHandler:
    """Wrap a scheduled job's handler so that a successful run queues the next one.

    The next run comes after whichever is later, this run's slot or now: a worker that was
    down for days runs a missed schedule once, not once per missed slot.
    """

    def run_and_reschedule(conn: sa.Connection, payload: dict[str, Any], job_id: int) -> None:
        meta = payload.get(META)
        rest = {k: v for k, v in payload.items() if k != META}
        fn(conn, payload, job_id)
        if not isinstance(meta, dict):
            return  # queued by hand with enqueue(), not by schedule_job: nothing recurs
        slot = dt.datetime.fromisoformat(meta["at"].replace("Z", "+00:00"))
        schedule_job(
            conn,
            meta["name"],
            meta["schedule"],
            max(clock(), slot),
            kind=meta["kind"],
            payload=rest,
            tz=meta.get("tz", "UTC"),
        )

    return run_and_reschedule
