"""Admin screens: users (create, edit, deactivate, last administrator) and companies (list,
create, rename, import address), with who may see and change what."""

from __future__ import annotations

import html
import re

from invoice_inbox.store import companies, users
from invoice_inbox.store.models import Company
from web.conftest import PASSWORD, Web

NEW_PASSWORD = "a fresh clerk password"


def _field_error(text: str, field: str) -> str:
    """The error shown next to *field*, which must be marked invalid."""
    m = re.search(rf'<p class="field-error" id="{field}-error">([^<]*)</p>', text)
    assert m, f"no error next to {field}"
    assert re.search(rf'aria-invalid="true" aria-describedby="{field}-error"', text)
    return html.unescape(m.group(1))


def _user_id(web: Web, email: str) -> int:
    with web.app.db.session() as s:
        user = users.by_email(s, email)
        assert user is not None
        return user.id


def test_admin_creates_a_clerk_who_sees_only_their_company(web: Web) -> None:
    web.user("boss@x.test")
    acme, globex = web.company("ACME"), web.company("Globex")
    admin = web.browser("boss@x.test")
    form = admin.get("/users/new")
    assert form.status_code == 200
    assert f'name="companies" value="{acme}"' in form.text
    r = admin.form(
        "/users/new",
        {
            "email": " Clerk@X.test ",
            "role": "clerk",
            "companies": [str(acme)],
            "password": NEW_PASSWORD,
            "repeat": NEW_PASSWORD,
        },
    )
    assert r.status_code == 303, r.text
    assert r.headers["location"] == f"/users/{_user_id(web, 'clerk@x.test')}"
    listing = admin.get("/users")
    assert "clerk@x.test" in listing.text and "ACME" in listing.text
    assert "$argon2" not in listing.text

    clerk = web.browser("clerk@x.test", NEW_PASSWORD)
    page = clerk.get("/companies")
    assert page.status_code == 200
    assert "ACME" in page.text and "Globex" not in page.text
    assert "New company" not in page.text  # no create form for clerks
    assert clerk.get(f"/companies/{acme}").status_code == 200
    assert clerk.get(f"/companies/{globex}").status_code == 404  # other companies do not exist


def test_clerks_may_not_manage_users_or_companies(web: Web) -> None:
    web.user("clerk@x.test", "clerk", ("ACME",))
    acme = web.company_id("ACME")
    clerk = web.browser("clerk@x.test")
    assert clerk.get("/users").status_code == 403
    assert clerk.get("/users/new").status_code == 403
    assert clerk.get(f"/users/{_user_id(web, 'clerk@x.test')}").status_code == 403
    r = clerk.form(
        "/users/new",
        {"email": "x@x.test", "role": "admin", "password": PASSWORD, "repeat": PASSWORD},
    )
    assert r.status_code == 403
    assert clerk.form("/companies", {"name": "Evil Corp"}).status_code == 403
    assert clerk.form(f"/companies/{acme}", {"name": "Renamed"}).status_code == 403
    assert clerk.form(f"/companies/{acme}/address").status_code == 403
    with web.app.db.session() as s:
        assert users.by_email(s, "x@x.test") is None
        names = {c.name for c in s.query(Company)}
    assert names == {"ACME"}


def test_a_new_user_form_with_mistakes_says_what_is_wrong_next_to_the_field(web: Web) -> None:
    web.user("boss@x.test")
    acme = web.company("ACME")
    admin = web.browser("boss@x.test")
    good = {"role": "clerk", "companies": [str(acme)], "password": PASSWORD, "repeat": PASSWORD}

    taken = admin.form("/users/new", {**good, "email": "BOSS@x.test"})
    assert taken.status_code == 422
    assert _field_error(taken.text, "email") == (
        "There is already a user with the address boss@x.test."
    )

    short = admin.form(
        "/users/new", {**good, "email": "new@x.test", "password": "short", "repeat": "short"}
    )
    assert short.status_code == 422
    assert _field_error(short.text, "password") == (
        f"The password must have at least {users.MIN_PASSWORD} characters."
    )
    assert 'value="new@x.test"' in short.text  # what was typed stays, except the passwords
    assert 'value="short"' not in short.text

    differ = admin.form("/users/new", {**good, "email": "new@x.test", "repeat": "something else"})
    assert differ.status_code == 422
    assert _field_error(differ.text, "repeat") == "The two passwords differ."

    no_company = admin.form("/users/new", {**good, "email": "new@x.test", "companies": []})
    assert no_company.status_code == 422
    assert _field_error(no_company.text, "companies") == (
        "A clerk or viewer needs at least one company."
    )
    assert '<option value="clerk" selected>' in no_company.text

    not_mail = admin.form("/users/new", {**good, "email": "nobody"})
    assert not_mail.status_code == 422
    assert "not an e-mail address" in _field_error(not_mail.text, "email")

    with web.app.db.session() as s:
        assert users.count(s) == 1

    # an administrator needs no company
    ok = admin.form(
        "/users/new",
        {"email": "second@x.test", "role": "admin", "password": PASSWORD, "repeat": PASSWORD},
    )
    assert ok.status_code == 303


