"""The trust screens in a real browser (issue 16): the queue with its flags, a document with a
bank-detail alert, the suppliers and one supplier's page, the run log and the source form's
sender-authentication section, each at 1,024 and 1,440 px without anything wider than the
window or its card; then an admin confirms one new IBAN and marks another document as fraud
through the confirm step, and unblocks the sender domain again.

All of it real: ``serve`` runs as a user runs it, with the tests' DNS server (DKIM keys and
DMARC records of the test domains) as its resolver; the mail comes from Dovecot, fetched by the
CLI beside it. A first run brings invoices signed by supplier.test and by a supplier with a
long name, whose PDFs carry an IBAN in their text (the registry learns the first and flags the
others); a second run brings an unsigned one from a look-alike of supplier.test and one from a
look-alike of the long name, signed by a bulk mailer and failing DMARC p=reject.
Screenshots: ``trust-*.png`` (``INVOICE_INBOX_ARTIFACTS``).
"""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from browser.conftest import Served, shot
from browser.test_browser_admin import create_first_admin
from browser.test_browser_screens import WIDTHS, overflows
from builders import Attachment, make_mail, make_pdf
from harness.dkim_keys import DkimKey
from harness.dns_server import DnsServer
from harness.dovecot import Mailbox

LONG = "a-very-long-supplier-name-gmbh.example"
LONG_LOOKALIKE = "a-very-long-supplier-name-gmbh-billing-department.example"
# (From, subject, file, IBAN in the PDF's text, the domain whose key signs it or None)
FIRST_RUN = [
    (
        "Lieferant Billing <billing@supplier.test>",
        "Rechnung 2026-113",
        "RE-2026-113.pdf",
        "DE89 3704 0044 0532 0130 00",
        "supplier.test",
    ),
    (
        "Lieferant Billing <billing@supplier.test>",
        "Rechnung 2026-114",
        "RE-2026-114.pdf",
        "GB29 NWBK 6016 1331 9268 19",
        "supplier.test",
    ),
    (
        "Lieferant Billing <billing@supplier.test>",
        "Rechnung 2026-115",
        "RE-2026-115.pdf",
        "FR14 2004 1010 0505 0001 3M02 606",
        "supplier.test",
    ),
    (
        f"Buchhaltung <accounts@{LONG}>",
        "Sammelrechnung Oktober 2026",
        "Sammelrechnung-10.pdf",
        "DE02 1203 0000 0000 2020 51",
        LONG,
    ),
]
SECOND_RUN = [
    (
        "billing@supp1ier.test",
        "Rechnung 2026-116",
        "RE-2026-116.pdf",
        "NL91 ABNA 0417 1643 00",
        None,
    ),
    (
        f"accounts-receivable@{LONG_LOOKALIKE}",
        "Ihre Sammelrechnung November 2026",
        "Sammelrechnung-11.pdf",
        "DE02 1203 0000 0000 2020 51",
        "mailer.bulk-sender.example",
    ),
]


@pytest.fixture
def trust_dns(dns_server: DnsServer, monkeypatch: pytest.MonkeyPatch) -> DnsServer:
    """The tests' DNS server as the resolver of serve and the CLI: DKIM keys of the signing
    domains, DMARC p=reject for the suppliers and the long look-alike (nothing else exists)."""
    for domain in ("supplier.test", LONG, "mailer.bulk-sender.example"):
        DkimKey.generate(domain).publish(dns_server)
    for domain in ("supplier.test", LONG, LONG_LOOKALIKE):
        dns_server.add(f"_dmarc.{domain}", "TXT", "v=DMARC1; p=reject")
    for name, value in dns_server.env().items():
        monkeypatch.setenv(name, value)
    return dns_server


