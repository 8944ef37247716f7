"""Signing in: browser sessions in cookies, CSRF tokens, login rate limiting, API tokens.

- The session cookie (``ii_session``) is HttpOnly, SameSite=Lax, and Secure when the request
  came over TLS (directly or, with ``--forwarded-allow-ips``, through a proxy). It holds a random
  value; the database keeps only its SHA-256 (``store.users``).
- Every unsafe request of a page (POST, PUT, PATCH, DELETE) must carry the session's CSRF token
  in the form field ``csrf_token`` or the header ``X-CSRF-Token`` (htmx sends the header, see
  ``base.html``). The forms used before signing in (login, first-run setup) use a double-submit
  cookie (``ii_csrf``) instead.
- The API (``/api/v1``) takes only ``Authorization: Bearer TOKEN``: no cookies, so no CSRF.
- Every password check (sign-in, password change, new API token) first reserves an attempt with
  the limiter (``web.ratelimit``): per account and client, per client, and per account from any
  client; beyond the limits the form answers 429 without checking. The client is the peer
  address, or ``X-Forwarded-For`` only with ``serve --behind-proxy``.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, HTTPException, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from invoice_inbox.i18n import gettext
from invoice_inbox.store import users
from invoice_inbox.web.access import Access
from invoice_inbox.web.context import WebContext

SESSION_COOKIE = "ii_session"
CSRF_COOKIE = "ii_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


class NeedsSignIn(Exception):
    """A page was asked for without a session: go to *location* (login or first-run setup)."""

    def __init__(self, location: str) -> None:
        self.location = location


class CsrfRefused(HTTPException):
    def __init__(self) -> None:
        super().__init__(
            status_code=403,
            detail=gettext(
                "This form has expired or did not come from this site; reload the page."
            ),
        )


@dataclass(frozen=True)
class Page:
    """The signed-in user of a page request, with the CSRF token its forms must send."""

    access: Access
    csrf: str


def context(request: Request) -> WebContext:
    ctx: WebContext = request.app.state.web
    return ctx


def client_address(request: Request) -> str:
    """Who is calling, as the login rate limit counts them."""
    return request.client.host if request.client else "?"


def is_tls(request: Request) -> bool:
    return request.url.scheme == "https"


# -- CSRF ------------------------------------------------------------------------------------


async def _sent_token(request: Request) -> str:
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        value = (await request.form()).get(CSRF_FIELD)
        return value if isinstance(value, str) else ""
    return ""


def _same(a: str, b: str) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(a.encode(), b.encode())


async def check_anonymous_csrf(request: Request) -> None:
    """For forms shown before sign-in: the form's token must equal the ``ii_csrf`` cookie."""
    if request.method in UNSAFE and not _same(
        await _sent_token(request), request.cookies.get(CSRF_COOKIE, "")
    ):
        raise CsrfRefused()


def anonymous_token(request: Request) -> str:
    """The double-submit token for an anonymous form: the cookie's, or a new one."""
    return request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(32)


def set_anonymous_token(request: Request, response: Response, token: str) -> None:
    response.set_cookie(
        CSRF_COOKIE, token, httponly=True, samesite="strict", secure=is_tls(request), path="/"
    )


# -- pages -----------------------------------------------------------------------------------


def _load_page(ctx: WebContext, cookie: str | None, path: str) -> Page:
    with ctx.app.db.session() as s:
        if cookie:
            row = users.session_for(s, cookie)
            if row is not None:
                return Page(Access.of(row.user), row.csrf_token)
        if users.count(s) == 0:
            raise NeedsSignIn("/setup")
    raise NeedsSignIn("/login" + (f"?next={quote(path)}" if path not in ("", "/") else ""))


async def signed_in(request: Request) -> Page:
    """The dependency of every page: the signed-in user, and the CSRF check of unsafe requests."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    page = await run_in_threadpool(
        _load_page, context(request), request.cookies.get(SESSION_COOKIE), target
    )
    if request.method in UNSAFE and not _same(await _sent_token(request), page.csrf):
        raise CsrfRefused()
    return page


PageUser = Annotated[Page, Depends(signed_in)]


def start_session(request: Request, response: Response, cookie: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        max_age=int(users.SESSION_LIFETIME.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=is_tls(request),
        path="/",
    )
    response.delete_cookie(CSRF_COOKIE, path="/")


def end_session(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/")


# -- API -------------------------------------------------------------------------------------


def _load_token_user(ctx: WebContext, token: str) -> Access | None:
    with ctx.app.db.session() as s:
        user = users.user_for_token(s, token)
        return Access.of(user) if user is not None else None


async def api_user(request: Request) -> Access:
    """The dependency of every API route: the user of the ``Authorization: Bearer`` token."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    access = None
    if scheme.lower() == "bearer" and token.strip():
        access = await run_in_threadpool(_load_token_user, context(request), token.strip())
    if access is None:
        raise HTTPException(
            status_code=401,
            detail=gettext("an API token is needed: send %(header)s")
            % {"header": "Authorization: Bearer TOKEN"},
            headers={"WWW-Authenticate": "Bearer"},
        )
    return access


ApiUser = Annotated[Access, Depends(api_user)]
