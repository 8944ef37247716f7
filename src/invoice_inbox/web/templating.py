"""Rendering pages: the Jinja2 environment (autoescaped), its filters, and flash messages.

Every page is rendered with ``render(request, "name.html", page, **values)``: the template gets
``page`` (the signed-in user and the CSRF token its forms send), ``flash`` (a message from the
request before a redirect) and the values. Text from mail (subjects, file names) is escaped by
Jinja2's autoescape; no template may use ``|safe`` on such text.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from starlette.responses import Response

from invoice_inbox.web.security import Page

TEMPLATES = Path(__file__).with_name("templates")
FLASH_COOKIE = "ii_flash"

# Scripts only from this site (htmx is served from /static); PDFs may be framed by our pages.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; object-src 'self'; frame-src 'self'; frame-ancestors 'self'; "
    "base-uri 'none'; form-action 'self'"
)

templates = Jinja2Templates(directory=str(TEMPLATES))


def _when(value: datetime | None) -> str:
    """A UTC time as ``2026-11-21 14:03 UTC``; ``–`` for none."""
    if value is None:
        return "–"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _size(n: int | None) -> str:
    if n is None:
        return "–"
    for unit in ("B", "KB", "MB"):
        if n < 1024 or unit == "MB":
            return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n} B"


templates.env.filters["when"] = _when
templates.env.filters["size"] = _size


def render(
    request: Request,
    name: str,
    page: Page | None,
    *,
    status_code: int = 200,
    **values: Any,
) -> HTMLResponse:
    flash = unquote(request.cookies.get(FLASH_COOKIE, "")) or None
    response = templates.TemplateResponse(
        request,
        name,
        {"page": page, "flash": flash, "now": datetime.now(UTC), **values},
        status_code=status_code,
    )
    if flash:
        response.delete_cookie(FLASH_COOKIE, path="/")
    return response


def redirect(url: str, *, flash: str | None = None, request: Request | None = None) -> Response:
    """303 to *url* (a GET), with a one-time message; for htmx requests an ``HX-Redirect``."""
    if request is not None and request.headers.get("hx-request"):
        response: Response = Response(status_code=200, headers={"HX-Redirect": url})
    else:
        response = RedirectResponse(url, status_code=303)
    if flash:
        response.set_cookie(FLASH_COOKIE, quote(flash), max_age=60, httponly=True, path="/")
    return response
