"""Access tokens kept fresh: :class:`DelegatedTokens` for a person who signed in once
(``auth.oauth_signin``), refreshed with the refresh token (RFC 6749 §6), and :class:`AppTokens`
for an app a tenant admin consented to, by the client credentials grant (§4.4). Both are
:class:`~invoice_inbox.connectors.http.TokenFn`; refusals are ``auth.oauth``'s errors."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import ClassVar

from invoice_inbox.auth.oauth import (
    AUTHENTICATE_HINT,
    CONSENT_HINT,
    ConsentMissing,
    Endpoints,
    NeedsReauth,
    OAuthFailed,
    Token,
    consent_missing,
    error_of,
    first_line,
    refused_client,
    temporary_failure,
    token_of,
    token_request,
)
from invoice_inbox.json_types import JsonObject


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
        body = token_request(
            self._ep, self._client_id, self._client_secret, form, timeout=self._timeout
        )
        if "error" in body:
            raise self._refusal(body)
        new = token_of(self._ep, body, now)
        return Token(
            access_token=new.access_token,
            expires_at=new.expires_at,
            refresh_token=new.refresh_token or old.refresh_token,
            scope=new.scope or old.scope,
        )

    def _refusal(self, body: JsonObject) -> Exception:
        error, description = error_of(body)
        temporary = temporary_failure(self._ep, error, description)
        if temporary:
            return temporary
        if error == "invalid_client":
            return refused_client(self._ep, error, description)
        if error in ("invalid_grant", "interaction_required", "consent_required") or (
            consent_missing(body)
        ):
            return NeedsReauth(
                f"{self._ep.service} no longer accepts the saved sign-in ({error}: "
                f"{first_line(description)}); sign in again with {AUTHENTICATE_HINT}",
                error=error,
                description=description,
            )
        return OAuthFailed(
            f"{self._ep.service} refused to refresh the access token ({error}): "
            f"{first_line(description)}",
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
        body = token_request(
            self._ep, self._client_id, self._client_secret, form, timeout=self._timeout
        )
        if "error" in body:
            raise self._refusal(body)
        return token_of(self._ep, body, now)

    def _refusal(self, body: JsonObject) -> Exception:
        error, description = error_of(body)
        temporary = temporary_failure(self._ep, error, description)
        if temporary:
            return temporary
        if consent_missing(body) or (
            error in ("unauthorized_client", "invalid_client") and "consent" in description.lower()
        ):
            return ConsentMissing(
                f"the tenant's administrator has not consented to this app "
                f"({first_line(description)}); open the URL from {CONSENT_HINT} as an "
                "administrator, then try again",
                error=error,
                description=description,
            )
        if error == "invalid_client":
            return refused_client(self._ep, error, description)
        return OAuthFailed(
            f"{self._ep.service} refused an app-only token ({error}): {first_line(description)}",
            error=error,
            description=description,
        )
