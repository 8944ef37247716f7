"""OAuth 2.0 client (auth/oauth.py) against the fake Entra ID / Google (tests/fakes/oauth.py)."""

from __future__ import annotations

import dataclasses
import socket
import threading
import time
from collections.abc import Iterator
from urllib.parse import parse_qs, parse_qsl, urlsplit

import httpx
import pytest

from fakes.oauth import FakeIdentityProvider
from invoice_inbox.auth.oauth import (
    ConsentMissing,
    Endpoints,
    NeedsReauth,
    OAuthFailed,
    Token,
    google,
    microsoft,
)
from invoice_inbox.auth.oauth_signin import (
    AuthRequest,
    admin_consent_url,
    authorization_request,
    exchange_code,
    parse_callback,
)
from invoice_inbox.auth.oauth_tokens import AppTokens, DelegatedTokens
from invoice_inbox.errors import ConnectFailed

TENANT = "buyer.example"
CLIENT = "6731de76-14a6-49ae-97bc-6eba6914391e"
SECRET = "Fk8Q~client-secret-value-never-shown"
REDIRECT = "http://127.0.0.1:8765/callback"
USER = "ap@buyer.example"
MAIL_SCOPES = ["https://graph.microsoft.com/Mail.ReadWrite"]
GMAIL_SCOPES = ["https://www.googleapis.com/auth/gmail.modify"]
GRAPH_DEFAULT = "https://graph.microsoft.com/.default"


@pytest.fixture
def idp(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeIdentityProvider]:
    with FakeIdentityProvider() as fake:
        monkeypatch.setenv("INVOICE_INBOX_MICROSOFT_LOGIN_URL", fake.microsoft_base())
        auth_url, token_url = fake.google_urls()
        monkeypatch.setenv("INVOICE_INBOX_GOOGLE_AUTH_URL", auth_url)
        monkeypatch.setenv("INVOICE_INBOX_GOOGLE_TOKEN_URL", token_url)
        fake.register_client(CLIENT, secret=SECRET, redirect_uris=[REDIRECT])
        fake.add_user(USER)
        fake.next_login = USER
        yield fake
    AppTokens.forget_shared()


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def follow(url: str) -> dict[str, str]:
    """Open *url* like a browser would, but stop at the redirect: its query parameters."""
    response = httpx.get(url, follow_redirects=False)
    assert response.status_code == 302, response.text
    location = response.headers["Location"]
    assert location.startswith(REDIRECT)
    return dict(parse_qsl(urlsplit(location).query))


def sign_in(
    ep: Endpoints,
    scopes: list[str],
    *,
    secret: str | None = SECRET,
    clock: Clock | None = None,
) -> tuple[Token, AuthRequest]:
    request = authorization_request(ep, CLIENT, scopes, REDIRECT)
    code = parse_callback(follow(request.url), request)
    token = exchange_code(ep, CLIENT, secret, code, request, clock=clock or time.time)
    return token, request


def refresh_requests(idp: FakeIdentityProvider) -> list[dict[str, str]]:
    return [r for r in idp.token_requests if r.get("grant_type") == "refresh_token"]


# --------------------------------------------------------------------- authorization code + PKCE


def test_code_flow_with_pkce_round_trip(idp: FakeIdentityProvider) -> None:
    ep = microsoft(TENANT)
    request = authorization_request(ep, CLIENT, MAIL_SCOPES, REDIRECT, login_hint=USER)
    params = parse_qs(urlsplit(request.url).query)
    assert request.url.startswith(f"{idp.url}/{TENANT}/oauth2/v2.0/authorize?")
    assert params["response_type"] == ["code"]
    assert params["response_mode"] == ["query"]
    assert params["code_challenge_method"] == ["S256"]
    assert params["scope"] == [f"{MAIL_SCOPES[0]} offline_access"]
    assert params["state"] == [request.state]
    assert request.code_verifier not in request.url  # only its S256 hash travels

    code = parse_callback(follow(request.url), request)
    token = exchange_code(ep, CLIENT, SECRET, code, request)

    assert token.refresh_token and token.access_token
    assert token.expires_at == pytest.approx(time.time() + 3600, abs=5)
    sent = idp.token_requests[-1]
    assert sent["grant_type"] == "authorization_code"
    assert sent["redirect_uri"] == REDIRECT
    assert sent["code_verifier"] == "***" and sent["client_secret"] == "***"  # secret_post
    principal = idp.principal(token.access_token)
    assert principal is not None
    assert (principal.subject, principal.kind, principal.client_id) == (USER, "user", CLIENT)
    assert idp.may_open(token.access_token, USER) == 200
    assert idp.may_open(token.access_token, "other@buyer.example") == 403
    idp.delegate(USER, "invoices@buyer.example")
    assert idp.may_open(token.access_token, "invoices@buyer.example") == 200
    assert idp.may_open("not-a-token", USER) == 401


