"""The documents queue in the browser: real mail fetched from Dovecot, its e-invoice fields,
filters and pages, the PDF and the original mail as files, marking documents processed, and
what users of other companies and viewers may not see or do."""

from __future__ import annotations

import email
import email.policy
import hashlib
import re
from urllib.parse import quote

from builders import Attachment, make_mail, make_pdf
from corpus import CORPUS
from harness.dovecot import DovecotServer, Mailbox
from invoice_inbox.runtime import runner
from invoice_inbox.store.models import Document
from web.conftest import Web

ZUGFERD = CORPUS / "zugferd-corpus__EN16931_Einfach.pdf"  # Lieferant GmbH, 471102, 529.87 EUR
XRECHNUNG_UBL = CORPUS / "xrechnung-testsuite__01.02a-INVOICE_ubl.xml"  # 123456, 12.6 EUR
XSS = "<script>alert(1)</script>"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fetch(web: Web, mailbox: Mailbox, mails: list[bytes], name: str, company: str) -> None:
    for raw in mails:
        mailbox.append("INBOX", raw)
    web.imap_source(name, mailbox, company)
    runner.fetch(web.app, name)


def docs_by_name(web: Web) -> dict[str, int]:
    with web.app.db.session() as s:
        return {d.filename: d.id for d in s.query(Document)}


def listed_ids(html: str) -> list[int]:
    """The document ids in the queue table, in page order."""
    return [int(i) for i in re.findall(r'<tr id="document-(\d+)"', html)]


def test_queue_shows_fetched_documents_with_einvoice_fields_and_serves_the_exact_pdf(
    web: Web, mailbox: Mailbox
) -> None:
    zugferd = ZUGFERD.read_bytes()
    plain = make_pdf("Invoice 77")
    fetch(
        web,
        mailbox,
        [
            make_mail(subject="ZUGFeRD 471102", attachments=[Attachment("471102.pdf", zugferd)]),
            make_mail(subject="Invoice 77", attachments=[Attachment("INV-77.pdf", plain)]),
        ],
        "ap",
        "ACME",
    )
    web.user("clerk@x.test", "clerk", ("ACME",))
    b = web.browser("clerk@x.test")

    queue = b.get("/documents")
    assert queue.status_code == 200
    ids = docs_by_name(web)
    assert listed_ids(queue.text) == [ids["INV-77.pdf"], ids["471102.pdf"]]  # newest first
    for text in ("471102.pdf", "INV-77.pdf", "Lieferant GmbH", "No. 471102", "529.87 EUR"):
        assert text in queue.text
    assert "billing@supplier.example" in queue.text and "ZUGFeRD 471102" in queue.text

    only_einvoices = b.get("/documents", params={"kind": "einvoice_pdf"})
    assert listed_ids(only_einvoices.text) == [ids["471102.pdf"]]
    assert listed_ids(b.get("/documents", params={"kind": "einvoice_xml"}).text) == []

    doc_id = ids["471102.pdf"]
    page = b.get(f"/documents/{doc_id}")
    assert page.status_code == 200
    assert f'<iframe class="pdf" src="/documents/{doc_id}/file#' in page.text
    facts = dict(re.findall(r"<dt>([^<]+)</dt><dd>([^<]*)</dd>", page.text))
    assert facts["Seller"] == "Lieferant GmbH"
    assert facts["Number"] == "471102"
    assert facts["Total"] == "529.87 EUR"
    assert facts["Currency"] == "EUR"
    assert facts["Issue date"] == "2018-03-05"
    assert f'href="/documents/{doc_id}/mail"' in page.text
    assert f'href="/documents/{doc_id}/file?download=1"' in page.text
    assert 'href="/runs/' in page.text

    shown = b.get(f"/documents/{doc_id}/file")
    assert shown.status_code == 200
    assert sha(shown.content) == sha(zugferd)
    assert shown.headers["content-type"] == "application/pdf"
    assert shown.headers["content-disposition"].startswith("inline;")
    assert shown.headers["x-content-type-options"] == "nosniff"
    assert shown.headers["content-security-policy"] == "sandbox"

    saved = b.get(f"/documents/{doc_id}/file", params={"download": "1"})
    assert sha(saved.content) == sha(zugferd)
    assert saved.headers["content-disposition"] == (
        "attachment; filename=\"471102.pdf\"; filename*=UTF-8''471102.pdf"
    )
    assert saved.headers["content-security-policy"] == "sandbox"

    mail = b.get(f"/documents/{doc_id}/mail")
    assert mail.status_code == 200
    assert mail.headers["content-type"] == "message/rfc822"
    assert mail.headers["content-disposition"].startswith("attachment;")
    assert ".eml" in mail.headers["content-disposition"]
    parsed = email.message_from_bytes(mail.content, policy=email.policy.default)
    assert parsed["Subject"] == "ZUGFeRD 471102"