def test_deactivating_a_user_signs_them_out(web: Web) -> None:
    web.user("boss@x.test")
    web.user("clerk@x.test", "clerk", ("ACME",))
    acme = web.company_id("ACME")
    clerk_id = _user_id(web, "clerk@x.test")
    admin, clerk = web.browser("boss@x.test"), web.browser("clerk@x.test")
    assert clerk.get("/companies").status_code == 200
    assert 'name="active" value="on" checked' in admin.get(f"/users/{clerk_id}").text

    r = admin.form(f"/users/{clerk_id}", {"role": "clerk", "companies": [str(acme)]})
    assert r.status_code == 303 and r.headers["location"] == f"/users/{clerk_id}"
    assert "signed out of every browser" in admin.get(f"/users/{clerk_id}").text

    gone = clerk.get("/companies")
    assert gone.status_code == 303 and gone.headers["location"].startswith("/login")
    assert 'name="active" value="on" checked' not in admin.get(f"/users/{clerk_id}").text
    assert "deactivated" in admin.get("/users").text
    with web.app.db.session() as s:
        assert users.authenticate(s, "clerk@x.test", PASSWORD) is None


def test_a_new_password_from_the_admin_signs_the_user_out(web: Web) -> None:
    web.user("boss@x.test")
    web.user("clerk@x.test", "clerk", ("ACME",))
    acme = web.company_id("ACME")
    clerk_id = _user_id(web, "clerk@x.test")
    admin, clerk = web.browser("boss@x.test"), web.browser("clerk@x.test")
    base = {"role": "viewer", "companies": [str(acme)], "active": "on"}

    bad = admin.form(f"/users/{clerk_id}", {**base, "password": "short", "repeat": "short"})
    assert bad.status_code == 422 and "at least" in _field_error(bad.text, "password")
    assert '<option value="viewer" selected>' in bad.text  # the form keeps the choice
    with web.app.db.session() as s:
        user = users.by_email(s, "clerk@x.test")
        assert user is not None and user.role == "clerk"  # nothing saved

    new = {"password": NEW_PASSWORD, "repeat": NEW_PASSWORD}
    ok = admin.form(f"/users/{clerk_id}", {**base, **new})
    assert ok.status_code == 303
    assert clerk.get("/companies").status_code == 303  # signed out
    again = web.browser("clerk@x.test", NEW_PASSWORD)
    assert "viewer" in again.get("/account").text
    assert admin.get("/users").status_code == 200  # the admin stays signed in


def test_a_password_reset_by_the_admin_revokes_the_users_api_tokens(web: Web) -> None:
    """An admin resets a password because it leaked: tokens made with it must end too."""
    web.user("boss@x.test")
    web.user("clerk@x.test", "clerk", ("ACME",))
    acme = web.company_id("ACME")
    clerk_id = _user_id(web, "clerk@x.test")
    api = web.api("clerk@x.test")
    assert api.get("/api/v1/sources").status_code == 200
    admin = web.browser("boss@x.test")
    base = {"role": "clerk", "companies": [str(acme)], "active": "on"}

    kept = admin.form(f"/users/{clerk_id}", base)  # no new password: tokens stay
    assert kept.status_code == 303 and api.get("/api/v1/sources").status_code == 200

    reset = {"password": NEW_PASSWORD, "repeat": NEW_PASSWORD}
    assert admin.form(f"/users/{clerk_id}", {**base, **reset}).status_code == 303
    assert "Their 1 API token is revoked." in admin.get(f"/users/{clerk_id}").text
    assert api.get("/api/v1/sources").status_code == 401
    with web.app.db.session() as s:
        clerk = users.by_email(s, "clerk@x.test")
        assert clerk is not None and users.tokens_of(s, clerk) == []


def test_the_last_active_admin_cannot_demote_or_deactivate_themself(web: Web) -> None:
    web.user("boss@x.test")
    acme = web.company("ACME")
    boss_id = _user_id(web, "boss@x.test")
    admin = web.browser("boss@x.test")

    demote = admin.form(
        f"/users/{boss_id}", {"role": "clerk", "companies": [str(acme)], "active": "on"}
    )
    assert demote.status_code == 422
    assert _field_error(demote.text, "role").startswith("You are the last active administrator")
    deactivate = admin.form(f"/users/{boss_id}", {"role": "admin"})
    assert deactivate.status_code == 422
    assert "last active administrator" in _field_error(deactivate.text, "active")
    with web.app.db.session() as s:
        boss = users.by_email(s, "boss@x.test")
        assert boss is not None and boss.role == "admin" and boss.active
    assert admin.get("/users").status_code == 200  # still signed in

    # with a second administrator, stepping down is fine
    web.user("deputy@x.test")
    ok = admin.form(
        f"/users/{boss_id}", {"role": "clerk", "companies": [str(acme)], "active": "on"}
    )
    assert ok.status_code == 303
    assert admin.get("/users").status_code == 403  # a clerk now


