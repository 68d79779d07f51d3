"""A request body size limit as pure ASGI middleware (413 before the body is read in full)."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyTooLarge(Exception):
    """The client sent more than the limit."""


class BodyLimit:
    """Refuse request bodies over `max_bytes` with a 413 (problem+json for the API, a short
    page for a browser). Uploads from the pages (multipart forms outside `/api/`) may send
    up to `max_upload_bytes`: attachments and import files are larger than any JSON body."""

    def __init__(self, app: ASGIApp, max_bytes: int, max_upload_bytes: int | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_upload_bytes = max(max_upload_bytes or max_bytes, max_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers", []))
        page = not str(scope.get("path", "")).startswith("/api/")
        upload = page and headers.get(b"content-type", b"").startswith(b"multipart/form-data")
        limit = self.max_upload_bytes if upload else self.max_bytes
        html = page and b"text/html" in headers.get(b"accept", b"")
        try:
            declared = int(headers.get(b"content-length", b"0"))
        except ValueError:
            declared = 0
        if declared > limit:
            await self._refuse(send, limit, html)
            return
        seen = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._refuse(send, limit, html)

    async def _refuse(self, send: Send, limit: int, html: bool) -> None:
        detail = f"the request body is larger than {limit:,} bytes"
        if html:
            # Both languages: the middleware runs before the user's language is known.
            mib = limit / (1024 * 1024)
            body = (
                '<!doctype html><meta charset="utf-8"><title>413</title>'
                '<link rel="stylesheet" href="/static/app.css"><main class="page">'
                f'<p class="problem" role="alert">The upload is too large (at most {mib:.0f} MB). '
                f"上传内容过大（最多 {mib:.0f} MB）。</p>"
                '<p><a href="javascript:history.back()">Back · 返回</a></p></main>'
            ).encode()
            kind = b"text/html; charset=utf-8"
        else:
            body = json.dumps(
                {
                    "type": "about:blank",
                    "title": "Request body too large",
                    "status": 413,
                    "detail": detail,
                }
            ).encode()
            kind = b"application/problem+json"
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", kind), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})
