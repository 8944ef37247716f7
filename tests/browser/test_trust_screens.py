"""The trust screens in a real browser (issue 16): the queue with its flags, a document with a
bank-detail alert, the suppliers and one supplier's page, the run log and the source form's
sender-authentication section, each at 1,024 and 1,440 px without anything wider than the
window or its card; then an admin confirms one new IBAN and marks another document as fraud
through the confirm step, and unblocks the sender domain again.

``serve`` runs as a user runs it; the mail comes from Dovecot, fetched by the CLI beside it:
invoices of supplier.test whose PDFs carry an IBAN in their text (the registry learns the first
and flags the others), one from a look-alike domain and one from an unauthenticated sender.
What sender authentication found is written on those ledger rows as the run records it, so the
screens do not depend on DNS. Screenshots: ``trust-*.png`` (``INVOICE_INBOX_ARTIFACTS``).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select

from browser.conftest import Served, shot
from browser.test_browser_admin import create_first_admin
from browser.test_browser_screens import WIDTHS, overflows
from builders import Attachment, make_mail, make_pdf
from harness.dovecot import Mailbox
from invoice_inbox.runtime.context import App
from invoice_inbox.store.models import Message

SUPPLIER = "Lieferant Billing <billing@supplier.test>"
LONG_LOOKALIKE = "accounts-receivable@a-very-long-supplier-name-gmbh-billing-department.example"
# (sender, subject, file, PDF text, what sender authentication found: status, reason, look-alike)
MAILS = [
    (
        SUPPLIER,
        "Rechnung 2026-113",
        "RE-2026-113.pdf",
        "IBAN DE89 3704 0044 0532 0130 00",
        ("pass", "DKIM signature by supplier.test verified; DMARC pass", None),
    ),
    (
        SUPPLIER,
        "Rechnung 2026-114",
        "RE-2026-114.pdf",
        "IBAN GB29 NWBK 6016 1331 9268 19",
        ("pass", "DKIM signature by supplier.test verified; DMARC pass", None),
    ),
    (
        SUPPLIER,
        "Rechnung 2026-115",
        "RE-2026-115.pdf",
        "IBAN FR14 2004 1010 0505 0001 3M02 606",
        ("pass", "DKIM signature by supplier.test verified; DMARC pass", None),
    ),
    (
        "billing@supp1ier.test",
        "Rechnung 2026-116",
        "RE-2026-116.pdf",
        "IBAN NL91 ABNA 0417 1643 00",
        ("none", "no DKIM signature; supp1ier.test publishes no DMARC record", "supplier.test"),
    ),
    (
        LONG_LOOKALIKE,
        "Ihre Sammelrechnung November 2026",
        "Sammelrechnung.pdf",
        "Sammelrechnung",
        (
            "fail",
            "From domain a-very-long-supplier-name-gmbh-billing-department.example publishes "
            "DMARC p=reject; no aligned SPF or DKIM; the DKIM signature by "
            "mailer.bulk-sender-platform.example does not align",
            "a-very-long-supplier-name-gmbh.example",
        ),
    ),
]


def append(mailbox: Mailbox, mails: list[Any]) -> None:
    for sender, subject, name, text, _ in mails:
        pdf = make_pdf(f"{subject}\nBitte zahlen Sie auf {text}")
        mailbox.append(
            "INBOX", make_mail(from_=sender, subject=subject, attachments=[Attachment(name, pdf)])
        )


def stock(served: Served, mailbox: Mailbox) -> None:
    """The supplier's invoices in a first run (run 1), the others in a second (run 2)."""
    append(mailbox, MAILS[:3])
    served.cli(
        *("source", "add", "ap", "--company", "ACME Beschaffung GmbH", "--host", "127.0.0.1"),
        *("--port", str(mailbox.server.imap_port), "--security", "none"),
        *("--username", mailbox.user, "--password-env", "PW"),
        env={"PW": mailbox.password},
    )
    served.cli("fetch", "ap")
    append(mailbox, MAILS[3:])
    served.cli("fetch", "ap")
    app = App.open(served.data_dir)
    try:
        with app.db.session() as s:
            for _, subject, _, _, (status, reason, lookalike) in MAILS:
                row = s.scalars(select(Message).where(Message.subject == subject)).one()
                row.sender_auth, row.sender_auth_reason = status, reason
                row.lookalike_of = lookalike
    finally:
        app.close()


def doc_id(page: Any, served: Served, filename: str) -> int:
    page.goto(served.url + "/documents?status=all")
    href = page.locator(f"a:text-is('{filename}')").first.get_attribute("href")
    return int(re.search(r"/documents/(\d+)", href).group(1))  # type: ignore[union-attr]


