"""OAuth 2.0 client side for the mail REST APIs (Microsoft Graph via Entra ID, Gmail via Google).

Two ways to get an access token:

- *delegated* (a person signs in once): the authorization code grant with PKCE S256
  (RFC 6749 §4.1, RFC 7636) — ``auth.oauth_signin`` — then ``auth.oauth_tokens.DelegatedTokens``
  keeps the access token fresh with the refresh token (§6), saving every rotated refresh token
  before it is used;
- *app-only* (a tenant admin consents once): the client credentials grant (§4.4) —
  ``auth.oauth_tokens.AppTokens``, one cached token per (token endpoint, client, scope) in the
  process.

This module holds what both share: the providers' endpoints, the errors, the token and the
token endpoint's request and answers. Both token classes are
:class:`~invoice_inbox.connectors.http.TokenFn`. Refusals become
:class:`OAuthFailed` (or :class:`NeedsReauth` / :class:`ConsentMissing`, which say what the user
must do); network trouble and 5xx answers stay transient (``ConnectFailed``/``ProtocolFailed``).
No token, code, verifier or secret is ever logged or put into a message or a repr.

The token endpoint is spoken to with plain httpx; Authlib supplies the PKCE and random-string
helpers (its httpx client integration is deprecated for httpx in favour of httpx2).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from urllib.parse import urlsplit

import httpx

from invoice_inbox.errors import ConnectFailed, LoginFailed, ProtocolFailed
from invoice_inbox.json_types import JsonObject

MICROSOFT_LOGIN_URL = "https://login.microsoftonline.com"
GOOGLE_AUTH_URL = "https://accounts.google.com/o/oauth2/v2/auth"
GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token"
GRAPH_DEFAULT_SCOPE = "https://graph.microsoft.com/.default"

AUTHENTICATE_HINT = "`invoice-inbox source authenticate NAME`"
CONSENT_HINT = "`invoice-inbox source consent-url NAME`"

# Entra ID codes meaning "no (admin) consent for this app in this tenant": AADSTS65001
# (consent missing or revoked), AADSTS7000229 (no service principal: never consented here).
CONSENT_CODES = frozenset({65001, 7000229})
_AADSTS = re.compile(r"AADSTS(\d+)")
_TENANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]*$")
_SENSITIVE_FIELDS = ("client_secret", "code", "code_verifier", "refresh_token")


# ----------------------------------------------------------------------------- endpoints


@dataclass(frozen=True)
class Endpoints:
    """Where a provider's authorization server lives."""

    authorize: str
    token: str
    admin_consent: str | None = None
    provider: str = "microsoft"  # "microsoft" | "google"

    @property
    def service(self) -> str:
        """The provider's name for messages."""
        return "Google" if self.provider == "google" else "Microsoft Entra ID"


def microsoft(tenant: str) -> Endpoints:
    """Microsoft identity platform v2.0 endpoints of *tenant* (an ID, a domain or ``common``)."""
    if not _TENANT.match(tenant):
        raise ValueError(f"not a tenant ID or domain: {tenant!r}")
    base = os.environ.get("INVOICE_INBOX_MICROSOFT_LOGIN_URL", MICROSOFT_LOGIN_URL).rstrip("/")
    return Endpoints(
        authorize=f"{base}/{tenant}/oauth2/v2.0/authorize",
        token=f"{base}/{tenant}/oauth2/v2.0/token",
        admin_consent=f"{base}/{tenant}/v2.0/adminconsent",
        provider="microsoft",
    )


def google() -> Endpoints:
    """Google's OAuth 2.0 endpoints for web server and installed applications."""
    return Endpoints(
        authorize=os.environ.get("INVOICE_INBOX_GOOGLE_AUTH_URL", GOOGLE_AUTH_URL),
        token=os.environ.get("INVOICE_INBOX_GOOGLE_TOKEN_URL", GOOGLE_TOKEN_URL),
        provider="google",
    )


# ----------------------------------------------------------------------------- errors


class OAuthFailed(LoginFailed):
    """The authorization server refused; ``error`` is its code, ``description`` its text."""

    def __init__(self, message: str, *, error: str | None = None, description: str = "") -> None:
        super().__init__(message)
        self.error = error
        self.description = description


class NeedsReauth(OAuthFailed):
    """The saved sign-in is no longer accepted: the user must authenticate again."""


class ConsentMissing(OAuthFailed):
    """App-only access: the tenant's administrator has not (or no longer) consented."""


