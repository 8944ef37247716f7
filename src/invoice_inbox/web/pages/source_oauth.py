"""Pages: signing a source in from the browser (OAuth2), and Microsoft admin consent.

The same steps as ``invoice-inbox source authenticate`` and ``source consent-url``
(``cli/signin.py``), with this site as the redirect URI (``{base URL}oauth/callback``, the base
URL being ``serve --public-url`` when given; the app registration must list it):

1. ``POST /sources/{id}/authenticate`` builds the authorization request (PKCE S256, a random
   state), keeps it here, keyed by its state, with the source and the signed-in user, and sends
   the browser to the provider;
2. ``GET /oauth/callback`` takes the answer: the state must be one this user started in the last
   ten minutes; the code is exchanged with the kept PKCE verifier and the token stored
   encrypted (``runner.store_token``).

``GET /sources/{id}/consent`` does the same round trip for the admin-consent page of an app-only
Microsoft source. A refusal by the provider is kept for the source's page, which shows it next to
the Authenticate button. Pending sign-ins and refusals live in the database (``web.oauth_state``):
the callback may reach another web process than the one the sign-in began on, or the same one
after a restart.
"""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from invoice_inbox.auth import oauth, oauth_signin
from invoice_inbox.connectors import presets
from invoice_inbox.errors import ConnectorError
from invoice_inbox.i18n import gettext as _
from invoice_inbox.runtime import runner
from invoice_inbox.store.models import Source
from invoice_inbox.web import oauth_state
from invoice_inbox.web.oauth_state import Pending
from invoice_inbox.web.pages.source_form import sentence
from invoice_inbox.web.security import PageUser, context
from invoice_inbox.web.templating import redirect, render

router = APIRouter()

CALLBACK_PATH = "oauth/callback"
SIGN_IN, CONSENT = "sign-in", "consent"


def redirect_uri(request: Request) -> str:
    """Where the provider sends the browser back to: register it in the app registration. At
    the address users open (``serve --public-url``) when one is given, else at this request's."""
    public = getattr(request.app.state, "public_url", None)
    return f"{public}/{CALLBACK_PATH}" if public else f"{request.base_url}{CALLBACK_PATH}"


def take_outcome(request: Request, user_id: int, source_id: int) -> str | None:
    """The provider's refusal of this user's last sign-in to the source, once."""
    return oauth_state.take_outcome(context(request).app, user_id, source_id)


def endpoints(src: Source) -> oauth.Endpoints | None:
    """The source's authorization server; None for password sign-in or a tenant that is not a
    tenant ID or domain (configure does not check its form)."""
    if src.provider not in presets.PRESETS:  # the central import address
        return None
    try:
        return runner.endpoints_for(src)
    except ValueError:
        return None


def provider_origin(src: Source) -> str | None:
    """scheme://host[:port] of the source's sign-in page (the edit page lets forms go there)."""
    ep = endpoints(src)
    if ep is None:
        return None
    parts = urlsplit(ep.authorize)
    return f"{parts.scheme}://{parts.netloc}"


def _ready(src: Source, auth: str) -> tuple[oauth.Endpoints, str] | str:
    """(endpoints, client id) to sign *src* in with *auth*, or why that cannot be done."""
    if src.auth != auth:
        if auth == presets.OAUTH:
            return (
                _(
                    "an app-only source needs no sign-in: an administrator of the tenant"
                    " consents once"
                )
                if src.auth == presets.APP
                else _("this source signs in with a password")
            )
        return _("admin consent is for app-only Microsoft 365 sources")
    ep = endpoints(src)
    if ep is None:
        return _("the tenant is not a directory (tenant) ID or domain; correct it and save")
    if auth == presets.APP and ep.admin_consent is None:
        return _("%(service)s has no admin consent") % {"service": ep.service}
    if not src.client_id:
        return _("give the client (application) ID first and save")
    return ep, src.client_id


@router.post("/sources/{source_id}/authenticate")
def authenticate(request: Request, page: PageUser, source_id: int) -> Response:
    with context(request).app.db.session() as s:
        src = page.access.source(s, source_id)
        page.access.require_admin()
        ready = _ready(src, presets.OAUTH)
        if isinstance(ready, str):
            oauth_state.refused(context(request).app, page.access.user_id, src.id, sentence(ready))
            return redirect(f"/sources/{src.id}#credentials")
        scopes, login_hint = runner.scopes_for(src), src.username
    ep, client_id = ready
    auth = oauth_signin.authorization_request(
        ep, client_id, scopes, redirect_uri(request), login_hint=login_hint
    )
    pending = Pending(SIGN_IN, source_id, page.access.user_id, ep, client_id, auth)
    oauth_state.keep(context(request).app, auth.state, pending)
    return RedirectResponse(auth.url, status_code=303)


@router.get("/sources/{source_id}/consent")
def admin_consent(request: Request, page: PageUser, source_id: int) -> Response:
    with context(request).app.db.session() as s:
        src = page.access.source(s, source_id)
        page.access.require_admin()
        ready = _ready(src, presets.APP)
        if isinstance(ready, str):
            oauth_state.refused(context(request).app, page.access.user_id, src.id, sentence(ready))
            return redirect(f"/sources/{src.id}#credentials")
        scope = runner.scopes_for(src)[0]
    ep, client_id = ready
    state = secrets.token_urlsafe(24)
    url = oauth_signin.admin_consent_url(
        ep, client_id, redirect_uri(request), state=state, scope=scope
    )
    pending = Pending(CONSENT, source_id, page.access.user_id, ep, client_id)
    oauth_state.keep(context(request).app, state, pending)
    return RedirectResponse(url, status_code=303)


@router.get("/oauth/callback")
def callback(request: Request, page: PageUser) -> Response:
    query = dict(request.query_params)
    app = context(request).app
    pending = oauth_state.take(app, query.get("state", ""), page.access.user_id)
    if pending is None:
        return render(
            request,
            "error.html",
            page,
            status_code=400,
            message=_(
                "This answer from the sign-in page does not belong to a sign-in you started"
                " here in the last ten minutes. Start it again from the source's page."
            ),
        )
    with app.db.session() as s:
        src = page.access.source(s, pending.source_id)
        client_secret = app.secrets.decrypt(src.client_secret) if src.client_secret else None
    back = f"/sources/{pending.source_id}"
    if pending.kind == CONSENT:
        if "error" in query:
            words = query.get("error_description") or query["error"]
            problem = sentence(_("consent not given: %(why)s") % {"why": words})
            oauth_state.refused(app, page.access.user_id, pending.source_id, problem)
            return redirect(back + "#credentials")
        tenant = query.get("tenant")
        given = (
            _("Consent given for %(tenant)s. Check the connection now.") % {"tenant": tenant}
            if tenant
            else _("Consent given for the tenant. Check the connection now.")
        )
        return redirect(back, flash=given)
    assert pending.request is not None
    try:
        code = oauth_signin.parse_callback(query, pending.request)
        token = oauth_signin.exchange_code(
            pending.endpoints, pending.client_id, client_secret, code, pending.request
        )
    except ConnectorError as exc:  # OAuthFailed, or the token endpoint could not be reached
        oauth_state.refused(app, page.access.user_id, pending.source_id, sentence(exc))
        return redirect(back + "#credentials")
    runner.store_token(app, pending.source_id, token)
    flash = _("Signed in.")
    if token.refresh_token is None:
        flash = _(
            "Signed in. The provider gave no refresh token, so the sign-in lasts about an hour;"
            " allow offline access for the app."
        )
    return redirect(back, flash=flash)
