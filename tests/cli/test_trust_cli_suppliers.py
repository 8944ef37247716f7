"""The supplier registry and bank-detail alerts on the command line: ``suppliers list/show/
set/add-iban/confirm-iban/remove-iban/merge/blocked/unblock`` and ``documents confirm-iban`` /
``mark-fraud``; a mistake (no such supplier, an IBAN failing its checksum) is one sentence.
The documents come from a real Dovecot; the supplier rows are set as the registry records
them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from builders import Attachment, make_mail, make_pdf
from invoice_inbox.runtime.context import App
from invoice_inbox.store.models import Message
from invoice_inbox.store.models_trust import Supplier, SupplierDomain, SupplierIban
from sync.conftest import AP
from web.test_api_trust_documents import supplier_of

OLD, NEW = "DE89370400440532013000", "GB29NWBK60161331926819"
OTHER_VALID = "FR1420041010050500013M02606"


def invoice(subject: str, sender: str) -> bytes:
    pdf = Attachment(f"{subject}.pdf", make_pdf(subject))
    return make_mail(from_=sender, subject=subject, attachments=[pdf])


def setup(ap: AP) -> dict[str, int]:
    """ACME's 'changed' (asks payment to NEW where OLD is known) and 'phish' documents, from
    supplier.test and supp1ier.test; a supplier and its twin."""
    ap.mailbox.append("INBOX", invoice("changed", "billing@supplier.test"))
    ap.mailbox.append("INBOX", invoice("phish", "billing@supp1ier.test"))
    ap.add_source()
    assert ap.ok("fetch", "ap", "--json").json()["imported"] == 2
    app = App.open(ap.data_dir)
    try:
        with app.db.session() as s:
            rows = {m.subject: m for m in s.scalars(select(Message))}
            company_id = rows["changed"].documents[0].company_id
            supplier = supplier_of(s, company_id, "supplier.test", "Supplier GmbH")
            supplier.ibans.append(SupplierIban(iban=OLD, confirmed=False, seen_count=1))
            twin = Supplier(company_id=company_id, name="Supplier (twin)", documents_count=2)
            twin.domains.append(SupplierDomain(company_id=company_id, domain="supplier-ag.test"))
            s.add(twin)
            s.flush()
            doc = rows["changed"].documents[0]
            doc.supplier_id, doc.iban = supplier.id, NEW
            doc.bank_alert, doc.bank_alert_known = "changed", [OLD]
            return {
                "changed": doc.id,
                "phish": rows["phish"].documents[0].id,
                "supplier": supplier.id,
                "twin": twin.id,
                "count": supplier.documents_count,
            }
    finally:
        app.close()


def one_sentence(ap: AP, *args: str) -> str:
    r = ap.run(*args)
    assert r.code == 1, r.stdout + r.stderr
    assert "Traceback" not in r.stderr and r.stderr.startswith("error: ")
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    return r.stderr.strip()


def supplier(ap: AP, supplier_id: int) -> dict[str, Any]:
    return ap.ok("suppliers", "show", str(supplier_id), "--json").json()  # type: ignore[no-any-return]


def test_suppliers_are_listed_and_edited(ap: AP) -> None:
    ids = setup(ap)
    sid = str(ids["supplier"])
    listed = ap.ok("suppliers", "list", "--json").json()
    names = [s["name"] for s in listed]
    assert names.index("Supplier (twin)") < names.index("Supplier GmbH")  # by name
    assert ap.ok("suppliers", "list", "--company", "ACME", "--json").json() == listed
    table = ap.ok("suppliers", "list").stdout
    assert "Supplier GmbH" in table and f"{OLD} (unconfirmed)" in table
    info = supplier(ap, ids["supplier"])
    assert (info["open_alerts"], info["pending_ibans"]) == (1, [NEW])
    assert "open_alerts" in ap.ok("suppliers", "show", sid).stdout

    ap.ok("suppliers", "set", sid, "--name", "Supplier AG", "--vat-id", "DE123456789")
    ap.ok("suppliers", "set", sid, "--domain", "supplier.test", "--domain", "*@b.test")
    info = supplier(ap, ids["supplier"])
    assert (info["name"], info["vat_id"]) == ("Supplier AG", "DE123456789")
    assert info["domains"] == ["b.test", "supplier.test"]

    ap.ok("suppliers", "add-iban", sid, "FR14 2004 1010 0505 0001 3M02 606")
    ap.ok("suppliers", "confirm-iban", sid, OLD)
    ibans = {i["iban"]: i["confirmed"] for i in supplier(ap, ids["supplier"])["ibans"]}
    assert ibans == {OLD: True, OTHER_VALID: True}
    ap.ok("suppliers", "remove-iban", sid, OTHER_VALID)
    assert [i["iban"] for i in supplier(ap, ids["supplier"])["ibans"]] == [OLD]

    merged = ap.ok("suppliers", "merge", sid, str(ids["twin"]), "--json").json()
    assert "supplier-ag.test" in merged["domains"]
    assert merged["documents_count"] == ids["count"] + 2
    left = [s["id"] for s in ap.ok("suppliers", "list", "--json").json()]
    assert ids["supplier"] in left and ids["twin"] not in left

    assert "supplier" in one_sentence(ap, "suppliers", "show", "9999")
    assert "IBAN" in one_sentence(ap, "suppliers", "add-iban", sid, "DE00123456789012345678")
    assert one_sentence(ap, "suppliers", "list", "--company", "Nobody") == (
        'error: no company "Nobody"'
    )
    one_sentence(ap, "suppliers", "set", sid)


def test_a_bank_alert_is_confirmed_or_marked_as_fraud(ap: AP) -> None:
    ids = setup(ap)
    flagged = ap.ok("documents", "list", "--flag", "bank_details_changed", "--json").json()
    assert [d["id"] for d in flagged] == [ids["changed"]]

    said = ap.ok("documents", "confirm-iban", str(ids["changed"])).stdout
    assert "confirmed" in said
    assert ap.ok("documents", "list", "--flag", "bank_details_changed", "--json").json() == []
    changed = next(d for d in ap.documents() if d["id"] == ids["changed"])
    assert changed["bank_alert"]["status"] == "confirmed"
    assert changed["bank_alert"]["by"] == "the command line"
    ibans = {i["iban"]: i["confirmed"] for i in supplier(ap, ids["supplier"])["ibans"]}
    assert ibans[NEW] is True
    assert "no supplier IBAN" in one_sentence(ap, "documents", "confirm-iban", str(ids["phish"]))

    said = ap.ok("documents", "mark-fraud", str(ids["phish"])).stdout
    assert "supp1ier.test" in said
    blocked = ap.ok("suppliers", "blocked", "--json").json()
    assert [(b["company"], b["domain"]) for b in blocked] == [("ACME", "supp1ier.test")]
    assert "supp1ier.test" in ap.ok("suppliers", "blocked").stdout
    phish = next(d for d in ap.documents() if d["id"] == ids["phish"])
    assert phish["bank_alert"]["status"] == "fraud"

    ap.ok("suppliers", "unblock", "supp1ier.test", "--company", "ACME")
    assert ap.ok("suppliers", "blocked", "--json").json() == []
    one_sentence(ap, "suppliers", "unblock", "supp1ier.test", "--company", "ACME")
    one_sentence(ap, "documents", "mark-fraud", "9999")
