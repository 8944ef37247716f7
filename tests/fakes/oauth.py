"""A local authorization server standing in for Microsoft Entra ID and Google.

One ``FakeIdentityProvider`` answers, on ``http://127.0.0.1:PORT``:

- Microsoft identity platform v2.0: ``GET /{tenant}/oauth2/v2.0/authorize``,
  ``POST /{tenant}/oauth2/v2.0/token``, ``GET /{tenant}/v2.0/adminconsent``;
- Google: ``GET /o/oauth2/v2/auth`` and ``POST /token``;
- ``POST /introspect`` (RFC 7662) for Dovecot's ``oauth2`` passdb.

It follows the documented wire behaviour: exact redirect URI match (the loopback exception
ignores the port, as both providers do), PKCE S256 required, single-use codes, refresh token
rotation on the Microsoft side (Google keeps the refresh token), client secret checks
(``client_secret_post`` or HTTP Basic), admin consent for the client credentials grant, and
Entra-style ``AADSTS…`` texts. Sign-in is automatic: the authorize endpoint signs in
``next_login`` (or the ``login_hint``) without a page.

For the fake Graph and Gmail servers, ``principal()`` and ``may_open()`` say whom an access
token speaks for and whether it may open a mailbox.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

MASKED_FIELDS = frozenset(
    {"client_secret", "code", "code_verifier", "refresh_token", "client_assertion", "password"}
)
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]", "::1"})


@dataclass(frozen=True)
class Principal:
    """Whom an access token speaks for: a signed-in user or an app (client credentials)."""

    subject: str  # the user name, or the client ID of an app
    kind: str  # "user" | "app"
    client_id: str
    scopes: frozenset[str]
    tenant: str


@dataclass
class _Client:
    client_id: str
    secret: str | None
    redirect_uris: tuple[str, ...]
    tenant: str
    secret_expired: bool


@dataclass
class _Code:
    client_id: str
    user: str
    scopes: tuple[str, ...]
    redirect_uri: str
    challenge: str
    tenant: str
    provider: str
    offline: bool


@dataclass
class _Grant:
    """What a refresh token stands for."""

    client_id: str
    user: str
    scopes: tuple[str, ...]
    tenant: str
    provider: str
    valid: bool = True
    why_invalid: str = ""


@dataclass
class _Access:
    principal: Principal
    expires_at: float
    revoked: bool = False


@dataclass
class _Answer:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


class _OAuthError(Exception):
    def __init__(self, status: int, error: str, description: str, codes: Sequence[int] = ()):
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description
        self.codes = list(codes)


def _json(status: int, body: Mapping[str, Any]) -> _Answer:
    headers = {"Cache-Control": "no-store", "Pragma": "no-cache"}
    return _Answer(status, json.dumps(body).encode(), headers=headers)


def _page(status: int, text: str) -> _Answer:
    body = f"<!doctype html><title>Sign in</title><p>{text}</p>".encode()
    return _Answer(status, body, content_type="text/html; charset=utf-8")


def _redirect(uri: str, params: Mapping[str, str]) -> _Answer:
    location = f"{uri}{'&' if urlsplit(uri).query else '?'}{urlencode(params)}"
    return _Answer(302, headers={"Location": location})


def _s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _redirect_matches(registered: str, given: str) -> bool:
    """Exact match, except that a loopback ``http`` URI may use any port (RFC 8252 §7.3;
    Entra ID's localhost exception and Google's loopback IP address option)."""
    if registered == given:
        return True
    a, b = urlsplit(registered), urlsplit(given)
    loopback = a.scheme == b.scheme == "http" and a.hostname in LOOPBACK_HOSTS
    return (
        loopback
        and a.hostname == b.hostname
        and a.path == b.path
        and a.query == b.query
        and a.fragment == b.fragment
    )


class FakeIdentityProvider:
    """Microsoft Entra ID and Google sign-in on 127.0.0.1, as a context manager."""

    def __init__(self, *, expires_in: int = 3600, rotate_refresh_tokens: bool = True) -> None:
        self.expires_in = expires_in
        self.rotate_refresh_tokens = rotate_refresh_tokens  # Microsoft side; Google never does
        self.next_login: str | None = None  # stays set until changed
        self.deny_next = False  # one-shot
        self.token_requests: list[dict[str, str]] = []
        self._clients: dict[str, _Client] = {}
        self._users: set[str] = set()
        self._consents: set[tuple[str, str]] = set()
        self._app_mailboxes: dict[str, list[str]] = {}
        self._delegates: dict[str, set[str]] = {}
        self._codes: dict[str, _Code] = {}
        self._redeemed: set[str] = set()
        self._grants: dict[str, _Grant] = {}
        self._access: dict[str, _Access] = {}
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> FakeIdentityProvider:
        handler = type("Handler", (_Handler,), {"idp": self})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, name="fake-idp", kwargs={"poll_interval": 0.05}
        )
        self._thread.daemon = True
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> FakeIdentityProvider:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the fake identity provider is not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def microsoft_base(self) -> str:
        """The value for ``INVOICE_INBOX_MICROSOFT_LOGIN_URL``."""
        return self.url

    def google_urls(self) -> tuple[str, str]:
        """Values for ``INVOICE_INBOX_GOOGLE_AUTH_URL`` / ``INVOICE_INBOX_GOOGLE_TOKEN_URL``."""
        return f"{self.url}/o/oauth2/v2/auth", f"{self.url}/token"

    # ------------------------------------------------------------------ set-up

    def register_client(
        self,
        client_id: str,
        *,
        secret: str | None = None,
        redirect_uris: Sequence[str] = (),
        tenant: str = "common",
        secret_expired: bool = False,
    ) -> None:
        """An app registration (Microsoft) or OAuth client (Google); no secret: a public client.
        *tenant* is its home tenant; ``common`` makes it usable under any tenant."""
        with self._lock:
            self._clients[client_id] = _Client(
                client_id, secret, tuple(redirect_uris), tenant, secret_expired
            )

    def add_user(self, username: str) -> None:
        with self._lock:
            self._users.add(username.lower())

    def grant_consent(self, tenant: str, client_id: str) -> None:
        with self._lock:
            self._consents.add((tenant.lower(), client_id))

    def consented(self, tenant: str, client_id: str) -> bool:
        with self._lock:
            return (tenant.lower(), client_id) in self._consents

    def app_mailbox(self, client_id: str, mailbox: str) -> None:
        """Let an app-only principal open *mailbox* (Exchange application access policy)."""
        with self._lock:
            self._app_mailboxes.setdefault(client_id, []).append(mailbox.lower())

    def delegate(self, user: str, mailbox: str) -> None:
        """Let *user*'s delegated tokens also open *mailbox* (a shared mailbox)."""
        with self._lock:
            self._delegates.setdefault(user.lower(), set()).add(mailbox.lower())

    def revoke(self, user_or_client: str) -> None:
        """Every refresh and access token of that user or client stops working."""
        who = user_or_client.lower()
        with self._lock:
            for grant in self._grants.values():
                if grant.valid and who in (grant.user.lower(), grant.client_id.lower()):
                    grant.valid, grant.why_invalid = False, "revoked"
            for access in self._access.values():
                p = access.principal
                if who in (p.subject.lower(), p.client_id.lower()):
                    access.revoked = True

    def expire_access_tokens(self) -> None:
        with self._lock:
            for access in self._access.values():
                access.expires_at = 0.0

    # ------------------------------------------------------------------ shortcuts for tests

    def mint_user_token(
        self,
        user: str,
        client_id: str,
        scopes: Sequence[str],
        *,
        tenant: str = "common",
        provider: str = "microsoft",
    ) -> dict[str, Any]:
        """A token response for *user* as if they had signed in (skips the browser part)."""
        with self._lock:
            grant = _Grant(client_id, user.lower(), tuple(scopes), tenant, provider)
            return self._issue(grant, offline=True)

    def mint_app_token(self, client_id: str, scope: str, *, tenant: str) -> dict[str, Any]:
        """A client credentials token response, without the consent and secret checks."""
        with self._lock:
            return self._issue_app(client_id, scope, tenant)

    # ------------------------------------------------------------------ for fake resource servers

    def principal(self, access_token: str) -> Principal | None:
        """Whom *access_token* speaks for; None if unknown, expired or revoked."""
        with self._lock:
            access = self._access.get(access_token)
            if access is None or access.revoked or access.expires_at <= time.time():
                return None
            return access.principal

    def may_open(self, access_token: str, mailbox: str) -> int:
        """200 if the token may open *mailbox*, 401 if it is not a valid token, 403 otherwise."""
        principal = self.principal(access_token)
        if principal is None:
            return 401
        box = mailbox.lower()
        with self._lock:
            if principal.kind == "user":
                allowed = box == principal.subject or box in self._delegates.get(
                    principal.subject, set()
                )
            else:
                allowed = box in self._app_mailboxes.get(principal.client_id, [])
        return 200 if allowed else 403

    def introspect(self, token: str) -> dict[str, Any]:
        """The RFC 7662 answer for *token*."""
        principal = self.principal(token)
        if principal is None:
            return {"active": False}
        with self._lock:
            access = self._access[token]
            if principal.kind == "user":
                username: str | None = principal.subject
            else:
                boxes = self._app_mailboxes.get(principal.client_id, [])
                username = boxes[0] if boxes else None
        answer: dict[str, Any] = {
            "active": True,
            "scope": " ".join(sorted(principal.scopes)),
            "client_id": principal.client_id,
            "sub": principal.subject,
            "token_type": "Bearer",
            "exp": int(access.expires_at),
        }
        if username:
            answer |= {"username": username, "email": username}
        return answer

    # ------------------------------------------------------------------ issuing

    def _new_access(self, principal: Principal) -> str:
        prefix = "ya29." if principal.tenant == "google" else "eyJ0eXAi."
        token = prefix + secrets.token_urlsafe(32)
        self._access[token] = _Access(principal, time.time() + self.expires_in)
        return token

    def _issue(self, grant: _Grant, *, offline: bool, refresh: str | None = None) -> dict[str, Any]:
        tenant = "google" if grant.provider == "google" else grant.tenant
        principal = Principal(grant.user, "user", grant.client_id, frozenset(grant.scopes), tenant)
        answer: dict[str, Any] = {
            "token_type": "Bearer",
            "scope": " ".join(grant.scopes),
            "expires_in": self.expires_in,
            "access_token": self._new_access(principal),
        }
        if offline and refresh is None:
            refresh = ("1//" if grant.provider == "google" else "M.C5") + secrets.token_urlsafe(40)
            self._grants[refresh] = grant
            answer["refresh_token"] = refresh
        return answer

    def _issue_app(self, client_id: str, scope: str, tenant: str) -> dict[str, Any]:
        principal = Principal(client_id, "app", client_id, frozenset({scope}), tenant)
        return {
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "ext_expires_in": self.expires_in,
            "access_token": self._new_access(principal),
        }

    # ------------------------------------------------------------------ endpoints

    def _client_for(self, client_id: str, tenant: str, provider: str) -> _Client | None:
        client = self._clients.get(client_id)
        if client is None:
            return None
        if provider == "google" or client.tenant == "common":
            return client
        if tenant.lower() in (client.tenant.lower(), "common", "organizations"):
            return client
        return None

    def authorize(self, provider: str, tenant: str, query: Mapping[str, str]) -> _Answer:
        with self._lock:
            client_id = query.get("client_id", "")
            client = self._client_for(client_id, tenant, provider)
            if client is None:
                return _page(
                    400,
                    f"AADSTS700016: Application with identifier '{client_id}' was not found in "
                    f"the directory '{tenant}'.",
                )
            redirect_uri = query.get("redirect_uri", "")
            if not any(_redirect_matches(r, redirect_uri) for r in client.redirect_uris):
                return _page(
                    400,
                    "AADSTS50011: The redirect URI specified in the request does not match the "
                    f"redirect URIs configured for the application '{client_id}'.",
                )
            state = {"state": query["state"]} if "state" in query else {}
            try:
                code = self._authorize_code(provider, tenant, client, redirect_uri, query)
            except _OAuthError as exc:
                params = {"error": exc.error}
                if provider == "microsoft" or exc.error != "access_denied":
                    params["error_description"] = exc.description
                return _redirect(redirect_uri, params | state)
            return _redirect(redirect_uri, {"code": code} | state)

    def _authorize_code(
        self,
        provider: str,
        tenant: str,
        client: _Client,
        redirect_uri: str,
        query: Mapping[str, str],
    ) -> str:
        if query.get("response_type") != "code":
            raise _OAuthError(
                400,
                "unsupported_response_type",
                "AADSTS700054: response_type is not enabled for the application.",
            )
        challenge = query.get("code_challenge", "")
        if not challenge or query.get("code_challenge_method") != "S256":
            raise _OAuthError(
                400,
                "invalid_request",
                "AADSTS9002325: Proof Key for Code Exchange is required (code_challenge with "
                "code_challenge_method=S256).",
            )
        scopes = tuple(query.get("scope", "").split())
        if not scopes:
            raise _OAuthError(400, "invalid_request", "Missing required parameter: scope")
        if self.deny_next:
            self.deny_next = False
            raise _OAuthError(
                400,
                "access_denied",
                "AADSTS65004: User declined to consent to access the app.",
            )
        user = (self.next_login or query.get("login_hint") or "").lower()
        if user not in self._users:
            raise _OAuthError(
                400,
                "invalid_request",
                f"AADSTS50034: The user account {user or '(none)'} does not exist in the "
                f"{tenant} directory.",
            )
        offline = (
            query.get("access_type") == "offline"
            if provider == "google"
            else "offline_access" in scopes
        )
        code = secrets.token_urlsafe(48)
        self._codes[code] = _Code(
            client.client_id, user, scopes, redirect_uri, challenge, tenant, provider, offline
        )
        return code

    def admin_consent(self, tenant: str, query: Mapping[str, str]) -> _Answer:
        with self._lock:
            client_id = query.get("client_id", "")
            client = self._client_for(client_id, tenant, "microsoft")
            if client is None:
                return _page(
                    400,
                    f"AADSTS700016: Application with identifier '{client_id}' was not found in "
                    f"the directory '{tenant}'.",
                )
            redirect_uri = query.get("redirect_uri", "")
            if not any(_redirect_matches(r, redirect_uri) for r in client.redirect_uris):
                return _page(400, "AADSTS50011: The redirect URI does not match.")
            state = {"state": query["state"]} if "state" in query else {}
            if self.deny_next:
                self.deny_next = False
                params = {
                    "error": "access_denied",
                    "error_description": "AADSTS65004: The admin declined to consent to the app.",
                }
                return _redirect(redirect_uri, params | state)
            self._consents.add((tenant.lower(), client_id))
            params = {"admin_consent": "True", "tenant": tenant, "scope": query.get("scope", "")}
            return _redirect(redirect_uri, params | state)

    def token(self, provider: str, tenant: str, form: dict[str, str], basic: str | None) -> _Answer:
        with self._lock:
            masked = {k: ("***" if k in MASKED_FIELDS else v) for k, v in form.items()}
            self.token_requests.append(masked)
            try:
                client = self._authenticate(provider, tenant, form, basic)
                grant_type = form.get("grant_type")
                if grant_type == "authorization_code":
                    return _json(200, self._redeem_code(client, form))
                if grant_type == "refresh_token":
                    return _json(200, self._redeem_refresh(provider, client, form))
                if grant_type == "client_credentials" and provider == "microsoft":
                    return _json(200, self._client_credentials(client, tenant, form))
                raise _OAuthError(
                    400,
                    "unsupported_grant_type",
                    f"AADSTS70003: The app requested an unsupported grant type '{grant_type}'.",
                )
            except _OAuthError as exc:
                body: dict[str, Any] = {"error": exc.error, "error_description": exc.description}
                if provider == "microsoft" and exc.codes:
                    body["error_codes"] = exc.codes
                return _json(exc.status, body)

    def _authenticate(
        self, provider: str, tenant: str, form: dict[str, str], basic: str | None
    ) -> _Client:
        """client_secret_basic or client_secret_post; none for a public client."""
        client_id, secret = form.get("client_id", ""), form.get("client_secret")
        if basic is not None:
            try:
                decoded = base64.b64decode(basic, validate=True).decode()
                user, _, password = decoded.partition(":")
            except (binascii.Error, UnicodeDecodeError):
                raise _OAuthError(
                    401, "invalid_client", "Malformed HTTP Basic credentials."
                ) from None
            if secret is not None:
                raise _OAuthError(
                    400, "invalid_request", "More than one client authentication method used."
                )
            client_id, secret = unquote(user), unquote(password)
        client = self._client_for(client_id, tenant, provider)
        if client is None:
            raise _OAuthError(
                400,
                "invalid_client" if provider == "google" else "unauthorized_client",
                f"AADSTS700016: Application with identifier '{client_id}' was not found in the "
                f"directory '{tenant}'.",
                [700016],
            )
        if client.secret is None:
            return client  # a public client
        if secret is None:
            raise _OAuthError(
                401,
                "invalid_client",
                "AADSTS7000218: The request body must contain the following parameter: "
                "'client_assertion' or 'client_secret'.",
                [7000218],
            )
        if not secrets.compare_digest(secret.encode(), client.secret.encode()):
            raise _OAuthError(
                401,
                "invalid_client",
                f"AADSTS7000215: Invalid client secret provided. Ensure the secret being sent "
                f"in the request is the client secret value, not the client secret ID, for a "
                f"secret added to app '{client_id}'.",
                [7000215],
            )
        if client.secret_expired:
            raise _OAuthError(
                401,
                "invalid_client",
                f"AADSTS7000222: The provided client secret keys for app '{client_id}' are "
                "expired. Visit the Azure portal to create new keys for your app.\r\n"
                "Trace ID: 00000000-0000-0000-0000-000000000000",
                [7000222],
            )
        return client

    def _redeem_code(self, client: _Client, form: dict[str, str]) -> dict[str, Any]:
        code_value = form.get("code", "")
        code = self._codes.pop(code_value, None)
        if code is None:
            redeemed = code_value in self._redeemed
            raise _OAuthError(
                400,
                "invalid_grant",
                "AADSTS54005: OAuth2 Authorization code was already redeemed, please retry "
                "with a new valid code or use an existing refresh token."
                if redeemed
                else "AADSTS70000: The provided authorization code is invalid or expired.",
                [54005 if redeemed else 70000],
            )
        self._redeemed.add(code_value)
        if code.client_id != client.client_id:
            raise _OAuthError(
                400,
                "invalid_grant",
                "AADSTS70000: The authorization code was issued to another client.",
                [70000],
            )
        if form.get("redirect_uri") != code.redirect_uri:
            raise _OAuthError(
                400,
                "invalid_grant",
                "AADSTS70000: The redirect_uri does not match the one of the authorization "
                "request.",
                [70000],
            )
        if _s256(form.get("code_verifier", "")) != code.challenge:
            raise _OAuthError(
                400,
                "invalid_grant",
                "AADSTS501481: The Code_Verifier does not match the code_challenge supplied in "
                "the authorization request.",
                [501481],
            )
        grant = _Grant(code.client_id, code.user, code.scopes, code.tenant, code.provider)
        return self._issue(grant, offline=code.offline)

    def _redeem_refresh(
        self, provider: str, client: _Client, form: dict[str, str]
    ) -> dict[str, Any]:
        value = form.get("refresh_token", "")
        grant = self._grants.get(value)
        google = provider == "google"
        usable = grant is not None and grant.valid and grant.provider == provider
        if grant is None or not usable or grant.client_id != client.client_id:
            if google:
                raise _OAuthError(400, "invalid_grant", "Token has been expired or revoked.")
            if grant is not None and grant.why_invalid == "revoked":
                raise _OAuthError(
                    400,
                    "invalid_grant",
                    "AADSTS50173: The provided grant has expired due to it being revoked, a "
                    "fresh auth token is needed. The user might have changed or reset their "
                    "password.\r\nTrace ID: 00000000-0000-0000-0000-000000000000",
                    [50173],
                )
            raise _OAuthError(
                400,
                "invalid_grant",
                "AADSTS70000: The provided value for the 'refresh_token' is not valid: the "
                "grant is invalid, malformed, already used or issued to another client.",
                [70000],
            )
        if google or not self.rotate_refresh_tokens:
            return self._issue(grant, offline=True, refresh=value)
        grant.valid, grant.why_invalid = False, "rotated"
        fresh = _Grant(grant.client_id, grant.user, grant.scopes, grant.tenant, grant.provider)
        return self._issue(fresh, offline=True)

    def _client_credentials(
        self, client: _Client, tenant: str, form: dict[str, str]
    ) -> dict[str, Any]:
        if client.secret is None:
            raise _OAuthError(
                401,
                "invalid_client",
                "AADSTS7000218: The request body must contain the following parameter: "
                "'client_assertion' or 'client_secret'.",
                [7000218],
            )
        scope = form.get("scope", "")
        if not scope.endswith("/.default") or " " in scope:
            raise _OAuthError(
                400,
                "invalid_scope",
                f"AADSTS1002012: The provided value for scope {scope} is not valid. Client "
                "credential flows must have a scope value with /.default suffixed to the "
                "resource identifier (application ID URI).",
                [1002012],
            )
        if (tenant.lower(), client.client_id) not in self._consents:
            raise _OAuthError(
                400,
                "invalid_grant",
                f"AADSTS65001: The user or administrator has not consented to use the "
                f"application with ID '{client.client_id}'. Send an interactive authorization "
                "request for this user and resource.\r\nTrace ID: "
                "00000000-0000-0000-0000-000000000000",
                [65001],
            )
        return self._issue_app(client.client_id, scope, tenant)


