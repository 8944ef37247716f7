"""Signing in once, as a person: the OAuth 2.0 authorization code grant with PKCE S256
(RFC 6749 §4.1, RFC 7636). :func:`authorization_request` makes the URL to open and what its
answer must match, :func:`parse_callback` checks the answer, :func:`exchange_code` redeems the
code for the first tokens (``auth.oauth_tokens.DelegatedTokens`` keeps them fresh);
:func:`admin_consent_url` is the Entra ID page where a tenant admin grants an app's permissions.
No code or verifier is ever logged or put into a message or a repr (``auth.oauth``)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit

from authlib.common.security import generate_token
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from invoice_inbox.auth.oauth import (
    GRAPH_DEFAULT_SCOPE,
    Endpoints,
    OAuthFailed,
    Token,
    error_of,
    first_line,
    token_of,
    token_request,
)


@dataclass(frozen=True)
class AuthRequest:
    """One sign-in in progress: the URL to open and what the answer must be checked against."""

    url: str
    state: str
    code_verifier: str = field(repr=False)
    redirect_uri: str


def _with_query(url: str, params: Mapping[str, str]) -> str:
    return f"{url}{'&' if urlsplit(url).query else '?'}{urlencode(params)}"


def authorization_request(
    ep: Endpoints,
    client_id: str,
    scopes: Sequence[str],
    redirect_uri: str,
    *,
    login_hint: str | None = None,
) -> AuthRequest:
    """The authorization code request with PKCE S256 and a random state.

    Microsoft: ``offline_access`` is added to *scopes* (else no refresh token is issued) and the
    answer comes in the query. Google: ``access_type=offline`` and ``prompt=consent`` so that a
    refresh token is issued even if the user consented before.
    """
    scope_list = list(scopes)
    if ep.provider == "microsoft" and "offline_access" not in scope_list:
        scope_list.append("offline_access")
    state = generate_token(32)
    verifier = generate_token(64)  # RFC 7636 §4.1: 43..128 unreserved characters
    params = {
        "client_id": client_id,
        "response_type": "code",
        "redirect_uri": redirect_uri,
        "scope": " ".join(scope_list),
        "state": state,
        # types-authlib leaves this function unannotated
        "code_challenge": create_s256_code_challenge(verifier),  # type: ignore[no-untyped-call]
        "code_challenge_method": "S256",
    }
    if ep.provider == "google":
        params |= {"access_type": "offline", "prompt": "consent"}
    else:
        params["response_mode"] = "query"
    if login_hint:
        params["login_hint"] = login_hint
    url = _with_query(ep.authorize, params)
    return AuthRequest(url=url, state=state, code_verifier=verifier, redirect_uri=redirect_uri)


def parse_callback(query: Mapping[str, str], request: AuthRequest) -> str:
    """The authorization code from the redirect's query, after checking it answers *request*."""
    if query.get("state") != request.state:
        raise OAuthFailed(
            "the answer does not belong to this request (its state differs); start the sign-in "
            "again",
            error="state_mismatch",
        )
    error = query.get("error")
    if error:
        description = first_line(query.get("error_description") or "")
        if error == "access_denied":
            message = "the sign-in was cancelled or refused"
        else:
            message = f"the sign-in failed ({error})"
        raise OAuthFailed(
            f"{message}: {description}" if description else message,
            error=error,
            description=query.get("error_description") or "",
        )
    code = query.get("code")
    if not code:
        raise OAuthFailed("the answer to the sign-in carries no authorization code")
    return code


def exchange_code(
    ep: Endpoints,
    client_id: str,
    client_secret: str | None,
    code: str,
    request: AuthRequest,
    *,
    timeout: float = 30,
    clock: Callable[[], float] = time.time,
) -> Token:
    """Redeem an authorization code (with its PKCE verifier) for access and refresh tokens."""
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": request.redirect_uri,
        "code_verifier": request.code_verifier,
    }
    now = clock()
    body = token_request(ep, client_id, client_secret, form, timeout=timeout)
    if "error" in body:
        error, description = error_of(body)
        raise OAuthFailed(
            f"{ep.service} did not complete the sign-in ({error}): {first_line(description)}; "
            "start it again",
            error=error,
            description=description,
        )
    return token_of(ep, body, now)


def admin_consent_url(
    ep: Endpoints,
    client_id: str,
    redirect_uri: str,
    *,
    state: str | None = None,
    scope: str = GRAPH_DEFAULT_SCOPE,
) -> str:
    """The Entra ID admin consent URL: a tenant admin opens it to grant the app's permissions."""
    if not ep.admin_consent:
        raise ValueError(f"{ep.service} has no admin consent endpoint")
    params = {"client_id": client_id, "scope": scope, "redirect_uri": redirect_uri}
    if state is not None:
        params["state"] = state
    return _with_query(ep.admin_consent, params)
