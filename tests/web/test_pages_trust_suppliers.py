"""The supplier screens (issue 16, item 4): the list (name, VAT id, domains, IBANs confirmed or
not, documents, last seen) by company, and a supplier's page where an admin edits its name,
VAT id and domains, confirms, removes or adds an IBAN, merges another supplier into it (after a
confirm step) and unblocks a blocked sender domain. Others see only their companies' suppliers
and change nothing; every change needs the CSRF token."""

from __future__ import annotations

from sqlalchemy import select

from invoice_inbox.store import suppliers
from invoice_inbox.store.models_trust import BlockedSender, Supplier
from web.conftest import Browser, Web
from web.test_pages_trust_documents import NEW_IBAN, OLD_IBAN, flash, mail
from web.test_web_sources import by_id, field_error, form_data, has_id, text


def supplier_ids(web: Web) -> dict[str, int]:
    with web.app.db.session() as s:
        return {x.name: x.id for x in s.scalars(select(Supplier))}


def stocked(web: Web) -> dict[str, int]:
    """supplier.test with a known IBAN and a changed one; lieferant.test (ACME) with none;
    elsewhere.test of another company."""
    mail(web, "billing@supplier.test", iban=OLD_IBAN)
    mail(web, "billing@supplier.test", iban=NEW_IBAN)
    mail(web, "rechnung@lieferant.test")
    mail(web, "billing@elsewhere.test", company="OTHER")
    return supplier_ids(web)


def admin_browser(web: Web) -> Browser:
    web.user("admin@x.test", "admin")
    return web.browser("admin@x.test")


def test_the_list_shows_each_supplier_of_the_users_companies(web: Web) -> None:
    ids = stocked(web)
    web.user("clerk@acme.test", "clerk", ("ACME",))
    clerk = web.browser("clerk@acme.test")
    page = clerk.get("/suppliers")
    assert page.status_code == 200
    assert 'href="/suppliers" aria-current="page"' in page.text
    row = text(page.text, f"supplier-{ids['supplier.test']}")
    assert "supplier.test" in row and "ACME" in row
    assert "DE89 …3000 unconfirmed" in row and "GB29 …6819 bank details changed" in row
    assert " 2 " in f" {row} "  # documents
    assert "lieferant.test" in text(page.text, f"supplier-{ids['lieferant.test']}")
    assert not has_id(page.text, f"supplier-{ids['elsewhere.test']}")
    assert clerk.get(f"/suppliers/{ids['elsewhere.test']}").status_code == 404

    admin = admin_browser(web)
    every = admin.get("/suppliers").text
    assert has_id(every, f"supplier-{ids['elsewhere.test']}")
    other = web.company_id("OTHER")
    only = admin.get("/suppliers", params={"company": str(other)}).text
    assert has_id(only, f"supplier-{ids['elsewhere.test']}")
    assert not has_id(only, f"supplier-{ids['supplier.test']}")


def test_an_admin_edits_name_vat_id_and_domains_and_is_told_what_is_wrong(web: Web) -> None:
    ids = stocked(web)
    admin = admin_browser(web)
    url = f"/suppliers/{ids['supplier.test']}"
    page = admin.get(url)
    data = form_data(
        page.text,
        "supplier-form",
        name="Supplier GmbH",
        vat_id="de 123 456 789",
        domains="supplier.test\nsupplier-billing.test",
    )
    r = admin.form(url, data)
    assert r.status_code == 303, r.text
    page = admin.get(url)
    assert text(page.text, "supplier-name") == "Supplier GmbH"
    assert text(page.text, "supplier-vat") == "DE123456789"
    assert text(page.text, "supplier-domains") == "supplier-billing.test, supplier.test"

    taken = form_data(page.text, "supplier-form", domains="supplier.test\nlieferant.test")
    r = admin.form(url, taken)
    assert r.status_code == 422
    assert "lieferant.test is a domain of the supplier" in field_error(r.text, "domains")
    assert by_id(r.text, "domains").text_content() == "supplier.test\nlieferant.test"
    r = admin.form(url, form_data(page.text, "supplier-form", name="  "))
    assert r.status_code == 422 and "needs a name" in field_error(r.text, "name")
    assert text(admin.get(url).text, "supplier-name") == "Supplier GmbH"  # nothing half-saved


def test_an_admin_confirms_removes_and_adds_ibans(web: Web) -> None:
    ids = stocked(web)
    admin = admin_browser(web)
    sid = ids["supplier.test"]
    url = f"/suppliers/{sid}"
    page = admin.get(url)
    assert has_id(page.text, f"confirm-{OLD_IBAN}") and has_id(page.text, f"confirm-{NEW_IBAN}")

    r = admin.form(f"{url}/ibans/confirm", {"iban": OLD_IBAN})
    assert r.status_code == 303 and r.headers["location"] == f"{url}#ibans"
    assert flash(admin.get(url).text) == "DE89 3704 0044 0532 0130 00 is confirmed."
    r = admin.form(f"{url}/ibans/confirm", {"iban": NEW_IBAN})  # the flagged document's
    page = admin.get(url)
    assert "confirmed" in text(page.text, f"iban-{NEW_IBAN}")
    with web.app.db.session() as s:
        assert suppliers.get(s, sid).open_alerts == 0

    r = admin.form(f"{url}/ibans/remove", {"iban": OLD_IBAN})
    assert not has_id(admin.get(url).text, f"iban-{OLD_IBAN}")
    r = admin.form(f"{url}/ibans/remove", {"iban": OLD_IBAN})
    assert flash(admin.get(r.headers["location"]).text).startswith("Not done: supplier #")

    r = admin.form(f"{url}/ibans/add", {"iban": "DE89 3704 0044 0532 0130 01"})
    assert "is not a valid IBAN" in flash(admin.get(r.headers["location"]).text)
    r = admin.form(f"{url}/ibans/add", {"iban": "de89 3704 0044 0532 0130 00"})
    page = admin.get(url)
    assert flash(page.text) == "DE89 3704 0044 0532 0130 00 is added as a confirmed IBAN."
    assert "confirmed" in text(page.text, f"iban-{OLD_IBAN}")


