"""A company's language (issue 20): the language of notifications to its addresses that are
no user's and of its webhooks' message; set by an administrator on the company's page or with
PATCH /api/v1/companies/{id}; clerks may not. Notifications are listed in the reader's
language (a test catalogue)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from invoice_inbox.errors import ConnectFailed
from invoice_inbox.runtime import health
from invoice_inbox.store import sources
from invoice_inbox.store.models import Company
from translated import install
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
    shown = b.get(f"/companies/{cid}").text
    assert 'id="company-language"' in shown and 'value="pl" lang="pl" selected' in shown
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


def test_notifications_are_listed_in_the_reader_s_language(
    web: Web, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    install(
        monkeypatch,
        tmp_path,
        "de",
        {
            'invoice-inbox: source "%(source)s" was switched off after %(failures)s failed '
            "fetches": 'invoice-inbox: Quelle "%(source)s" nach %(failures)s Fehlern abgeschaltet'
        },
    )
    web.user("boss@x.test")
    with web.app.db.session() as s:
        src = sources.add(s, name="ap", company_name="ACME", host="127.0.0.1", port=1, username="u")
        src.max_failures = 1
    health.record_failure(web.app, "ap", ConnectFailed("connection refused"))
    german = {"Accept-Language": "de"}
    (n,) = web.api("boss@x.test").get("/api/v1/notifications", headers=german).json()["items"]
    assert n["subject"] == 'invoice-inbox: Quelle "ap" nach 1 Fehlern abgeschaltet'
    (n,) = web.api("boss@x.test").get("/api/v1/notifications").json()["items"]
    assert n["subject"] == 'invoice-inbox: source "ap" was switched off after 1 failed fetches'
    page = web.browser("boss@x.test").get("/notifications", headers=german).text
    assert "nach 1 Fehlern abgeschaltet" in page and "failed fetches" not in page
