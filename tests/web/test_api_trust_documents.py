"""Trust through the API: each queued document's sender authentication, look-alike sender,
IBAN, bank-detail alert, supplier and flags; the queue filtered by a flag; an administrator
confirming new bank details or marking a document as fraud (its sender domain blocked, then
unblocked); the supplier registry listed, read and edited; company scoping and roles as the
other endpoints (another company's things do not exist, a clerk may not decide).

The documents come from a real Dovecot; the trust columns are set on their rows as the run and
the supplier registry record them."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from builders import Attachment, make_mail, make_pdf
from harness.dovecot import Mailbox
from invoice_inbox.runtime import runner
from invoice_inbox.store import events
from invoice_inbox.store.models import Message
from invoice_inbox.store.models_trust import Supplier, SupplierDomain, SupplierIban
from web.conftest import Web

OLD, NEW = "DE89370400440532013000", "GB29NWBK60161331926819"
OTHER_VALID = "FR1420041010050500013M02606"


def invoice(subject: str, sender: str) -> bytes:
    pdf = Attachment(f"{subject}.pdf", make_pdf(subject))
    return make_mail(from_=sender, subject=subject, attachments=[pdf])


def supplier_of(s: Session, company_id: int, domain: str, name: str) -> Supplier:
    """The supplier of *domain* (learned by the run, or made here), named *name*."""
    found = s.scalar(
        select(Supplier)
        .join(SupplierDomain, SupplierDomain.supplier_id == Supplier.id)
        .where(SupplierDomain.company_id == company_id, SupplierDomain.domain == domain)
    )
    if found is None:
        found = Supplier(company_id=company_id, name=name)
        found.domains.append(SupplierDomain(company_id=company_id, domain=domain))
        s.add(found)
    found.name = name
    s.flush()
    return found


def setup(web: Web, mailbox: Mailbox) -> dict[str, int]:
    """Three documents of ACME: 'spoofed' (failed DMARC), 'lookalike' (supp1ier.test) and
    'changed' (asks payment to NEW where OLD is known); their supplier's id as 'supplier'."""
    mailbox.append("INBOX", invoice("spoofed", "billing@supplier.test"))
    mailbox.append("INBOX", invoice("lookalike", "billing@supp1ier.test"))
    mailbox.append("INBOX", invoice("changed", "billing@supplier.test"))
    web.imap_source("ap", mailbox, "ACME")
    runner.fetch(web.app, "ap")
    with web.app.db.session() as s:
        rows = {m.subject: m for m in s.scalars(select(Message))}
        for m in rows.values():
            m.sender_auth, m.sender_auth_reason = "pass", "DKIM signature verified"
        rows["spoofed"].sender_auth = "fail"
        rows["spoofed"].sender_auth_reason = "From domain supplier.test publishes DMARC p=reject"
        rows["lookalike"].lookalike_of = "supplier.test"
        company_id = rows["changed"].documents[0].company_id
        supplier = supplier_of(s, company_id, "supplier.test", "Supplier GmbH")
        supplier.ibans.append(SupplierIban(iban=OLD, confirmed=False, seen_count=1))
        s.flush()
        changed = rows["changed"].documents[0]
        changed.supplier_id, changed.iban = supplier.id, NEW
        changed.bank_alert, changed.bank_alert_known = "changed", [OLD]
        rows["spoofed"].documents[0].supplier_id = supplier.id
        found = {subject: m.documents[0].id for subject, m in rows.items()}
        return found | {"supplier": supplier.id, "company": company_id}


def subjects(api: TestClient, **params: Any) -> list[str]:
    r = api.get("/api/v1/documents", params=params)
    assert r.status_code == 200, r.text
    return sorted(d["message"]["subject"] for d in r.json()["items"])


