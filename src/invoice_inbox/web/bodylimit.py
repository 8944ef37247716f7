"""Request bodies are bounded before they are read: 413 for anything larger.

An ASGI middleware, outside every route: a ``Content-Length`` above the limit is answered at
once, without reading a byte of the body (and the connection is closed); a body without one
(chunked) is counted as it arrives and refused when it passes the limit, so at most one limit's
worth is ever held. The limit depends on the content type:

- forms (``application/x-www-form-urlencoded``): 64 KB; the largest real form, a source's
  allowed senders, is a few KB;
- ``multipart/form-data``: 4 MB, room for an uploaded certificate; nothing larger is uploaded;
- everything else (the API's JSON): 1 MB.

Within those, Starlette's form parser keeps its own bounds (1,000 fields, 1 MB per part).
"""

from __future__ import annotations

import json

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

KB = 1024
FORM_LIMIT = 64 * KB
MULTIPART_LIMIT = 4 * KB * KB
DEFAULT_LIMIT = 1 * KB * KB


def limit_for(content_type: str) -> int:
    """The largest body accepted with this ``Content-Type``, in bytes."""
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind == "application/x-www-form-urlencoded":
        return FORM_LIMIT
    if kind == "multipart/form-data":
        return MULTIPART_LIMIT
    return DEFAULT_LIMIT


def _size(n: int) -> str:
    return f"{n // (KB * KB)} MB" if n >= KB * KB else f"{n // KB} KB"


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(
            status_code=413, detail=f"The request is too large: at most {_size(limit)}."
        )


class BodyLimit:
    """Refuse request bodies larger than :func:`limit_for` allows (413)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        limit = limit_for(headers.get("content-type", ""))
        announced = headers.get("content-length")
        if announced is not None and (not announced.isdigit() or int(announced) > limit):
            await _refuse(scope, send, BodyTooLarge(limit), close=True)
            return

        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except BodyTooLarge as exc:  # read outside a route's error handling
            if started:
                raise
            await _refuse(scope, send, exc, close=False)


async def _refuse(scope: Scope, send: Send, exc: BodyTooLarge, *, close: bool) -> None:
    if scope["path"].startswith("/api/"):
        body, content_type = json.dumps({"detail": exc.detail}).encode(), b"application/json"
    else:
        body, content_type = exc.detail.encode(), b"text/plain; charset=utf-8"
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    if close:  # the body was not read: do not wait for it on this connection
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})