def append(mailbox: Mailbox, mails: list[Any]) -> None:
    for sender, subject, name, iban, signer in mails:
        pdf = make_pdf(f"{subject}\nBitte zahlen Sie auf IBAN {iban}")
        raw = make_mail(from_=sender, subject=subject, attachments=[Attachment(name, pdf)])
        mailbox.append("INBOX", DkimKey.generate(signer).sign(raw) if signer else raw)


def stock(served: Served, mailbox: Mailbox) -> None:
    append(mailbox, FIRST_RUN)
    served.cli(
        *("source", "add", "ap", "--company", "ACME Beschaffung GmbH", "--host", "127.0.0.1"),
        *("--port", str(mailbox.server.imap_port), "--security", "none"),
        *("--username", mailbox.user, "--password-env", "PW"),
        env={"PW": mailbox.password},
    )
    fetch(served)
    append(mailbox, SECOND_RUN)
    fetch(served)


def fetch(served: Served) -> None:
    """``fetch ap``, after the service's own run of the new source if it has just begun one
    (its scheduler may take a source the moment it is added; then the CLI is told to wait)."""
    for _ in range(120):
        try:
            served.cli("fetch", "ap")
            return
        except AssertionError as exc:
            if "being fetched by another process" not in str(exc):
                raise
            time.sleep(0.5)
    served.cli("fetch", "ap")


def flags_of(page: Any, filename: str) -> list[str]:
    """The trust badges of the queue's row of *filename*."""
    row = page.locator("table.queue tbody tr", has=page.locator(f"a:text-is('{filename}')"))
    return list(row.locator("[data-flag]").all_inner_texts())


def doc_id(page: Any, served: Served, filename: str) -> int:
    page.goto(served.url + "/documents?status=all")
    href = page.locator(f"a:text-is('{filename}')").first.get_attribute("href")
    return int(re.search(r"/documents/(\d+)", href).group(1))  # type: ignore[union-attr]


@pytest.fixture
def stocked(page: Any, trust_dns: DnsServer, served: Served, mailbox: Mailbox) -> Served:
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
                page.wait_for_timeout(2500)  # the PDF viewer draws in its frame
            shot(page, f"trust-{name}-{width}")
            if problems := overflows(page):
                found[f"{name} at {width} px"] = problems
    assert not found, "\n".join(f"{k}: {'; '.join(v)}" for k, v in found.items())

    page.goto(served.url + "/documents?status=all")
    assert flags_of(page, "RE-2026-113.pdf") == []  # signed by supplier.test: DMARC pass
    assert flags_of(page, "RE-2026-114.pdf") == ["bank details changed"]
    assert flags_of(page, "RE-2026-115.pdf") == ["bank details changed"]
    assert flags_of(page, "Sammelrechnung-10.pdf") == []
    assert flags_of(page, "RE-2026-116.pdf") == [
        "sender not authenticated",
        "looks like supplier.test",
    ]
    assert flags_of(page, "Sammelrechnung-11.pdf") == [
        "sender not authenticated",
        f"looks like {LONG}",
    ]
    badge = page.locator("[data-flag=bank_details_changed]").first
    assert badge.get_attribute("title") in (
        "bank details changed: DE89 …3000 → GB29 …6819",
        "bank details changed: DE89 …3000 → FR14 …2606",
    )
    page.select_option("#flag-filter", "lookalike_sender")
    page.click("#queue-filters button[type=submit]")
    page.wait_for_url("**flag=lookalike_sender**")
    assert page.locator("table.queue tbody tr").count() == 2

    page.goto(served.url + f"/documents/{doc_id(page, served, 'RE-2026-113.pdf')}")
    assert page.inner_text("#sender-auth") == "authenticated"
    assert "supplier.test" in page.inner_text("#sender-auth-reason")
    page.goto(served.url + f"/documents/{doc_id(page, served, 'Sammelrechnung-11.pdf')}")
    assert page.inner_text("#sender-auth") == "authentication failed"
    assert "p=reject" in page.inner_text("#sender-auth-reason")

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
