"""The screens seeded for the language checks and the screenshots: an admin and a clerk of
ACME, an IMAP source (Dovecot) whose run filed an XRechnung and a PDF, a supplier learned from
them, a webhook; and Chromium pages answered by the app in this process (no server needed), so
a catalogue installed in the process is what they show.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from builders import Attachment, make_mail, make_pdf
from corpus import CORPUS
from harness.dovecot import Mailbox
from invoice_inbox.runtime import runner
from invoice_inbox.store.models import Company, Document, Run, Source, User
from invoice_inbox.store.models_events import Webhook
from invoice_inbox.store.models_trust import Supplier
from web.conftest import Browser, Web

UBL = CORPUS / "xrechnung-testsuite__01.02a-INVOICE_ubl.xml"
# the pages' address for Chromium: every request to it is routed to the app in this process
ADDRESS = "http://127.0.0.1:9"
_FORWARDED = {"content-type", "hx-request", "hx-current-url", "hx-target", "hx-trigger"}


def seed(web: Web, mailbox: Mailbox) -> tuple[Browser, dict[str, int], list[str]]:
    """An admin, a clerk, a source with a run that filed an e-invoice and a PDF, a webhook;
    the signed-in admin's browser, the ids each route needs, and the seeded data."""
    web.user("admin@x.test", companies=("ACME",))
    web.user("clerk@x.test", "clerk", ("ACME",))
    for raw in (
        make_mail(
            subject="XRechnung 123456", attachments=[Attachment("123456.xml", UBL.read_bytes())]
        ),
        make_mail(
            subject="Invoice 77", attachments=[Attachment("INV-77.pdf", make_pdf("Invoice 77"))]
        ),
    ):
        mailbox.append("INBOX", raw)
    web.imap_source("ap-inbox", mailbox, "ACME")
    runner.fetch(web.app, "ap-inbox")
    browser = web.browser("admin@x.test")
    hook = browser.form(
        "/webhooks",
        {
            "company_id": web.company_id("ACME"),
            "url": "https://erp.example/hook",
            "events": ["document.created"],
        },
    )
    assert hook.status_code == 201, hook.text
    ids: dict[str, int] = {}
    with web.app.db.session() as s:
        for name, model in (
            ("company_id", Company),
            ("document_id", Document),
            ("run_id", Run),
            ("source_id", Source),
            ("supplier_id", Supplier),
            ("user_id", User),
            ("webhook_id", Webhook),
        ):
            row = s.query(model).order_by(model.id.desc()).first()
            if row is not None:
                ids[name] = row.id
        einvoice = s.query(Document).filter(Document.filename == "123456.xml").one()
        ids["einvoice_document_id"] = einvoice.id  # its page shows the e-invoice's fields
        names = [row.name for row in s.query(Supplier)] + [
            row.filename for row in s.query(Document)
        ]
    data = ["admin@x.test", "clerk@x.test", "ACME", "ap-inbox", "XRechnung 123456", "Invoice 77"]
    data += ["https://erp.example/hook", mailbox.user, "127.0.0.1", "INBOX", "acme-import", *names]
    # providers' own names for their services (presets)
    data += ["Microsoft 365 / Exchange Online", "Gmail / Google Workspace", "iCloud Mail"]
    return browser, ids, data


def route_to(page: Any, browser: Browser) -> None:
    """Answer every request of the Chromium *page* with the signed-in *browser* (TestClient)."""

    def answer(route: Any) -> None:  # Playwright's Route
        request = route.request
        url = urlsplit(request.url)
        sent = {k: v for k, v in request.headers.items() if k.lower() in _FORWARDED}
        r = browser.request(
            request.method,
            url.path + (f"?{url.query}" if url.query else ""),
            content=request.post_data_buffer,
            headers=sent,
        )
        route.fulfill(status=r.status_code, headers=dict(r.headers), body=r.content)

    page.route("**/*", answer)
