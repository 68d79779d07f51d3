"""The outbox: mail and webhooks are queued as jobs in the triggering transaction, sent later.

Queuing inside the transaction that caused a message means a rolled-back change never sends
it; the worker sends and retries with backoff. Delivery is at least once: a mail keeps one
Message-ID (`<appblocks-job-ID@domain>`) and a webhook one `X-Appblocks-Delivery` across
retries, so a receiver can drop repeats.

Webhook signatures. Each POST carries a JSON body and these headers:

    X-Appblocks-Event:     the event name, e.g. `record.created`
    X-Appblocks-Delivery:  the delivery id (the job id; the same on every retry)
    X-Appblocks-Timestamp: Unix time in seconds when this attempt was sent
    X-Appblocks-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<raw body>", keyed by the
                           secret>   (only when the hook has a secret)

A receiver recomputes the HMAC over the exact bytes it received, compares it in constant time
(`hmac.compare_digest`) and rejects a timestamp far from its clock (say 5 minutes) to stop
replays; `verify_signature` below does exactly that.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import smtplib
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa

from appblocks.workflows.jobs import JobHandler, JobHandlers, enqueue

log = logging.getLogger(__name__)

MAIL, WEBHOOK = "mail", "webhook"
WEBHOOK_TIMEOUT = 10.0
_TRUE = {"1", "true", "yes", "on"}


class WebhookError(RuntimeError):
    """A webhook delivery that did not get a 2xx answer; the worker retries it."""


@dataclass(frozen=True)
class MailSettings:
    """How to reach the SMTP server; `from_env` reads the APPBLOCKS_SMTP_* variables."""

    host: str = "localhost"
    port: int = 25
    user: str | None = None
    password: str | None = None
    starttls: bool = False
    mail_from: str = "appblocks@localhost"
    timeout: float = 10.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> MailSettings:
        """Settings from APPBLOCKS_SMTP_HOST/PORT/USER/PASSWORD/STARTTLS, APPBLOCKS_MAIL_FROM."""
        return cls(
            host=env.get("APPBLOCKS_SMTP_HOST") or cls.host,
            port=int(env.get("APPBLOCKS_SMTP_PORT") or cls.port),
            user=env.get("APPBLOCKS_SMTP_USER") or None,
            password=env.get("APPBLOCKS_SMTP_PASSWORD") or None,
            starttls=(env.get("APPBLOCKS_SMTP_STARTTLS") or "").strip().lower() in _TRUE,
            mail_from=env.get("APPBLOCKS_MAIL_FROM") or cls.mail_from,
        )


def _check_header(name: str, value: str) -> None:
    # Refused when queued, not when sent: a header injection is a caller's bug, not
    # something that retrying could ever fix.
    if "\r" in value or "\n" in value:
        raise ValueError(f"a mail {name} may not contain line breaks: {value!r}")


def queue_mail(
    conn: sa.Connection, to: list[str], subject: str, body: str, *, html: str | None = None
) -> int:
    """Queue one mail to `to` in the caller's transaction; the job id."""
    if not to:
        raise ValueError("a mail needs at least one recipient")
    for address in to:
        _check_header("recipient", address)
        if "@" not in address:
            raise ValueError(f"{address!r} is not a mail address")
    _check_header("subject", subject)
    payload = {"to": list(to), "subject": subject, "body": body, "html": html}
    job_id = enqueue(conn, MAIL, payload)
    assert job_id is not None  # no dedupe key, so never skipped
    return job_id


def build_message(settings: MailSettings, payload: Mapping[str, Any], job_id: int) -> EmailMessage:
    """The message a `mail` job sends (a pure function, tested apart from SMTP)."""
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = ", ".join(payload["to"])
    message["Subject"] = payload["subject"]
    message["Date"] = formatdate(usegmt=True)
    domain = settings.mail_from.rpartition("@")[2].strip("> ") or "localhost"
    message["Message-ID"] = f"<appblocks-job-{job_id}@{domain}>"
    message.set_content(payload.get("body") or "")
    if payload.get("html"):
        message.add_alternative(payload["html"], subtype="html")
    return message


def mail_handler(settings: MailSettings) -> JobHandler:
    """The `mail` job handler: send through the SMTP server in `settings`."""

    def send_mail(conn: sa.Connection, payload: dict[str, Any], job_id: int) -> None:
        message = build_message(settings, payload, job_id)
        with smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout) as smtp:
            if settings.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if settings.user:
                smtp.login(settings.user, settings.password or "")
            refused = smtp.send_message(message)
        if refused:
            # Some recipients were accepted: retrying would mail them again, so only log.
            log.warning("mail job %s: recipients refused: %s", job_id, refused)

    return send_mail


def _check_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ValueError(f"a webhook URL must be http:// or https:// with a host, not {url!r}")


def queue_webhook(
    conn: sa.Connection,
    url: str,
    payload: dict[str, Any],
    *,
    secret: str | None,
    event: str,
) -> int:
    """Queue a signed POST of `payload` as JSON to `url`; the job id (the delivery id)."""
    _check_url(url)
    _check_header("event", event)
    job = {"url": url, "event": event, "body": payload, "secret": secret}
    job_id = enqueue(conn, WEBHOOK, job)
    assert job_id is not None  # no dedupe key, so never skipped
    return job_id


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The `X-Appblocks-Signature` value for a body sent at `timestamp`."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify_signature(
    secret: str,
    timestamp: str,
    body: bytes,
    signature: str,
    *,
    now: float | None = None,
    tolerance: float = 300.0,
) -> bool:
    """What a receiver checks: the signature matches and the timestamp is recent."""
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - sent) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    # A redirect would turn the POST into a GET (losing the body) or lead anywhere, including
    # non-http schemes; a moved receiver must update its URL, so a 3xx counts as a failure.
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def webhook_handler(*, timeout: float = WEBHOOK_TIMEOUT) -> JobHandler:
    """The `webhook` job handler: a signed POST that raises on a non-2xx answer or no answer."""
    opener = urllib.request.build_opener(_NoRedirects())

    def post_webhook(conn: sa.Connection, payload: dict[str, Any], job_id: int) -> None:
        url = payload["url"]
        _check_url(url)
        body = json.dumps(payload["body"], separators=(",", ":"), default=str).encode()
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "appblocks-webhook/1",
            "X-Appblocks-Event": payload["event"],
            "X-Appblocks-Delivery": str(job_id),
            "X-Appblocks-Timestamp": timestamp,
        }
        if payload.get("secret"):
            headers["X-Appblocks-Signature"] = sign(payload["secret"], timestamp, body)
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with opener.open(request, timeout=timeout) as response:
                status = response.status
        except urllib.error.HTTPError as exc:
            detail = exc.read(500).decode("utf-8", "replace").strip()
            raise WebhookError(f"POST {url} answered {exc.code}: {detail[:200]}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise WebhookError(f"POST {url} failed: {exc}") from exc
        if not 200 <= status < 300:
            raise WebhookError(f"POST {url} answered {status}")

    return post_webhook


def register_outbox(
    handlers: JobHandlers, mail: MailSettings, *, webhook_timeout: float = WEBHOOK_TIMEOUT
) -> JobHandlers:
    """Register the `mail` and `webhook` handlers; returns `handlers` for chaining."""
    handlers.register(MAIL, in_transaction=False)(mail_handler(mail))
    handlers.register(WEBHOOK, in_transaction=False)(webhook_handler(timeout=webhook_timeout))
    return handlers