class _Handler(BaseHTTPRequestHandler):
    idp: FakeIdentityProvider
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _send(self, answer: _Answer) -> None:
        self.send_response(answer.status)
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Type", answer.content_type)
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        self.wfile.write(answer.body)

    def _route(self) -> tuple[str, list[str], dict[str, str]]:
        parts = urlsplit(self.path)
        segments = [s for s in parts.path.split("/") if s]
        return parts.path, segments, dict(parse_qsl(parts.query))

    def do_GET(self) -> None:
        path, seg, query = self._route()
        if path == "/o/oauth2/v2/auth":
            self._send(self.idp.authorize("google", "google", query))
        elif len(seg) == 4 and seg[1:] == ["oauth2", "v2.0", "authorize"]:
            self._send(self.idp.authorize("microsoft", seg[0], query))
        elif len(seg) == 3 and seg[1:] == ["v2.0", "adminconsent"]:
            self._send(self.idp.admin_consent(seg[0], query))
        else:
            self._send(_page(404, "not found"))

    def do_POST(self) -> None:
        path, seg, _query = self._route()
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode("utf-8", "replace")
        form = dict(parse_qsl(raw, keep_blank_values=True))
        authorization = self.headers.get("Authorization") or ""
        basic = authorization[6:].strip() if authorization.lower().startswith("basic ") else None
        if path == "/token":
            self._send(self.idp.token("google", "google", form, basic))
        elif len(seg) == 4 and seg[1:] == ["oauth2", "v2.0", "token"]:
            self._send(self.idp.token("microsoft", seg[0], form, basic))
        elif path == "/introspect":
            self._send(_json(200, self.idp.introspect(form.get("token", ""))))
        else:
            self._send(_json(404, {"error": "not_found"}))
