"""Signing a source in from its page: the OAuth2 browser round trip (PKCE, state) against the
local identity provider, the provider's refusal shown next to the Authenticate button, answers
that do not belong to the person's own sign-in refused, and Microsoft admin consent for app-only
sources."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from fakes.graph import FakeGraph
from fakes.oauth import FakeIdentityProvider
from invoice_inbox.auth.oauth import Token
from invoice_inbox.store.models import AuthState, Source
from web.conftest import Browser, Web
from web.test_web_sources import boxes, by_id, field_error, form_data, has_id, text

ADMIN = "admin@x.test"
CALLBACK = "http://testserver/oauth/callback"  # the TestClient's base URL + oauth/callback
CLIENT_SECRET = "cs-0123456789-not-for-pages"


@pytest.fixture
def admin(web: Web) -> Browser:
    web.user(ADMIN, "admin")
    return web.browser(ADMIN)


def add_microsoft(admin: Browser, **fields: Any) -> int:
    page = admin.get("/sources/new?provider=microsoft365")
    assert page.status_code == 200
    values = {"name": "m365", "new_company": "ACME", "schedule_kind": "manual", **fields}
    r = admin.form("/sources/new", form_data(page.text, **values))
    assert r.status_code == 303, r.text
    return int(r.headers["location"].rsplit("/", 1)[1])


def follow_provider(admin: Browser, answer: Any) -> Any:
    """The browser at the provider: it signs in (or not) and is sent back to our callback,
    which answers with a redirect to the source's page."""
    assert answer.status_code == 303
    at_provider = httpx.get(answer.headers["location"], timeout=10)
    assert at_provider.status_code == 302, at_provider.text
    back = at_provider.headers["location"]
    assert back.startswith(CALLBACK + "?")
    parts = urlsplit(back)
    return admin.get(f"{parts.path}?{parts.query}")


def sign_in_twice(admin: Browser, source_id: int, html: str) -> Any:
    """Sign in, then bring the provider's same answer to the callback a second time."""
    go = admin.form(f"/sources/{source_id}/authenticate", form_data(html))
    at_provider = httpx.get(go.headers["location"], timeout=10)
    parts = urlsplit(at_provider.headers["location"])
    first = admin.get(f"{parts.path}?{parts.query}")
    assert first.status_code == 303
    return admin.get(f"{parts.path}?{parts.query}")


def test_delegated_sign_in_round_trip_stores_the_token_and_the_source_works(
    web: Web, admin: Browser, cloud: FakeIdentityProvider, graph: FakeGraph
) -> None:
    t = uuid.uuid4().hex[:10]
    tenant, client, user = f"tenant-{t}", f"app-{t}", f"ap-{t}@contoso.example"
    cloud.register_client(client, tenant=tenant, redirect_uris=[CALLBACK])  # public: PKCE only
    cloud.add_user(user)
    cloud.next_login = user
    graph.mailbox(user)
    source_id = add_microsoft(admin, tenant_id=tenant, client_id=client, username=user)

    page = admin.get(f"/sources/{source_id}")
    assert by_id(page.text, "protocol").xpath(".//option[@selected]")[0].get("value") == "graph"
    assert text(page.text, "signed-in") == "not signed in"
    assert text(page.text, "redirect-uri") == CALLBACK
    # the Authenticate form is answered with a redirect to the provider: the page allows it
    assert f"form-action 'self' {cloud.url}" in page.headers["content-security-policy"]
    checked = admin.form(f"/sources/{source_id}/check", form_data(page.text))
    assert "Not signed in yet" in text(checked.text, "authenticate-error")
    early = admin.form(f"/sources/{source_id}/fetch", {"back": "/sources"})
    assert early.headers["location"] == f"/sources/{source_id}#credentials"
    assert web.fetched == []  # nothing is started that cannot sign in

    go = admin.form(f"/sources/{source_id}/authenticate", form_data(page.text))
    query = parse_qs(urlsplit(go.headers["location"]).query)
    assert go.headers["location"].startswith(f"{cloud.url}/{tenant}/oauth2/v2.0/authorize?")
    assert query["code_challenge_method"] == ["S256"] and query["redirect_uri"] == [CALLBACK]
    assert query["login_hint"] == [user]
    back = follow_provider(admin, go)
    assert back.status_code == 303 and back.headers["location"] == f"/sources/{source_id}"

    page = admin.get(f"/sources/{source_id}")
    assert "Signed in." in page.text
    assert text(page.text, "signed-in") == "signed in"
    with web.app.db.session() as s:
        src = s.get(Source, source_id)
        assert src is not None and src.auth_state == AuthState.OK
        token = Token.from_json(web.app.secrets.decrypt(src.token or ""))
    assert "Mail.ReadWrite" in token.scope and token.refresh_token
    assert token.access_token not in page.text and token.refresh_token not in page.text

    checked = admin.form(f"/sources/{source_id}/check", form_data(page.text))
    assert has_id(checked.text, "check-result")
    assert "Inbox" in boxes(checked.text, "folders")

    # the same answer again is refused: its state was used up
    replay = sign_in_twice(admin, source_id, page.text)
    assert replay.status_code == 400