@pytest.fixture
def stocked(page: Any, served: Served, mailbox: Mailbox) -> Served:
    create_first_admin(page, served)
    stock(served, mailbox)
    return served


def test_the_trust_screens_fit_at_1024_and_1440_px(page: Any, stocked: Served) -> None:
    served = stocked
    changed = doc_id(page, served, "RE-2026-114.pdf")
    page.goto(served.url + f"/documents/{doc_id(page, served, 'RE-2026-116.pdf')}")
    run = page.locator("a[href^='/runs/']").first.get_attribute("href")  # the look-alike's
    page.goto(served.url + "/suppliers")
    supplier = page.locator("#suppliers-table a", has_text="Lieferant Billing").get_attribute(
        "href"
    )
    screens = {
        "queue": "/documents?status=all",
        "queue-flagged": "/documents?flag=bank_details_changed",
        "document-alert": f"/documents/{changed}",
        "suppliers": "/suppliers",
        "supplier": str(supplier),
        "run": str(run),
        "source": "/sources/1",
    }
    found: dict[str, list[str]] = {}
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        for name, path in screens.items():
            answer = page.goto(served.url + path)
            assert answer.status == 200, (name, answer.status)
            if name.startswith("document"):
                page.wait_for_timeout(500)  # the PDF viewer draws in its frame
            shot(page, f"trust-{name}-{width}")
            if problems := overflows(page):
                found[f"{name} at {width} px"] = problems
    assert not found, "\n".join(f"{k}: {'; '.join(v)}" for k, v in found.items())

    page.goto(served.url + "/documents?status=all")
    queue = page.inner_text("table.queue")
    assert queue.count("bank details changed") == 2
    assert "looks like supplier.test" in queue and "sender not authenticated" in queue
    badge = page.locator("[data-flag=bank_details_changed]").first
    assert badge.get_attribute("title") in (
        "bank details changed: DE89 …3000 → GB29 …6819",
        "bank details changed: DE89 …3000 → FR14 …2606",
    )
    page.select_option("#flag-filter", "lookalike_sender")
    page.click("#queue-filters button[type=submit]")
    page.wait_for_url("**flag=lookalike_sender**")
    assert page.locator("table.queue tbody tr").count() == 2

    page.goto(served.url + f"/documents/{changed}")
    alert = page.inner_text("#bank-alert")
    assert alert == "Bank details changed: DE89 …3000 → GB29 …6819"
    assert page.inner_text("#document-iban") == "GB29 NWBK 6016 1331 9268 19"
    # the panels stand beside the PDF, which keeps the room of the page
    pdf = page.locator("iframe.pdf").bounding_box()
    panel = page.locator("#bank-details").bounding_box()
    assert pdf is not None and panel is not None and panel["x"] >= pdf["x"] + pdf["width"]


def test_an_admin_answers_two_alerts_and_unblocks_the_domain_at_1024_px(
    page: Any, stocked: Served
) -> None:
    served = stocked
    page.set_viewport_size({"width": 1024, "height": 800})
    confirmed, fraud = (doc_id(page, served, f"RE-2026-11{n}.pdf") for n in (4, 5))

    page.goto(served.url + f"/documents/{confirmed}")
    page.click("#confirm-iban")
    page.wait_for_url(f"**/documents/{confirmed}*")
    assert "is now a known IBAN of Lieferant Billing" in page.inner_text(".flash")
    assert "were confirmed" in page.inner_text("#bank-alert")
    shot(page, "trust-confirmed-1024")

    page.goto(served.url + f"/documents/{fraud}")
    assert not page.locator("#mark-fraud").is_visible()  # behind the confirm step
    page.click("#fraud-open")
    assert "mail from supplier.test is no longer imported" in page.inner_text("#fraud-form")
    shot(page, "trust-fraud-step-1024")
    assert overflows(page) == []
    page.check("#fraud-confirm")
    page.click("#mark-fraud")
    page.wait_for_url(f"**/documents/{fraud}*")
    assert "Mail from supplier.test is blocked for this company" in page.inner_text(".flash")
    assert "Marked as fraud" in page.inner_text("#bank-alert")
    shot(page, "trust-fraud-done-1024")

    page.goto(served.url + "/suppliers")
    row = page.locator("#suppliers-table tr", has_text="Lieferant Billing")
    assert "GB29 …6819" in row.inner_text() and "FR14" not in row.inner_text()
    assert "supplier.test" in page.inner_text("#blocked-senders")
    shot(page, "trust-suppliers-blocked-1024")
    assert overflows(page) == []
    page.click("#unblock-supplier\\.test")
    page.wait_for_url("**/suppliers")
    assert "no longer blocked" in page.inner_text(".flash")
    assert page.locator("#no-blocked").is_visible()
