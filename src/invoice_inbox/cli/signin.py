"""``invoice-inbox source authenticate`` and ``source consent-url``: OAuth2 sign-in steps.

``authenticate`` is the delegated flow: it prints the provider's sign-in address, receives the
redirect on a loopback port, trades the code (with its PKCE verifier) for tokens and stores them
encrypted. ``consent-url`` prints the Entra admin-consent address an administrator opens once
for an app-only source ("consent on behalf of your organisation").
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Annotated

import typer

from invoice_inbox.auth import oauth, oauth_signin
from invoice_inbox.auth.loopback import PATH, CallbackServer
from invoice_inbox.cli.base import UserError, out, source_app, state, warn
from invoice_inbox.connectors import presets
from invoice_inbox.runtime import runner
from invoice_inbox.store import sources as sources_store

PortOpt = Annotated[
    int,
    typer.Option(
        help="Local port for the redirect http://127.0.0.1:PORT/oauth/callback (register this"
        " redirect URI in the app registration)."
    ),
]
TimeoutOpt = Annotated[float, typer.Option(help="Seconds to wait for the browser.")]


@dataclass(frozen=True)
class _Client:
    source_id: int
    endpoints: oauth.Endpoints
    client_id: str
    client_secret: str | None = field(repr=False)
    user: str
    scopes: list[str]


def _client(name: str, *, auth: str) -> _Client:
    a = state.open()
    with a.db.session() as s:
        src = sources_store.get(s, name)
        if src.auth != auth:
            if auth == presets.OAUTH:
                hint = (
                    "an app-only source needs no sign-in; an administrator consents once (see"
                    f" invoice-inbox source consent-url {name})"
                    if src.auth == presets.APP
                    else "it signs in with a password"
                )
            else:
                hint = "admin consent is for app-only sources (--auth app)"
            raise UserError(f'source "{name}" does not use --auth {auth}: {hint}')
        endpoints = runner.endpoints_for(src)
        assert endpoints is not None and src.client_id is not None
        return _Client(
            source_id=src.id,
            endpoints=endpoints,
            client_id=src.client_id,
            client_secret=a.secrets.decrypt(src.client_secret) if src.client_secret else None,
            user=src.username,
            scopes=runner.scopes_for(src),
        )


@source_app.command("authenticate")
def source_authenticate(
    name: str,
    redirect_port: PortOpt = 8400,
    timeout: TimeoutOpt = 300,
) -> None:
    """Sign in to the mailbox (OAuth2): open the printed address, sign in, come back."""
    a = state.open()
    c = _client(name, auth=presets.OAUTH)
    try:
        server = CallbackServer(redirect_port, PATH)
    except OSError as exc:
        raise UserError(f"cannot listen on 127.0.0.1:{redirect_port}: {exc.strerror}") from None
    with server:
        request = oauth_signin.authorization_request(
            c.endpoints, c.client_id, c.scopes, server.redirect_uri, login_hint=c.user
        )
        out.print(f"Open this address in a browser and sign in as {c.user}:")
        out.print(request.url, soft_wrap=True, highlight=False, markup=False)
        out.print(f"Waiting up to {timeout:g} seconds for the sign-in to come back ...")
        query = server.wait(timeout)
    if query is None:
        raise UserError(f"no sign-in came back within {timeout:g} seconds; run the command again")
    code = oauth_signin.parse_callback(query, request)
    token = oauth_signin.exchange_code(c.endpoints, c.client_id, c.client_secret, code, request)
    if token.refresh_token is None:
        warn(
            "the provider gave no refresh token, so the sign-in lasts about an hour; allow"
            " offline access for the app"
        )
    runner.store_token(a, c.source_id, token)
    out.print(
        f'Signed in. Source "{name}" is ready; check it with: invoice-inbox source check {name}'
    )


@source_app.command("consent-url")
def source_consent_url(
    name: str,
    redirect_port: PortOpt = 8400,
    wait: Annotated[
        bool, typer.Option(help="Wait on the redirect port and report the administrator's answer.")
    ] = False,
    timeout: TimeoutOpt = 600,
) -> None:
    """Print the address a tenant administrator opens once to consent for the organisation."""
    c = _client(name, auth=presets.APP)
    redirect_uri = f"http://127.0.0.1:{redirect_port}{PATH}"
    request_state = secrets.token_urlsafe(24)
    url = oauth_signin.admin_consent_url(
        c.endpoints, c.client_id, redirect_uri, state=request_state, scope=c.scopes[0]
    )
    out.print("An administrator of the tenant opens this address and accepts:")
    out.print(url, soft_wrap=True, highlight=False, markup=False)
    if not wait:
        return
    try:
        server = CallbackServer(redirect_port, PATH)
    except OSError as exc:
        raise UserError(f"cannot listen on 127.0.0.1:{redirect_port}: {exc.strerror}") from None
    with server:
        out.print(f"Waiting up to {timeout:g} seconds for the administrator's answer ...")
        query = server.wait(timeout)
    if query is None:
        raise UserError(f"no answer came back within {timeout:g} seconds")
    if query.get("state") != request_state:
        raise UserError("the answer does not belong to this consent request; try again")
    if "error" in query:
        raise UserError(
            f"consent was not given: {query.get('error_description') or query['error']}"
        )
    out.print(f"Consent given for tenant {query.get('tenant', '?')}. Check the source with:")
    out.print(f"invoice-inbox source check {name}")
