"""Fixtures for the worker and outbox: a table for handlers' side effects, real local servers."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller


@pytest.fixture
def effects(engine: sa.Engine) -> sa.Table:
    """A table handlers write to; UNIQUE(job_id) catches a job that ran twice."""
    metadata = sa.MetaData()
    table = sa.Table(
        "wf_effect",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("job_id", sa.BigInteger, nullable=False, unique=True),
        sa.Column("worker", sa.String(100)),
    )
    metadata.create_all(engine)
    return table


# --- SMTP -----------------------------------------------------------------------------------


@dataclass
class SmtpSink:
    """What the local SMTP server received: one envelope per message."""

    host: str = "127.0.0.1"
    port: int = 0
    envelopes: list[Any] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (at the moment of asking)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def smtp_server() -> Iterator[SmtpSink]:
    """A real SMTP server (aiosmtpd) on 127.0.0.1 that keeps what it receives."""
    sink = SmtpSink(port=free_port())
    controller = Controller(sink, hostname=sink.host, port=sink.port)
    controller.start()
    try:
        yield sink
    finally:
        controller.stop()


# --- HTTP -----------------------------------------------------------------------------------


@dataclass
class Received:
    """One request the local HTTP server got."""

    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class HookServer:
    """A local webhook receiver: answers with `statuses` in turn (then 200), keeps requests."""

    url: str = ""
    statuses: list[int] = field(default_factory=list)
    location: str | None = None
    requests: list[Received] = field(default_factory=list)


@pytest.fixture
def hook_server() -> Iterator[HookServer]:
    """A real HTTP server on 127.0.0.1 in a thread."""
    state = HookServer()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            state.requests.append(Received(self.path, dict(self.headers.items()), body))
            status = state.statuses.pop(0) if state.statuses else 200
            self.send_response(status)
            if state.location:
                self.send_header("Location", state.location)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass  # keep test output clean

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    # A short poll interval keeps shutdown() (and so each test) fast.
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
