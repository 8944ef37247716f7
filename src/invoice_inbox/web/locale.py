"""The language each request is answered in, for pages and the API alike.

In this order: the signed-in user's setting (``app_user.locale``, chosen on the account page);
else the best of the browser's ``Accept-Language`` among the languages the product speaks
("de-AT" → German); else English. An API client with a token has no session: it is answered
in the language its ``Accept-Language`` asks for. The choice is set with :func:`i18n.use_locale`
around everything below this middleware (routes, templates, error answers), and the response
says it in ``Content-Language`` (``Vary: Accept-Language``, as the answer depends on it).
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from invoice_inbox.i18n import DEFAULT_LOCALE, formats, use_locale
from invoice_inbox.store import users
from invoice_inbox.web.security import SESSION_COOKIE


def user_locale(scope: Scope, cookie: str) -> str | None:
    """The language the user signed in with *cookie* chose (None: none chosen, or no session)."""
    with scope["app"].state.web.app.db.session() as s:
        row = users.session_for(s, cookie)
        return formats.supported(row.user.locale) if row is not None else None


def accept_language(scope: Scope) -> str | None:
    return formats.from_accept_language(HTTPConnection(scope).headers.get("accept-language"))


async def choose(scope: Scope) -> str:
    """The language to answer the request of *scope* in."""
    cookie = HTTPConnection(scope).cookies.get(SESSION_COOKIE)
    chosen = await run_in_threadpool(user_locale, scope, cookie) if cookie else None
    return chosen or accept_language(scope) or DEFAULT_LOCALE


class LocaleChoice:
    """ASGI middleware: answer every request (but static files) in its reader's language."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/static/"):
            await self.app(scope, receive, send)
            return
        locale = await choose(scope)

        async def send_language(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("Content-Language", locale)
                headers.add_vary_header("Accept-Language")
            await send(message)

        with use_locale(locale):
            await self.app(scope, receive, send_language)