def test_documents_carry_their_trust_fields_and_filter_by_flag(web: Web, mailbox: Mailbox) -> None:
    ids = setup(web, mailbox)
    web.user("admin@x.test", "admin")
    api = web.api("admin@x.test")

    docs = {d["message"]["subject"]: d for d in api.get("/api/v1/documents").json()["items"]}
    spoofed, lookalike, changed = docs["spoofed"], docs["lookalike"], docs["changed"]
    assert spoofed["sender_auth"] == {
        "status": "fail",
        "reason": "From domain supplier.test publishes DMARC p=reject",
    }
    assert spoofed["flags"] == ["sender_not_authenticated"]
    assert spoofed["supplier"] == {"id": ids["supplier"], "name": "Supplier GmbH"}
    assert (lookalike["lookalike_of"], lookalike["flags"]) == (
        "supplier.test",
        ["lookalike_sender"],
    )
    assert changed["iban"] == NEW and changed["flags"] == ["bank_details_changed"]
    assert changed["bank_alert"] == {
        "status": "changed",
        "known": [OLD],
        "reason": "bank details changed: DE89 …3000 → GB29 …6819",
        "by": None,
        "at": None,
    }
    detail = api.get(f"/api/v1/documents/{ids['changed']}").json()
    assert detail["bank_alert"]["status"] == "changed"

    mails = {m["subject"]: m for m in api.get("/api/v1/messages").json()["items"]}
    assert mails["spoofed"]["sender_auth"] == spoofed["sender_auth"]  # on the ledger too
    assert mails["lookalike"]["lookalike_of"] == "supplier.test"
    assert mails["changed"]["sender_auth"]["status"] == "pass"

    assert subjects(api, flag="sender_not_authenticated") == ["spoofed"]
    assert subjects(api, flag="lookalike_sender") == ["lookalike"]
    assert subjects(api, flag="bank_details_changed") == ["changed"]
    assert subjects(api, flag="bank_details_changed", sort="amount") == ["changed"]
    assert api.get("/api/v1/documents", params={"flag": "odd"}).status_code == 422

    spec = api.get("/openapi.json").json()
    params = {p["name"]: p for p in spec["paths"]["/api/v1/documents"]["get"]["parameters"]}
    assert "flag" in params and params["flag"]["description"]
    for path in ("/api/v1/suppliers/{supplier_id}", "/api/v1/documents/{document_id}/mark-fraud"):
        assert path in spec["paths"]


def test_an_admin_confirms_new_bank_details_or_marks_fraud(web: Web, mailbox: Mailbox) -> None:
    ids = setup(web, mailbox)
    web.user("admin@x.test", "admin")
    web.user("clerk@x.test", "clerk", ("ACME",))
    web.user("other@x.test", "clerk", ("Other",))
    admin, clerk, other = (web.api(u) for u in ("admin@x.test", "clerk@x.test", "other@x.test"))
    confirm = f"/api/v1/documents/{ids['changed']}/confirm-iban"
    fraud = f"/api/v1/documents/{ids['lookalike']}/mark-fraud"

    assert clerk.post(confirm).status_code == 403  # deciding is for administrators
    assert other.post(confirm).status_code == 404  # another company's: does not exist
    assert clerk.post(fraud).status_code == 403

    r = admin.post(confirm)
    assert r.status_code == 200, r.text
    assert r.json()["bank_alert"]["status"] == "confirmed" and r.json()["flags"] == []
    assert r.json()["bank_alert"]["by"] == "admin@x.test" and r.json()["bank_alert"]["at"]
    supplier = admin.get(f"/api/v1/suppliers/{ids['supplier']}").json()
    assert {i["iban"]: i["confirmed"] for i in supplier["ibans"]} == {OLD: False, NEW: True}
    assert subjects(admin, flag="bank_details_changed") == []
    nothing = admin.post(f"/api/v1/documents/{ids['lookalike']}/confirm-iban")
    assert nothing.status_code == 409 and "no supplier IBAN" in nothing.json()["detail"]

    r = admin.post(fraud)
    assert r.status_code == 200, r.text
    assert r.json()["blocked_domain"] == "supp1ier.test"
    assert r.json()["document"]["id"] == ids["lookalike"]
    blocked_url = f"/api/v1/companies/{ids['company']}/blocked-senders"
    blocked = clerk.get(blocked_url).json()
    assert [b["domain"] for b in blocked] == ["supp1ier.test"]
    assert blocked[0]["document_id"] == ids["lookalike"]
    assert other.get(blocked_url).status_code == 404
    assert clerk.delete(f"{blocked_url}/supp1ier.test").status_code == 403
    assert admin.delete(f"{blocked_url}/supp1ier.test").status_code == 204
    assert admin.get(blocked_url).json() == []
    assert admin.delete(f"{blocked_url}/supp1ier.test").status_code == 404