def test_public_client_sends_no_secret(idp: FakeIdentityProvider) -> None:
    idp.register_client("public-app", redirect_uris=[REDIRECT])
    ep = microsoft(TENANT)
    request = authorization_request(ep, "public-app", MAIL_SCOPES, REDIRECT)
    code = parse_callback(follow(request.url), request)
    token = exchange_code(ep, "public-app", None, code, request)
    assert token.refresh_token
    assert "client_secret" not in idp.token_requests[-1]


def test_wrong_verifier_is_refused_and_code_is_single_use(idp: FakeIdentityProvider) -> None:
    ep = microsoft(TENANT)
    request = authorization_request(ep, CLIENT, MAIL_SCOPES, REDIRECT)
    code = parse_callback(follow(request.url), request)
    forged = dataclasses.replace(request, code_verifier="x" * 64)
    with pytest.raises(OAuthFailed) as refused:
        exchange_code(ep, CLIENT, SECRET, code, forged)
    assert refused.value.error == "invalid_grant"
    assert "AADSTS501481" in str(refused.value)
    assert not isinstance(refused.value, NeedsReauth)
    with pytest.raises(OAuthFailed, match="AADSTS54005"):  # spent, even by the failed attempt
        exchange_code(ep, CLIENT, SECRET, code, request)


def test_answer_with_another_state_is_refused(idp: FakeIdentityProvider) -> None:
    request = authorization_request(microsoft(TENANT), CLIENT, MAIL_SCOPES, REDIRECT)
    answer = follow(request.url)
    with pytest.raises(OAuthFailed, match="does not belong to this request"):
        parse_callback({**answer, "state": "someone-elses-state"}, request)
    with pytest.raises(OAuthFailed, match="does not belong to this request"):
        parse_callback({"code": answer["code"]}, request)


def test_access_denied_carries_the_description(idp: FakeIdentityProvider) -> None:
    idp.deny_next = True
    request = authorization_request(microsoft(TENANT), CLIENT, MAIL_SCOPES, REDIRECT)
    answer = follow(request.url)
    with pytest.raises(OAuthFailed) as denied:
        parse_callback(answer, request)
    assert denied.value.error == "access_denied"
    assert str(denied.value).startswith("the sign-in was cancelled or refused: AADSTS65004")
    assert "declined" in denied.value.description
    assert "code" in follow(request.url)  # deny_next is one-shot


def test_unregistered_redirect_uri_gets_an_error_page_not_a_redirect(
    idp: FakeIdentityProvider,
) -> None:
    for redirect in ("http://127.0.0.1:8765/elsewhere", "https://attacker.example/callback"):
        request = authorization_request(microsoft(TENANT), CLIENT, MAIL_SCOPES, redirect)
        response = httpx.get(request.url, follow_redirects=False)
        assert response.status_code == 400
        assert "Location" not in response.headers
        assert "AADSTS50011" in response.text
    # loopback: any port, as RFC 8252 §7.3 and both providers allow
    request = authorization_request(
        microsoft(TENANT), CLIENT, MAIL_SCOPES, "http://127.0.0.1:50123/callback"
    )
    assert httpx.get(request.url).status_code == 302


# --------------------------------------------------------------------- delegated refresh