def test_an_admin_changing_their_own_password_stays_signed_in(web: Web) -> None:
    web.user("boss@x.test")
    boss_id = _user_id(web, "boss@x.test")
    admin, elsewhere = web.browser("boss@x.test"), web.browser("boss@x.test")
    r = admin.form(
        f"/users/{boss_id}",
        {"role": "admin", "active": "on", "password": NEW_PASSWORD, "repeat": NEW_PASSWORD},
    )
    assert r.status_code == 303 and "ii_session=" in r.headers["set-cookie"]
    assert admin.get("/users").status_code == 200
    assert elsewhere.get("/users").status_code == 303


def test_an_admin_sees_and_revokes_a_users_tokens(web: Web) -> None:
    web.user("boss@x.test")
    web.user("clerk@x.test", "clerk", ("ACME",))
    clerk_id = _user_id(web, "clerk@x.test")
    token = web.token("clerk@x.test")
    admin = web.browser("boss@x.test")
    page = admin.get(f"/users/{clerk_id}")
    assert token[:10] + "…" in page.text and token not in page.text
    with web.app.db.session() as s:
        user = users.by_email(s, "clerk@x.test")
        assert user is not None
        (row,) = users.tokens_of(s, user)
        assert row.token_sha256 not in page.text
        token_id = row.id
    boss_id = _user_id(web, "boss@x.test")
    assert admin.form(f"/users/{boss_id}/tokens/{token_id}/revoke").status_code == 404
    r = admin.form(f"/users/{clerk_id}/tokens/{token_id}/revoke")
    assert r.status_code == 303
    with web.app.db.session() as s:
        assert users.user_for_token(s, token) is None
    assert "revoked" in admin.get(f"/users/{clerk_id}").text


def test_companies_create_rename_and_their_import_address(web: Web) -> None:
    web.user("boss@x.test")
    web.user("clerk@x.test", "clerk", ("ACME",))
    with web.app.db.session() as s:
        companies.set_setting(s, companies.SMTP_DOMAIN, "invoices.example.com")
    admin = web.browser("boss@x.test")

    r = admin.form("/companies", {"name": "  Globex  "})
    assert r.status_code == 303
    globex = web.company_id("Globex")
    assert r.headers["location"] == f"/companies/{globex}"
    detail = admin.get(f"/companies/{globex}")
    with web.app.db.session() as s:
        c = s.get(Company, globex)
        assert c is not None
        address = companies.address(s, c)
        importer = companies.import_source(s, c).id
    assert address and address.startswith("globex-") and address.endswith("@invoices.example.com")
    assert address in detail.text and f'href="/sources/{importer}"' in detail.text
    assert "Regenerate address" in detail.text

    listing = admin.get("/companies")
    assert "clerk@x.test" in listing.text and address in listing.text
    assert "@invoices.example.com" in listing.text  # ACME got its address too

    again = admin.form("/companies", {"name": "globex"})
    assert again.status_code == 422
    assert _field_error(again.text, "name") == 'There is already a company named "globex".'
    assert 'value="globex"' in again.text
    empty = admin.form("/companies", {"name": "  "})
    assert empty.status_code == 422
    assert _field_error(empty.text, "name") == "Give the company a name."

    regen = admin.form(f"/companies/{globex}/address")
    assert regen.status_code == 303
    detail = admin.get(f"/companies/{globex}")
    assert address not in detail.text and "@invoices.example.com" in detail.text
    assert "refused" in detail.text  # the flash says what happens to the old address

    taken = admin.form(f"/companies/{globex}", {"name": "ACME"})
    assert taken.status_code == 422 and "already a company" in _field_error(taken.text, "name")
    assert admin.form(f"/companies/{globex}", {"name": "Globex Ltd"}).status_code == 303
    assert "Globex Ltd" in admin.get("/companies").text

    clerk = web.browser("clerk@x.test")
    acme = clerk.get(f"/companies/{web.company_id('ACME')}")
    assert "@invoices.example.com" in acme.text
    assert "Regenerate address" not in acme.text and "Rename" not in acme.text


def test_a_company_name_with_markup_is_shown_as_text(web: Web) -> None:
    web.user("boss@x.test")
    admin = web.browser("boss@x.test")
    evil = "<script>alert(1)</script> & Co"
    assert admin.form("/companies", {"name": evil}).status_code == 303
    listing = admin.get("/companies")
    assert "<script>alert(1)</script>" not in listing.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co" in listing.text
    detail = admin.get(f"/companies/{web.company_id(evil)}")
    assert "<script>alert(1)" not in detail.text and "&lt;script&gt;" in detail.text
    user_form = admin.get("/users/new")
    assert "<script>alert(1)" not in user_form.text and "&lt;script&gt;" in user_form.text