def test_suppliers_are_listed_and_edited_by_their_companys_people(
    web: Web, mailbox: Mailbox
) -> None:
    ids = setup(web, mailbox)
    web.user("admin@x.test", "admin")
    web.user("clerk@x.test", "clerk", ("ACME",))
    web.user("other@x.test", "clerk", ("Other",))
    admin, clerk, other = (web.api(u) for u in ("admin@x.test", "clerk@x.test", "other@x.test"))
    url = f"/api/v1/suppliers/{ids['supplier']}"

    listed = {s["id"]: s for s in clerk.get("/api/v1/suppliers").json()}
    mine = listed[ids["supplier"]]
    assert (mine["name"], mine["domains"], mine["open_alerts"]) == (
        "Supplier GmbH",
        ["supplier.test"],
        1,
    )
    assert mine["pending_ibans"] == [NEW]
    assert other.get("/api/v1/suppliers").json() == []
    assert other.get(url).status_code == 404
    assert other.get("/api/v1/suppliers", params={"company_id": ids["company"]}).status_code == 404
    assert clerk.patch(url, json={"name": "X"}).status_code == 403

    body = {
        "name": "Supplier AG",
        "vat_id": "DE123456789",
        "domains": ["*@supplier.test", "b.test"],
    }
    r = admin.patch(url, json=body)
    assert r.status_code == 200, r.text
    assert (r.json()["name"], r.json()["domains"]) == ("Supplier AG", ["b.test", "supplier.test"])
    bad = admin.patch(url, json={"domains": ["not a domain"]})
    assert bad.status_code == 422 and bad.json()["problems"][0]["field"] == "domains"

    wrong = admin.post(f"{url}/ibans", json={"iban": "DE00 1234 5678 9012 3456 78"})
    assert wrong.status_code == 422 and wrong.json()["problems"][0]["field"] == "iban"
    added = admin.post(f"{url}/ibans", json={"iban": "FR14 2004 1010 0505 0001 3M02 606"})
    assert added.status_code == 201, added.text
    assert {i["iban"]: i["confirmed"] for i in added.json()["ibans"]}[OTHER_VALID] is True
    confirmed = admin.post(f"{url}/ibans/{OLD}/confirm").json()
    assert {i["iban"]: i["confirmed"] for i in confirmed["ibans"]}[OLD] is True
    removed = admin.delete(f"{url}/ibans/{OTHER_VALID}").json()
    assert OTHER_VALID not in [i["iban"] for i in removed["ibans"]]
    assert admin.delete(f"{url}/ibans/{OTHER_VALID}").status_code == 404

    with web.app.db.session() as s:
        twin = Supplier(company_id=ids["company"], name="Supplier (twin)", documents_count=3)
        before = supplier_of(s, ids["company"], "supplier.test", "Supplier AG").documents_count
        twin.domains.append(SupplierDomain(company_id=ids["company"], domain="supplier-ag.test"))
        s.add(twin)
        s.flush()
        twin_id = twin.id
    assert clerk.post(f"{url}/merge", json={"other_id": twin_id}).status_code == 403
    merged = admin.post(f"{url}/merge", json={"other_id": twin_id})
    assert merged.status_code == 200, merged.text
    assert "supplier-ag.test" in merged.json()["domains"]
    assert merged.json()["documents_count"] == before + 3
    assert admin.get(f"/api/v1/suppliers/{twin_id}").status_code == 404
    itself = admin.post(f"{url}/merge", json={"other_id": ids["supplier"]})
    assert itself.status_code == 422


def test_the_document_created_payload_carries_the_same_trust_fields(
    web: Web, mailbox: Mailbox
) -> None:
    ids = setup(web, mailbox)
    web.user("admin@x.test", "admin")
    listed = web.api("admin@x.test").get("/api/v1/documents").json()["items"]
    api_doc = next(d for d in listed if d["id"] == ids["changed"])
    with web.app.db.session() as s:
        row = s.scalar(select(Message).where(Message.subject == "changed"))
        assert row is not None
        payload = events.document_payload(row.documents[0], row, company="ACME", source="ap")
    doc = payload["document"]
    for key in ("sender_auth", "lookalike_of", "iban", "bank_alert", "supplier", "flags"):
        assert doc[key] == api_doc[key], key
    assert doc["flags"] == ["bank_details_changed"]
    assert doc["supplier"] == {"id": ids["supplier"], "name": "Supplier GmbH"}
    assert doc["sender_auth"] == {"status": "pass", "reason": "DKIM signature verified"}