def test_a_refused_sign_in_is_shown_next_to_authenticate_and_foreign_answers_are_refused(
    web: Web, admin: Browser, cloud: FakeIdentityProvider
) -> None:
    t = uuid.uuid4().hex[:10]
    tenant, client, user = f"tenant-{t}", f"app-{t}", f"ap-{t}@contoso.example"
    cloud.register_client(client, tenant=tenant, redirect_uris=[CALLBACK])
    cloud.add_user(user)
    cloud.next_login = user
    source_id = add_microsoft(admin, tenant_id=tenant, client_id=client, username=user)
    page = admin.get(f"/sources/{source_id}")

    cloud.deny_next = True
    back = follow_provider(
        admin, admin.form(f"/sources/{source_id}/authenticate", form_data(page.text))
    )
    assert back.status_code == 303 and back.headers["location"].startswith(f"/sources/{source_id}")
    page = admin.get(f"/sources/{source_id}")
    words = text(page.text, "authenticate-error")
    assert "cancelled or refused" in words and "AADSTS65004" in words
    assert not has_id(admin.get(f"/sources/{source_id}").text, "authenticate-error")  # once

    # another admin cannot finish someone else's sign-in; a made-up state is refused
    web.user("other@x.test", "admin")
    other = web.browser("other@x.test")
    go = admin.form(f"/sources/{source_id}/authenticate", form_data(page.text))
    at_provider = httpx.get(go.headers["location"], timeout=10)
    parts = urlsplit(at_provider.headers["location"])
    assert other.get(f"{parts.path}?{parts.query}").status_code == 400
    assert admin.get("/oauth/callback?code=x&state=made-up").status_code == 400
    with web.app.db.session() as s:
        src = s.get(Source, source_id)
        assert src is not None and src.token is None
        assert src.auth_state == AuthState.NEEDS_AUTHENTICATION


def test_app_only_source_gets_admin_consent_through_its_page(
    web: Web, admin: Browser, cloud: FakeIdentityProvider
) -> None:
    t = uuid.uuid4().hex[:10]
    tenant, client = f"tenant-{t}", f"app-{t}"
    cloud.register_client(client, secret=CLIENT_SECRET, tenant=tenant, redirect_uris=[CALLBACK])
    page = admin.get("/sources/new?provider=microsoft365")
    refreshed = admin.form("/sources/new/form", form_data(page.text, auth="app"))
    assert refreshed.status_code == 200 and has_id(refreshed.text, "client_secret")
    missing = admin.form(
        "/sources/new",
        form_data(refreshed.text, name="app", new_company="ACME", username="ap@contoso.example"),
    )
    assert missing.status_code == 422
    assert "tenant" in field_error(missing.text, "tenant_id").lower()
    assert "client secret" in field_error(missing.text, "client_secret")
    r = admin.form(
        "/sources/new",
        form_data(
            missing.text,
            tenant_id=tenant,
            client_id=client,
            client_secret=CLIENT_SECRET,
            secret_expires="2030-01-31",
        ),
    )
    assert r.status_code == 303, r.text
    source_id = int(r.headers["location"].rsplit("/", 1)[1])
    page = admin.get(f"/sources/{source_id}")
    assert CLIENT_SECRET not in page.text and CLIENT_SECRET not in missing.text
    assert "leave empty to keep" in by_id(page.text, "client_secret").get("placeholder")
    assert not has_id(page.text, "authenticate")  # app-only: nobody signs in
    link = by_id(page.text, "admin-consent").get("href")
    assert link == f"/sources/{source_id}/consent"

    go = admin.get(link)
    assert go.headers["location"].startswith(f"{cloud.url}/{tenant}/v2.0/adminconsent?")
    back = follow_provider(admin, go)
    assert back.status_code == 303
    assert cloud.consented(tenant, client)
    assert f"Consent given for {tenant}." in admin.get(f"/sources/{source_id}").text
