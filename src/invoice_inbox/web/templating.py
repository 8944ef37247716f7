"""Rendering pages: the Jinja2 environment (autoescaped), its filters, and flash messages.

Every page is rendered with ``render(request, "name.html", page, **values)``: the template gets
``page`` (the signed-in user and the CSRF token its forms send), ``flash`` (a message from the
request before a redirect), ``zone`` (the viewer's time zone, which the ``when`` filter shows
times in: the user's setting, else the browser's) and the values. Text from mail (subjects,
file names) is escaped by Jinja2's autoescape; no template may use ``|safe`` on such text.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context
from jinja2.runtime import Context
from sqlalchemy import select
from starlette.responses import Response

from invoice_inbox import auth_reasons, i18n
from invoice_inbox.i18n import formats
from invoice_inbox.pipeline.einvoice import problem_text
from invoice_inbox.store import supplier_views, users
from invoice_inbox.store.models import User
from invoice_inbox.web import readable, words
from invoice_inbox.web.access import Access
from invoice_inbox.web.security import SESSION_COOKIE, Page

TEMPLATES = Path(__file__).with_name("templates")
FLASH_COOKIE = "ii_flash"

# Scripts only from this site (htmx is served from /static); PDFs may be framed by our pages.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; object-src 'self'; frame-src 'self'; frame-ancestors 'self'; "
    "base-uri 'none'; form-action 'self'"
)


def _at_render_time(f: Callable[..., Any]) -> Callable[..., Any]:
    """*f* as a filter Jinja2 calls when the page renders: a filter that takes no context is
    folded into the compiled template when its arguments are constants (``"5"|money("EUR")``),
    in whatever locale compiled it; one that takes the context never is."""

    def call(_: Context, *args: Any, **kwargs: Any) -> Any:  # Jinja passes any value
        return f(*args, **kwargs)

    call.__name__ = getattr(f, "__name__", "filter")
    return pass_context(call)


class _RenderTimeFilters(dict[str, Any]):
    """The env's filters; every one added speaks the reader's locale, so runs at render time."""

    def __setitem__(self, name: str, f: Any) -> None:
        if callable(f) and not hasattr(f, "jinja_pass_arg"):
            f = _at_render_time(f)
        super().__setitem__(name, f)


templates = Jinja2Templates(directory=str(TEMPLATES))
templates.env.filters = _RenderTimeFilters(templates.env.filters)
# {% trans %} and _() in templates speak the request's locale (``i18n`` reads its context)
templates.env.add_extension("jinja2.ext.i18n")
# {% trans %} blocks lose their line breaks and indentation, as babel.cfg extracts them
templates.env.policies["ext.i18n.trimmed"] = True
templates.env.install_gettext_callables(  # type: ignore[attr-defined]
    i18n.gettext, i18n.ngettext, newstyle=True, pgettext=i18n.pgettext
)
# <html lang="{{ current_locale() }}">
templates.env.globals["current_locale"] = i18n.current_locale


# the viewer's time zone while a page renders (set by :func:`render`)
_VIEWER_ZONE: ContextVar[tzinfo | None] = ContextVar("viewer_zone", default=None)
# the zone the browser reports (static/zone.js), used when the user has not chosen one
ZONE_COOKIE = "ii_tz"


def _when(value: datetime | None) -> str:
    """A time in the viewer's zone, as ``2026-11-21 15:03 CET``; ``–`` for none."""
    return readable.when(value, _VIEWER_ZONE.get())


def viewer_zone(request: Request, page: Page | None) -> tzinfo | None:
    """The zone times are shown in: the user's setting, else the browser's, else UTC (None)."""
    if page is not None:
        with request.app.state.web.app.db.session() as s:
            chosen = s.scalar(select(User.time_zone).where(User.id == page.access.user_id))
        if found := readable.zone(chosen):
            return found
    return readable.zone(unquote(request.cookies.get(ZONE_COOKIE, "")))


templates.env.filters["when"] = _when
templates.env.filters["size"] = formats.size  # these three in the request's locale
templates.env.filters["number"] = formats.number
templates.env.filters["day"] = formats.day
templates.env.filters["money"] = readable.money
templates.env.filters["kind_word"] = readable.kind_word
templates.env.filters["format_word"] = readable.format_word
templates.env.filters["document_type_word"] = readable.document_type_word
templates.env.filters["iban"] = readable.iban
for _name in (  # codes as translated words (readable.py): a German page never shows "not_imported"
    "verdict_word",
    "run_status_word",
    "trigger_word",
    "queue_status_word",
    "delivery_state_word",
    "notification_kind_word",
    "check_word",
    "sender_mode_word",
    "auth_state_word",
):
    templates.env.filters[_name] = getattr(readable, _name)
templates.env.filters["iban_short"] = readable.iban_short
templates.env.filters["auth_reason"] = auth_reasons.localized  # a stored sender-auth sentence
templates.env.filters["role_word"] = words.role_word
templates.env.filters["role_choice"] = words.role_choice
templates.env.filters["recipient_why"] = words.recipient_why
templates.env.filters["schedule_words"] = words.schedule_words
templates.env.filters["source_description"] = words.source_description
# an e-invoice calculation problem in the reader's language (its stored message is English)
templates.env.filters["einvoice_problem"] = problem_text.of
# why a sender domain is blocked, in the reader's language (stored in English)
templates.env.filters["blocked_reason"] = supplier_views.reason_words


def signed_in_page(request: Request) -> Page | None:
    """The signed-in user of *request*, if any: error pages keep the navigation with it."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    with request.app.state.web.app.db.session() as s:
        row = users.session_for(s, cookie)
        return Page(Access.of(row.user), row.csrf_token) if row is not None else None


def render(
    request: Request,
    name: str,
    page: Page | None,
    *,
    status_code: int = 200,
    **values: Any,  # the template's variables (Jinja takes any)
) -> HTMLResponse:
    if page is None and name == "error.html":
        page = signed_in_page(request)
    flash = unquote(request.cookies.get(FLASH_COOKIE, "")) or None
    zone = viewer_zone(request, page)
    token = _VIEWER_ZONE.set(zone)
    try:
        response = templates.TemplateResponse(
            request,
            name,
            {
                "page": page,
                "flash": flash,
                "now": datetime.now(UTC),
                "zone": zone,
                "status_code": status_code,
                **values,
            },
            status_code=status_code,
        )
    finally:
        _VIEWER_ZONE.reset(token)
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