def test_refresh_before_expiry_with_rotation(idp: FakeIdentityProvider) -> None:
    ep, clock = microsoft(TENANT), Clock()
    first, _ = sign_in(ep, MAIL_SCOPES, clock=clock)
    saved: list[Token] = []
    tokens = DelegatedTokens(ep, CLIENT, SECRET, MAIL_SCOPES, first, saved.append, clock=clock)

    assert tokens() == first.access_token
    clock.now = first.expires_at - 400  # outside the 300 s margin: no refresh yet
    assert tokens() == first.access_token and not refresh_requests(idp)

    clock.now = first.expires_at - 200  # inside the margin
    access = tokens()
    assert access != first.access_token
    assert [t.access_token for t in saved] == [access]
    assert saved[0].refresh_token and saved[0].refresh_token != first.refresh_token
    assert saved[0].expires_at == pytest.approx(clock.now + 3600)
    assert saved[0].scope == f"{MAIL_SCOPES[0]} offline_access"
    assert refresh_requests(idp)[0]["scope"] == MAIL_SCOPES[0]
    assert tokens() == access  # cached again

    stale = DelegatedTokens(ep, CLIENT, SECRET, MAIL_SCOPES, first, saved.append, clock=clock)
    with pytest.raises(NeedsReauth, match="AADSTS70000"):  # the rotated-away refresh token
        stale(renew=True)


def test_renew_fetches_a_new_access_token(idp: FakeIdentityProvider) -> None:
    ep = microsoft(TENANT)
    first, _ = sign_in(ep, MAIL_SCOPES)
    saved: list[Token] = []
    tokens = DelegatedTokens(ep, CLIENT, SECRET, MAIL_SCOPES, first, saved.append)
    assert tokens() == first.access_token
    assert tokens(renew=True) != first.access_token
    assert len(saved) == 1 and len(refresh_requests(idp)) == 1


def test_revoked_sign_in_needs_reauthentication(idp: FakeIdentityProvider) -> None:
    ep = microsoft(TENANT)
    first, _ = sign_in(ep, MAIL_SCOPES)
    tokens = DelegatedTokens(ep, CLIENT, SECRET, MAIL_SCOPES, first, lambda _t: None)
    idp.revoke(USER)
    assert idp.principal(first.access_token) is None
    with pytest.raises(NeedsReauth) as refused:
        tokens(renew=True)
    error = refused.value
    assert error.error == "invalid_grant"
    assert "AADSTS50173" in error.description and "Trace ID" in error.description
    assert "AADSTS50173: The provided grant has expired due to it being revoked" in str(error)
    assert "Trace ID" not in str(error)
    assert "invoice-inbox source authenticate" in str(error)
    assert error.transient is False


