"""Real SASL XOAUTH2 and OAUTHBEARER (RFC 7628) logins to Dovecot, whose oauth2 passdb asks the
stand-in authorization server's RFC 7662 introspection endpoint about each bearer token: a good
token gets in, an expired, revoked or another user's token does not; the IMAP connector renews a
refused token once before giving up."""

from __future__ import annotations

import imaplib
from collections.abc import Callable

import pytest

from fakes.oauth import FakeIdentityProvider
from harness.dovecot import DovecotServer, oauthbearer_response, xoauth2_response
from invoice_inbox.connectors.imap import ImapConnector, ImapSettings
from invoice_inbox.errors import LoginFailed

SCOPES = ["https://outlook.office.com/IMAP.AccessAsUser.All", "offline_access"]


def token_for(idp: FakeIdentityProvider, user: str) -> str:
    idp.add_user(user)
    return str(idp.mint_user_token(user, "imap-client", SCOPES)["access_token"])


def login(server: DovecotServer, mechanism: str, response: bytes) -> bool:
    conn = imaplib.IMAP4(server.host, server.imap_port, timeout=10)
    try:
        conn.authenticate(mechanism, lambda _challenge: response)
    except imaplib.IMAP4.error:
        return False
    finally:
        conn.shutdown()
    return True


def build(server: DovecotServer, mechanism: str) -> Callable[[str, str], bytes]:
    if mechanism == "XOAUTH2":
        return xoauth2_response
    return lambda user, token: oauthbearer_response(user, token, server.imap_port)


@pytest.mark.parametrize("mechanism", ["XOAUTH2", "OAUTHBEARER"])
def test_good_token_logs_in_expired_revoked_or_foreign_tokens_do_not(
    oauth_dovecot: DovecotServer, idp: FakeIdentityProvider, mechanism: str
) -> None:
    respond = build(oauth_dovecot, mechanism)
    alice, _ = oauth_dovecot.new_user()
    bob, _ = oauth_dovecot.new_user()
    good = token_for(idp, alice)
    assert login(oauth_dovecot, mechanism, respond(alice, good))
    assert not login(oauth_dovecot, mechanism, respond(bob, good)), "alice's token is not bob's"
    assert not login(oauth_dovecot, mechanism, respond(alice, "made-up-token"))
    idp.revoke(alice)
    assert not login(oauth_dovecot, mechanism, respond(alice, good)), "revoked"
    fresh = token_for(idp, bob)
    idp.expire_access_tokens()
    assert not login(oauth_dovecot, mechanism, respond(bob, fresh)), "expired"


def test_the_connector_renews_a_refused_token_once(
    oauth_dovecot: DovecotServer, idp: FakeIdentityProvider
) -> None:
    user, _ = oauth_dovecot.new_user()
    asked: list[bool] = []

    def token(renew: bool = False) -> str:
        asked.append(renew)
        return token_for(idp, user) if renew else "stale-token"

    settings = ImapSettings(
        host=oauth_dovecot.host,
        port=oauth_dovecot.imap_port,
        security="none",
        username=user,
        token=token,
    )
    with ImapConnector(settings) as conn:
        assert "INBOX" in conn.check()
    assert asked == [False, True]

    with (
        ImapConnector(
            ImapSettings(
                host=oauth_dovecot.host,
                port=oauth_dovecot.imap_port,
                security="none",
                username=user,
                token=lambda renew=False: "never-valid",
            )
        ) as conn,
        pytest.raises(LoginFailed, match="login refused"),
    ):
        conn.check()
