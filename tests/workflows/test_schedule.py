"""Schedules: friendly forms and cron, next runs, clear errors, recurring scheduled jobs."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa

from appblocks.workflows.jobs import JOBS, JobHandlers
from appblocks.workflows.schedule import (
    ScheduleError,
    next_run,
    parse_schedule,
    recurring,
    schedule_job,
    unschedule,
)
from appblocks.workflows.worker import run_once


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


# 2026-11-24 is a Tuesday.
@pytest.mark.parametrize(
    ("schedule", "after", "expected"),
    [
        ("hourly", "2026-11-24 10:15", "2026-11-24 11:00"),
        ("daily", "2026-11-24 10:00", "2026-11-25 00:00"),
        ("daily at 07:30", "2026-11-24 07:29", "2026-11-24 07:30"),
        ("daily at 07:30", "2026-11-24 07:30", "2026-11-25 07:30"),  # strictly after
        ("daily at 7:05", "2026-12-31 23:00", "2027-01-01 07:05"),
        ("  Daily   AT 18:00 ", "2026-11-24 10:00", "2026-11-24 18:00"),
        ("weekly", "2026-11-24 10:00", "2026-11-30 00:00"),  # Monday midnight
        ("weekly on friday at 16:00", "2026-11-24 10:00", "2026-11-27 16:00"),
        ("weekly on tue at 09:00", "2026-11-24 10:00", "2026-12-01 09:00"),
        ("weekly at 08:00", "2026-11-24 10:00", "2026-11-30 08:00"),
        ("Weekly on SUNDAY", "2026-11-24 10:00", "2026-11-29 00:00"),
        ("30 7 * * 1-5", "2026-11-27 08:00", "2026-11-30 07:30"),  # Friday -> Monday
        ("*/15 * * * *", "2026-11-24 10:07", "2026-11-24 10:15"),
        ("0 0 1 * *", "2026-11-24 10:00", "2026-12-01 00:00"),
        ("0 9 * * mon", "2026-11-24 10:00", "2026-11-30 09:00"),
        ("0 0 29 2 *", "2026-11-24 10:00", "2028-02-29 00:00"),  # the next leap day
    ],
)
def test_next_run_of_schedule(schedule: str, after: str, expected: str) -> None:
    assert next_run(schedule, utc(after)) == utc(expected)


def test_next_run_in_a_time_zone_is_returned_in_utc() -> None:
    # 07:30 in Berlin is 06:30 UTC in winter, 05:30 UTC in summer.
    assert next_run("daily at 07:30", utc("2026-11-24 00:00"), tz="Europe/Berlin") == utc(
        "2026-11-24 06:30"
    )
    assert next_run("daily at 07:30", utc("2026-07-01 00:00"), tz="Europe/Berlin") == utc(
        "2026-07-01 05:30"
    )


def test_next_run_takes_a_naive_time_as_utc() -> None:
    assert next_run("daily", dt.datetime(2026, 11, 24, 10)) == utc("2026-11-25 00:00")


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        ("", "a schedule is empty"),
        ("dayly", "'dayly' is not a schedule: use 'hourly', 'daily [at HH:MM]'"),
        ("every day", "is not a schedule"),
        ("daily at", "'daily at' is not a schedule"),
        ("daily at noon", "'noon' is not a time of day: use HH:MM"),
        ("daily at 24:00", "'24:00' is not a time of day"),
        ("daily at 07:60", "'07:60' is not a time of day"),
        ("weekly on funday", "'funday' is not a day of the week: use monday to sunday"),
        ("weekly friday", "is not a schedule"),
        ("61 * * * *", "'61 * * * *' is not a valid cron expression (Bad minute)"),
        ("* * * *", "is not a valid cron expression (it has 4 fields, not 5"),
        ("0 0 30 2 *", "is not a valid cron expression"),
        ("* * * * * *", "it has 6 fields, not 5: minute hour day-of-month month day-of-week"),
    ],
)
def test_bad_schedule_has_a_clear_message(schedule: str, message: str) -> None:
    with pytest.raises(ScheduleError) as caught:
        parse_schedule(schedule)
    assert message in str(caught.value)


def test_unknown_time_zone_is_a_schedule_error() -> None:
    with pytest.raises(ScheduleError, match="not a known time zone"):
        next_run("daily", utc("2026-11-24 10:00"), tz="Mars/Olympus")


def test_schedule_job_queues_the_next_run_once(engine: sa.Engine) -> None:
    now = utc("2026-11-24 10:00")
    with engine.begin() as conn:
        first = schedule_job(conn, "digest", "daily at 07:30", now, payload={"app": "crm"})
        again = schedule_job(conn, "digest", "daily at 07:30", now + dt.timedelta(hours=1))
    assert first is not None and again is None
    with engine.connect() as conn:
        row = conn.execute(sa.select(JOBS)).one()
    assert row.dedupe_key == "schedule:digest:2026-11-25T07:30:00Z"
    assert row.due_at == utc("2026-11-25 07:30") and row.kind == "schedule"
    assert row.payload["app"] == "crm"


def test_unschedule_cancels_pending_runs(engine: sa.Engine) -> None:
    now = utc("2026-11-24 10:00")
    with engine.begin() as conn:
        schedule_job(conn, "digest", "daily", now)
        schedule_job(conn, "digest_weekly", "weekly", now)
        assert unschedule(conn, "digest") == 1
    with engine.connect() as conn:
        rows = conn.execute(sa.select(JOBS.c.status).order_by(JOBS.c.id)).scalars().all()
    assert rows == ["cancelled", "pending"]


def scheduled_handlers(ran: list[dict[str, Any]], clock: list[dt.datetime]) -> JobHandlers:
    handlers = JobHandlers()

    def digest(conn: sa.Connection, payload: dict[str, Any], job_id: int) -> None:
        ran.append(payload)

    handlers.register("schedule")(recurring(digest, clock=lambda: clock[0]))
    return handlers


def pending_runs(engine: sa.Engine) -> list[str]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                sa.select(JOBS.c.dedupe_key).where(JOBS.c.status == "pending").order_by(JOBS.c.id)
            ).scalars()
        )


def test_recurring_job_queues_its_next_run(engine: sa.Engine) -> None:
    start = utc("2026-11-24 10:00")
    with engine.begin() as conn:
        schedule_job(conn, "digest", "daily at 07:30", start, payload={"app": "crm"})
    ran: list[dict[str, Any]] = []
    slot = utc("2026-11-25 07:30")
    clock = [slot + dt.timedelta(seconds=2)]
    assert run_once(engine, scheduled_handlers(ran, clock), "w1", now=clock[0]) == 1
    assert ran[0]["app"] == "crm" and ran[0]["_schedule"]["at"] == "2026-11-25T07:30:00Z"
    assert pending_runs(engine) == ["schedule:digest:2026-11-26T07:30:00Z"]
    with engine.connect() as conn:
        payloads = conn.execute(sa.select(JOBS.c.payload).order_by(JOBS.c.id)).scalars().all()
    assert payloads[-1]["app"] == "crm"  # the next run keeps the payload


def test_recurring_job_after_downtime_runs_once_not_per_missed_slot(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        schedule_job(conn, "digest", "daily at 07:30", utc("2026-11-24 10:00"))
    ran: list[dict[str, Any]] = []
    clock = [utc("2026-11-28 12:00")]  # the worker was down for three days
    handlers = scheduled_handlers(ran, clock)
    with engine.begin() as conn:  # a worker start re-ensures the schedule: no double either
        schedule_job(conn, "digest", "daily at 07:30", clock[0])
    assert run_once(engine, handlers, "w1", now=clock[0]) == 1
    assert len(ran) == 1
    assert pending_runs(engine) == ["schedule:digest:2026-11-29T07:30:00Z"]
