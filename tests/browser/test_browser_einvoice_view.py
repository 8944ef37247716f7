"""Issue 14 item 13 in a real browser: an XRechnung CII and a KSeF invoice fetched from Dovecot
read as invoices on their document pages at 1,024 and 1,440 px (nothing wider than the window
or its card), and "Download as PDF" giving the rendered PDF. Screenshots go to
``artifacts/screenshots/einvoice-view-*.png``."""

from __future__ import annotations

import io
from typing import Any

from pypdf import PdfReader

from browser.conftest import Served, shot
from browser.test_browser_admin import create_first_admin
from browser.test_browser_screens import WIDTHS, doc_id, overflows
from builders import Attachment, make_mail
from corpus import CORPUS
from harness.dovecot import Mailbox

CII = CORPUS / "xrechnung-testsuite__01.02a-INVOICE_uncefact.xml"  # 123456, 12.6 EUR
KSEF = CORPUS / "cirfmf-ksef-pdf-generator__invoice.xml"  # 13 long lines, 33,569.50 PLN


def test_an_einvoice_xml_reads_as_an_invoice_and_downloads_as_pdf(
    page: Any, served: Served, mailbox: Mailbox
) -> None:
    create_first_admin(page, served)
    for name, path in (("xrechnung.xml", CII), ("ksef.xml", KSEF)):
        mailbox.append(
            "INBOX",
            make_mail(
                subject=name,
                attachments=[Attachment(name, path.read_bytes(), "application/xml")],
            ),
        )
    served.cli(
        *("source", "add", "ap", "--company", "ACME", "--host", "127.0.0.1"),
        *("--port", str(mailbox.server.imap_port), "--security", "none"),
        *("--username", mailbox.user, "--password-env", "PW"),
        env={"PW": mailbox.password},
    )
    served.cli("fetch", "ap", "--wait")  # serve may be fetching the new source already
    ids = {name: doc_id(page, served, name) for name in ("xrechnung.xml", "ksef.xml")}

    found: dict[str, list[str]] = {}
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        for name, doc in ids.items():
            page.goto(f"{served.url}/documents/{doc}")
            view = page.locator("#einvoice-view")
            assert view.is_visible()
            shot(page, f"einvoice-view-{name.removesuffix('.xml')}-{width}")
            if problems := overflows(page):
                found[f"{name} at {width} px"] = problems
    assert not found, "\n".join(f"{k}: {'; '.join(v)}" for k, v in found.items())

    page.goto(f"{served.url}/documents/{ids['xrechnung.xml']}")
    lines = page.locator("#ev-lines tbody tr")
    assert lines.count() == 1 and "Denk doch, wie du willst" in lines.first.inner_text()
    assert "12.60 EUR" in page.locator("#ev-totals").inner_text()
    assert "DE79000000001234567890" in page.locator("#ev-payment").inner_text()
    with page.expect_download() as download:
        page.click("#einvoice-pdf")
    path = download.value.path()
    assert download.value.suggested_filename == "xrechnung.pdf"
    text = " ".join(p.extract_text() or "" for p in PdfReader(io.BytesIO(path.read_bytes())).pages)
    assert "123456" in text and "12.60 EUR" in text
