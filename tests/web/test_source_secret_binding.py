"""A stored secret stays with the server it was stored for: changing where a source connects
(host, port, security, protocol, user name, OAuth2 tenant or client) clears the password,
client secret and refresh token and asks for them again, unless the same change brings a new
one; a connection check then sends nothing to the new server. Through the API and the form."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from harness.dovecot import Mailbox
from invoice_inbox.store.models import AuthState, Source
from web.conftest import Browser, Web
from web.listeners import fake_imap
from web.test_web_sources import field_error, form_data, new_source

CLEARED = "the password was cleared because the server changed; enter it again"


def imap_settings(mailbox: Mailbox, **changes: Any) -> dict[str, Any]:
    return {
        "name": "ap",
        "company": "ACME",
        "host": "127.0.0.1",
        "port": mailbox.server.imap_port,
        "security": "none",
        "username": mailbox.user,
        "password": mailbox.password,
        **changes,
    }


def admin_api(web: Web) -> TestClient:
    web.user("admin@x.test", "admin")
    return web.api("admin@x.test")


def test_patching_the_server_clears_the_password_and_check_sends_it_nowhere(
    web: Web, mailbox: Mailbox
) -> None:
    api = admin_api(web)
    source_id = api.post("/api/v1/sources", json=imap_settings(mailbox)).json()["id"]
    assert api.post(f"/api/v1/sources/{source_id}/check").status_code == 200

    with fake_imap() as fake:
        r = api.patch(f"/api/v1/sources/{source_id}", json={"host": "localhost", "port": fake.port})
        assert r.status_code == 200, r.text
        check = api.post(f"/api/v1/sources/{source_id}/check")
        assert mailbox.password.encode() not in fake.received, "the password went to the new server"
        assert not fake.received, "nothing is sent to a server without its own credentials"

        changed = r.json()
        assert changed["host"] == "localhost" and changed["port"] == fake.port
        assert changed["password_set"] is False
        assert CLEARED in changed["warnings"]
        assert changed["status"] == "needs_reauthentication"
        assert check.status_code == 422
        assert check.json()["field"] == "password"
        assert CLEARED in check.json()["detail"]
        with web.app.db.session() as s:
            src = s.get(Source, source_id)
            assert src is not None and src.secret is None
        attention = web.browser("admin@x.test").get("/notifications").text
        assert f"needs attention: {CLEARED}" in attention
        assert "the provider refused" not in attention

        # the password typed for the new server is the one it gets
        r = api.patch(f"/api/v1/sources/{source_id}", json={"password": "typed-for-the-fake"})
        assert r.json()["password_set"] is True and CLEARED not in r.json()["warnings"]
        assert api.post(f"/api/v1/sources/{source_id}/check").status_code == 200
        assert b"typed-for-the-fake" in fake.received
        assert mailbox.password.encode() not in fake.received


def test_a_change_that_brings_its_password_keeps_it_and_other_changes_keep_the_old_one(
    web: Web, mailbox: Mailbox
) -> None:
    api = admin_api(web)
    source_id = api.post("/api/v1/sources", json=imap_settings(mailbox)).json()["id"]
    # name, folders, schedule: where the password goes does not change
    r = api.patch(
        f"/api/v1/sources/{source_id}",
        json={"name": "renamed", "schedule": "every 15m", "host": "127.0.0.1"},
    )
    assert r.json()["password_set"] is True and r.json()["warnings"] == []
    assert api.post(f"/api/v1/sources/{source_id}/check").status_code == 200

    # port and password in one request: the new password stands
    with fake_imap() as fake:
        r = api.patch(
            f"/api/v1/sources/{source_id}", json={"port": fake.port, "password": "for-the-fake"}
        )
        assert r.json()["password_set"] is True and r.json()["warnings"] == []
        assert api.post(f"/api/v1/sources/{source_id}/check").status_code == 200
        assert b"for-the-fake" in fake.received
        assert mailbox.password.encode() not in fake.received

    # the user name is part of what the password was stored for
    r = api.patch(
        f"/api/v1/sources/{source_id}", json={"port": mailbox.server.imap_port, "password": "x"}
    )
    r = api.patch(f"/api/v1/sources/{source_id}", json={"username": "someone-else"})
    assert r.json()["password_set"] is False
    assert (
        "the password was cleared because the user name changed; enter it again"
        in (r.json()["warnings"])
    )


def test_changing_the_tenant_or_client_clears_the_client_secret(web: Web) -> None:
    api = admin_api(web)
    settings = {
        "name": "m365",
        "company": "ACME",
        "provider": "microsoft365",
        "protocol": "graph",
        "auth": "app",
        "username": "ap@contoso.example",
        "tenant_id": "contoso.example",
        "client_id": "11111111-2222-3333-4444-555555555555",
        "client_secret": "app-secret",
    }
    created = api.post("/api/v1/sources", json=settings)
    assert created.status_code == 201, created.text
    source_id = created.json()["id"]
    r = api.patch(f"/api/v1/sources/{source_id}", json={"tenant_id": "attacker.example"})
    assert r.status_code == 200, r.text
    assert r.json()["client_secret_set"] is False
    assert (
        "the client secret was cleared because the sign-in settings changed; enter it again"
        in r.json()["warnings"]
    )
    with web.app.db.session() as s:
        src = s.get(Source, source_id)
        assert src is not None and src.client_secret is None
        assert src.auth_state == AuthState.NEEDS_REAUTHENTICATION
    r = api.patch(f"/api/v1/sources/{source_id}", json={"client_secret": "new-secret"})
    assert r.json()["client_secret_set"] is True and r.json()["status"] == "active"


def test_changing_the_server_on_the_form_clears_the_password(web: Web, mailbox: Mailbox) -> None:
    web.user("admin@x.test", "admin")
    admin: Browser = web.browser("admin@x.test")
    source_id = new_source(admin, mailbox)
    page = admin.get(f"/sources/{source_id}")

    with fake_imap() as fake:
        changed = form_data(page.text, host="localhost", port=str(fake.port))
        r = admin.form(f"/sources/{source_id}", changed)
        assert r.status_code == 303, r.text
        shown = admin.get(r.headers["location"])
        check = admin.form(f"/sources/{source_id}/check", form_data(shown.text))
        assert mailbox.password.encode() not in fake.received, "the password went to the new server"
        assert not fake.received

        assert CLEARED.capitalize() in shown.text  # the flash and the source's warnings
        assert CLEARED in field_error(check.text, "password").lower()
        assert mailbox.password not in shown.text + check.text
