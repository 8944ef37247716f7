"""A company's language (issue 20): the language of notifications to its addresses that are
no user's and of its webhooks' message; set by an administrator on the company's page or with
PATCH /api/v1/companies/{id}; clerks may not."""

from __future__ import annotations

from sqlalchemy import select

from invoice_inbox.store.models import Company
from web.conftest import Web


def locale_of(web: Web) -> str | None:
    with web.app.db.session() as s:
        return s.scalars(select(Company).where(Company.name == "ACME")).one().locale


def test_an_administrator_sets_the_company_s_language_on_its_page(web: Web) -> None:
    web.user("boss@x.test")
    web.company("ACME")
    b = web.browser("boss@x.test")
    cid = web.company_id("ACME")
    r = b.form(f"/companies/{cid}/locale", {"locale": "pl"})
    assert r.status_code == 303 and locale_of(web) == "pl"
    assert b.form(f"/companies/{cid}/locale", {"locale": "klingon"}).status_code == 422
    assert b.form(f"/companies/{cid}/locale", {"locale": ""}).status_code == 303
    assert locale_of(web) is None


def test_the_api_sets_and_shows_the_company_s_language(web: Web) -> None:
    web.user("boss@x.test")
    web.user("clerk@x.test", "clerk", ("ACME",))
    cid = web.company_id("ACME")
    api = web.api("boss@x.test")
    r = api.patch(f"/api/v1/companies/{cid}", json={"locale": "de"})
    assert r.status_code == 200 and r.json()["locale"] == "de"
    assert api.get(f"/api/v1/companies/{cid}").json()["locale"] == "de"
    assert api.patch(f"/api/v1/companies/{cid}", json={"locale": "xx"}).status_code == 422
    clerk = web.api("clerk@x.test")
    assert clerk.patch(f"/api/v1/companies/{cid}", json={"locale": "pl"}).status_code == 403
    assert api.patch(f"/api/v1/companies/{cid}", json={"locale": None}).json()["locale"] is None
