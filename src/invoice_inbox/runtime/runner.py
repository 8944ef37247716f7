"""Fetch a source end to end: decrypt its credentials, open its connector, sync, close.

This is where a source's sign-in becomes a connector: a password, a delegated OAuth2 token
(refreshed when due; a rotated refresh token is stored, encrypted, before it is used) or an
app-only token (client credentials). A refresh token the provider refuses puts the source into
"needs re-authentication" with the provider's words, and the source is not tried again until
someone signs in anew: auth failures are never retried in a loop.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from invoice_inbox.connectors import presets
from invoice_inbox.connectors.base import Connector
from invoice_inbox.connectors.imap import ImapConnector, ImapSettings
from invoice_inbox.connectors.pop3 import Pop3Connector, Pop3Settings
from invoice_inbox.errors import ConnectorError, LoginDelayed, LoginFailed
from invoice_inbox.i18n import _
from invoice_inbox.runtime import health
from invoice_inbox.runtime.context import App
from invoice_inbox.runtime.run_summary import RunPartial, RunSummary
from invoice_inbox.runtime.sync import sync_source
from invoice_inbox.runtime.sync_steps import Observer
from invoice_inbox.store import sources
from invoice_inbox.store.blobs import BlobStoreError
from invoice_inbox.store.models import AuthState, Source

if TYPE_CHECKING:
    # OAuth2 and the HTTP connectors (httpx, authlib: a tenth of a second to import) are
    # imported by the sources that use them, when they do: a password IMAP or POP3 source's
    # fetch never does.
    from invoice_inbox.auth import oauth
    from invoice_inbox.connectors.http import TokenFn


class NotFetchable(Exception):
    """The source has no mailbox to fetch from (the company's central import address)."""


class NeedsAuthentication(LoginFailed):
    """The source cannot sign in until someone runs ``source authenticate`` (again)."""


@dataclass(frozen=True, kw_only=True)
class _Login:
    """A source's connection and sign-in settings, decrypted, outside any session."""

    id: int
    name: str
    protocol: str
    auth: str
    host: str
    port: int
    security: str
    ca_file: str | None
    ca_pem: str | None
    verify_tls: bool
    username: str
    shared_mailbox: str | None
    client_id: str | None
    password: str | None
    client_secret: str | None
    token: str | None

    endpoints: oauth.Endpoints | None
    scopes: list[str]

    @property
    def mailbox(self) -> str:
        return self.shared_mailbox or self.username


def endpoints_for(src: Source) -> oauth.Endpoints | None:
    """The source's authorization server, or None for password sign-in."""
    preset = presets.PRESETS[src.provider]
    if src.auth == presets.PASSWORD or preset.oauth is None:
        return None
    from invoice_inbox.auth import oauth

    if preset.oauth == "google":
        return oauth.google()
    return oauth.microsoft(src.tenant_id or "organizations")


def scopes_for(src: Source) -> list[str]:
    """The OAuth2 scopes the source's protocol and sign-in need."""
    preset = presets.PRESETS[src.provider]
    if src.auth == presets.PASSWORD or preset.oauth is None:
        return []
    return presets.scopes(
        preset.oauth,
        src.protocol,
        src.auth,
        shared=src.shared_mailbox is not None,
        modify=bool(src.move_imported_to or src.move_not_imported_to or src.unread_only),
    )


def _login(app: App, src: Source) -> _Login:
    never_signed_in = src.auth == presets.OAUTH and src.token is None
    if src.auth_state != AuthState.OK or never_signed_in:
        fix = {
            presets.APP: f"invoice-inbox source set {src.name} --client-secret-env VAR",
            presets.PASSWORD: f"invoice-inbox source set {src.name} --password-env VAR",
        }.get(src.auth, f"invoice-inbox source authenticate {src.name}")
        words = {"source": src.name, "fix": fix, "why": src.auth_error}
        if src.auth_state == AuthState.LOGIN_REFUSED:
            words["why"] = src.auth_error or _("the login was refused")
            sentence = _('source "%(source)s" cannot log in (%(why)s): run %(fix)s')
        elif src.auth_state == AuthState.NEEDS_AUTHENTICATION or never_signed_in:
            sentence = _('source "%(source)s" has not been signed in yet: run %(fix)s')
        else:
            words["why"] = src.auth_error or _("the sign-in was refused")
            sentence = _('source "%(source)s" needs re-authentication (%(why)s): run %(fix)s')
        raise NeedsAuthentication(sentence % words)

    def plain(value: str | None) -> str | None:
        return app.secrets.decrypt(value) if value else None

    return _Login(
        id=src.id,
        name=src.name,
        protocol=src.protocol,
        auth=src.auth,
        host=src.host,
        port=src.port,
        security=src.security,
        ca_file=src.ca_file,
        ca_pem=src.ca_pem,
        verify_tls=src.verify_tls,
        username=src.username,
        shared_mailbox=src.shared_mailbox,
        client_id=src.client_id,
        password=plain(src.secret),
        client_secret=plain(src.client_secret),
        token=plain(src.token),
        endpoints=endpoints_for(src),
        scopes=scopes_for(src),
    )


def _token_fn(app: App, login: _Login) -> TokenFn | None:
    if login.auth == presets.PASSWORD:
        return None
    from invoice_inbox.auth import oauth, oauth_tokens

    assert login.client_id is not None and login.endpoints is not None
    if login.auth == presets.APP:
        return oauth_tokens.AppTokens.shared(
            login.endpoints, login.client_id, login.client_secret or "", login.scopes[0]
        )
    assert login.token is not None  # _login refused a source nobody signed in to

    def save(token: oauth.Token) -> None:
        store_token(app, login.id, token)

    return oauth_tokens.DelegatedTokens(
        login.endpoints,
        login.client_id,
        login.client_secret,
        login.scopes,
        oauth.Token.from_json(login.token),
        save,
    )


def store_token(app: App, source_id: int, token: oauth.Token) -> None:
    """Store a (new or rotated) token, encrypted, in its own transaction, and mark the source
    signed in."""
    with app.db.session() as s:
        sources.signed_in(s, source_id, app.secrets.encrypt(token.to_json()))


def connector_for(app: App, source_name: str) -> Connector:
    """The source's connector, ready to connect lazily on its first command."""
    with app.db.session() as s:
        src = sources.get(s, source_name)
        if src.protocol == "smtp":
            raise NotFetchable(
                f'source "{source_name}" receives mail at its import address; nothing to fetch'
            )
        login = _login(app, src)
    token = _token_fn(app, login)
    if login.protocol == presets.GRAPH:
        from invoice_inbox.connectors.graph import GraphConnector, GraphSettings

        assert token is not None
        return GraphConnector(
            GraphSettings(mailbox=login.mailbox, token=token, base_url=presets.graph_url())
        )
    if login.protocol == presets.GMAIL_API:
        from invoice_inbox.connectors.gmail import GmailConnector, GmailSettings

        assert token is not None
        return GmailConnector(
            GmailSettings(user=login.username, token=token, base_url=presets.gmail_url())
        )
    if login.protocol == presets.POP3:
        return Pop3Connector(Pop3Settings(**_server_login(login, token)))
    return ImapConnector(_imap_settings(login, token))


# the keyword arguments of ImapSettings and Pop3Settings: str, int, bool and TokenFn values
def _server_login(login: _Login, token: TokenFn | None) -> dict[str, Any]:
    """Host, TLS and sign-in of a mail server (IMAP or POP3); XOAUTH2 when *token* is given."""
    return {
        "host": login.host,
        "port": login.port,
        "security": login.security,
        "ca_file": login.ca_file,
        "ca_pem": login.ca_pem,
        "verify_tls": login.verify_tls,
        "username": login.mailbox if token is not None else login.username,
        "password": login.password or "",
        "token": token,
    }


def _imap_settings(login: _Login, token: TokenFn | None) -> ImapSettings:
    return ImapSettings(**_server_login(login, token))


def imap_settings_for(app: App, source_name: str) -> ImapSettings:
    """An IMAP source's connection settings with a live token function (for IDLE watchers)."""
    with app.db.session() as s:
        login = _login(app, sources.get(s, source_name))
    if login.protocol != presets.IMAP:
        raise ValueError(f'source "{source_name}" is not an IMAP source')
    return _imap_settings(login, _token_fn(app, login))


@contextlib.contextmanager
def signed_in(app: App, source_name: str) -> Iterator[None]:
    """Turn a refused refresh token, or refused app credentials (a wrong or expired client
    secret), into the source's "needs re-authentication" state. Missing admin consent is not
    one: an administrator may consent any time, and the next run then simply works."""
    try:
        yield
    except LoginFailed as exc:
        from invoice_inbox.auth import oauth  # a failed login: its import no longer matters

        if isinstance(exc, oauth.OAuthFailed) and (
            isinstance(exc, oauth.NeedsReauth) or exc.error == "invalid_client"
        ):
            with app.db.session() as s:
                sources.sign_in_refused(s, source_name, str(exc))
        raise


def fetch(
    app: App,
    source_name: str,
    *,
    trigger: str = "manual",
    observer: Observer | None = None,
    progress: Callable[[int, int], None] | None = None,
    batch_size: int | None = None,
    cancel: threading.Event | None = None,
    owner: str | None = None,
) -> RunSummary:
    """One run of a source; its outcome is recorded in the source's health (runtime.health).
    A run that committed mail before a connector error raises ``RunPartial`` (its summary
    says what was done); the error counts as a failure, but never switches the source off.
    A login the server refused as too soon after the last one (``LoginDelayed``, POP3
    ``[LOGIN-DELAY]``) is raised without counting as a failure.
    *owner*: the source's lease, already held by the caller (a scheduler's claim)."""
    try:
        with signed_in(app, source_name):
            conn = connector_for(app, source_name)
            try:
                summary = sync_source(
                    app,
                    source_name,
                    conn,
                    trigger=trigger,
                    observer=observer,
                    progress=progress,
                    batch_size=batch_size,
                    cancel=cancel,
                    owner=owner,
                )
            finally:
                conn.close()
    except (NeedsAuthentication, LoginDelayed):
        raise  # nobody asked the server, or it asked to come back later: not a failed run
    except RunPartial as exc:
        if not isinstance(exc.cause, LoginDelayed):
            health.record_failure(app, source_name, exc.cause, partial=True)
        raise
    except (ConnectorError, BlobStoreError) as exc:  # a store that cannot take the mail too
        health.record_failure(app, source_name, exc)
        raise
    health.record_success(app, source_name)
    return summary


def check(app: App, source_name: str) -> list[str]:
    """Connect, sign in and list the folders."""
    with signed_in(app, source_name):
        conn = connector_for(app, source_name)
        try:
            return conn.check()
        finally:
            conn.close()
