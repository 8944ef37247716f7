"""Configuring a source from a form or the API: field-tied errors, presets, write-only secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from invoice_inbox.runtime import configure
from invoice_inbox.runtime.context import App
from invoice_inbox.store.models import AuthState


@pytest.fixture
def app(tmp_path: Path) -> App:
    return App.open(tmp_path / "data")


def test_a_generic_imap_source_gets_defaults_and_an_encrypted_password(app: App) -> None:
    with app.db.session() as s:
        src = configure.create(
            app,
            s,
            {
                "name": "ap",
                "company": "ACME",
                "host": "imap.acme.example",
                "username": "ap@acme.example",
                "password": "s3cret-pw",
                "allowed_senders": "*@Supplier.example\nbilling@other.example",
                "schedule": "every 30 minutes",
            },
        )
        assert (src.port, src.security, src.protocol, src.auth) == (993, "ssl", "imap", "password")
        assert src.secret and "s3cret-pw" not in src.secret
        assert app.secrets.decrypt(src.secret) == "s3cret-pw"
        assert src.allowed_senders == ["*@supplier.example", "billing@other.example"]
        assert src.schedule == "every 30m"
        view = configure.view(src)
    assert view["password_set"] is True and "password" not in view
    assert "s3cret-pw" not in repr(view)


def test_every_problem_is_tied_to_its_field(app: App) -> None:
    with app.db.session() as s, pytest.raises(configure.Invalid) as caught:
        configure.create(
            app,
            s,
            {
                "name": "",
                "company": "ACME",
                "provider": "pop3",
                "port": "99999",
                "username": "u",
                "folders": ["INBOX", "Archive"],
                "instant": True,
                "schedule": "sometimes",
                "allowed_senders": ["a*b@x.example"],
            },
        )
    errors = caught.value.errors
    assert set(errors) == {
        "name",
        "host",
        "port",
        "password",
        "folders",
        "instant",
        "schedule",
        "allowed_senders",
    }
    assert errors["port"] == "must be between 1 and 65535"
    assert errors["instant"] == "instant pickup needs IMAP (IDLE)"


def test_presets_fill_the_server_and_app_only_needs_tenant_client_and_secret(app: App) -> None:
    with app.db.session() as s:
        with pytest.raises(configure.Invalid) as caught:
            configure.create(
                app,
                s,
                {
                    "name": "m",
                    "company": "C",
                    "provider": "microsoft365",
                    "auth": "app",
                    "username": "ap@c.example",
                },
            )
        assert set(caught.value.errors) == {"client_id", "client_secret", "tenant_id"}
        src = configure.create(
            app,
            s,
            {
                "name": "g",
                "company": "C",
                "provider": "gmail",
                "client_id": "id-1",
                "client_secret": "cs",
                "username": "ap@c.example",
            },
        )
        assert (src.protocol, src.auth, src.host) == ("gmail-api", "oauth", "imap.gmail.com")
        assert src.auth_state == AuthState.NEEDS_AUTHENTICATION


def test_update_keeps_what_is_not_given_and_a_new_password_clears_login_refused(
    app: App,
) -> None:
    with app.db.session() as s:
        src = configure.create(
            app,
            s,
            {
                "name": "ap",
                "company": "ACME",
                "host": "h.example",
                "username": "u",
                "password": "first-pw",
            },
        )
        src.auth_state = AuthState.LOGIN_REFUSED
        configure.update(app, s, src, {"folders": ["INBOX", "Invoices"], "password": ""})
        assert src.folders == ["INBOX", "Invoices"]
        assert app.secrets.decrypt(src.secret or "") == "first-pw"
        assert src.auth_state == AuthState.LOGIN_REFUSED
        configure.update(app, s, src, {"password": "second-pw"})
        assert src.auth_state == AuthState.OK
        with pytest.raises(configure.Invalid) as caught:
            configure.update(app, s, src, {"delete_after_import": True, "bogus": 1})
        assert set(caught.value.errors) == {"bogus"}
