"""OAuth 2.0 client side for the mail REST APIs (Microsoft Graph via Entra ID, Gmail via Google).

Two ways to get an access token:

- *delegated* (a person signs in once): the authorization code grant with PKCE S256
  (RFC 6749 §4.1, RFC 7636) — :func:`authorization_request`, :func:`parse_callback`,
  :func:`exchange_code` — then :class:`DelegatedTokens` keeps the access token fresh with the
  refresh token (§6), saving every rotated refresh token before it is used;
- *app-only* (a tenant admin consents once): the client credentials grant (§4.4) —
  :class:`AppTokens`, one cached token per (token endpoint, client, scope) in the process.

Both token classes are :class:`~invoice_inbox.connectors.http.TokenFn`. Refusals become
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
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import ClassVar
from urllib.parse import urlencode, urlsplit

import httpx
from authlib.common.security import generate_token
from authlib.oauth2.rfc7636 import create_s256_code_challenge

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


@dataclass(frozen=True)
class AuthRequest:
    """One sign-in in progress: the URL to open and what the answer must be checked against."""

    url: str
    state: str
    code_verifier: str = field(repr=False)
    redirect_uri: str


# ----------------------------------------------------------------------------- sign-in


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
        description = _first_line(query.get("error_description") or "")
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
    body = _token_request(ep, client_id, client_secret, form, timeout=timeout)
    if "error" in body:
        error, description = _error_of(body)
        raise OAuthFailed(
            f"{ep.service} did not complete the sign-in ({error}): {_first_line(description)}; "
            "start it again",
            error=error,
            description=description,
        )
    return _token_of(ep, body, now)


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


# ----------------------------------------------------------------------------- token endpoint


def _first_line(text: str, limit: int = 300) -> str:
    """The human part of a provider's text (Entra appends trace and correlation IDs)."""
    line = text.strip().splitlines()[0].strip() if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _scrub(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def _error_of(body: JsonObject) -> tuple[str, str]:
    return str(body.get("error") or "unknown_error"), str(body.get("error_description") or "")


def _token_request(
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


def _token_of(ep: Endpoints, body: JsonObject, now: float) -> Token:
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


def _consent_missing(body: JsonObject) -> bool:
    description = str(body.get("error_description") or "").lower()
    return bool(_entra_codes(body) & CONSENT_CODES) or "has not consented" in description


def _temporary(ep: Endpoints, error: str, description: str) -> ProtocolFailed | None:
    if error in ("temporarily_unavailable", "server_error"):
        return ProtocolFailed(f"{ep.service} is unavailable ({error}): {_first_line(description)}")
    return None


def _refused_client(ep: Endpoints, error: str, description: str) -> OAuthFailed:
    return OAuthFailed(
        f"{ep.service} refused the app's credentials ({error}): {_first_line(description)}; "
        "check the client ID and secret, and create a new secret if it expired",
        error=error,
        description=description,
    )


# ----------------------------------------------------------------------------- delegated


class DelegatedTokens:
    """A person's access token, refreshed with the refresh token when due (a TokenFn).

    A refresh happens when the access token expires within *margin* seconds, or on
    ``renew=True``. A rotated refresh token is handed to *save* before the new access token is
    returned; the old refresh token is kept only when none came back (Google). One lock: two
    threads never spend the same refresh token, and a thread that waited for another's refresh
    uses its result.
    """

    def __init__(
        self,
        ep: Endpoints,
        client_id: str,
        client_secret: str | None,
        scopes: Sequence[str],
        token: Token,
        save: Callable[[Token], None],
        *,
        clock: Callable[[], float] = time.time,
        margin: float = 300,
        timeout: float = 30,
    ) -> None:
        self._ep = ep
        self._client_id = client_id
        self._client_secret = client_secret
        self._scopes = list(scopes)
        self._token = token
        self._save = save
        self._clock = clock
        self._margin = margin
        self._timeout = timeout
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"DelegatedTokens(client_id={self._client_id!r}, provider={self._ep.provider!r})"

    @property
    def token(self) -> Token:
        return self._token

    def __call__(self, renew: bool = False) -> str:
        seen = self._token
        with self._lock:
            if self._token is not seen:  # another thread refreshed while this one waited
                return self._token.access_token
            if renew or self._token.expires_within(self._margin, self._clock()):
                self._token = self._refresh()
                self._save(self._token)
            return self._token.access_token

    def _refresh(self) -> Token:
        old = self._token
        if not old.refresh_token:
            raise NeedsReauth(
                f"no refresh token is saved for this {self._ep.service} sign-in; sign in again "
                f"with {AUTHENTICATE_HINT}",
                error="no_refresh_token",
            )
        form = {"grant_type": "refresh_token", "refresh_token": old.refresh_token}
        if self._ep.provider == "microsoft":  # required by Entra ID, not used by Google
            form["scope"] = " ".join(self._scopes)
        now = self._clock()
        body = _token_request(
            self._ep, self._client_id, self._client_secret, form, timeout=self._timeout
        )
        if "error" in body:
            raise self._refusal(body)
        new = _token_of(self._ep, body, now)
        return Token(
            access_token=new.access_token,
            expires_at=new.expires_at,
            refresh_token=new.refresh_token or old.refresh_token,
            scope=new.scope or old.scope,
        )

    def _refusal(self, body: JsonObject) -> Exception:
        error, description = _error_of(body)
        temporary = _temporary(self._ep, error, description)
        if temporary:
            return temporary
        if error == "invalid_client":
            return _refused_client(self._ep, error, description)
        if error in ("invalid_grant", "interaction_required", "consent_required") or (
            _consent_missing(body)
        ):
            return NeedsReauth(
                f"{self._ep.service} no longer accepts the saved sign-in ({error}: "
                f"{_first_line(description)}); sign in again with {AUTHENTICATE_HINT}",
                error=error,
                description=description,
            )
        return OAuthFailed(
            f"{self._ep.service} refused to refresh the access token ({error}): "
            f"{_first_line(description)}",
            error=error,
            description=description,
        )


# ----------------------------------------------------------------------------- app-only


class AppTokens:
    """An app-only access token by the client credentials grant, cached until *margin* before
    it expires (a TokenFn). :meth:`shared` gives one instance per (token URL, client, scope)."""

    _shared: ClassVar[dict[tuple[str, str, str], AppTokens]] = {}
    _shared_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(
        self,
        ep: Endpoints,
        client_id: str,
        client_secret: str,
        scope: str,
        *,
        clock: Callable[[], float] = time.time,
        margin: float = 300,
        timeout: float = 30,
    ) -> None:
        self._ep = ep
        self._client_id = client_id
        self._client_secret = client_secret
        self._scope = scope
        self._clock = clock
        self._margin = margin
        self._timeout = timeout
        self._token: Token | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"AppTokens(client_id={self._client_id!r}, scope={self._scope!r})"

    @classmethod
    def shared(cls, ep: Endpoints, client_id: str, client_secret: str, scope: str) -> AppTokens:
        """The process-wide instance for this tenant's token endpoint, client and scope; a
        changed client secret (a new one was entered) replaces it."""
        key = (ep.token, client_id, scope)
        with cls._shared_lock:
            found = cls._shared.get(key)
            if found is None or found._client_secret != client_secret:
                found = cls._shared[key] = cls(ep, client_id, client_secret, scope)
            return found

    @classmethod
    def forget_shared(cls) -> None:
        """Drop every shared instance (their cached tokens with them)."""
        with cls._shared_lock:
            cls._shared.clear()

    def __call__(self, renew: bool = False) -> str:
        seen = self._token
        with self._lock:
            if self._token is not None and self._token is not seen:
                return self._token.access_token  # fetched by another thread meanwhile
            if (
                renew
                or self._token is None
                or self._token.expires_within(self._margin, self._clock())
            ):
                self._token = self._fetch()
            return self._token.access_token

    def _fetch(self) -> Token:
        form = {"grant_type": "client_credentials", "scope": self._scope}
        now = self._clock()
        body = _token_request(
            self._ep, self._client_id, self._client_secret, form, timeout=self._timeout
        )
        if "error" in body:
            raise self._refusal(body)
        return _token_of(self._ep, body, now)

    def _refusal(self, body: JsonObject) -> Exception:
        error, description = _error_of(body)
        temporary = _temporary(self._ep, error, description)
        if temporary:
            return temporary
        if _consent_missing(body) or (
            error in ("unauthorized_client", "invalid_client") and "consent" in description.lower()
        ):
            return ConsentMissing(
                f"the tenant's administrator has not consented to this app "
                f"({_first_line(description)}); open the URL from {CONSENT_HINT} as an "
                "administrator, then try again",
                error=error,
                description=description,
            )
        if error == "invalid_client":
            return _refused_client(self._ep, error, description)
        return OAuthFailed(
            f"{self._ep.service} refused an app-only token ({error}): {_first_line(description)}",
            error=error,
            description=description,
        )
