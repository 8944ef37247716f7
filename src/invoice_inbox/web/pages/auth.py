"""Pages: sign in, sign out, and the first-run setup that creates the first administrator.

The setup needs the one-time token that ``serve`` printed (see ``web.setup_token``); sign-in
attempts are reserved with the limiter (``web.ratelimit``) before the password is checked."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from invoice_inbox.i18n import gettext as _
from invoice_inbox.i18n import ngettext
from invoice_inbox.store import users
from invoice_inbox.store.models import Role
from invoice_inbox.web.ratelimit import MAX_EMAIL
from invoice_inbox.web.security import (
    SESSION_COOKIE,
    PageUser,
    anonymous_token,
    check_anonymous_csrf,
    client_address,
    context,
    end_session,
    set_anonymous_token,
    start_session,
)
from invoice_inbox.web.templating import redirect, render

router = APIRouter()


def _safe_next(target: str | None) -> str:
    """Only a path of this site (no ``//host`` or scheme): no open redirect after sign-in."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/sources"


def _form(request: Request, name: str, status_code: int = 200, **values: object) -> Response:
    token = anonymous_token(request)
    response = render(request, name, None, status_code=status_code, csrf=token, **values)
    set_anonymous_token(request, response, token)
    return response


@router.get("/login")
def login_form(request: Request, next: str | None = None) -> Response:
    with context(request).app.db.session() as s:
        if users.count(s) == 0:
            return redirect("/setup")
    return _form(request, "login.html", next=_safe_next(next), email="", error=None)


@router.post("/login", dependencies=[Depends(check_anonymous_csrf)])
def login(
    request: Request,
    email: Annotated[str, Form()],
    password: Annotated[str, Form()],
    next: Annotated[str, Form()] = "/sources",
) -> Response:
    ctx = context(request)
    email, target = email.strip().lower(), _safe_next(next)
    if len(email) > MAX_EMAIL:
        error = _("An e-mail address has at most %(n)s characters.") % {"n": MAX_EMAIL}
        return _form(request, "login.html", 400, next=target, email="", error=error)
    attempt = ctx.limiter.attempt(client_address(request), email)  # before the password check
    if not attempt.allowed:
        minutes = max(1, round(attempt.wait / 60))
        error = ngettext(
            "Too many failed sign-ins. Try again in %(n)s minute.",
            "Too many failed sign-ins. Try again in %(n)s minutes.",
            minutes,
        ) % {"n": minutes}
        return _form(request, "login.html", 429, next=target, email=email, error=error)
    with ctx.app.db.session() as s:
        user = users.authenticate(s, email, password)
        if user is not None:
            cookie, _csrf = users.open_session(s, user)
    if user is None:
        error = _("The e-mail address or the password is wrong.")
        return _form(request, "login.html", 401, next=target, email=email, error=error)
    ctx.limiter.succeeded(attempt)
    response = redirect(target)
    start_session(request, response, cookie)
    return response


@router.post("/logout")
def logout(request: Request, page: PageUser) -> Response:
    with context(request).app.db.session() as s:
        users.close_session(s, request.cookies.get(SESSION_COOKIE, ""))
    response = redirect("/login", flash=_("You are signed out."))
    end_session(response)
    return response


@router.get("/setup")
def setup_form(request: Request, token: str = "") -> Response:
    with context(request).app.db.session() as s:
        if users.count(s) > 0:
            return redirect("/login")
    token = token if context(request).setup.matches(token) else ""
    return _form(request, "setup.html", email="", errors={}, token=token)


class _SetupClosed(Exception):
    """Another request (in any web process) made the first administrator meanwhile."""


class _Invalid(Exception):
    """The address or password is refused: nothing of the transaction is kept."""


def _create_first_admin(
    request: Request, email: str, password: str, repeat: str, token: str
) -> Response:
    setup = context(request).setup
    errors: dict[str, str] = {}
    with context(request).app.db.session() as s:
        if users.count(s) > 0:  # someone was quicker: the setup page is gone
            return redirect("/login")
    if not setup.matches(token):
        errors["token"] = _(
            "This is not the setup token: copy the address that %(command)s printed when it"
            " started."
        ) % {"command": "invoice-inbox serve"}
        return _form(request, "setup.html", 403, email=email, errors=errors, token="")
    if password != repeat:
        errors["repeat"] = _("The two passwords differ.")
        return _form(request, "setup.html", 422, email=email, errors=errors, token=token)
    try:
        with context(request).app.db.session() as s:
            if not setup.spend(s, token):  # one request of one process wins
                raise _SetupClosed
            try:
                user = users.create(s, email, password, Role.ADMIN)
            except users.UserProblem as exc:
                key = "password" if exc.field == "password" else "email"
                errors[key] = str(exc)[0].upper() + str(exc)[1:] + "."
                raise _Invalid from None  # setup stays open: roll back
            cookie, _csrf = users.open_session(s, user)
    except _SetupClosed:
        return redirect("/login")
    except _Invalid:
        return _form(request, "setup.html", 422, email=email, errors=errors, token=token)
    response = redirect("/sources/new", flash=_("Welcome! Now connect the first mailbox."))
    start_session(request, response, cookie)
    return response


@router.post("/setup", dependencies=[Depends(check_anonymous_csrf)])
async def setup(
    request: Request,
    email: Annotated[str, Form()],
    password: Annotated[str, Form()],
    repeat: Annotated[str, Form()],
    token: Annotated[str, Form()] = "",
) -> Response:
    return await run_in_threadpool(_create_first_admin, request, email, password, repeat, token)