def test_an_xml_einvoice_is_offered_as_a_download_with_its_fields(
    web: Web, mailbox: Mailbox
) -> None:
    xml = XRECHNUNG_UBL.read_bytes()
    fetch(
        web,
        mailbox,
        [make_mail(attachments=[Attachment("rechnung.xml", xml, "application/xml")])],
        "ap",
        "ACME",
    )
    web.user("admin@x.test", "admin")
    b = web.browser("admin@x.test")
    doc_id = docs_by_name(web)["rechnung.xml"]
    page = b.get(f"/documents/{doc_id}")
    assert page.status_code == 200
    assert "<iframe" not in page.text
    facts = dict(re.findall(r"<dt>([^<]+)</dt><dd>([^<]*)</dd>", page.text))
    assert facts["Number"] == "123456" and facts["Total"] == "12.60 EUR"
    assert f'href="/documents/{doc_id}/file?download=1"' in page.text
    # an XML file is never shown inline, even without ?download
    f = b.get(f"/documents/{doc_id}/file")
    assert sha(f.content) == sha(xml)
    assert f.headers["content-disposition"].startswith("attachment;")
    assert f.headers["content-security-policy"] == "sandbox"
    assert f.headers["x-content-type-options"] == "nosniff"


def test_download_names_are_safe_and_keep_the_unicode_name(web: Web, mailbox: Mailbox) -> None:
    name = "Rechnung März 2026.pdf"
    fetch(
        web,
        mailbox,
        [make_mail(attachments=[Attachment(name, make_pdf("März"))])],
        "ap",
        "ACME",
    )
    web.user("admin@x.test", "admin")
    b = web.browser("admin@x.test")
    doc_id = docs_by_name(web)[name]
    disposition = b.get(f"/documents/{doc_id}/file?download=1").headers["content-disposition"]
    assert disposition == (
        f"attachment; filename=\"Rechnung M_rz 2026.pdf\"; filename*=UTF-8''{quote(name)}"
    )