def test_merging_needs_the_confirm_step_and_moves_everything(web: Web) -> None:
    ids = stocked(web)
    admin = admin_browser(web)
    keep, other = ids["supplier.test"], ids["lieferant.test"]
    url = f"/suppliers/{keep}/merge"
    page = admin.get(f"/suppliers/{keep}")
    choices = [o.get("value") for o in by_id(page.text, "merge-other").xpath(".//option")]
    assert choices == ["", str(other)]  # the same company's only
    r = admin.form(url, {"other": str(other)})
    assert r.headers["location"].endswith("#merge")
    assert flash(admin.get(r.headers["location"]).text).startswith('Tick "Yes, merge"')
    assert admin.get(f"/suppliers/{other}").status_code == 200
    # another company's supplier is no candidate
    r = admin.form(url, {"other": str(ids["elsewhere.test"]), "confirm": "yes"})
    assert "only suppliers of the same company" in flash(admin.get(r.headers["location"]).text)

    r = admin.form(url, {"other": str(other), "confirm": "yes"})
    page = admin.get(r.headers["location"])
    assert flash(page.text) == "lieferant.test is merged into supplier.test."
    assert text(page.text, "supplier-domains") == "lieferant.test, supplier.test"
    assert admin.get(f"/suppliers/{other}").status_code == 404
    assert len(by_id(page.text, "supplier-documents-table").xpath(".//tbody/tr")) == 3


def test_an_admin_unblocks_a_blocked_sender_domain(web: Web) -> None:
    stocked(web)
    changed = mail(web, "billing@supplier.test", iban="FR1420041010050500013M02606")
    admin = admin_browser(web)
    admin.form(f"/documents/{changed}/mark-fraud", {"confirm": "yes"})
    page = admin.get("/suppliers")
    row = text(page.text, f"blocked-{web.company_id('ACME')}-supplier.test")
    assert f"document #{changed} marked as fraud by admin@x.test" in row
    web.user("viewer@acme.test", "viewer", ("ACME",))
    viewer = web.browser("viewer@acme.test")
    assert not has_id(viewer.get("/suppliers").text, "unblock-supplier.test")
    data = {"company": str(web.company_id("ACME")), "domain": "supplier.test"}
    assert viewer.form("/suppliers/blocked/unblock", data).status_code == 403
    assert admin.post("/suppliers/blocked/unblock", data=data).status_code == 403  # no token

    r = admin.form("/suppliers/blocked/unblock", {**data, "back": "/suppliers"})
    page = admin.get(r.headers["location"])
    assert flash(page.text) == "supplier.test is no longer blocked: its mail is imported again."
    assert has_id(page.text, "no-blocked")
    with web.app.db.session() as s:
        assert s.scalars(select(BlockedSender)).all() == []
    r = admin.form("/suppliers/blocked/unblock", data)
    assert flash(admin.get(r.headers["location"]).text) == (
        "supplier.test is not blocked for this company."
    )


def test_only_admins_change_suppliers_and_only_with_the_csrf_token(web: Web) -> None:
    ids = stocked(web)
    admin = admin_browser(web)
    sid = ids["supplier.test"]
    web.user("clerk@acme.test", "clerk", ("ACME",))
    clerk = web.browser("clerk@acme.test")
    view = clerk.get(f"/suppliers/{sid}")
    assert view.status_code == 200
    assert not has_id(view.text, "supplier-form") and not has_id(view.text, "merge-form")
    assert not has_id(view.text, f"confirm-{OLD_IBAN}") and not has_id(view.text, "add-iban")
    changes = {
        f"/suppliers/{sid}": {"name": "Evil"},
        f"/suppliers/{sid}/ibans/confirm": {"iban": OLD_IBAN},
        f"/suppliers/{sid}/ibans/remove": {"iban": OLD_IBAN},
        f"/suppliers/{sid}/ibans/add": {"iban": "FR1420041010050500013M02606"},
        f"/suppliers/{sid}/merge": {"other": str(ids["lieferant.test"]), "confirm": "yes"},
    }
    for url, data in changes.items():
        assert clerk.form(url, data).status_code == 403, url
        assert admin.post(url, data={**data, "csrf_token": "forged"}).status_code == 403, url
    with web.app.db.session() as s:
        info = suppliers.get(s, sid)
        assert info.name == "supplier.test"
        assert [(i.iban, i.confirmed) for i in info.ibans] == [(OLD_IBAN, False)]
        assert s.get(Supplier, ids["lieferant.test"]) is not None
