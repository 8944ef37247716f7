"""Pages: the signed-in user's own account: who they are, the time zone their pages show times
in (none chosen: the browser's), their password, their API tokens.

A new API token needs the user's password (a token outlives the session that made it) and is
shown once, on the page that answers the form that made it; afterwards only its first characters
are shown. Changing the password signs out every other browser of the user and, unless the user
unticks it, revokes their API tokens. Every password check goes through the sign-in limiter.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import unquote

from fastapi import APIRouter, Form, Request
from sqlalchemy.orm import Session
from starlette.responses import Response

from invoice_inbox.i18n import gettext as _
from invoice_inbox.i18n import ngettext
from invoice_inbox.store import users
from invoice_inbox.store.models import User
from invoice_inbox.web import readable
from invoice_inbox.web.access import NotFound
from invoice_inbox.web.security import Page, PageUser, client_address, context, start_session
from invoice_inbox.web.templating import ZONE_COOKIE, redirect, render

router = APIRouter()

TOKEN_NAME_MAX = 200


# -- shared with the users' pages ------------------------------------------------------------


def new_password_errors(password: str, repeat: str) -> dict[str, str]:
    """What is wrong with a new password and its repetition, by form field."""
    if len(password) < users.MIN_PASSWORD:
        n = users.MIN_PASSWORD
        return {
            "password": ngettext(
                "The password must have at least %(n)s character.",
                "The password must have at least %(n)s characters.",
                n,
            )
            % {"n": n}
        }
    if password != repeat:
        return {"repeat": _("The two passwords differ.")}
    return {}


def revoke_token(s: Session, user_id: int, token_id: int) -> str:
    """Delete the user's token *token_id*; its name (or prefix) for the message. 404 if the
    user has no such token."""
    row = users.token(s, token_id, user_id=user_id)
    if row is None:
        raise NotFound(_("no such API token"))
    label = row.name or row.prefix + "…"
    s.delete(row)
    return label


# -- the account page --------------------------------------------------------------------------


def _me(s: Session, page: Page) -> User:
    user = s.get(User, page.access.user_id)
    if user is None:  # deleted while signed in
        raise NotFound(_("no such user"))
    return user


def _account(
    request: Request,
    page: Page,
    *,
    status_code: int = 200,
    errors: dict[str, str] | None = None,
    token_name: str = "",
) -> Response:
    with context(request).app.db.session() as s:
        me = _me(s, page)
        return render(
            request,
            "account.html",
            page,
            status_code=status_code,
            nav="account",
            me=me,
            tokens=users.tokens_of(s, me),
            errors=errors or {},
            token_name=token_name,
            min_password=users.MIN_PASSWORD,
            zones=readable.zone_names(),
            browser_zone=unquote(request.cookies.get(ZONE_COOKIE, "")),
        )


@router.get("/account")
def account_page(request: Request, page: PageUser) -> Response:
    return _account(request, page)


@router.post("/account/time-zone")
def set_time_zone(
    request: Request, page: PageUser, time_zone: Annotated[str, Form()] = ""
) -> Response:
    """Show times in *time_zone* (an IANA name); empty: in the zone the browser reports."""
    time_zone = time_zone.strip()
    if time_zone and readable.zone(time_zone) is None:
        errors = {
            "time_zone": _("%(zone)r is not a time zone; pick one from the list.")
            % {"zone": time_zone[:64]}
        }
        return _account(request, page, status_code=422, errors=errors)
    with context(request).app.db.session() as s:
        _me(s, page).time_zone = time_zone or None
    if time_zone:
        flash = _("Times are shown in %(zone)s.") % {"zone": time_zone}
    else:
        flash = _("Times are shown in the one your browser reports.")
    return redirect("/account", flash=flash)


def _check_password(request: Request, me: User, current: str) -> tuple[int, str] | None:
    """None if *current* is the user's password; else the status and the sentence to show.
    The attempt is reserved with the sign-in limiter before the (slow) check."""
    ctx = context(request)
    attempt = ctx.limiter.attempt(client_address(request), me.email)
    if not attempt.allowed:
        minutes = max(1, round(attempt.wait / 60))
        return 429, ngettext(
            "Too many wrong passwords. Try again in %(n)s minute.",
            "Too many wrong passwords. Try again in %(n)s minutes.",
            minutes,
        ) % {"n": minutes}
    if not users.verify_password(me, current):
        return 422, ""
    ctx.limiter.succeeded(attempt)
    return None


@router.post("/account/password")
def change_password(
    request: Request,
    page: PageUser,
    current: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    repeat: Annotated[str, Form()] = "",
    revoke_tokens: Annotated[bool, Form()] = False,
) -> Response:
    errors: dict[str, str] = {}
    status_code = 422
    with context(request).app.db.session() as s:
        me = _me(s, page)
        refused = _check_password(request, me, current)
        if refused is not None:
            status_code, message = refused
            errors["current"] = message or _("Your current password is wrong.")
        else:
            errors.update(new_password_errors(password, repeat))
        if not errors:
            users.set_password(me, password)
            users.close_sessions_of(s, me)  # every browser signed in as me, this one too ...
            cookie, _csrf = users.open_session(s, me)  # ... which gets a new session at once
            revoked = users.revoke_tokens_of(s, me) if revoke_tokens else 0
    if errors:
        return _account(request, page, status_code=status_code, errors=errors)
    flash = _("Your password is changed. Other browsers signed in as you are signed out.")
    if revoked:
        flash = _(
            "Your password is changed. Other browsers signed in as you are signed out."
            " Your API tokens are revoked (%(n)s); make new ones where needed."
        ) % {"n": revoked}
    response = redirect("/account", flash=flash)
    start_session(request, response, cookie)
    return response


@router.post("/account/tokens")
def create_token(
    request: Request,
    page: PageUser,
    name: Annotated[str, Form()] = "",
    current: Annotated[str, Form()] = "",
) -> Response:
    name = name.strip()
    errors: dict[str, str] = {}
    if not name:
        errors["token"] = _("Give the token a name, e.g. the program that will use it.")
    elif len(name) > TOKEN_NAME_MAX:
        errors["token"] = _("The name may have at most %(n)s characters.") % {"n": TOKEN_NAME_MAX}
    if not current:
        errors["token_password"] = _("Enter your password to create a token.")
    status_code = 422
    with context(request).app.db.session() as s:
        me = _me(s, page)
        if not errors:
            # a token outlives the session: only the one who knows the password makes one
            refused = _check_password(request, me, current)
            if refused is not None:
                status_code, message = refused
                errors["token_password"] = message or _("Your password is wrong.")
        if not errors:
            row, token = users.create_token(s, me, name)
            shown: dict[str, str] = {"name": row.name, "prefix": row.prefix}
    if errors:
        return _account(request, page, status_code=status_code, errors=errors, token_name=name)
    # Shown here and never again: the database keeps only its SHA-256.
    return render(request, "account_token.html", page, nav="account", token=token, row=shown)


@router.post("/account/tokens/{token_id}/revoke")
def revoke_own_token(request: Request, page: PageUser, token_id: int) -> Response:
    with context(request).app.db.session() as s:
        label = revoke_token(s, page.access.user_id, token_id)
    return redirect(
        "/account",
        flash=_('The API token "%(name)s" is revoked; it no longer works.') % {"name": label},
        request=request,
    )