def test_filters_by_company_and_status_and_pages_of_fifty(
    web: Web, mailbox: Mailbox, dovecot: DovecotServer
) -> None:
    pdfs = [Attachment(f"a-{i:02}.pdf", make_pdf(f"A {i}")) for i in range(52)]
    fetch(web, mailbox, [make_mail(attachments=pdfs)], "acme-ap", "ACME")
    user, password = dovecot.new_user()
    other = Mailbox(user=user, password=password, server=dovecot)
    fetch(
        web,
        other,
        [make_mail(attachments=[Attachment("b-1.pdf", make_pdf("B 1"))])],
        "beta-ap",
        "BETA",
    )
    web.user("admin@x.test", "admin")
    b = web.browser("admin@x.test")
    ids = docs_by_name(web)

    first = b.get("/documents")
    assert len(listed_ids(first.text)) == 50
    assert listed_ids(first.text)[0] == ids["b-1.pdf"]
    older = re.search(r'<a href="([^"]+)" rel="next">older', first.text)
    assert older is not None
    second = b.get(older.group(1).replace("&amp;", "&"))
    assert listed_ids(second.text) == [ids["a-02.pdf"], ids["a-01.pdf"], ids["a-00.pdf"]]
    assert 'rel="next"' not in second.text
    assert set(listed_ids(first.text)).isdisjoint(listed_ids(second.text))

    beta = b.get("/documents", params={"company": web.company_id("BETA")})
    assert listed_ids(beta.text) == [ids["b-1.pdf"]]
    acme = b.get(
        "/documents", params={"company": web.company_id("ACME"), "before": ids["a-03.pdf"]}
    )
    assert listed_ids(acme.text) == [ids["a-02.pdf"], ids["a-01.pdf"], ids["a-00.pdf"]]

    b.form(f"/documents/{ids['a-00.pdf']}/processed")
    processed = b.get("/documents", params={"status": "processed"})
    assert listed_ids(processed.text) == [ids["a-00.pdf"]]
    acme_id, before = web.company_id("ACME"), ids["a-02.pdf"]
    oldest = b.get("/documents", params={"status": "all", "company": acme_id, "before": before})
    assert listed_ids(oldest.text) == [ids["a-01.pdf"], ids["a-00.pdf"]]
    new_only = b.get("/documents", params={"company": acme_id, "before": before})
    assert listed_ids(new_only.text) == [ids["a-01.pdf"]]

    received = b.get(
        "/documents", params={"received_from": "2000-01-01", "received_to": "2000-12-31"}
    )
    assert listed_ids(received.text) == []
    bad_date = b.get("/documents", params={"received_from": "yesterday"})
    assert bad_date.status_code == 200 and "is not a date" in bad_date.text
    # junk in the other parameters is no filter, never an error
    junk = {"company": "²", "source": "x", "status": "?", "kind": "exe", "before": "9" * 30}
    assert len(listed_ids(b.get("/documents", params=junk).text)) == 50


def test_a_clerk_marks_a_document_processed_and_a_viewer_may_not(
    web: Web, mailbox: Mailbox
) -> None:
    fetch(
        web,
        mailbox,
        [make_mail(attachments=[Attachment("INV-1.pdf", make_pdf("INV-1"))])],
        "ap",
        "ACME",
    )
    web.user("clerk@x.test", "clerk", ("ACME",))
    web.user("viewer@x.test", "viewer", ("ACME",))
    doc_id = docs_by_name(web)["INV-1.pdf"]
    viewer = web.browser("viewer@x.test")
    page = viewer.get(f"/documents/{doc_id}")
    assert page.status_code == 200 and "Mark as processed" not in page.text
    assert viewer.form(f"/documents/{doc_id}/processed").status_code == 403
    with web.app.db.session() as s:
        assert s.get(Document, doc_id).processed_at is None  # type: ignore[union-attr]

    clerk = web.browser("clerk@x.test")
    assert "Mark as processed" in clerk.get(f"/documents/{doc_id}").text
    done = clerk.form(f"/documents/{doc_id}/processed")
    assert done.status_code == 303 and done.headers["location"] == f"/documents/{doc_id}"
    after = clerk.get(done.headers["location"])
    assert "INV-1.pdf is marked as processed." in after.text
    assert "Mark as new" in after.text and "by clerk@x.test" in after.text
    with web.app.db.session() as s:
        doc = s.get(Document, doc_id)
        assert doc is not None and doc.processed_at is not None
        assert doc.processed_by == "clerk@x.test"
    assert listed_ids(clerk.get("/documents").text) == []  # gone from the default "new" view
    assert listed_ids(clerk.get("/documents?status=processed").text) == [doc_id]

    # from the queue page the button comes back to the same filtered page
    undo = clerk.form(f"/documents/{doc_id}/new", {"back": "/documents?status=processed"})
    assert undo.status_code == 303 and undo.headers["location"] == "/documents?status=processed"
    assert listed_ids(clerk.get("/documents").text) == [doc_id]
    away = clerk.form(f"/documents/{doc_id}/processed", {"back": "https://evil.example/"})
    assert away.headers["location"] == f"/documents/{doc_id}"


