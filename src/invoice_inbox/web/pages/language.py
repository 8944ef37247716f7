"""Pages: the language a user's pages are shown in (``app_user.locale``): chosen by the user on
the account page, or by an admin on the user's page; none chosen: the browser's language.

The form is ``language_form.html``, included by both pages; the choices are the product's
languages in their own names (``English``, ``Deutsch``, ``Polski`` …), whatever the page's
language. The confirmation is written in the language just chosen.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from starlette.responses import Response

from invoice_inbox.i18n import LOCALES, formats, use_locale
from invoice_inbox.i18n import gettext as _
from invoice_inbox.store.models import User
from invoice_inbox.web.access import NotFound
from invoice_inbox.web.locale import accept_language
from invoice_inbox.web.security import PageUser, context
from invoice_inbox.web.templating import redirect, templates

router = APIRouter()

# the select's choices (language_form.html): code and the language's own name
templates.env.globals["language_choices"] = [(c, formats.LANGUAGE_NAMES[c]) for c in LOCALES]


def _chosen(locale: str) -> str | None:
    """The form's value as a stored setting: None for the browser's; 422 for no language."""
    locale = locale.strip()
    if not locale:
        return None
    if locale not in LOCALES:
        raise HTTPException(
            422, _("%(value)s is not a language of this product.") % {"value": repr(locale[:16])}
        )
    return locale


def _save(request: Request, user_id: int, locale: str | None) -> str:
    """Store *locale* for the user; the confirmation, in the language now in effect."""
    with context(request).app.db.session() as s:
        user = s.get(User, user_id)
        if user is None:
            raise NotFound("no such user")
        user.locale = locale
        email = user.email
    shown = locale or accept_language(request.scope) or "en"
    with use_locale(shown):
        if locale is None:
            return _("Pages for %(email)s are shown in the browser's language.") % {"email": email}
        return _("Pages for %(email)s are shown in %(language)s.") % {
            "email": email,
            "language": formats.LANGUAGE_NAMES[locale],
        }


@router.post("/account/language")
def set_my_language(
    request: Request, page: PageUser, locale: Annotated[str, Form()] = ""
) -> Response:
    """Show my pages in *locale*; empty: in the language my browser asks for."""
    message = _save(request, page.access.user_id, _chosen(locale))
    return redirect("/account", flash=message)


@router.post("/users/{user_id}/language")
def set_user_language(
    request: Request, page: PageUser, user_id: int, locale: Annotated[str, Form()] = ""
) -> Response:
    """An admin sets the language of *user_id*'s pages (and of their notifications)."""
    page.access.require_admin()
    message = _save(request, user_id, _chosen(locale))
    return redirect(f"/users/{user_id}", flash=message)
