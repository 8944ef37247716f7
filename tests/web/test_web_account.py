"""The account page: who am I, changing one's own password, API tokens shown once."""

from __future__ import annotations

import re

from invoice_inbox.store import users
from web.conftest import PASSWORD, Web

NEW_PASSWORD = "a brand new password"


def _new_token(html: str) -> str:
    m = re.search(r'id="new-token" value="([^"]+)"', html)
    assert m, "no token on the page"
    return m.group(1)


def test_account_shows_who_i_am(web: Web) -> None:
    web.user("clerk@x.test", "clerk", ("ACME", "Globex"))
    web.company("Initech")
    page = web.browser("clerk@x.test").get("/account")
    assert page.status_code == 200
    assert "clerk@x.test" in page.text and "clerk" in page.text
    assert "ACME, Globex" in page.text and "Initech" not in page.text
    assert "$argon2" not in page.text


def test_a_token_is_shown_once_works_and_can_be_revoked(web: Web) -> None:
    web.user("viewer@x.test", "viewer", ("ACME",))
    me = web.browser("viewer@x.test")

    nameless = me.form("/account/tokens", {"name": "  "})
    assert nameless.status_code == 422
    assert 'id="token-error">Give the token a name' in nameless.text
    assert 'aria-invalid="true" aria-describedby="token-error"' in nameless.text

    made = me.form("/account/tokens", {"name": "ERP <import>", "current": PASSWORD})
    assert made.status_code == 200
    token = _new_token(made.text)
    assert token.startswith(users.TOKEN_PREFIX)
    assert "it will not be shown again" in made.text
    assert "ERP &lt;import&gt;" in made.text

    with web.app.db.session() as s:
        user = users.user_for_token(s, token)
        assert user is not None and user.email == "viewer@x.test"
        (row,) = users.tokens_of(s, user)
        sha, token_id = row.token_sha256, row.id

    page = me.get("/account")
    assert token not in page.text and sha not in page.text
    assert token[:10] + "…" in page.text and "ERP &lt;import&gt;" in page.text

    # someone else cannot revoke it (nor learn that it exists)
    web.user("other@x.test", "clerk", ("ACME",))
    other = web.browser("other@x.test")
    assert other.form(f"/account/tokens/{token_id}/revoke").status_code == 404

    revoked = me.form(f"/account/tokens/{token_id}/revoke")
    assert revoked.status_code == 303 and revoked.headers["location"] == "/account"
    with web.app.db.session() as s:
        assert users.user_for_token(s, token) is None
    page = me.get("/account")
    assert "is revoked" in page.text and "You have no API tokens." in page.text


def test_changing_the_password_needs_the_current_one(web: Web) -> None:
    web.user("clerk@x.test", "clerk", ("ACME",))
    me, elsewhere = web.browser("clerk@x.test"), web.browser("clerk@x.test")

    wrong = me.form(
        "/account/password",
        {"current": "not my password", "password": NEW_PASSWORD, "repeat": NEW_PASSWORD},
    )
    assert wrong.status_code == 422
    assert 'id="current-error">Your current password is wrong.</p>' in wrong.text
    assert NEW_PASSWORD not in wrong.text

    short = me.form("/account/password", {"current": PASSWORD, "password": "x", "repeat": "x"})
    assert short.status_code == 422 and 'id="password-error">The password must' in short.text
    differ = me.form(
        "/account/password", {"current": PASSWORD, "password": NEW_PASSWORD, "repeat": "nope"}
    )
    assert differ.status_code == 422
    assert 'id="repeat-error">The two passwords differ.' in differ.text
    with web.app.db.session() as s:
        assert users.authenticate(s, "clerk@x.test", PASSWORD) is not None

    ok = me.form(
        "/account/password",
        {"current": PASSWORD, "password": NEW_PASSWORD, "repeat": NEW_PASSWORD},
    )
    assert ok.status_code == 303 and ok.headers["location"] == "/account"
    assert "Your password is changed" in me.get("/account").text  # this browser stays in
    assert elsewhere.get("/account").status_code == 303  # the others are signed out
    with web.app.db.session() as s:
        assert users.authenticate(s, "clerk@x.test", PASSWORD) is None
    web.browser("clerk@x.test", NEW_PASSWORD)


def test_guessing_the_current_password_is_limited(web: Web) -> None:
    web.user("clerk@x.test", "clerk", ("ACME",))
    me = web.browser("clerk@x.test")
    data = {"password": NEW_PASSWORD, "repeat": NEW_PASSWORD}
    codes = [
        me.form("/account/password", {"current": f"guess {n}", **data}).status_code
        for n in range(6)
    ]
    assert codes == [422] * 5 + [429]
    blocked = me.form("/account/password", {"current": PASSWORD, **data})
    assert blocked.status_code == 429 and "Too many wrong passwords" in blocked.text
