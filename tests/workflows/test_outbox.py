"""The outbox and notifications: mail to a real local SMTP server, signed webhooks to a real
local HTTP server, retries; in-app notifications with optional mail."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import json
from typing import Any

import pytest
import sqlalchemy as sa

from appblocks.engine.users import create_user
from appblocks.workflows.jobs import JOBS, JobHandlers
from appblocks.workflows.notify import mark_read, notify, unread
from appblocks.workflows.outbox import (
    MailSettings,
    queue_mail,
    queue_webhook,
    register_outbox,
    sign,
    verify_signature,
)
from appblocks.workflows.worker import run_once

from .conftest import HookServer, SmtpSink, free_port

T0 = dt.datetime(2026, 11, 24, 10, 0, tzinfo=dt.UTC)
LATER = T0 + dt.timedelta(minutes=1)  # past any job queued "now" in a test


def outbox(port: int) -> JobHandlers:
    settings = MailSettings(host="127.0.0.1", port=port, mail_from="Appblocks <ab@example.org>")
    return register_outbox(JobHandlers(), settings, webhook_timeout=5)


def job(engine: sa.Engine, job_id: int) -> Any:
    with engine.connect() as conn:
        return conn.execute(sa.select(JOBS).where(JOBS.c.id == job_id)).one()


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)


# --- mail -----------------------------------------------------------------------------------


def test_mail_is_delivered_to_a_local_smtp_server(engine: sa.Engine, smtp_server: SmtpSink) -> None:
    with engine.begin() as conn:
        job_id = queue_mail(
            conn, ["ann@example.org", "bo@example.org"], "PO-2026-00001 approved", "Hello Ann,\n"
        )
    assert run_once(engine, outbox(smtp_server.port), "w1", now=now()) == 1
    assert job(engine, job_id).status == "done"
    [envelope] = smtp_server.envelopes
    assert envelope.rcpt_tos == ["ann@example.org", "bo@example.org"]
    assert envelope.mail_from == "ab@example.org"
    message = email.message_from_bytes(envelope.content, policy=email.policy.default)
    assert message["To"] == "ann@example.org, bo@example.org"
    assert message["Subject"] == "PO-2026-00001 approved"
    assert message["Message-ID"] == f"<appblocks-job-{job_id}@example.org>"
    assert message.get_content().strip() == "Hello Ann,"


def test_mail_with_html_sends_both_parts(engine: sa.Engine, smtp_server: SmtpSink) -> None:
    with engine.begin() as conn:
        queue_mail(conn, ["ann@example.org"], "Hi", "plain text", html="<p>rich <b>text</b></p>")
    run_once(engine, outbox(smtp_server.port), "w1", now=now())
    message = email.message_from_bytes(
        smtp_server.envelopes[0].content, policy=email.policy.default
    )
    assert message.get_content_type() == "multipart/alternative"
    assert message.get_body(("plain",)).get_content().strip() == "plain text"  # type: ignore[union-attr]
    assert "<b>text</b>" in message.get_body(("html",)).get_content()  # type: ignore[union-attr]


def test_mail_is_retried_when_the_smtp_server_is_down(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        job_id = queue_mail(conn, ["ann@example.org"], "Hi", "body")
    assert run_once(engine, outbox(free_port()), "w1", now=now()) == 1
    row = job(engine, job_id)
    assert (row.status, row.attempts) == ("pending", 1)
    assert "ConnectionRefusedError" in row.last_error


@pytest.mark.parametrize(
    ("to", "subject", "error"),
    [
        ([], "Hi", "at least one recipient"),
        (["not-an-address"], "Hi", "is not a mail address"),
        (["a@example.org\r\nBcc: x@evil.example"], "Hi", "line breaks"),
        (["a@example.org"], "Hi\r\nBcc: x@evil.example", "line breaks"),
    ],
)
def test_queue_mail_refuses_bad_input(
    engine: sa.Engine, to: list[str], subject: str, error: str
) -> None:
    with engine.begin() as conn, pytest.raises(ValueError, match=error):
        queue_mail(conn, to, subject, "body")


def test_mail_settings_come_from_the_environment() -> None:
    env = {
        "APPBLOCKS_SMTP_HOST": "smtp.example.org",
        "APPBLOCKS_SMTP_PORT": "587",
        "APPBLOCKS_SMTP_USER": "robot",
        "APPBLOCKS_SMTP_PASSWORD": "s3cret",
        "APPBLOCKS_SMTP_STARTTLS": "true",
        "APPBLOCKS_MAIL_FROM": "noreply@example.org",
    }
    assert MailSettings.from_env(env) == MailSettings(
        "smtp.example.org", 587, "robot", "s3cret", True, "noreply@example.org"
    )
    assert MailSettings.from_env({}) == MailSettings()


# --- webhooks -------------------------------------------------------------------------------


def test_webhook_is_posted_with_a_signature_that_verifies(
    engine: sa.Engine, hook_server: HookServer
) -> None:
    payload = {"entity": "srm.purchase_order", "id": 7, "total": "1200.50"}
    with engine.begin() as conn:
        job_id = queue_webhook(
            conn, hook_server.url, payload, secret="s3cret", event="record.created"
        )
    assert run_once(engine, outbox(free_port()), "w1", now=now()) == 1
    assert job(engine, job_id).status == "done"
    [received] = hook_server.requests
    headers = received.headers
    assert json.loads(received.body) == payload
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Appblocks-Event"] == "record.created"
    assert headers["X-Appblocks-Delivery"] == str(job_id)
    timestamp, signature = headers["X-Appblocks-Timestamp"], headers["X-Appblocks-Signature"]
    assert verify_signature("s3cret", timestamp, received.body, signature)
    assert not verify_signature("wrong", timestamp, received.body, signature)
    assert not verify_signature("s3cret", timestamp, received.body + b" ", signature)
    assert not verify_signature(
        "s3cret", timestamp, received.body, signature, now=float(timestamp) + 3600
    )


def test_webhook_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    # Pinned to a value computed independently
    # (`printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac key`), so the documented
    # scheme cannot drift without this test noticing.
    assert sign("key", "1700000000", b'{"a":1}') == (
        "sha256=a438e398bfafc57e4396bb7fc2304422f0f768e965d073ca313cb52e22e6ad03"
    )


def test_webhook_500_is_retried_and_a_later_200_is_done(
    engine: sa.Engine, hook_server: HookServer
) -> None:
    hook_server.statuses = [500]
    with engine.begin() as conn:
        job_id = queue_webhook(conn, hook_server.url, {"n": 1}, secret=None, event="ping")
    first = now()
    assert run_once(engine, outbox(free_port()), "w1", now=first) == 1
    row = job(engine, job_id)
    assert (row.status, row.attempts) == ("pending", 1)
    assert "answered 500" in row.last_error
    assert run_once(engine, outbox(free_port()), "w1", now=first + dt.timedelta(seconds=31)) == 1
    assert job(engine, job_id).status == "done"
    deliveries = [r.headers["X-Appblocks-Delivery"] for r in hook_server.requests]
    assert deliveries == [str(job_id)] * 2  # the same delivery id on the retry
    assert "X-Appblocks-Signature" not in hook_server.requests[0].headers  # no secret


def test_webhook_redirect_is_not_followed(engine: sa.Engine, hook_server: HookServer) -> None:
    hook_server.statuses = [302]
    hook_server.location = "file:///etc/passwd"
    with engine.begin() as conn:
        job_id = queue_webhook(conn, hook_server.url, {}, secret=None, event="ping")
    run_once(engine, outbox(free_port()), "w1", now=now())
    assert "answered 302" in job(engine, job_id).last_error
    assert len(hook_server.requests) == 1


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "ftp://example.org/x", "javascript:alert(1)", "http://", "/x"]
)
def test_queue_webhook_refuses_urls_that_are_not_http(engine: sa.Engine, url: str) -> None:
    with engine.begin() as conn, pytest.raises(ValueError, match="http"):
        queue_webhook(conn, url, {}, secret=None, event="ping")


# --- notifications --------------------------------------------------------------------------


def test_notify_writes_notifications_and_mails_users_with_addresses(
    engine: sa.Engine, smtp_server: SmtpSink
) -> None:
    with engine.begin() as conn:
        create_user(conn, "ann", password=None, email="ann@example.org")
        create_user(conn, "bo", password=None)  # no address
        create_user(conn, "cy", password=None, email="cy@example.org")
        notify(
            conn,
            ["ann", "bo", "cy", "ann"],
            "PO-7 needs your approval",
            "Total 1,200.50",
            entity="srm.purchase_order",
            record_id=7,
            email=True,
        )
        assert [n["subject"] for n in unread(conn, "bo")] == ["PO-7 needs your approval"]
        [note] = unread(conn, "ann")  # a name given twice is notified once
        assert (note["entity"], note["record_id"], note["body"]) == (
            "srm.purchase_order",
            7,
            "Total 1,200.50",
        )
    assert run_once(engine, outbox(smtp_server.port), "w1", now=now()) == 2
    # One mail per recipient, so no one sees another's address.
    assert sorted(e.rcpt_tos for e in smtp_server.envelopes) == [
        ["ann@example.org"],
        ["cy@example.org"],
    ]


def test_notify_without_email_queues_no_mail(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        create_user(conn, "ann", password=None, email="ann@example.org")
        notify(conn, ["ann"], "Hello")
        assert conn.execute(sa.select(sa.func.count()).select_from(JOBS)).scalar() == 0


def test_mark_read_only_touches_the_users_own_notifications(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        notify(conn, ["ann", "bo"], "First")
        notify(conn, ["ann"], "Second")
        ann = unread(conn, "ann")
        assert [n["subject"] for n in ann] == ["Second", "First"]  # newest first
        [bo_note] = unread(conn, "bo")
        assert mark_read(conn, "ann", [bo_note["id"]]) == 0
        assert mark_read(conn, "ann", [n["id"] for n in ann]) == 2
        assert mark_read(conn, "ann", [n["id"] for n in ann]) == 0
        assert unread(conn, "ann") == [] and len(unread(conn, "bo")) == 1
