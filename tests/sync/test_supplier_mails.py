"""End to end against Dovecot: every way suppliers send invoices becomes the right documents with
the right e-invoice fields, the same invoice twice shows as a duplicate, hostile mail is
quarantined with its reason, and nothing is lost."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from builders import Attachment, make_forward, make_mail, make_pdf, make_tnef, make_zip
from conftest import AP
from corpus import CORPUS

FACTURX = CORPUS / "zugferd-corpus__EN16931_Einfach.pdf"
XRECHNUNG = CORPUS / "xrechnung-testsuite__01.02a-INVOICE_ubl.xml"

HTML_INVOICE = """<html><body>
<h1>Rechnung R-2026-77</h1>
<p>Webhosting November: <b>119,00 EUR</b></p>
</body></html>"""


def by_file(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {d["filename"]: d for d in docs}


def test_every_kind_of_supplier_mail_becomes_the_right_documents(ap: AP) -> None:
    zugferd, xrechnung = FACTURX.read_bytes(), XRECHNUNG.read_bytes()
    forwarded_pdf = make_pdf("Forwarded invoice F-9")
    mails = [
        make_mail(subject="Factur-X", attachments=[Attachment(FACTURX.name, zugferd)]),
        make_mail(
            subject="XRechnung",
            attachments=[Attachment("rechnung.xml", xrechnung, "application/xml")],
        ),
        make_forward(
            make_mail(
                from_="Parts Ltd <ar@parts.example>",
                date="Mon, 02 Nov 2026 09:30:00 +0000",
                subject="Invoice F-9",
                attachments=[Attachment("F-9.pdf", forwarded_pdf)],
            ),
            subject="Fwd: Invoice F-9",
        ),
        make_mail(
            subject="Outlook",
            attachments=[
                Attachment(
                    "winmail.dat",
                    make_tnef({"TNEF-Rechnung.pdf": make_pdf("TNEF invoice")}),
                    "application/ms-tnef",
                )
            ],
        ),
        make_mail(
            subject="Two invoices zipped",
            attachments=[
                Attachment(
                    "invoices.zip",
                    make_zip({"z/A-1.pdf": make_pdf("A-1"), "../B-2.pdf": make_pdf("B-2")}),
                    "application/zip",
                )
            ],
        ),
        make_mail(
            from_="Hosting <billing@hoster.example>",
            subject="Ihre Rechnung R-2026-77",
            body="Rechnung R-2026-77: 119,00 EUR",
            html=HTML_INVOICE,
        ),
    ]
    for raw in mails:
        ap.mailbox.append("INBOX", raw)
    ap.add_source("--move-imported-to", "Imported", "--move-not-imported-to", "Not imported")
    ap.ok("rule", "add", "ap", "hoster-body", "--sender", "*@hoster.example", "--action", "body")
    ap.ok("fetch", "ap")

    docs = by_file(ap.documents())
    assert set(docs) == {
        FACTURX.name,
        "rechnung.xml",
        "F-9.pdf",
        "TNEF-Rechnung.pdf",
        "A-1.pdf",
        "B-2.pdf",
        "Ihre Rechnung R-2026-77.pdf",
    }
    fx = docs[FACTURX.name]
    assert fx["kind"] == "einvoice_pdf"
    assert fx["einvoice"]["number"] == "471102"
    assert fx["einvoice"]["seller_name"] == "Lieferant GmbH"
    assert Decimal(fx["einvoice"]["total"]) == Decimal("529.87")
    assert fx["einvoice"]["profile"] == "EN16931"

    xr = docs["rechnung.xml"]
    assert xr["kind"] == "einvoice_xml"
    assert xr["einvoice"]["format"] == "xrechnung-ubl"
    assert xr["einvoice"]["number"] == "123456"
    assert xr["einvoice"]["currency"] == "EUR"

    fwd = docs["F-9.pdf"]
    assert fwd["kind"] == "pdf"
    assert fwd["origin_sender"] == "ar@parts.example"
    assert fwd["origin_date"].startswith("2026-11-02T09:30")

    assert docs["TNEF-Rechnung.pdf"]["kind"] == "pdf"
    assert docs["A-1.pdf"]["kind"] == docs["B-2.pdf"]["kind"] == "pdf"

    body = docs["Ihre Rechnung R-2026-77.pdf"]
    assert body["kind"] == "body_pdf" and body["rule"] == "hoster-body"
    assert body["size"] > 1000

    messages = ap.messages()
    assert len(messages) == len(mails)
    assert all(m["decision"] == "import" for m in messages), messages
    assert any("hoster-body" in m["reason"] for m in messages)
    assert ap.mailbox.count("Imported") == len(mails)
    assert ap.mailbox.count("INBOX") == 0

    exported = ap.data_dir.parent / "out"
    ap.ok("documents", "export", "--to", str(exported))
    names = sorted(p.name for p in exported.iterdir())
    assert len(names) == 7
    assert any("ar@parts.example" in n and n.startswith("2026-11-02") for n in names), names


def test_the_same_invoice_twice_is_a_duplicate(ap: AP) -> None:
    zugferd, xrechnung = FACTURX.read_bytes(), XRECHNUNG.read_bytes()
    # the same e-invoice as other bytes: re-serialised with a comment, as a re-send would
    resent_xml = xrechnung.replace(b"?>", b"?><!-- sent again -->", 1)
    assert resent_xml != xrechnung
    for subject, files in [
        ("first", [Attachment("INV.pdf", zugferd), Attachment("x.xml", xrechnung, "text/xml")]),
        ("again", [Attachment("INV-again.pdf", zugferd)]),
        ("resent", [Attachment("x-resent.xml", resent_xml, "text/xml")]),
        ("resent twice", [Attachment("x-resent-2.xml", resent_xml, "text/xml")]),
    ]:
        ap.mailbox.append("INBOX", make_mail(subject=subject, attachments=files))
    ap.add_source()
    ap.ok("fetch", "ap")

    queued = {d["filename"] for d in ap.documents()}
    assert queued == {"INV.pdf", "x.xml", "x-resent.xml"}, "no exact duplicate is queued"
    docs = by_file(ap.ok("documents", "list", "--with-duplicates", "--json").json())
    first_pdf, first_xml = docs["INV.pdf"], docs["x.xml"]
    assert first_pdf["duplicate_of"] is None and first_xml["duplicate_of"] is None
    assert docs["INV-again.pdf"]["duplicate_of"] == first_pdf["id"]
    assert docs["INV-again.pdf"]["duplicate_kind"] == "exact"
    assert docs["x-resent.xml"]["duplicate_of"] == first_xml["id"]
    assert docs["x-resent.xml"]["duplicate_kind"] == "probable"
    # the same bytes as the (queued) probable duplicate: an exact duplicate of it
    assert docs["x-resent-2.xml"]["duplicate_of"] == docs["x-resent.xml"]["id"]
    assert docs["x-resent-2.xml"]["duplicate_kind"] == "exact"
    again = next(m for m in ap.messages() if m["subject"] == "again")
    assert "already in the queue: INV-again.pdf" in again["reason"]

    # what a second fetch would do: inspect against the source's queue says the same
    path = ap.data_dir.parent / "again.pdf"
    path.write_bytes(zugferd)
    out = ap.ok("inspect", str(path), "--source", "ap", "--json").json()
    assert out["documents"][0]["duplicate_of"] == first_pdf["id"]


def test_hostile_mail_is_quarantined_with_its_reason_and_the_run_goes_on(ap: AP) -> None:
    bomb = make_zip({"zeros.pdf": b"%PDF-1.4\n" + bytes(60 * 1024 * 1024)})
    xxe = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2">&x;</Invoice>"""
    ap.mailbox.append("INBOX", make_mail(subject="bomb", attachments=[Attachment("a.zip", bomb)]))
    ap.mailbox.append(
        "INBOX", make_mail(subject="xxe", attachments=[Attachment("e.xml", xxe, "text/xml")])
    )
    ap.mailbox.append(
        "INBOX",
        make_mail(
            subject="exe",
            attachments=[Attachment("invoice.pdf", b"MZ\x90\x00" + bytes(100))],
        ),
    )
    ap.mailbox.append(
        "INBOX", make_mail(subject="fine", attachments=[Attachment("ok.pdf", make_pdf("ok"))])
    )
    ap.add_source("--move-not-imported-to", "Not imported")
    ap.ok("fetch", "ap")

    by_subject = {m["subject"]: m for m in ap.messages()}
    assert by_subject["bomb"]["decision"] == "quarantined"
    assert "a.zip" in by_subject["bomb"]["reason"]
    assert by_subject["xxe"]["decision"] == "quarantined"
    assert "DOCTYPE" in by_subject["xxe"]["reason"]
    assert by_subject["exe"]["decision"] == "not_imported"
    assert "invoice.pdf" in by_subject["exe"]["reason"]
    assert by_subject["fine"]["decision"] == "import"
    assert [d["filename"] for d in ap.documents()] == ["ok.pdf"]
    assert ap.mailbox.count("Not imported") == 3