def test_two_threads_spend_the_refresh_token_once(idp: FakeIdentityProvider) -> None:
    ep, clock = microsoft(TENANT), Clock()
    first, _ = sign_in(ep, MAIL_SCOPES, clock=clock)
    saved: list[Token] = []

    def slow_save(token: Token) -> None:
        time.sleep(0.05)  # the other thread arrives while this one still holds the lock
        saved.append(token)

    tokens = DelegatedTokens(ep, CLIENT, SECRET, MAIL_SCOPES, first, slow_save, clock=clock)
    clock.now = first.expires_at  # due
    barrier = threading.Barrier(2)
    results: list[str] = []

    def worker(renew: bool) -> None:
        barrier.wait()
        results.append(tokens(renew=renew))

    threads = [threading.Thread(target=worker, args=(renew,)) for renew in (False, True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(refresh_requests(idp)) == 1
    assert len(saved) == 1
    assert results == [saved[0].access_token] * 2


def test_missing_refresh_token_needs_reauthentication(idp: FakeIdentityProvider) -> None:
    token = Token(access_token="at", expires_at=0.0)
    tokens = DelegatedTokens(microsoft(TENANT), CLIENT, SECRET, MAIL_SCOPES, token, lambda _t: None)
    with pytest.raises(NeedsReauth, match="no refresh token"):
        tokens()
    assert not idp.token_requests


# --------------------------------------------------------------------- client credentials


def test_client_credentials_are_cached_per_tenant_client_and_scope(
    idp: FakeIdentityProvider,
) -> None:
    idp.grant_consent(TENANT, CLIENT)
    ep = microsoft(TENANT)
    app = AppTokens.shared(ep, CLIENT, SECRET, GRAPH_DEFAULT)
    assert AppTokens.shared(microsoft(TENANT), CLIENT, SECRET, GRAPH_DEFAULT) is app
    assert AppTokens.shared(microsoft("other.example"), CLIENT, SECRET, GRAPH_DEFAULT) is not app

    access = {app() for _ in range(5)}
    assert len(access) == 1 and len(idp.token_requests) == 1
    sent = idp.token_requests[0]
    assert sent == {
        "grant_type": "client_credentials",
        "scope": GRAPH_DEFAULT,
        "client_id": CLIENT,
        "client_secret": "***",
    }
    principal = idp.principal(access.pop())
    assert principal is not None
    assert (principal.kind, principal.subject, principal.tenant) == ("app", CLIENT, TENANT)

    renewed = app(renew=True)
    assert len(idp.token_requests) == 2 and renewed not in access
    assert AppTokens.shared(ep, CLIENT, "a-new-secret", GRAPH_DEFAULT) is not app


def test_app_token_is_fetched_again_near_expiry(idp: FakeIdentityProvider) -> None:
    idp.grant_consent(TENANT, CLIENT)
    clock = Clock()
    app = AppTokens(microsoft(TENANT), CLIENT, SECRET, GRAPH_DEFAULT, clock=clock)
    first = app()
    clock.now += 3600 - 299
    assert app() != first and len(idp.token_requests) == 2


def test_missing_admin_consent_then_consent_url(idp: FakeIdentityProvider) -> None:
    ep = microsoft(TENANT)
    app = AppTokens.shared(ep, CLIENT, SECRET, GRAPH_DEFAULT)
    with pytest.raises(ConsentMissing) as missing:
        app()
    assert "AADSTS65001" in str(missing.value) and "has not consented" in str(missing.value)
    assert "invoice-inbox source consent-url NAME" in str(missing.value)

    url = admin_consent_url(ep, CLIENT, REDIRECT, state="st-1")
    assert url.startswith(f"{idp.url}/{TENANT}/v2.0/adminconsent?client_id={CLIENT}")
    assert parse_qs(urlsplit(url).query)["scope"] == [GRAPH_DEFAULT]
    answer = follow(url)
    assert answer == {
        "admin_consent": "True",
        "tenant": TENANT,
        "scope": GRAPH_DEFAULT,
        "state": "st-1",
    }
    assert idp.consented(TENANT, CLIENT)
    assert app()


def test_expired_or_wrong_client_secret(idp: FakeIdentityProvider) -> None:
    idp.register_client("old-app", secret=SECRET, secret_expired=True)
    idp.grant_consent(TENANT, "old-app")
    with pytest.raises(OAuthFailed) as expired:
        AppTokens(microsoft(TENANT), "old-app", SECRET, GRAPH_DEFAULT)()
    assert not isinstance(expired.value, ConsentMissing | NeedsReauth)
    assert expired.value.error == "invalid_client"
    assert "AADSTS7000222: The provided client secret keys for app" in str(expired.value)
    assert "create a new secret" in str(expired.value)

    idp.grant_consent(TENANT, CLIENT)
    with pytest.raises(OAuthFailed, match="AADSTS7000215"):
        AppTokens(microsoft(TENANT), CLIENT, "wrong", GRAPH_DEFAULT)()


def test_fake_accepts_http_basic_client_authentication(idp: FakeIdentityProvider) -> None:
    idp.grant_consent(TENANT, CLIENT)
    token_url = microsoft(TENANT).token
    form = {"grant_type": "client_credentials", "scope": GRAPH_DEFAULT}
    ok = httpx.post(token_url, data=form, auth=(CLIENT, SECRET))
    assert ok.status_code == 200 and ok.json()["token_type"] == "Bearer"
    bad = httpx.post(token_url, data=form, auth=(CLIENT, "wrong"))
    assert bad.status_code == 401 and bad.json()["error"] == "invalid_client"
    scope = httpx.post(token_url, data={**form, "scope": "Mail.Read"}, auth=(CLIENT, SECRET))
    assert scope.json()["error"] == "invalid_scope"


# --------------------------------------------------------------------- Google


def test_google_asks_for_offline_access_and_keeps_the_refresh_token(
    idp: FakeIdentityProvider,
) -> None:
    ep = google()
    request = authorization_request(ep, CLIENT, GMAIL_SCOPES, REDIRECT)
    params = parse_qs(urlsplit(request.url).query)
    assert request.url.startswith(f"{idp.url}/o/oauth2/v2/auth?")
    assert params["access_type"] == ["offline"] and params["prompt"] == ["consent"]
    assert params["scope"] == GMAIL_SCOPES and "response_mode" not in params

    first, _ = sign_in(ep, GMAIL_SCOPES)
    assert first.refresh_token
    saved: list[Token] = []
    tokens = DelegatedTokens(ep, CLIENT, SECRET, GMAIL_SCOPES, first, saved.append)
    access = tokens(renew=True)
    assert access != first.access_token
    assert saved[0].refresh_token == first.refresh_token  # Google does not rotate
    assert saved[0].scope == GMAIL_SCOPES[0]
    assert "scope" not in refresh_requests(idp)[0]
    assert tokens(renew=True) != access  # the same refresh token keeps working

    idp.revoke(CLIENT)
    with pytest.raises(NeedsReauth, match="Token has been expired or revoked"):
        tokens(renew=True)


def test_google_access_denied_without_description(idp: FakeIdentityProvider) -> None:
    idp.deny_next = True
    request = authorization_request(google(), CLIENT, GMAIL_SCOPES, REDIRECT)
    with pytest.raises(OAuthFailed) as denied:
        parse_callback(follow(request.url), request)
    assert str(denied.value) == "the sign-in was cancelled or refused"


# --------------------------------------------------------------------- secrets stay secret


def test_no_repr_or_message_shows_a_token_or_secret(idp: FakeIdentityProvider) -> None:
    ep = microsoft(TENANT)
    token, request = sign_in(ep, MAIL_SCOPES)
    hidden = [SECRET, token.access_token, token.refresh_token or "?", request.code_verifier]
    texts = [repr(token), str(token), repr(request), str(request)]

    errors: list[Exception] = []
    tokens = DelegatedTokens(ep, CLIENT, SECRET, MAIL_SCOPES, token, lambda _t: None)
    texts.append(repr(tokens))
    idp.revoke(USER)
    with pytest.raises(NeedsReauth) as e1:
        tokens(renew=True)
    errors.append(e1.value)
    with pytest.raises(OAuthFailed) as e2:
        exchange_code(ep, CLIENT, SECRET, "used-or-bogus-code", request)
    errors.append(e2.value)
    app = AppTokens(ep, CLIENT, SECRET, GRAPH_DEFAULT)
    texts.append(repr(app))
    with pytest.raises(ConsentMissing) as e3:
        app()
    errors.append(e3.value)
    idp.register_client("old-app", secret=SECRET, secret_expired=True)
    idp.grant_consent(TENANT, "old-app")
    with pytest.raises(OAuthFailed) as e4:
        AppTokens(ep, "old-app", SECRET, GRAPH_DEFAULT)()
    errors.append(e4.value)
    with pytest.raises(OAuthFailed) as e5:
        parse_callback({"state": "forged", "code": "c"}, request)
    errors.append(e5.value)

    for error in errors:
        texts += [str(error), repr(error), error.description, repr(error.args)]
    for text in texts:
        for secret in hidden:
            assert secret not in text
    assert "access_token" not in repr(token) and "code_verifier" not in repr(request)


def test_provider_echo_of_a_secret_is_scrubbed(monkeypatch: pytest.MonkeyPatch) -> None:
    def echo(url: str, *, data: dict[str, str], **_kw: object) -> httpx.Response:
        text = f"AADSTS7000215: bad secret {data['client_secret']}"
        return httpx.Response(401, json={"error": "invalid_client", "error_description": text})

    monkeypatch.setattr(httpx, "post", echo)
    ep = Endpoints(authorize="https://x.example/a", token="https://x.example/t")
    with pytest.raises(OAuthFailed) as refused:
        AppTokens(ep, CLIENT, SECRET, GRAPH_DEFAULT)()
    assert SECRET not in str(refused.value) and SECRET not in refused.value.description
    assert "bad secret ***" in str(refused.value)


# --------------------------------------------------------------------- transport, storage, urls


def test_unreachable_token_endpoint_is_a_transient_connect_failure() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ep = Endpoints(authorize="", token=f"http://127.0.0.1:{port}/t/oauth2/v2.0/token")
    with pytest.raises(ConnectFailed) as failed:
        AppTokens(ep, CLIENT, SECRET, GRAPH_DEFAULT, timeout=2)()
    assert failed.value.transient is True
    assert SECRET not in str(failed.value)


def test_token_json_round_trip() -> None:
    token = Token(access_token="at", expires_at=1234.5, refresh_token="rt", scope="a b")
    assert Token.from_json(token.to_json()) == token
    assert Token.from_json(Token(access_token="at", expires_at=1).to_json()).refresh_token is None
    with pytest.raises(ValueError):
        Token.from_json("[]")


def test_endpoints(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("INVOICE_INBOX_MICROSOFT_LOGIN_URL", raising=False)
    monkeypatch.delenv("INVOICE_INBOX_GOOGLE_AUTH_URL", raising=False)
    monkeypatch.delenv("INVOICE_INBOX_GOOGLE_TOKEN_URL", raising=False)
    ms = microsoft("contoso.onmicrosoft.com")
    assert ms.authorize == (
        "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/authorize"
    )
    assert ms.token.endswith("/contoso.onmicrosoft.com/oauth2/v2.0/token")
    assert (
        ms.admin_consent
        == "https://login.microsoftonline.com/contoso.onmicrosoft.com/v2.0/adminconsent"
    )
    g = google()
    assert (g.authorize, g.token, g.provider) == (
        "https://accounts.google.com/o/oauth2/v2/auth",
        "https://oauth2.googleapis.com/token",
        "google",
    )
    with pytest.raises(ValueError):
        admin_consent_url(g, CLIENT, REDIRECT)
    with pytest.raises(ValueError):
        microsoft("../evil")


# --------------------------------------------------------------------- introspection (Dovecot)


def test_introspection_for_user_and_app_tokens(idp: FakeIdentityProvider) -> None:
    def introspect(token: str) -> dict[str, object]:
        return httpx.post(f"{idp.url}/introspect", data={"token": token}).json()

    user_token, _ = sign_in(microsoft(TENANT), MAIL_SCOPES)
    answer = introspect(user_token.access_token)
    assert answer["active"] is True and answer["username"] == USER
    assert answer["client_id"] == CLIENT

    idp.grant_consent(TENANT, CLIENT)
    idp.app_mailbox(CLIENT, "invoices@buyer.example")
    idp.app_mailbox(CLIENT, "ap2@buyer.example")
    app_access = AppTokens(microsoft(TENANT), CLIENT, SECRET, GRAPH_DEFAULT)()
    answer = introspect(app_access)
    assert answer["active"] is True and answer["username"] == "invoices@buyer.example"
    assert idp.may_open(app_access, "ap2@buyer.example") == 200
    assert idp.may_open(app_access, USER) == 403

    assert introspect("unknown") == {"active": False}
    idp.revoke(USER)
    assert introspect(user_token.access_token) == {"active": False}
    assert introspect(app_access)["active"] is True
    idp.expire_access_tokens()
    assert introspect(app_access) == {"active": False}
    assert idp.may_open(app_access, "invoices@buyer.example") == 401
