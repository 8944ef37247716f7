"""The language each request is answered in (issue 20): the signed-in user's choice, else the
browser's Accept-Language among the product's languages, else English; set on the account page
(or by an admin on the user's page) and through the API's /users/me."""

from __future__ import annotations

from typing import get_args

from invoice_inbox import i18n
from invoice_inbox.store import users
from invoice_inbox.web.api.me import Locale
from web.conftest import Web

NBSP = "\xa0"


def _lang(html: str) -> str:
    return html.split('<html lang="', 1)[1].split('"', 1)[0]


def _locale_of(web: Web, email: str) -> str | None:
    with web.app.db.session() as s:
        user = users.by_email(s, email)
        assert user is not None
        return user.locale


def test_the_browser_s_language_when_the_user_chose_none(web: Web) -> None:
    web.user("admin@x.test")  # set up: /login answers
    client = web.client()
    r = client.get("/login", headers={"Accept-Language": "de-AT,de;q=0.9,en;q=0.5"})
    assert r.status_code == 200
    assert _lang(r.text) == "de" and r.headers["content-language"] == "de"
    assert "accept-language" in r.headers["vary"].lower()
    r = client.get("/login", headers={"Accept-Language": "ja,pl;q=0.3"})
    assert _lang(r.text) == "pl"
    r = client.get("/login", headers={"Accept-Language": "ja"})
    assert _lang(r.text) == "en" and r.headers["content-language"] == "en"
    assert _lang(client.get("/login").text) == "en"


def test_the_user_s_choice_wins_over_the_browser(web: Web) -> None:
    web.user("ola@x.test", "clerk", ("ACME",))
    browser = web.browser("ola@x.test")
    browser.headers["Accept-Language"] = "de"
    assert _lang(browser.get("/account").text) == "de"

    r = browser.form("/account/language", {"locale": "pl"})
    assert r.status_code == 303 and _locale_of(web, "ola@x.test") == "pl"
    page = browser.get("/account")
    assert _lang(page.text) == "pl" and page.headers["content-language"] == "pl"
    assert f"1{NBSP}234,56{NBSP}€" in page.text  # amounts as Poles write them
    assert 'value="pl" lang="pl" selected' in page.text

    r = browser.form("/account/language", {"locale": ""})  # back to the browser's
    assert r.status_code == 303 and _locale_of(web, "ola@x.test") is None
    page = browser.get("/account")
    assert _lang(page.text) == "de" and f"1.234,56{NBSP}€" in page.text

    assert browser.form("/account/language", {"locale": "xx"}).status_code == 422
    assert _locale_of(web, "ola@x.test") is None


def test_an_admin_sets_a_user_s_language_a_clerk_may_not(web: Web) -> None:
    web.user("admin@x.test")
    web.user("jan@x.test", "clerk", ("ACME",))
    with web.app.db.session() as s:
        jan = users.by_email(s, "jan@x.test")
        assert jan is not None
        jan_id = jan.id
    admin = web.browser("admin@x.test")
    assert f'action="/users/{jan_id}/language"' in admin.get(f"/users/{jan_id}").text
    assert admin.form(f"/users/{jan_id}/language", {"locale": "nl"}).status_code == 303
    assert _locale_of(web, "jan@x.test") == "nl"
    assert _lang(web.browser("jan@x.test").get("/sources").text) == "nl"

    clerk = web.browser("jan@x.test")
    assert clerk.form(f"/users/{jan_id}/language", {"locale": "fr"}).status_code == 403
    assert _locale_of(web, "jan@x.test") == "nl"


def test_the_api_shows_and_sets_the_token_user_s_language(web: Web) -> None:
    web.user("api@x.test", "clerk", ("ACME",))
    api = web.api("api@x.test")
    me = api.get("/api/v1/users/me").json()
    assert me["email"] == "api@x.test" and me["locale"] is None and me["time_zone"] is None
    r = api.patch("/api/v1/users/me", json={"locale": "fr"})
    assert r.status_code == 200 and r.json()["locale"] == "fr"
    assert _locale_of(web, "api@x.test") == "fr"
    r = api.patch("/api/v1/users/me", json={"time_zone": "Europe/Warsaw"})
    assert r.json() == {**me, "locale": "fr", "time_zone": "Europe/Warsaw"}  # locale kept
    assert api.patch("/api/v1/users/me", json={"locale": "xx"}).status_code == 422
    assert api.patch("/api/v1/users/me", json={"time_zone": "Mars/Base"}).status_code == 422
    assert api.patch("/api/v1/users/me", json={"locale": None}).json()["locale"] is None
    # an API client has no session: it is answered in the language it asks for
    r = api.get("/api/v1/users/me", headers={"Accept-Language": "nl-BE"})
    assert r.headers["content-language"] == "nl"


def test_the_api_s_languages_are_the_product_s() -> None:
    assert get_args(Locale) == i18n.LOCALES