def test_another_companys_documents_do_not_exist_for_a_user(web: Web, mailbox: Mailbox) -> None:
    fetch(
        web,
        mailbox,
        [make_mail(attachments=[Attachment("INV-A.pdf", make_pdf("A"))])],
        "ap",
        "ACME",
    )
    web.user("b@x.test", "clerk", ("BETA",))
    doc_id = docs_by_name(web)["INV-A.pdf"]
    b = web.browser("b@x.test")
    for url in (f"/documents/{doc_id}", f"/documents/{doc_id}/file", f"/documents/{doc_id}/mail"):
        r = b.get(url)
        assert r.status_code == 404, url
        assert "INV-A" not in r.text
    assert b.form(f"/documents/{doc_id}/processed").status_code == 404
    assert listed_ids(b.get("/documents?status=all").text) == []
    # the company drop-down offers only the user's companies, even when asked for another
    queue = b.get("/documents", params={"company": web.company_id("ACME"), "status": "all"})
    assert listed_ids(queue.text) == []
    assert ">ACME<" not in queue.text and ">BETA<" in queue.text


def test_a_script_in_a_subject_or_file_name_is_shown_as_text(web: Web, mailbox: Mailbox) -> None:
    fetch(
        web,
        mailbox,
        [
            make_mail(
                subject=f"Invoice {XSS}",
                attachments=[Attachment(f"{XSS}.pdf", make_pdf("x"))],
            )
        ],
        "ap",
        "ACME",
    )
    web.user("admin@x.test", "admin")
    b = web.browser("admin@x.test")
    with web.app.db.session() as s:
        doc = s.query(Document).one()
        # the mail's name was made safe on import already; a stored name with markup (as a
        # future import path might keep) must still come out as text
        assert "<" not in doc.filename
        doc.filename = f"{XSS}.pdf"
        doc_id, run_id = doc.id, doc.message.run_id
    for url in ("/documents", f"/documents/{doc_id}", f"/runs/{run_id}"):
        html = b.get(url).text
        assert XSS not in html, url
        assert "Invoice &lt;script&gt;alert(1)&lt;/script&gt;" in html, url
        assert "&lt;script&gt;alert(1)&lt;/script&gt;.pdf" in html, url
    disposition = b.get(f"/documents/{doc_id}/file?download=1").headers["content-disposition"]
    assert disposition.startswith('attachment; filename="script_.pdf"; ')


def test_a_repeated_pdf_is_badged_on_the_log_and_linked_both_ways(
    web: Web, mailbox: Mailbox
) -> None:
    """The copy is not in the queue (test_web_queue_duplicates); the log badges it and the two
    pages link each other."""
    pdf = make_pdf("INV-5")
    fetch(
        web,
        mailbox,
        [
            make_mail(subject="Invoice 5", attachments=[Attachment("INV-5.pdf", pdf)]),
            make_mail(subject="Reminder", attachments=[Attachment("INV-5 again.pdf", pdf)]),
        ],
        "ap",
        "ACME",
    )
    web.user("admin@x.test", "admin")
    b = web.browser("admin@x.test")
    ids = docs_by_name(web)
    first, again = ids["INV-5.pdf"], ids["INV-5 again.pdf"]
    with web.app.db.session() as s:
        run_id = s.get(Document, again).message.run_id  # type: ignore[union-attr]

    assert listed_ids(b.get("/documents").text) == [first]
    log = b.get(f"/runs/{run_id}")
    assert f'href="/documents/{first}" title="The same bytes are in the queue already">' in (
        log.text
    )
    assert f"exact duplicate of document #{first}</a>" in log.text
    repeat_page = b.get(f"/documents/{again}")
    assert "This file is an exact duplicate of" in repeat_page.text
    assert f'<a href="/documents/{first}">document #{first} INV-5.pdf</a>' in repeat_page.text
    original_page = b.get(f"/documents/{first}")
    assert "Also received in" in original_page.text
    assert (
        f'<a href="/documents/{again}">document #{again} INV-5 again.pdf</a>' in original_page.text
    )
