"""A source's sender-authentication policy and trusted authserv-ids through the API: the
default (flag, the preset's ids), changes, a wrong value named by its field, null back to the
preset's list, and the import address taking its policy."""

from __future__ import annotations

from harness.dovecot import Mailbox
from invoice_inbox.store import companies
from invoice_inbox.store.models import Company
from web.conftest import Web
from web.test_api_sources import admin_api, imap_settings, problems


def test_policy_and_trusted_authserv_ids(web: Web, mailbox: Mailbox) -> None:
    api = admin_api(web)
    r = api.post("/api/v1/sources", json=imap_settings(mailbox))
    assert r.status_code == 201, r.text
    src = r.json()
    assert (src["sender_auth"], src["trusted_authserv_ids"]) == ("flag", None)
    url = f"/api/v1/sources/{src['id']}"

    body = {"sender_auth": "require", "trusted_authserv_ids": ["MX.Example.test", "mx2.test"]}
    changed = api.patch(url, json=body).json()
    assert changed["sender_auth"] == "require"
    assert changed["trusted_authserv_ids"] == ["mx.example.test", "mx2.test"]
    assert api.get(url).json()["sender_auth"] == "require"

    assert set(problems(api.patch(url, json={"sender_auth": "sometimes"}))) == {"sender_auth"}
    bad = problems(api.patch(url, json={"trusted_authserv_ids": ["mx example"]}))
    assert bad == {
        "trusted_authserv_ids": "'mx example' is not an authserv-id (a host name, mx.example)"
    }

    assert api.patch(url, json={"trusted_authserv_ids": []}).json()["trusted_authserv_ids"] == []
    back = api.patch(url, json={"trusted_authserv_ids": None}).json()
    assert back["trusted_authserv_ids"] is None and back["sender_auth"] == "require"

    created = api.post(
        "/api/v1/sources", json=imap_settings(mailbox, name="ap2", sender_auth="off")
    ).json()
    assert created["sender_auth"] == "off"
    assert created["preset_authserv_ids"] == []  # a generic IMAP server names none

    gmail = {"name": "g", "company": "ACME", "provider": "gmail", "auth": "password"}
    r = api.post("/api/v1/sources", json={**gmail, "username": "ap@x.test", "password": "pw"})
    assert r.status_code == 201, r.text
    g = r.json()
    assert (g["trusted_authserv_ids"], g["preset_authserv_ids"]) == (None, ["mx.google.com"])


def test_the_import_address_takes_its_policy(web: Web) -> None:
    api = admin_api(web)
    company_id = web.company("ACME")
    with web.app.db.session() as s:
        company = s.get(Company, company_id)
        assert company is not None
        src_id = companies.import_source(s, company).id
    url = f"/api/v1/sources/{src_id}"
    assert api.patch(url, json={"sender_auth": "require"}).json()["sender_auth"] == "require"
    assert api.get(url).json()["sender_auth"] == "require"
    # its other settings are made on its company, as before
    assert set(problems(api.patch(url, json={"host": "x.test"}))) == {"protocol"}
