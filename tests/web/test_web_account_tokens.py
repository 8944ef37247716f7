"""API tokens are made with the password, and a password change can end them all: a stolen
session alone cannot mint a lasting credential, and a new password locks out old tokens."""

from __future__ import annotations

import re

from invoice_inbox.store import users
from web.conftest import PASSWORD, Web, csrf_of

NEW_PASSWORD = "a brand new password"


def _tokens(web: Web, email: str) -> int:
    with web.app.db.session() as s:
        user = users.by_email(s, email)
        assert user is not None
        return len(users.tokens_of(s, user))


def test_creating_a_token_needs_the_password(web: Web) -> None:
    web.user("clerk@x.test", "clerk", ("ACME",))
    me = web.browser("clerk@x.test")
    page = me.get("/account")
    assert re.search(r'<form[^>]*action="/account/tokens".*?name="current"', page.text, re.S)

    without = me.form("/account/tokens", {"name": "ERP"})
    assert without.status_code == 422
    assert 'id="token-password-error">Enter your password' in without.text
    wrong = me.form("/account/tokens", {"name": "ERP", "current": "not my password"})
    assert wrong.status_code == 422 and "Your password is wrong." in wrong.text
    assert _tokens(web, "clerk@x.test") == 0

    made = me.form("/account/tokens", {"name": "ERP", "current": PASSWORD})
    assert made.status_code == 200 and 'id="new-token"' in made.text
    assert _tokens(web, "clerk@x.test") == 1


def test_guessing_the_password_through_the_token_form_is_limited(web: Web) -> None:
    web.user("clerk@x.test", "clerk", ("ACME",))
    me = web.browser("clerk@x.test")
    codes = [
        me.form("/account/tokens", {"name": "t", "current": f"guess {n}"}).status_code
        for n in range(6)
    ]
    assert codes == [422] * 5 + [429]
    assert me.form("/account/tokens", {"name": "t", "current": PASSWORD}).status_code == 429


def test_a_password_change_revokes_the_tokens_unless_told_not_to(web: Web) -> None:
    web.user("clerk@x.test", "clerk", ("ACME",))
    me = web.browser("clerk@x.test")
    page = me.get("/account")
    assert re.search(r'name="revoke_tokens"[^>]*checked', page.text)  # on by default

    old = web.api("clerk@x.test")
    assert old.get("/api/v1/sources").status_code == 200
    changed = me.form(
        "/account/password",
        {
            "current": PASSWORD,
            "password": NEW_PASSWORD,
            "repeat": NEW_PASSWORD,
            "revoke_tokens": "1",
        },
    )
    assert changed.status_code == 303
    assert old.get("/api/v1/sources").status_code == 401
    assert _tokens(web, "clerk@x.test") == 0
    page = me.get("/account")
    assert "API tokens are revoked" in page.text
    me.csrf = csrf_of(page.text)  # the new session's

    kept = web.api("clerk@x.test")
    unchecked = me.form(
        "/account/password",
        {"current": NEW_PASSWORD, "password": PASSWORD, "repeat": PASSWORD},
    )
    assert unchecked.status_code == 303
    assert kept.get("/api/v1/sources").status_code == 200