# ----------------------------------------------------------------------------- tokens


@dataclass
class Token:
    """An access token, when it expires (epoch seconds) and the refresh token, if any."""

    access_token: str = field(repr=False)
    expires_at: float
    refresh_token: str | None = field(default=None, repr=False)
    scope: str = ""

    def expires_within(self, seconds: float, now: float) -> bool:
        return not self.access_token or self.expires_at - seconds <= now

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, s: str) -> Token:
        data = json.loads(s)
        if not isinstance(data, dict) or not isinstance(data.get("access_token"), str):
            raise ValueError("not a saved OAuth token")
        refresh = data.get("refresh_token")
        return cls(
            access_token=data["access_token"],
            expires_at=float(data.get("expires_at", 0)),
            refresh_token=refresh if isinstance(refresh, str) and refresh else None,
            scope=str(data.get("scope") or ""),
        )


# ----------------------------------------------------------------------------- token endpoint


def first_line(text: str, limit: int = 300) -> str:
    """The human part of a provider's text (Entra appends trace and correlation IDs)."""
    line = text.strip().splitlines()[0].strip() if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _scrub(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def error_of(body: JsonObject) -> tuple[str, str]:
    return str(body.get("error") or "unknown_error"), str(body.get("error_description") or "")


def token_request(
    ep: Endpoints,
    client_id: str,
    client_secret: str | None,
    form: Mapping[str, str],
    *,
    timeout: float,
) -> JsonObject:
    """POST *form* to the token endpoint (client_secret_post, or a public client).

    Returns the JSON answer, an OAuth error object included (with secrets scrubbed from its
    text); raises ConnectFailed / ProtocolFailed (both transient) for network trouble, 5xx,
    429 and answers that are not JSON.
    """
    data = {**form, "client_id": client_id}
    if client_secret:
        data["client_secret"] = client_secret
    host = urlsplit(ep.token).netloc
    try:
        response = httpx.post(
            ep.token,
            data=data,
            headers={"Accept": "application/json"},
            timeout=timeout,
            follow_redirects=False,
        )
    except httpx.TransportError as exc:
        raise ConnectFailed(f"cannot reach {ep.service} at {host}: {exc}") from None
    try:
        body = response.json()
    except ValueError:
        body = None
    status = response.status_code
    if status >= 500 or status == 429 or not isinstance(body, dict):
        raise ProtocolFailed(
            f"{ep.service} answered the token request with HTTP {status} "
            f"{response.reason_phrase}".rstrip()
        )
    if "error" in body:
        secrets = [client_secret or ""] + [form.get(k, "") for k in _SENSITIVE_FIELDS]
        body["error_description"] = _scrub(str(body.get("error_description") or ""), secrets)
    elif not isinstance(body.get("access_token"), str) or not body["access_token"]:
        raise ProtocolFailed(f"{ep.service} answered the token request without an access token")
    return body


def token_of(ep: Endpoints, body: JsonObject, now: float) -> Token:
    try:
        lifetime = float(body.get("expires_in", 3600))
    except (TypeError, ValueError):
        raise ProtocolFailed(f"{ep.service} gave a token with a broken expires_in") from None
    refresh = body.get("refresh_token")
    return Token(
        access_token=body["access_token"],
        expires_at=now + lifetime,
        refresh_token=refresh if isinstance(refresh, str) and refresh else None,
        scope=str(body.get("scope") or ""),
    )


def _entra_codes(body: JsonObject) -> set[int]:
    codes = {int(c) for c in _AADSTS.findall(str(body.get("error_description") or ""))}
    listed = body.get("error_codes")
    if isinstance(listed, list):
        codes |= {c for c in listed if isinstance(c, int)}
    return codes


def consent_missing(body: JsonObject) -> bool:
    description = str(body.get("error_description") or "").lower()
    return bool(_entra_codes(body) & CONSENT_CODES) or "has not consented" in description


def temporary_failure(ep: Endpoints, error: str, description: str) -> ProtocolFailed | None:
    if error in ("temporarily_unavailable", "server_error"):
        return ProtocolFailed(f"{ep.service} is unavailable ({error}): {first_line(description)}")
    return None


def refused_client(ep: Endpoints, error: str, description: str) -> OAuthFailed:
    return OAuthFailed(
        f"{ep.service} refused the app's credentials ({error}): {first_line(description)}; "
        "check the client ID and secret, and create a new secret if it expired",
        error=error,
        description=description,
    )
